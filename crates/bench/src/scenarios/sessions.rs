//! Session creation: cold, bare, warm pool.

use super::*;

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
                direct::spawn_ready(&argv, &target.tool, &target.args, n, concurrency, false)
                    .await?;
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
            let (lat, wall) =
                direct::spawn_ready(&argv, &target.tool, &target.args, n, concurrency, true)
                    .await?;
            let fork_rate = n as f64 / wall.as_secs_f64();
            let forked = Stats::new(lat);
            r.row(
                "sessions",
                format!("{label}: bare, forced fork (no-op pre_exec), {concurrency} in flight"),
                format!(
                    "{fork_rate:.0}/s ({:.0}% of bare)  {}",
                    100.0 * fork_rate / bare_rate,
                    forked.summary()
                ),
            );
            r.put(
                &format!("sessions.{label}_bare_fork_c{concurrency}"),
                json!({"rate": fork_rate, "vs_bare": fork_rate / bare_rate, "latency": forked.json()}),
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
