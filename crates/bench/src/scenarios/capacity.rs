//! Many live sessions: memory, listing and deletion latency; churn.

use super::*;

/// 3 + 4. With N live sessions: RSS at 0, N/10 and N; GET /tools, GET /sessions, DELETE.
pub async fn live(env: &Env, r: &mut Report) -> anyhow::Result<()> {
    let n = env.live_sessions;
    let tenth = n / 10;
    let mut config = env.config(json!({"fx": env.service(env.fixture_argv(), true, 0)}));
    // As root every child has a uid of its own: the default range (1,000 uids) would cap the
    // run, not the gateway.
    let last = 100_000 + n + 1_000;
    config["session"]["child_uids"] = json!(format!("100000-{last}"));
    let gw = Arc::new(Gateway::start_ours(&env.gateway, &config).await?);
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

    // Calls spread over every live session: 64 clients, each call on the next session.
    let (spread_rate, spread_lat, spread_errors) =
        load::spread(&gw, &t, &ids, 64, env.dur()).await?;
    let spread = Stats::new(spread_lat);
    r.row(
        "live",
        format!("calls spread over all {n} live sessions, 64 clients"),
        format!(
            "{spread_rate:.0}/s  {}  errors {spread_errors}",
            spread.summary()
        ),
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
               "warm_call": warm.json(),
               "spread_calls": {"clients": 64, "rate": spread_rate, "errors": spread_errors,
                                "latency": spread.json()},
               "delete_sequential": del_seq.json(),
               "delete_concurrent": del_conc.json(),
               "delete_concurrent_rate": rest as f64 / wall.as_secs_f64(), "children_left": left}),
    );
    stop(gw).await;
    Ok(())
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
