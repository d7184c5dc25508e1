//! MCP sessions and the caps (issue 17, defects 4 and 5): `initialize` counts against
//! `max_total_sessions`, what a client declares is kept bounded, and an abandoned stateless
//! call gives its child and cap back at once.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::client::{Mcp, stateless_call};
use crate::support::procs::alive;
use crate::support::*;

fn capped(total: u64, per_service: u64, extra_server: Value) -> Value {
    let mut cfg = config(
        json!({ "fx": fixture_service(&[]) }),
        json!({ "session": { "max_total_sessions": total, "max_sessions_per_service": per_service } }),
    );
    if let Value::Object(extra) = extra_server {
        cfg["server"].as_object_mut().unwrap().extend(extra);
    }
    cfg
}

async fn rest_call(gw: &TestGateway, session: &str) -> (StatusCode, Value) {
    let body = json!({"tool": "echo", "session_id": session, "arguments": {"text": "x"}});
    gw.post("/services/fx/call", &body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_sessions_count_against_the_total_cap() {
    let gw = TestGateway::start(capped(3, 10, json!({}))).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(Mcp::open(&gw, "/services/fx/mcp").await);
    }
    // A fourth is refused as REST refuses a session over the cap: 503 + Retry-After.
    let mut fourth = Mcp::new(&gw, "/services/fx/mcp");
    let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "it", "version": "1"}}});
    let resp = fourth.builder().json(&body).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert!(resp.headers().get("mcp-session-id").is_none());
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["id"], 0);
    assert_eq!(
        answer["error"]["message"], "maximum session limit (3) reached",
        "{answer}"
    );
    // Waiting MCP sessions hold the places REST would take too.
    let (status, body) = rest_call(&gw, "rest").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "session_limit");
    // A session that starts its child still counts once; one that ends frees its place.
    open[0].call("echo", json!({"text": "x"})).await;
    assert_eq!(gw.get("/sessions").await.1.as_object().unwrap().len(), 3);
    assert_eq!(open.pop().unwrap().delete().await, StatusCode::OK);
    assert_eq!(rest_call(&gw, "rest").await.0, StatusCode::OK);
    let (status, _) = fourth.initialize("2025-11-25").await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the REST child took the place"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_data_kept_per_session_is_bounded() {
    let gw = TestGateway::start(capped(50, 50, json!({ "max_body_bytes": 16_000_000 }))).await;
    let big = "n".repeat(5_000_000);
    for _ in 0..3 {
        let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {"sampling": {"blob": big}, "roots": {"listChanged": true}},
            "clientInfo": {"name": big, "version": "1.0", "junk": big}}});
        let resp = gw
            .http
            .post(gw.url("/mcp"))
            .bearer_auth(TOKEN)
            .header("accept", "application/json, text/event-stream")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let resp = gw
        .http
        .get(gw.url("/sessions"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert!(
        text.len() < 10_000,
        "{} bytes listed for 3 sessions",
        text.len()
    );
    let sessions: Value = serde_json::from_str(&text).unwrap();
    for (_, session) in sessions.as_object().unwrap() {
        let info = &session["metadata"]["client_info"];
        assert_eq!(info["version"], "1.0");
        assert!(info.get("junk").is_none(), "{info}");
        assert!(info["name"].as_str().unwrap().ends_with('…'), "{info}");
        let caps = &session["metadata"]["client_capabilities"];
        assert_eq!(caps["sampling"], json!({}), "declared, bulk dropped");
        assert_eq!(caps["roots"], json!({"listChanged": true}));
    }
}

/// A 2026-07-28 `tools/call` answered as JSON whose client hangs up: the per-request child is
/// stopped and its cap place freed at once, not after `default_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_stateless_call_frees_its_child_at_once() {
    let gw = TestGateway::start(capped(10, 1, json!({}))).await;
    let request =
        stateless_call(&gw, "/services/fx/mcp", 1, "sleep", json!({"ms": 120_000})).send();
    let call = tokio::spawn(request);
    // The call is running in its per-request session's child.
    let pid = within(60, "the stateless call's child", async {
        loop {
            let (_, sessions) = gw.get("/sessions").await;
            let pid = sessions.as_object().unwrap().values().find_map(|s| {
                (s["calls"].as_u64() == Some(1))
                    .then(|| s["children"]["fx"]["pid"].as_u64())
                    .flatten()
            });
            if let Some(pid) = pid {
                return pid as u32;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(
        rest_call(&gw, "rest").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // The client goes away.
    call.abort();
    let _ = call.await;
    wait_until(30, "the abandoned call's child to be stopped", || {
        !alive(pid)
    })
    .await;
    within(30, "the cap place to be free", async {
        loop {
            let (status, _) = rest_call(&gw, "rest").await;
            if status == StatusCode::OK {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let (_, sessions) = gw.get("/sessions").await;
    assert_eq!(sessions.as_object().unwrap().len(), 1, "{sessions}");
}

/// An open GET stream keeps its MCP session alive past `default_timeout`; once the client
/// closes it, the idle clock runs again (issue 17, defect 13).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_get_stream_keeps_its_session_alive() {
    let mut cfg = capped(10, 10, json!({}));
    cfg["session"]["default_timeout"] = json!(1);
    let gw = TestGateway::start(cfg).await;
    let mut mcp = Mcp::open(&gw, "/services/fx/mcp").await;
    let id = mcp.session.clone().unwrap();
    let stream = mcp
        .with_headers(gw.http.get(gw.url("/services/fx/mcp")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    // Three idle timeouts with nothing but the open stream (the reaper runs every 0.1 s).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, sessions) = gw.get("/sessions").await;
    assert!(
        sessions.get(&id).is_some(),
        "reaped with its stream open: {sessions}"
    );
    let (_, resp) = mcp.send("ping", json!({})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    // Closed by the client: the session is idle again and reaped.
    drop(stream);
    within(30, "the idle session to be reaped", async {
        loop {
            let (_, sessions) = gw.get("/sessions").await;
            if sessions.get(&id).is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}
