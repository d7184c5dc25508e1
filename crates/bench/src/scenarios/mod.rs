//! The scenarios of issue 7, each a function that adds rows to the report: `calls` (latency,
//! throughput), `sessions` (creation, warm pool), `capacity` (live sessions, memory, churn),
//! `upstream` (side by side with upstream's gateway).

mod calls;
mod capacity;
mod cluster;
mod sessions;
mod upstream;

pub use calls::{latency, throughput};
pub use capacity::{churn, live};
pub use cluster::cluster;
pub use sessions::sessions;
pub use upstream::upstream;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::Args;
use crate::direct;
use crate::gateway::{Gateway, PASSWORD, USER, sibling_bin};
use crate::load::{self, Target};
use crate::report::Report;
use crate::stats::{Stats, diff_us, fmt};

/// Binaries, children and scale of one run.
pub struct Env {
    pub gateway: PathBuf,
    pub fixture: PathBuf,
    pub python_server: PathBuf,
    pub upstream: Option<PathBuf>,
    pub quick: bool,
    pub live_sessions: usize,
    pub churn_sessions: usize,
}

impl Env {
    pub fn new(args: &Args) -> anyhow::Result<Self> {
        let gateway = args
            .gateway
            .clone()
            .unwrap_or_else(|| sibling_bin("mcp-gateway"));
        let fixture = args
            .fixture
            .clone()
            .unwrap_or_else(|| sibling_bin("mcp-fixture"));
        let python_server = args.python_server.clone().unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../examples/servers/greeter_mcp.py"
            ))
        });
        for p in [&gateway, &fixture, &python_server] {
            if !p.exists() {
                bail!(
                    "{} not found: build with `cargo build --release -p mcp-gateway -p mcp-fixture -p bench`",
                    p.display()
                );
            }
        }
        let upstream = args.upstream.clone().or_else(|| {
            let default = PathBuf::from("/tmp/upstream-venv/bin/mcp-gateway");
            default.exists().then_some(default)
        });
        let quick = args.quick;
        Ok(Self {
            gateway,
            fixture: fixture.canonicalize()?,
            python_server: python_server.canonicalize()?,
            upstream,
            quick,
            live_sessions: args.live_sessions.unwrap_or(if quick { 200 } else { 1000 }),
            churn_sessions: args
                .churn_sessions
                .unwrap_or(if quick { 1000 } else { 10_000 }),
        })
    }

    /// Full count, or a tenth-ish of it with `--quick`.
    fn n(&self, full: usize, quick: usize) -> usize {
        if self.quick { quick } else { full }
    }

    fn dur(&self) -> Duration {
        Duration::from_secs(if self.quick { 2 } else { 5 })
    }

    pub fn machine(&self) -> Value {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_string())
            })
            .unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string();
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        json!({
            "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "cpu": cpu,
            "kernel": kernel,
            "loadavg_at_start": load.trim(),
        })
    }

    fn fixture_argv(&self) -> Vec<String> {
        vec![self.fixture.display().to_string()]
    }

    fn python_argv(&self) -> Vec<String> {
        vec![
            "python3".to_string(),
            self.python_server.display().to_string(),
        ]
    }

    fn service(&self, argv: Vec<String>, sandbox: bool, warm_pool: usize) -> Value {
        json!({
            "command": argv,
            "description": "bench child",
            "sandbox": { "enabled": sandbox },
            "warm_pool": warm_pool,
        })
    }

    /// Our gateway's config: caps high, rate limits off, logs at WARNING.
    fn config(&self, services: Value) -> Value {
        json!({
            "server": { "host": "127.0.0.1", "port": 0, "auth_user": USER, "auth_password": PASSWORD, "shutdown_grace": 5 },
            "services": services,
            "session": {
                "max_sessions_per_service": 100000, "max_total_sessions": 100000,
                "cleanup_interval": 0.5, "sandbox_dir": "./sandbox"
            },
            "rate_limiting": { "enabled": false },
            "logging": { "level": "WARNING" },
            "metrics": { "require_auth": true }
        })
    }

    async fn start(&self, services: Value) -> anyhow::Result<Arc<Gateway>> {
        Ok(Arc::new(
            Gateway::start_ours(&self.gateway, &self.config(services)).await?,
        ))
    }
}

fn fixture_echo(service: &str) -> Target {
    Target {
        service: service.to_string(),
        tool: "echo".into(),
        args: json!({"text": "hello"}),
    }
}

fn greet(service: &str) -> Target {
    Target {
        service: service.to_string(),
        tool: "greet".into(),
        args: json!({"name": "Ada"}),
    }
}

async fn stop(gw: Arc<Gateway>) {
    match Arc::try_unwrap(gw) {
        Ok(gw) => gw.stop().await,
        Err(_) => eprintln!("bench: gateway still shared at stop; killed on drop"),
    }
}
/// Wait until each pool holds `n` ready children.
async fn wait_pools(gw: &Gateway, services: &[&str], n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    for svc in services {
        let key = format!("mcp_gateway_pool_ready{{service=\"{svc}\"}}");
        while (gw.metric(&key).await? as usize) < n {
            if Instant::now() > deadline {
                bail!("pool {svc} never refilled to {n}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    Ok(())
}

async fn wait_descendants(gw: &Gateway, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while gw.descendants() > n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}
