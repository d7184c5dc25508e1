//! The scenarios of issue 7, each a function that adds rows to the report.

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

/// 1. Added latency at one client: direct stdio vs through the gateway (and GET /health, the
///    HTTP floor of this client).
pub async fn latency(env: &Env, r: &mut Report) -> anyhow::Result<()> {
    let (warmup, n) = (env.n(500, 100), env.n(20_000, 2_000));
    let args = json!({"text": "hello"});
    let direct =
        Stats::new(direct::sequential_calls(&env.fixture_argv(), "echo", &args, warmup, n).await?);
    let gw = env
        .start(json!({"fx": env.service(env.fixture_argv(), true, 0)}))
        .await?;
    let t = fixture_echo("fx");
    let through = Stats::new(load::sequential(&gw, &t, "lat", warmup, n).await?);
    let health = Stats::new(load::get_latency(&gw, "/health", n).await?);
    stop(gw).await;
    r.row("latency", "direct stdio echo (floor)", direct.summary());
    r.row("latency", "through gateway echo", through.summary());
    r.row("latency", "GET /health (HTTP floor)", health.summary());
    let added = [
        diff_us(through.p50(), direct.p50()),
        diff_us(through.p99(), direct.p99()),
        diff_us(through.p999(), direct.p999()),
    ];
    r.row(
        "latency",
        "added by gateway (target p50 ≤ 50 µs, p99 ≤ 250 µs)",
        format!(
            "p50 {:.1} µs  p99 {:.1} µs  p99.9 {:.1} µs",
            added[0], added[1], added[2]
        ),
    );
    let added_http = [
        diff_us(through.p50(), direct.p50() + health.p50()),
        diff_us(through.p99(), direct.p99() + health.p99()),
    ];
    r.row(
        "latency",
        "added beyond HTTP floor (gateway minus direct minus /health)",
        format!("p50 {:.1} µs  p99 {:.1} µs", added_http[0], added_http[1]),
    );
    r.put("latency.direct", direct.json());
    r.put("latency.gateway", through.json());
    r.put("latency.health", health.json());
    r.put(
        "latency.added_us",
        json!({"p50": added[0], "p99": added[1], "p999": added[2]}),
    );
    r.put(
        "latency.added_beyond_http_us",
        json!({"p50": added_http[0], "p99": added_http[1]}),
    );
    Ok(())
}

/// 1b. Throughput at 1/8/64 clients, one session and one session per client; the Python child
///     at 1 and 8 clients; direct stdio as the floor.
pub async fn throughput(env: &Env, r: &mut Report) -> anyhow::Result<()> {
    let dur = env.dur();
    let args = json!({"text": "hello"});
    let direct_rate = direct::throughput(&env.fixture_argv(), "echo", &args, dur).await?;
    r.row(
        "throughput",
        "direct stdio, fixture, 1 client",
        format!("{direct_rate:.0} calls/s"),
    );
    r.put("throughput.direct_fixture", json!(direct_rate));
    let py_direct =
        direct::throughput(&env.python_argv(), "greet", &json!({"name": "Ada"}), dur).await?;
    r.row(
        "throughput",
        "direct stdio, python greeter, 1 client",
        format!("{py_direct:.0} calls/s"),
    );
    r.put("throughput.direct_python", json!(py_direct));

    let gw = env
        .start(json!({
            "fx": env.service(env.fixture_argv(), true, 0),
            "py": env.service(env.python_argv(), true, 0),
        }))
        .await?;
    let t = fixture_echo("fx");
    for clients in [1usize, 8, 64] {
        for spread in [false, true] {
            let sessions: Vec<String> = if spread {
                (0..clients).map(|i| format!("tp{clients}-{i}")).collect()
            } else {
                vec![format!("tp{clients}-one")]
            };
            if spread && clients == 1 {
                continue;
            }
            let (rate, lat, errors) = load::throughput(&gw, &t, &sessions, clients, dur).await?;
            let lat = Stats::new(lat);
            let name = format!(
                "fixture, {clients} client(s), {}",
                if spread {
                    "1 session each"
                } else {
                    "one session"
                }
            );
            r.row(
                "throughput",
                name,
                format!("{rate:.0} calls/s  {}  errors {errors}", lat.summary()),
            );
            let key = format!(
                "throughput.fixture_c{clients}_{}",
                if spread { "spread" } else { "one" }
            );
            r.put(
                &key,
                json!({"rate": rate, "latency": lat.json(), "errors": errors}),
            );
        }
    }
    let t = greet("py");
    for clients in [1usize, 8] {
        let (rate, lat, errors) =
            load::throughput(&gw, &t, &["py-one".to_string()], clients, dur).await?;
        let lat = Stats::new(lat);
        r.row(
            "throughput",
            format!("python greeter, {clients} client(s), one session"),
            format!("{rate:.0} calls/s  {}  errors {errors}", lat.summary()),
        );
        r.put(
            &format!("throughput.python_c{clients}"),
            json!({"rate": rate, "latency": lat.json(), "errors": errors}),
        );
    }
    stop(gw).await;
    Ok(())
}

