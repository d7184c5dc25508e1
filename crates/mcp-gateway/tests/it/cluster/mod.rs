//! Scale-out (docs/scale-out.md): three real gateway processes sharing a real `redis-server`,
//! behind a real round-robin balancer (haproxy), every request through the balancer.

mod failover;
mod manifests;
mod sessions;

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

pub const SECRET: &str = "it-cluster-secret-0123456789abcdefghij";
/// 32 bytes of base64: the ring every replica shares.
pub const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// Another cluster's ring.
pub const OTHER_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

/// One replica's configuration: the fixture as service `fx`, the cluster on `redis`.
pub fn replica_config(redis: &Redis, name: &str, key: &str) -> Value {
    config(
        json!({ "fx": fixture_service(&[]) }),
        json!({
            "cluster": { "redis_uri": redis.uri(), "secret": SECRET, "session_keys": [key], "name": name },
            "logging": { "level": "INFO" },
            "session": { "max_sessions_per_service": 5000, "max_total_sessions": 5000, "child_uids": "60000-62999", "default_timeout": 3600 },
        }),
    )
}

pub struct Cluster {
    pub redis: Redis,
    /// `None` once a test killed or stopped it.
    pub replicas: Vec<TestGateway>,
    /// The balancer, as a gateway the helpers talk to.
    pub lb: TestGateway,
}

impl Cluster {
    /// `n` replicas, each a member seeing all `n`, and haproxy in front of them.
    pub async fn start(n: usize) -> Self {
        let redis = Redis::start().await;
        let mut replicas = Vec::new();
        for _ in 0..n {
            replicas.push(TestGateway::start(replica_config(&redis, "it", KEY)).await);
        }
        for gw in &replicas {
            wait_members(gw, n).await;
        }
        let lb = balancer(&replicas).await;
        Self {
            redis,
            replicas,
            lb,
        }
    }

    /// The replica whose process is an ancestor of `pid` (a session's child).
    pub fn owner_of_child(&self, pid: u32) -> usize {
        self.owners()
            .get(&pid)
            .copied()
            .unwrap_or_else(|| panic!("child {pid} belongs to no replica"))
    }

    /// Every live replica's descendants, by pid: one pass over /proc.
    pub fn owners(&self) -> HashMap<u32, usize> {
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                children.entry(ppid).or_default().push(pid);
            }
        }
        let mut owners = HashMap::new();
        for (i, gw) in self.replicas.iter().enumerate() {
            let mut frontier = vec![gw.pid()];
            while let Some(p) = frontier.pop() {
                for &c in children.get(&p).into_iter().flatten() {
                    let previous = owners.insert(c, i);
                    assert!(previous.is_none(), "process {c} under two replicas");
                    frontier.push(c);
                }
            }
        }
        owners
    }
}

/// Wait until `gw` is ready and sees `n` members.
pub async fn wait_members(gw: &TestGateway, n: usize) {
    within(30, "the replica joins and sees every member", async {
        loop {
            let (status, body) = gw.get("/ready").await;
            if status == StatusCode::OK && body["members"] == json!(n) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

/// haproxy, round robin over `replicas`, as a [`TestGateway`] (its base is the balancer's).
/// A replica refusing connections (killed, or draining) is skipped by redispatch, and a
/// request whose connection a stopping replica closed unanswered is retried on another: as
/// any balancer in front of replicas that restart must (without it, the rolling restart test
/// sees a connection closed under a request now and then).
pub async fn balancer(replicas: &[TestGateway]) -> TestGateway {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let servers: String = replicas
        .iter()
        .enumerate()
        .map(|(i, gw)| {
            let addr = gw.base.trim_start_matches("http://");
            format!("  server g{i} {addr} check inter 300ms fall 1 rise 1\n")
        })
        .collect();
    let cfg = format!(
        "global\n  maxconn 4096\n\
         defaults\n  mode http\n  timeout connect 1s\n  timeout client 60s\n  timeout server 60s\n  \
         retries 3\n  option redispatch 1\n  retry-on conn-failure empty-response\n  option http-server-close\n  http-reuse never\n\
         frontend fe\n  bind 127.0.0.1:{port}\n  default_backend gw\n\
         backend gw\n  balance roundrobin\n  option httpchk GET /ready\n{servers}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    let process = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy must be installed (see .ci/run)");
    let lb = TestGateway {
        process,
        base: format!("http://127.0.0.1:{port}"),
        dir,
        http: reqwest::Client::builder()
            .timeout(scaled(60))
            .build()
            .unwrap(),
        log: Arc::new(Mutex::new(String::new())),
    };
    within(20, "haproxy forwards to a replica", async {
        loop {
            if let Ok(r) = lb.http.get(lb.url("/health")).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    lb
}

/// Open an MCP session on `gw` itself (it owns the session): its id and protocol version.
pub async fn open_mcp_on(gw: &TestGateway) -> (String, String) {
    let mcp = crate::front::client::Mcp::open(gw, "/mcp").await;
    (mcp.session.clone().unwrap(), mcp.version.clone())
}

/// A client of the MCP session `(id, version)` that sends every request to `lb`.
pub fn mcp_via<'a>(
    lb: &'a TestGateway,
    (id, version): (String, String),
) -> crate::front::client::Mcp<'a> {
    let mut mcp = crate::front::client::Mcp::new(lb, "/mcp");
    mcp.session = Some(id);
    mcp.version = version;
    mcp
}

/// A REST call of `count` in `session`: the session's child's counter after it.
pub async fn count(gw: &TestGateway, session: &str) -> (StatusCode, Value) {
    gw.call("fx", session, "count", json!({})).await
}
