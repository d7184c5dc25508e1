//! Latency and throughput of warm calls.

use super::*;

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
