//! Signals (issue 17, defect 12): SIGHUP reopens the log file and stops nothing; SIGTERM during
//! a child's `initialize` honours `shutdown_grace`; a second SIGTERM kills every child at once.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::support::procs::{alive, descendants_of};
use crate::support::*;

/// Wait until the gateway has a child process (started by a request in flight).
async fn first_child(gw: &TestGateway) -> u32 {
    let gateway = gw.pid();
    within(60, "a child of the gateway", async {
        loop {
            if let Some(&pid) = descendants_of(gateway).first() {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reopens_the_log_file_and_stops_nothing() {
    let gw = TestGateway::start(config(
        json!({ "fx": fixture_service(&[]) }),
        json!({"logging": {"level": "INFO", "file": "gateway.log"}}),
    ))
    .await;
    gw.call_ok("fx", "s", "echo", json!({"text": "before"}))
        .await;
    let child = gw.child_pid("s", "fx").await;
    // logrotate: move the file away, then HUP.
    let log = gw.path().join("gateway.log");
    let rotated = gw.path().join("gateway.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    gw.signal(1);
    wait_until(30, "the log file to be reopened", || log.exists()).await;
    gw.call_ok("fx", "s", "echo", json!({"text": "after"}))
        .await;
    assert_eq!(gw.child_pid("s", "fx").await, child, "the session survived");
    assert!(alive(child));
    let (status, _) = gw.get("/health").await;
    assert_eq!(status, StatusCode::OK);
    let fresh = std::fs::read_to_string(&log).unwrap();
    assert!(fresh.contains("SIGHUP: log file reopened"), "{fresh}");
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert!(old.contains("listening"), "{old}");
    // Later records go to the new file, not the rotated one.
    let (_, _) = gw.get("/services").await;
    wait_until(30, "a request logged in the new file", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("tool call"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_initialize_honours_the_grace() {
    let mut slow = fixture_service(&["--no-init-reply"]);
    slow["startup_timeout"] = json!(120);
    let mut gw = TestGateway::start(config(
        json!({ "slow": slow }),
        json!({"server": {"shutdown_grace": 1}}),
    ))
    .await;
    let url = gw.url("/services/slow/call");
    let call = gw
        .http
        .post(url)
        .bearer_auth(TOKEN)
        .json(&json!({"tool": "echo", "session_id": "s", "arguments": {}}))
        .send();
    let call = tokio::spawn(call);
    let child = first_child(&gw).await;
    let started = Instant::now();
    gw.signal(15);
    gw.wait_exit(30).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "stopping took {took:?} (grace 1 s, startup_timeout 120 s); log:\n{}",
        gw.log()
    );
    assert!(!alive(child), "the initializing child was reaped");
    let _ = call.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_kills_every_child_at_once() {
    // A child that ignores the closing of its stdin, with a long stop grace: a graceful stop
    // would wait 60 s before its SIGTERM.
    let mut stubborn = fixture_service(&["--ignore-eof"]);
    stubborn["stop_grace"] = json!(60);
    let mut gw = TestGateway::start(config(
        json!({ "fx": stubborn }),
        json!({"server": {"shutdown_grace": 1}}),
    ))
    .await;
    let mut children = Vec::new();
    for session in ["a", "b", "c"] {
        gw.call_ok("fx", session, "echo", json!({"text": "x"}))
            .await;
        children.push(gw.child_pid(session, "fx").await);
    }
    let grandchild = gw.call_ok("fx", "a", "spawn_grandchild", json!({})).await;
    gw.signal(15);
    within(30, "the graceful stop to begin", async {
        while !gw.log().contains("stopping every child") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        children.iter().all(|&pid| alive(pid)),
        "still in their grace"
    );
    let started = Instant::now();
    gw.signal(15);
    gw.wait_exit(30).await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}; log:\n{}",
        started.elapsed(),
        gw.log()
    );
    for pid in children {
        assert!(!alive(pid), "child {pid} survived the forced exit");
    }
    assert!(gw.log().contains("second stop signal"), "{}", gw.log());
    let grandchild: u32 = grandchild.as_str().unwrap().parse().unwrap();
    wait_until(10, "the grandchild to be gone", || !alive(grandchild)).await;
    // Nothing left in the sandbox dir.
    let sandbox = gw.path().join("sandbox");
    let left: Vec<_> = std::fs::read_dir(&sandbox)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name())
                .filter(|n| !n.to_string_lossy().starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "left in {}: {left:?}", sandbox.display());
}

/// An SSE `tools/call` of the MCP front door in flight when SIGTERM arrives, answered on its
/// stream after `call_ms`; what the client reads, and how long the gateway took to exit.
async fn sse_call_across_sigterm(grace: u64, call_ms: u64) -> (Vec<serde_json::Value>, Duration) {
    use crate::front::client::{Mcp, messages};
    let mut gw = TestGateway::start(config(
        json!({ "fx": fixture_service(&[]) }),
        json!({"server": {"shutdown_grace": grace}}),
    ))
    .await;
    let mut mcp = Mcp::open(&gw, "/services/fx/mcp").await;
    let (_, response) = mcp
        .send(
            "tools/call",
            json!({"name": "sleep", "arguments": {"ms": call_ms}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    first_child(&gw).await;
    let started = Instant::now();
    gw.signal(15);
    let answer = messages(response).await;
    gw.wait_exit(60).await;
    (answer, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_sse_call_in_flight_answer_within_the_grace() {
    let (answer, took) = sse_call_across_sigterm(20, 2_000).await;
    assert!(
        answer
            .last()
            .is_some_and(|last| last.get("result").is_some()),
        "the call in flight was answered: {answer:?}"
    );
    assert!(
        took < Duration::from_secs(15),
        "stopping took {took:?} (grace 20 s, call 2 s)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_call_outlasting_the_grace_answers_that_the_gateway_stops() {
    let (answer, took) = sse_call_across_sigterm(2, 120_000).await;
    let last = answer.last().cloned().unwrap_or_default();
    assert_eq!(
        last["error"]["message"], "the gateway is shutting down",
        "a clean error ends the stream: {answer:?}"
    );
    assert!(
        took < Duration::from_secs(15),
        "stopping took {took:?} (grace 2 s, call 120 s)"
    );
}
