//! Config reload (issue 16 item 3): SIGHUP and `POST /reload` (`mcp-gateway reload`) make the
//! file's new content the next generation without dropping a call; live sessions keep the
//! spawn spec they started with; removed services take no new sessions; credentials and
//! limits apply at once; an invalid file is refused with every problem and the old one stays.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::front::client::Mcp;
use crate::support::*;

/// Write `config` over the gateway's `config.json`.
fn rewrite(gw: &TestGateway, config: &Value) {
    let path = gw.path().join("config.json");
    let tmp = gw.path().join("config.json.new");
    std::fs::write(&tmp, serde_json::to_vec_pretty(config).unwrap()).unwrap();
    std::fs::rename(tmp, path).unwrap();
}

async fn generation(gw: &TestGateway) -> u64 {
    let (_, body) = gw.get("/ready").await;
    body["config_generation"]
        .as_u64()
        .unwrap_or_else(|| panic!("/ready has no config_generation: {body}"))
}

async fn wait_generation(gw: &TestGateway, want: u64) {
    within(60, "the reload to apply", async {
        while generation(gw).await < want {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(generation(gw).await, want);
}

/// The `GEN` variable of the child that answers `whoami` for `session` in service `a`.
async fn child_gen(gw: &TestGateway, session: &str) -> String {
    let result = gw.call_ok("a", session, "whoami", json!({})).await;
    let text = result.as_str().unwrap();
    let report: Value = serde_json::from_str(text).unwrap();
    report["env"]["GEN"].as_str().unwrap_or("").to_string()
}

/// Generation `n` of the load test's config: `a`'s environment says `n`, its warm pool comes
/// and goes, service `c` comes and goes, the session cap moves.
fn generation_config(n: u64) -> Value {
    let mut a = fixture_service(&[]);
    a["env"] = json!({ "GEN": n.to_string() });
    a["warm_pool"] = json!(if n.is_multiple_of(4) { 1 } else { 0 });
    let mut services = json!({ "a": a, "b": fixture_service(&[]) });
    if n.is_multiple_of(2) {
        services["c"] = fixture_service(&[]);
    }
    config(
        services,
        json!({ "session": { "max_total_sessions": 400 + n } }),
    )
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: std::sync::Mutex<Vec<String>>,
}

impl Tally {
    fn record(&self, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => self.failed.lock().unwrap().push(e),
        }
    }
}

/// REST calls in sessions of five calls each (so new sessions start in every generation).
async fn rest_worker(gw: &TestGateway, worker: usize, stop: &AtomicBool, tally: &Tally) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let session = format!("w{worker}-{n}");
        for i in 0..5 {
            let service = if i % 2 == 0 { "a" } else { "b" };
            let text = format!("{session}-{i}");
            let (status, body) = gw
                .call(service, &session, "echo", json!({ "text": text }))
                .await;
            let echoed = body["content"][0]["text"].as_str() == Some(&text);
            tally.record(if status == StatusCode::OK && echoed {
                Ok(())
            } else {
                Err(format!("REST {service} {session}: {status} {body}"))
            });
        }
        let (status, body) = gw.delete(&format!("/sessions/{session}")).await;
        tally.record(if status == StatusCode::OK {
            Ok(())
        } else {
            Err(format!("DELETE {session}: {status} {body}"))
        });
        n += 1;
    }
}

