//! Misbehaving children: crashes, hangs, floods, garbage, colliding ids, early notifications.

use std::time::{Duration, Instant};

use mcp_gateway::mcp::jsonrpc::METHOD_NOT_FOUND;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::procs;
use crate::support::*;

fn service_with(flags: &[&str], extra: Value) -> Value {
    let mut s = fixture_service(flags);
    if let (Value::Object(s), Value::Object(extra)) = (&mut s, extra) {
        s.extend(extra);
    }
    s
}

#[tokio::test]
async fn crash_mid_call_fails_fast_with_exit_status() {
    let gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    gw.call_ok("fx", "s", "count", json!({})).await;
    let started = Instant::now();
    let (status, body) = gw
        .call(
            "fx",
            "s",
            "crash",
            json!({"code": 3, "message": "boom: out of cheese"}),
        )
        .await;
    let elapsed = started.elapsed();
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    assert_eq!(body["code"], "child_exited");
    assert_eq!(body["exit_status"], "exit status 3");
    assert!(
        body["stderr_tail"]
            .as_str()
            .unwrap()
            .contains("boom: out of cheese"),
        "{body}"
    );
    assert_eq!(
        body["error"],
        "service fx exited during the call (exit status 3)"
    );
    // The next call gets a fresh child (state is new), not a hang.
    assert_eq!(gw.call_ok("fx", "s", "count", json!({})).await, "1");
}

#[tokio::test]
async fn hung_call_times_out_and_the_child_is_told() {
    let gw = TestGateway::start(config(
        json!({ "fx": service_with(&[], json!({"call_timeout": 1})) }),
        json!({}),
    ))
    .await;
    let started = Instant::now();
    let (status, body) = gw.call("fx", "s", "sleep", json!({"ms": 60_000})).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(body["code"], "timeout");
    assert_eq!(body["error"], "tools/call on service fx timed out after 1s");
    // The child received notifications/cancelled for that request and still serves.
    let cancelled = gw.call_ok("fx", "s", "cancelled", json!({})).await;
    let ids: Vec<Value> = serde_json::from_str(cancelled.as_str().unwrap()).unwrap();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

#[tokio::test]
async fn stderr_flood_never_stalls() {
    let gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    for i in 0..5 {
        let r = gw
            .call_ok("fx", "s", "stderr_flood", json!({"bytes": 20_000_000}))
            .await;
        assert_eq!(r, "flooded 20000000", "round {i}");
    }
    assert_eq!(
        gw.call_ok("fx", "s", "echo", json!({"text": "still here"}))
            .await,
        "still here"
    );
}

#[tokio::test]
async fn garbage_and_oversized_lines() {
    let gw = TestGateway::start(config(
        json!({ "fx": service_with(&[], json!({"max_line_bytes": 65536})) }),
        json!({}),
    ))
    .await;
    assert_eq!(gw.call_ok("fx", "s", "garbage", json!({})).await, "ok");
    // An oversized reply fails that request only.
    let (status, body) = gw
        .call("fx", "s", "oversized", json!({"bytes": 1_000_000}))
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["code"], "bad_response");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("longer than 65536 bytes"),
        "{body}"
    );
    // An oversized unrelated line is skipped; the real reply still arrives.
    assert_eq!(
        gw.call_ok("fx", "s", "noise_then_reply", json!({"bytes": 1_000_000}))
            .await,
        "ok"
    );
    assert_eq!(
        gw.call_ok("fx", "s", "echo", json!({"text": "fine"})).await,
        "fine"
    );
}

#[tokio::test]
async fn child_requests_are_answered_not_confused_with_responses() {
    let gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    let report = gw.call_ok("fx", "s", "ask_client", json!({})).await;
    let report: Value = serde_json::from_str(report.as_str().unwrap()).unwrap();
    assert_eq!(report["ping"]["result"], json!({}), "{report}");
    assert_eq!(report["roots"]["result"], json!({"roots": []}), "{report}");
    assert_eq!(
        report["sampling"]["error"]["code"], METHOD_NOT_FOUND,
        "{report}"
    );
}

#[tokio::test]
async fn notifications_before_the_initialize_reply_are_tolerated() {
    let gw = TestGateway::start(config(
        json!({ "fx": fixture_service(&["--notify-before-init"]) }),
        json!({}),
    ))
    .await;
    assert_eq!(
        gw.call_ok("fx", "s", "echo", json!({"text": "hi"})).await,
        "hi"
    );
}

#[tokio::test]
async fn services_that_cannot_start_are_503() {
    let gw = TestGateway::start(config(
        json!({
            "missing": {"command": ["/nonexistent/mcp-server"]},
            "dies": fixture_service(&["--exit-on-init", "7"]),
            "mute": service_with(&["--no-init-reply"], json!({"startup_timeout": 1})),
        }),
        json!({}),
    ))
    .await;
    let (status, body) = gw.call("missing", "s", "echo", json!({})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "service_unavailable");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("service missing is unavailable: cannot start"),
        "{body}"
    );
    let (status, body) = gw.call("dies", "s", "echo", json!({})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("exit status 7"),
        "{body}"
    );
    let started = Instant::now();
    let (status, body) = gw.call("mute", "s", "echo", json!({})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no answer to initialize within 1s"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let (status, _) = gw.get("/services/dies/tools").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // Failed starts leave no child and no session slot behind.
    wait_until(15, "no children left", || {
        procs::children_of(gw.pid()).is_empty()
    })
    .await;
}

/// A child that never answers `initialize` is answered 503 as soon as `startup_timeout` ends
/// (its stop finishes in the background), and the session its call created is not kept.
#[tokio::test]
async fn a_failed_first_start_answers_at_once_and_keeps_no_empty_session() {
    let gw = TestGateway::start(config(
        json!({
            "fx": fixture_service(&[]),
            // Ignores stdin EOF: its stop takes a `stop_grace` before SIGTERM.
            "mute": service_with(
                &["--no-init-reply", "--ignore-eof"],
                json!({"startup_timeout": 1, "stop_grace": 2}),
            ),
        }),
        json!({}),
    ))
    .await;
    let started = Instant::now();
    let (status, body) = gw.call("mute", "fresh", "echo", json!({})).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        took < Duration::from_millis(1500),
        "answered after {took:?}"
    );
    let (_, sessions) = gw.get("/sessions").await;
    assert!(sessions.get("fresh").is_none(), "{sessions}");

    // A session with another child is kept.
    gw.call_ok("fx", "kept", "echo", json!({"text": "hi"}))
        .await;
    let (status, _) = gw.call("mute", "kept", "echo", json!({})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (_, sessions) = gw.get("/sessions").await;
    assert!(
        sessions["kept"]["children"]["fx"]["pid"].is_u64(),
        "{sessions}"
    );
    assert!(
        sessions["kept"]["children"].get("mute").is_none(),
        "{sessions}"
    );

    // The failed children are still reaped (in the background).
    let fx = gw.child_pid("kept", "fx").await;
    wait_until(15, "only the fx child left", || {
        procs::children_of(gw.pid()) == vec![fx]
    })
    .await;
}
