//! What the internal hop between replicas costs (issue 14): the same warm call answered by the
//! session's owner directly, and through another replica that forwards it; and throughput of
//! one replica against three replicas (each request to the next replica in turn, as a round
//! robin balancer would send it). Needs `redis-server` on the PATH.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};

use super::*;

const SECRET: &str = "bench-cluster-secret-0123456789abcdef";
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

struct Redis(Child, u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

async fn redis() -> anyhow::Result<Redis> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("redis-server must be installed")?;
    let redis = Redis(child, port);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ping(port) {
        if Instant::now() > deadline {
            bail!("redis-server did not answer");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(redis)
}

async fn replicas(env: &Env, redis: &Redis, n: usize) -> anyhow::Result<Vec<Arc<Gateway>>> {
    let mut config = env.config(json!({"fx": env.service(env.fixture_argv(), true, 0)}));
    config["cluster"] = json!({
        "redis_uri": format!("redis://127.0.0.1:{}/0", redis.1),
        "secret": SECRET, "session_keys": [KEY],
    });
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(Arc::new(Gateway::start_ours(&env.gateway, &config).await?));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for gw in &out {
        loop {
            let ready: Value = serde_json::from_str(&gw.get("/ready").await.unwrap_or_default())
                .unwrap_or(Value::Null);
            if ready["members"] == json!(n) {
                break;
            }
            if Instant::now() > deadline {
                bail!("the replicas did not see each other");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(out)
}

/// A session that `owner` owns (created through it: its sessions gauge goes up).
async fn session_on(owner: &Gateway, t: &Target, prefix: &str) -> anyhow::Result<String> {
    for i in 0..100 {
        let session = format!("{prefix}-{i}");
        let before = owner.metric("mcp_gateway_sessions ").await?;
        owner
            .call(&t.service, &session, &t.tool, &t.args, None)
            .await?;
        if owner.metric("mcp_gateway_sessions ").await? > before {
            return Ok(session);
        }
    }
    bail!("no session landed on the replica")
}

pub async fn cluster(env: &Env, r: &mut Report) -> anyhow::Result<()> {
    let (warmup, n) = (env.n(500, 100), env.n(20_000, 2_000));
    let t = fixture_echo("fx");
    let redis = redis().await?;
    let gws = replicas(env, &redis, 3).await?;
    let session = session_on(&gws[0], &t, "hop").await?;
    let direct = Stats::new(load::sequential(&gws[0], &t, &session, warmup, n).await?);
    let hop = Stats::new(load::sequential(&gws[1], &t, &session, warmup, n).await?);
    r.row("cluster", "warm echo at the owner", direct.summary());
    r.row(
        "cluster",
        "warm echo forwarded by another replica",
        hop.summary(),
    );
    let added = [
        diff_us(hop.p50(), direct.p50()),
        diff_us(hop.p99(), direct.p99()),
    ];
    r.row(
        "cluster",
        "added by the hop (target p50 ≤ 300 µs, p99 ≤ 1 ms)",
        format!("p50 {:.1} µs  p99 {:.1} µs", added[0], added[1]),
    );
    r.put("cluster.owner", direct.json());
    r.put("cluster.forwarded", hop.json());
    r.put(
        "cluster.added_us",
        json!({"p50": added[0], "p99": added[1]}),
    );

    // Throughput, 64 clients each on a session of its own: one replica alone, then the
    // three, each request to the next replica in turn (2 in 3 are forwarded).
    let dur = env.dur();
    let sessions: Vec<String> = (0..64).map(|i| format!("tp-{i}")).collect();
    let (one, _, errors_one) = load::throughput(&gws[0], &t, &sessions, 64, dur).await?;
    let (three, errors_three) = round_robin(&gws, &t, &sessions, dur).await?;
    r.row(
        "cluster",
        "throughput, 64 clients: one replica",
        format!("{one:.0} calls/s ({errors_one} errors)"),
    );
    r.row(
        "cluster",
        "throughput, 64 clients: three replicas, round robin",
        format!("{three:.0} calls/s ({errors_three} errors)"),
    );
    r.put(
        "cluster.throughput",
        json!({"one": one, "three_round_robin": three, "errors": errors_one + errors_three}),
    );
    for gw in gws {
        stop(gw).await;
    }
    drop(redis);
    Ok(())
}

/// `sessions.len()` closed-loop clients for `dur`, request k of a client to replica k mod n.
async fn round_robin(
    gws: &[Arc<Gateway>],
    t: &Target,
    sessions: &[String],
    dur: Duration,
) -> anyhow::Result<(f64, u64)> {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, session) in sessions.iter().enumerate() {
        let (gws, t, session) = (gws.to_vec(), t.clone(), session.clone());
        tasks.spawn(async move {
            let (mut ok, mut errors, mut k) = (0u64, 0u64, i);
            while start.elapsed() < dur {
                let gw = &gws[k % gws.len()];
                k += 1;
                match gw.call(&t.service, &session, &t.tool, &t.args, None).await {
                    Ok(_) => ok += 1,
                    Err(_) => errors += 1,
                }
            }
            (ok, errors)
        });
    }
    let (mut ok, mut errors) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        let (o, e) = r?;
        ok += o;
        errors += e;
    }
    Ok((ok as f64 / start.elapsed().as_secs_f64(), errors))
}