/// MCP sessions on `/mcp` of five `tools/call` each.
async fn mcp_worker(gw: &TestGateway, worker: usize, stop: &AtomicBool, tally: &Tally) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut mcp = Mcp::open(gw, "/mcp").await;
        for i in 0..5 {
            let tool = if i % 2 == 0 { "a__echo" } else { "b__echo" };
            let text = format!("m{worker}-{n}-{i}");
            let result = mcp.call(tool, json!({ "text": text })).await;
            let echoed = result["content"][0]["text"].as_str() == Some(&text);
            tally.record(if echoed && result["isError"] != true {
                Ok(())
            } else {
                Err(format!("MCP {tool}: {result}"))
            });
        }
        let status = mcp.delete().await;
        tally.record(if status.is_success() {
            Ok(())
        } else {
            Err(format!("MCP DELETE: {status}"))
        });
        n += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_reloads_under_rest_and_mcp_load_fail_no_call() {
    let gw = TestGateway::start(generation_config(1)).await;
    // A session of the first generation, with a child of `b` only: its `a` child starts later,
    // after every reload, and must still get the first generation's spec.
    gw.call_ok("b", "old", "echo", json!({ "text": "x" })).await;
    let stop = AtomicBool::new(false);
    let tally = Tally::default();
    let reloads = async {
        for n in 2..=21u64 {
            // Let calls run in this generation first (an event, not a sleep).
            let seen = tally.ok.load(Ordering::Relaxed);
            within(120, "calls between reloads", async {
                while tally.ok.load(Ordering::Relaxed) < seen + 25 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await;
            rewrite(&gw, &generation_config(n));
            if n.is_multiple_of(2) {
                gw.signal(libc::SIGHUP);
            } else {
                let (status, body) = gw.post("/reload", &json!({})).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                assert_eq!(body["generation"], n, "{body}");
                assert!(
                    body["services"]["changed"]
                        .as_array()
                        .unwrap()
                        .contains(&json!("a"))
                );
            }
            wait_generation(&gw, n).await;
        }
        stop.store(true, Ordering::Relaxed);
    };
    let workers = async {
        tokio::join!(
            rest_worker(&gw, 0, &stop, &tally),
            rest_worker(&gw, 1, &stop, &tally),
            rest_worker(&gw, 2, &stop, &tally),
            mcp_worker(&gw, 0, &stop, &tally),
            mcp_worker(&gw, 1, &stop, &tally),
        )
    };
    within(600, "20 reloads under load", async {
        tokio::join!(reloads, workers)
    })
    .await;
    let failed = tally.failed.lock().unwrap().clone();
    let ok = tally.ok.load(Ordering::Relaxed);
    assert!(
        failed.is_empty(),
        "{} of {} calls failed: {failed:#?}",
        failed.len(),
        ok + failed.len() as u64
    );
    assert!(ok >= 200, "only {ok} calls ran");
    // The first generation's session keeps its spec; a new session gets the last one.
    assert_eq!(child_gen(&gw, "old").await, "1");
    assert_eq!(child_gen(&gw, "new").await, "21");
    let log = gw.log();
    assert!(!log.contains("reload refused"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_services_take_no_new_sessions_and_credentials_and_limits_apply_at_once() {
    let services = json!({ "a": fixture_service(&[]), "b": fixture_service(&[]) });
    let gw = TestGateway::start(config(services, json!({}))).await;
    gw.call_ok("b", "kept", "echo", json!({ "text": "x" }))
        .await;
    let b_child = gw.child_pid("kept", "b").await;

    let next = config(
        json!({ "a": fixture_service(&[]) }),
        json!({
            "server": { "auth_token": "rotated-token", "port": 1 },
            "rate_limiting": { "enabled": true, "call_limit": "2 per hour" }
        }),
    );
    rewrite(&gw, &next);
    let (status, report) = gw.post("/reload", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["services"]["removed"], json!(["b"]), "{report}");
    // The listener cannot move: the running port stays, and the report says so.
    assert_eq!(
        report["restart_required"],
        json!(["server.port"]),
        "{report}"
    );

    // The old token is refused at once; the new one and Basic work.
    let (status, _) = gw.get("/services").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let call = |token: &'static str, service: &str, session: &str| {
        let body = json!({ "tool": "echo", "session_id": session, "arguments": { "text": "y" } });
        gw.http
            .post(gw.url(&format!("/services/{service}/call")))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let resp = call("rotated-token", "b", "kept").await.unwrap();
    // The session that knew `b` keeps it: same child, still answering.
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "{}",
        resp.text().await.unwrap()
    );
    assert!(crate::support::procs::alive(b_child));
    // A new session cannot start on the removed service.
    let resp = call("rotated-token", "b", "fresh").await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "unknown_service", "{body}");
    // The new call budget (2 per hour, off before the reload) applies from now: the two calls
    // above spent it, the third is refused.
    let third = call("rotated-token", "a", "s").await.unwrap();
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_file_is_refused_with_every_problem_and_the_old_one_stays() {
    let services = json!({ "a": fixture_service(&[]) });
    let good = config(services, json!({ "audit": { "file": "audit.log" } }));
    let gw = TestGateway::start(good.clone()).await;
    gw.call_ok("a", "s", "echo", json!({ "text": "before" }))
        .await;

    let mut bad = good.clone();
    bad["services"]["a"]["command"] = json!("not a list");
    bad["session"]["max_total_sessions"] = json!(-1);
    rewrite(&gw, &bad);
    let (status, body) = gw.post("/reload", &json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "invalid_config", "{body}");
    let problems = body["problems"].to_string();
    assert!(problems.contains("config.json"), "{problems}");
    assert!(problems.contains("services.a.command"), "{problems}");
    assert!(
        problems.contains("session.max_total_sessions"),
        "{problems}"
    );
    assert_eq!(generation(&gw).await, 1);

    // The CLI says the same, and exits 6 (refused).
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
            .args(args)
            .args(["--url", &gw.base, "--token", TOKEN])
            .output()
            .unwrap()
    };
    let out = cli(&["reload"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("services.a.command"), "{stderr}");

    // SIGHUP with the same file: refused in the log, nothing changes.
    gw.signal(libc::SIGHUP);
    wait_until(60, "the refusal in the log", || {
        gw.log().contains("reload refused")
    })
    .await;
    assert_eq!(generation(&gw).await, 1);
    gw.call_ok("a", "s", "echo", json!({ "text": "still" }))
        .await;

    // Fixed: the CLI reloads it.
    rewrite(&gw, &good);
    let out = cli(&["reload"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("reloaded: configuration generation 2"),
        "{stdout}"
    );
    gw.call_ok("a", "s", "echo", json!({ "text": "after" }))
        .await;

    // The audit log has each attempt: who, how, and what it found or changed.
    let audit = std::fs::read_to_string(gw.path().join("audit.log")).unwrap();
    let records: Vec<Value> = (audit.lines())
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &Value| {
            r["event"]
                .as_str()
                .is_some_and(|e| e.starts_with("config_reload"))
        })
        .collect();
    let events: Vec<(&str, &str)> = (records.iter())
        .map(|r| (r["event"].as_str().unwrap(), r["trigger"].as_str().unwrap()))
        .collect();
    assert_eq!(
        events,
        [
            ("config_reload_refused", "POST /reload"),
            ("config_reload_refused", "POST /reload"),
            ("config_reload_refused", "SIGHUP"),
            ("config_reload", "POST /reload"),
        ],
        "{audit}"
    );
    assert_eq!(records[0]["principal"], "bearer");
    assert!(
        records[0]["problems"]
            .to_string()
            .contains("services.a.command")
    );
    assert_eq!(records[3]["generation"], 2);
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args(["audit", "verify"])
        .arg(gw.path().join("audit.log"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_replaces_the_warm_pool_of_a_changed_service() {
    let pooled = |n: u64| {
        let mut a = fixture_service(&[]);
        a["env"] = json!({ "GEN": n.to_string() });
        a["warm_pool"] = json!(1);
        config(json!({ "a": a }), json!({}))
    };
    let gw = TestGateway::start(pooled(1)).await;
    // Ready once the pool is full; then its child is the gateway's only one (discovery's
    // short-lived child gone too).
    within(60, "the pool to fill", async {
        while gw.get("/ready").await.0 != StatusCode::OK
            || crate::support::procs::children_of(gw.pid()).len() != 1
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let old_pooled = crate::support::procs::children_of(gw.pid())[0];
    rewrite(&gw, &pooled(2));
    let (status, body) = gw.post("/reload", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The old spec's pooled child is stopped; new sessions get the new spec.
    wait_until(60, "the old pooled child to stop", || {
        !crate::support::procs::alive(old_pooled)
    })
    .await;
    assert_eq!(child_gen(&gw, "after").await, "2");
    assert_eq!(gw.get("/ready").await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_session_keeps_the_services_it_was_initialized_with() {
    let two = json!({ "a": fixture_service(&[]), "b": fixture_service(&[]) });
    let gw = TestGateway::start(config(two, json!({}))).await;
    let mut old = Mcp::open(&gw, "/mcp").await;
    let result = old.call("b__echo", json!({ "text": "before" })).await;
    assert_eq!(result["content"][0]["text"], "before", "{result}");
    // One on `b`'s own endpoint that has not started its child yet.
    let mut only_b = Mcp::open(&gw, "/services/b/mcp").await;

    let next = json!({ "a": fixture_service(&[]), "c": fixture_service(&[]) });
    rewrite(&gw, &config(next, json!({})));
    let (status, body) = gw.post("/reload", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["services"]["removed"], json!(["b"]), "{body}");

    // The old session still lists and calls `b`, and does not see `c`.
    let names = old.tool_names().await;
    assert!(names.contains(&"b__echo".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("c__")), "{names:?}");
    let result = old.call("b__echo", json!({ "text": "after" })).await;
    assert_eq!(result["content"][0]["text"], "after", "{result}");
    // A new session sees the new set.
    let mut new = Mcp::open(&gw, "/mcp").await;
    let names = new.tool_names().await;
    assert!(names.contains(&"c__echo".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("b__")), "{names:?}");
    let result = new.call("c__echo", json!({ "text": "new" })).await;
    assert_eq!(result["content"][0]["text"], "new", "{result}");

    // `b`'s endpoint: its session lists and calls `b` (its child starts now, by the old
    // spec); a new session there is refused.
    let names = only_b.tool_names().await;
    assert!(names.contains(&"echo".to_string()), "{names:?}");
    let result = only_b.call("echo", json!({ "text": "late" })).await;
    assert_eq!(result["content"][0]["text"], "late", "{result}");
    let mut refused = Mcp::new(&gw, "/services/b/mcp");
    let (status, body) = refused.initialize("2025-11-25").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