/// 2. Session creation: cold (sequential and 8 in flight) vs bare spawn, fixture and Python,
///    sandbox on and off; and from the warm pool.
pub async fn sessions(env: &Env, r: &mut Report) -> anyhow::Result<()> {
    let pool = 2;
    let gw = env
        .start(json!({
            "fx": env.service(env.fixture_argv(), true, 0),
            "fx_nosb": env.service(env.fixture_argv(), false, 0),
            "py": env.service(env.python_argv(), true, 0),
            "py_nosb": env.service(env.python_argv(), false, 0),
            "fx_pool": env.service(env.fixture_argv(), true, pool),
            "py_pool": env.service(env.python_argv(), true, pool),
        }))
        .await?;
    wait_pools(&gw, &["fx_pool", "py_pool"], pool).await?;
    let baseline = gw.descendants();
    let kinds: [(&str, &str, Vec<String>, Target, usize); 2] = [
        (
            "fixture",
            "fx",
            env.fixture_argv(),
            fixture_echo("fx"),
            env.n(300, 60),
        ),
        (
            "python",
            "py",
            env.python_argv(),
            greet("py"),
            env.n(60, 16),
        ),
    ];
    for (label, svc, argv, target, n) in kinds {
        for concurrency in [1usize, 8] {
            let (lat, wall) =
                direct::spawn_ready(&argv, &target.tool, &target.args, n, concurrency).await?;
            let bare_rate = n as f64 / wall.as_secs_f64();
            let bare = Stats::new(lat);
            r.row(
                "sessions",
                format!("{label}: bare spawn+initialize+call, {concurrency} in flight"),
                format!("{bare_rate:.0}/s  {}", bare.summary()),
            );
            r.put(
                &format!("sessions.{label}_bare_c{concurrency}"),
                json!({"rate": bare_rate, "latency": bare.json()}),
            );
            for sandbox in [true, false] {
                let service = if sandbox {
                    svc.to_string()
                } else {
                    format!("{svc}_nosb")
                };
                let t = Target {
                    service: service.clone(),
                    ..target.clone()
                };
                let prefix = format!("cold-{service}-c{concurrency}");
                let (lat, wall, ids) =
                    load::create_sessions(&gw, &t, &prefix, n, concurrency, None).await?;
                let rate = n as f64 / wall.as_secs_f64();
                let stats = Stats::new(lat);
                r.row(
                    "sessions",
                    format!(
                        "{label}: new session via gateway, sandbox {}, {concurrency} in flight",
                        if sandbox { "on" } else { "off" }
                    ),
                    format!(
                        "{rate:.0}/s ({:.0}% of bare)  {}",
                        100.0 * rate / bare_rate,
                        stats.summary()
                    ),
                );
                r.put(
                    &format!(
                        "sessions.{label}_{}_c{concurrency}",
                        if sandbox { "sandbox" } else { "nosandbox" }
                    ),
                    json!({"rate": rate, "vs_bare": rate / bare_rate, "latency": stats.json()}),
                );
                load::delete_sessions(&gw, ids, 16).await?;
                wait_descendants(&gw, baseline).await;
            }
        }
    }
    // From the warm pool: one new session at a time, each once the pool is full again.
    for (label, svc, target, n) in [
        (
            "fixture",
            "fx_pool",
            fixture_echo("fx_pool"),
            env.n(100, 30),
        ),
        ("python", "py_pool", greet("py_pool"), env.n(30, 10)),
    ] {
        let mut lat = Vec::new();
        for i in 0..n {
            wait_pools(&gw, &[svc], pool).await?;
            let s = Instant::now();
            gw.call(
                &target.service,
                &format!("pool-{svc}-{i}"),
                &target.tool,
                &target.args,
                None,
            )
            .await?;
            lat.push(s.elapsed());
        }
        let stats = Stats::new(lat);
        r.row(
            "sessions",
            format!("{label}: new session from warm pool (sandbox on; target p50 ≤ 2 ms)"),
            stats.summary(),
        );
        r.put(&format!("sessions.{label}_pool"), stats.json());
    }
    let hits = gw
        .metric("mcp_gateway_pool_requests_total{service=\"fx_pool\",outcome=\"hit\"}")
        .await?;
    let misses = gw
        .metric("mcp_gateway_pool_requests_total{service=\"fx_pool\",outcome=\"miss\"}")
        .await?;
    r.row(
        "sessions",
        "fixture pool hits / misses (metrics)",
        format!("{hits} / {misses}"),
    );
    stop(gw).await;
    Ok(())
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

/// 3 + 4. With N live sessions: RSS at 0, N/10 and N; GET /tools, GET /sessions, DELETE.
pub async fn live(env: &Env, r: &mut Report) -> anyhow::Result<()> {
    let n = env.live_sessions;
    let tenth = n / 10;
    let gw = env
        .start(json!({"fx": env.service(env.fixture_argv(), true, 0)}))
        .await?;
    let t = fixture_echo("fx");
    // Warm up allocator and metric families with a few sessions, then measure the idle base.
    let (_, _, ids) = load::create_sessions(&gw, &t, "warm", 20, 4, None).await?;
    load::delete_sessions(&gw, ids, 4).await?;
    wait_descendants(&gw, 0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss0 = gw.rss();
    let (_, _, mut ids) = load::create_sessions(&gw, &t, "live-a", tenth, 8, None).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_tenth = gw.rss();
    let (_, wall, more) = load::create_sessions(&gw, &t, "live-b", n - tenth, 8, None).await?;
    ids.extend(more);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_n = gw.rss();
    let children = gw.descendants();
    let per_session = (rss_n.saturating_sub(rss0)) as f64 / n as f64;
    let per_session_hi = (rss_n.saturating_sub(rss_tenth)) as f64 / (n - tenth) as f64;
    r.row(
        "memory",
        format!("gateway RSS at 0 / {tenth} / {n} idle sessions ({children} children alive)"),
        format!(
            "{:.1} / {:.1} / {:.1} MiB",
            mib(rss0),
            mib(rss_tenth),
            mib(rss_n)
        ),
    );
    r.row(
        "memory",
        "bytes per idle session (target ≤ 64 KiB)",
        format!(
            "{:.1} KiB (0→{n}), {:.1} KiB ({tenth}→{n})",
            per_session / 1024.0,
            per_session_hi / 1024.0
        ),
    );
    r.put(
        "memory",
        json!({"rss0": rss0, "rss_tenth": rss_tenth, "rss_n": rss_n, "sessions": n,
               "bytes_per_session": per_session, "bytes_per_session_tenth_to_n": per_session_hi,
               "children": children, "create_wall_s": wall.as_secs_f64()}),
    );

    let reps = env.n(500, 100);
    let tools = Stats::new(load::get_latency(&gw, "/services/fx/tools", reps).await?);
    r.row(
        "live",
        format!("GET /services/fx/tools with {n} live sessions (target p50 ≤ 1 ms)"),
        tools.summary(),
    );
    let listing = Stats::new(load::get_latency(&gw, "/sessions", env.n(50, 10)).await?);
    r.row(
        "live",
        format!("GET /sessions with {n} live sessions"),
        listing.summary(),
    );
    // A call on a warm session while everything is live.
    let warm = Stats::new(load::sequential(&gw, &t, &ids[0], 10, reps).await?);
    r.row(
        "live",
        format!("warm call with {n} live sessions"),
        warm.summary(),
    );

    let sequential: Vec<String> = ids.drain(..tenth.min(ids.len())).collect();
    let (del_seq, _) = load::delete_sessions(&gw, sequential, 1).await?;
    let del_seq = Stats::new(del_seq);
    r.row(
        "live",
        format!("DELETE /sessions/{{id}}, one at a time, {tenth} of {n} (target p50 ≤ 5 ms)"),
        del_seq.summary(),
    );
    let rest = ids.len();
    let (del_conc, wall) = load::delete_sessions(&gw, ids, 32).await?;
    let del_conc = Stats::new(del_conc);
    r.row(
        "live",
        format!("DELETE /sessions/{{id}}, 32 in flight, remaining {rest}"),
        format!(
            "{:.0}/s  {}",
            rest as f64 / wall.as_secs_f64(),
            del_conc.summary()
        ),
    );
    let left = gw.wait_no_descendants(Duration::from_secs(60)).await;
    r.row("live", "children left after deleting all", left.to_string());
    r.put(
        "live",
        json!({"sessions": n, "get_tools": tools.json(), "get_sessions": listing.json(),
               "warm_call": warm.json(), "delete_sequential": del_seq.json(),
               "delete_concurrent": del_conc.json(),
               "delete_concurrent_rate": rest as f64 / wall.as_secs_f64(), "children_left": left}),
    );
    stop(gw).await;
    Ok(())
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// 5. Churn: N sessions created, used and deleted (9 in 10) or left to expire (1 in 10, 1 s
///    idle timeout) by 16 workers; then children left, and RSS before, at half-time and after.
pub async fn churn(env: &Env, r: &mut Report) -> anyhow::Result<()> {
    let n = env.churn_sessions;
    let gw = env
        .start(json!({"fx": env.service(env.fixture_argv(), true, 0)}))
        .await?;
    let t = fixture_echo("fx");
    let (_, _, ids) = load::create_sessions(&gw, &t, "warm", 200, 16, None).await?;
    load::delete_sessions(&gw, ids, 16).await?;
    wait_descendants(&gw, 0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = gw.rss();
    let start = Instant::now();
    let mut mid = 0;
    for half in 0..2 {
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(half * n / 2));
        let end = if half == 0 { n / 2 } else { n };
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (gw, t, next) = (gw.clone(), t.clone(), next.clone());
            tasks.spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= end {
                        return anyhow::Ok(());
                    }
                    let id = format!("churn-{i}");
                    if i % 10 == 9 {
                        gw.call(&t.service, &id, &t.tool, &t.args, Some(1)).await?;
                    } else {
                        gw.call(&t.service, &id, &t.tool, &t.args, None).await?;
                        gw.call(&t.service, &id, &t.tool, &t.args, None).await?;
                        gw.delete(&format!("/sessions/{id}")).await?;
                    }
                }
            });
        }
        while let Some(res) = tasks.join_next().await {
            res??;
        }
        if half == 0 {
            gw.wait_no_descendants(Duration::from_secs(60)).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            mid = gw.rss();
        }
    }
    let wall = start.elapsed();
    let expiring = n / 10;
    let left = gw.wait_no_descendants(Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = gw.rss();
    let listed = gw.get("/sessions").await?;
    let listed: Value = serde_json::from_str(&listed).context("GET /sessions")?;
    let listed = listed.as_object().map(|m| m.len()).unwrap_or(0);
    r.row(
        "churn",
        format!("{n} sessions ({expiring} left to expire, 1 s), 16 workers"),
        format!(
            "{:.1} s, {:.0} sessions/s",
            wall.as_secs_f64(),
            n as f64 / wall.as_secs_f64()
        ),
    );
    r.row(
        "churn",
        "children left (target 0) / sessions listed",
        format!("{left} / {listed}"),
    );
    r.row(
        "churn",
        "gateway RSS before / half-way / after (no growth)",
        format!(
            "{:.1} / {:.1} / {:.1} MiB",
            mib(before),
            mib(mid),
            mib(after)
        ),
    );
    r.put(
        "churn",
        json!({"sessions": n, "expired": expiring, "wall_s": wall.as_secs_f64(),
               "children_left": left, "sessions_listed": listed,
               "rss_before": before, "rss_half": mid, "rss_after": after}),
    );
    stop(gw).await;
    Ok(())
}

