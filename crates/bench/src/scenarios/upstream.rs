//! Side by side with upstream's Python gateway.

use super::*;

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