/// Upstream's Python gateway with the same Python child, same client, same run: warm call
/// throughput at 1 and 8 clients, new session, GET /tools, DELETE; ours right after.
pub async fn upstream(env: &Env, r: &mut Report) -> anyhow::Result<()> {
    let Some(bin) = &env.upstream else {
        r.row(
            "upstream",
            "skipped",
            "no upstream mcp-gateway found (see --upstream)",
        );
        return Ok(());
    };
    let unlimited = "1000000 per minute";
    let config = json!({
        "server": {"host": "127.0.0.1", "port": 0, "auth_user": USER, "auth_password": PASSWORD},
        "services": {"py": {"command": env.python_argv(), "description": "greeter"}},
        "session": {"default_timeout": 300, "max_sessions_per_service": 100000,
                    "max_total_sessions": 100000, "cleanup_interval": 60, "sandbox_dir": "./sandbox"},
        "rate_limiting": {"default_limits": [unlimited], "tools_limit": unlimited,
                          "call_limit": unlimited, "session_delete_limit": unlimited},
        "logging": {"level": "WARNING"}
    });
    let dur = env.dur();
    let n_new = env.n(20, 5);
    let up = Arc::new(Gateway::start_upstream(bin, &config).await?);
    let ours = env
        .start(json!({"py": env.service(env.python_argv(), true, 0)}))
        .await?;
    for (who, gw) in [("upstream", &up), ("ours", &ours)] {
        let t = greet("py");
        for clients in [1usize, 8] {
            let (rate, lat, errors) =
                load::throughput(gw, &t, &[format!("{who}-warm")], clients, dur).await?;
            let lat = Stats::new(lat);
            r.row(
                "upstream",
                format!("{who}: warm greet, {clients} client(s), one session"),
                format!("{rate:.0} calls/s  {}  errors {errors}", lat.summary()),
            );
            r.put(
                &format!("upstream.{who}_warm_c{clients}"),
                json!({"rate": rate, "latency": lat.json(), "errors": errors}),
            );
        }
        let (lat, wall, ids) =
            load::create_sessions(gw, &t, &format!("{who}-new"), n_new, 1, None).await?;
        let stats = Stats::new(lat);
        r.row(
            "upstream",
            format!("{who}: new session (spawn+init+call), one at a time"),
            format!(
                "{:.1}/s  {}",
                n_new as f64 / wall.as_secs_f64(),
                stats.summary()
            ),
        );
        r.put(&format!("upstream.{who}_new_session"), stats.json());
        let tools = Stats::new(load::get_latency(gw, "/services/py/tools", env.n(10, 3)).await?);
        r.row(
            "upstream",
            format!("{who}: GET /services/py/tools"),
            tools.summary(),
        );
        r.put(&format!("upstream.{who}_get_tools"), tools.json());
        let (del, wall) = load::delete_sessions(gw, ids, 1).await?;
        let del = Stats::new(del);
        r.row(
            "upstream",
            format!("{who}: DELETE /sessions/{{id}}, one at a time"),
            format!("{}  (wall {})", del.summary(), fmt(wall)),
        );
        r.put(&format!("upstream.{who}_delete"), del.json());
    }
    stop(ours).await;
    stop(up).await;
    Ok(())
}
