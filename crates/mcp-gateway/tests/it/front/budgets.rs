//! The traffic policy on the front door (issue 17, defect 2): a `tools/call` spends what a REST
//! call spends and passes the same concurrency gates, on every surface; protocol chatter does
//! not eat any budget.

use mcp_gateway::mcp::jsonrpc::GATEWAY_ERROR;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::client::{Mcp, messages, stateless_call};
use crate::support::*;

fn limited_config(rate_limiting: Value, session: Value) -> Value {
    let mut rl = json!({"enabled": true});
    rl.as_object_mut()
        .unwrap()
        .extend(rate_limiting.as_object().unwrap().clone());
    config(
        json!({ "fx": fixture_service(&[]) }),
        json!({ "rate_limiting": rl, "session": session }),
    )
}

async fn rest_call(gw: &TestGateway, session: &str) -> (StatusCode, Value) {
    let body = json!({"tool": "echo", "session_id": session, "arguments": {"text": "x"}});
    gw.post("/services/fx/call", &body).await
}

/// One `tools/call`, JSON or SSE: the HTTP status, its headers and the last message.
async fn mcp_call(
    mcp: &mut Mcp<'_>,
    sse: bool,
    tool: &str,
    args: Value,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let id = mcp.next_id();
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                      "params": {"name": tool, "arguments": args}});
    let accept = if sse {
        "application/json, text/event-stream"
    } else {
        "application/json"
    };
    let req = mcp.builder().header("accept", accept).json(&body);
    let resp = within(60, "tools/call", req.send()).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let last = messages(resp).await.pop().unwrap_or(Value::Null);
    (status, headers, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tools_call_spends_the_rest_call_budget_on_every_surface() {
    let gw = TestGateway::start(limited_config(
        json!({"call_limit": "3 per minute", "default_limits": "100 per minute"}),
        json!({}),
    ))
    .await;
    assert_eq!(rest_call(&gw, "r").await.0, StatusCode::OK);
    let mut one = Mcp::open(&gw, "/services/fx/mcp").await;
    let (status, headers, last) = mcp_call(&mut one, false, "echo", json!({"text": "a"})).await;
    assert_eq!(status, StatusCode::OK, "{last}");
    assert_eq!(headers["ratelimit-remaining"], "1", "{headers:?}");
    let mut all = Mcp::open(&gw, "/mcp").await;
    let (status, _, last) = mcp_call(&mut all, true, "fx_echo", json!({"text": "b"})).await;
    assert_eq!(status, StatusCode::OK, "{last}");
    // The budget ("3 per minute", shared with REST) is spent: every surface is refused.
    for (surface, mcp, sse, tool) in [
        ("one, JSON", &mut one, false, "echo"),
        ("all, SSE", &mut all, true, "fx_echo"),
    ] {
        let (status, headers, last) = mcp_call(mcp, sse, tool, json!({"text": "c"})).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{surface}: {last}");
        assert!(
            headers.contains_key("retry-after"),
            "{surface}: {headers:?}"
        );
        assert_eq!(headers["ratelimit-remaining"], "0", "{surface}");
        assert_eq!(last["error"]["code"], GATEWAY_ERROR, "{surface}: {last}");
        assert_eq!(
            last["error"]["message"], "rate limit exceeded: 3 per minute",
            "{surface}: {last}"
        );
        assert!(last["id"].is_u64(), "answers the request: {last}");
    }
    assert_eq!(rest_call(&gw, "r").await.0, StatusCode::TOO_MANY_REQUESTS);
    // A 2026-07-28 (stateless) call is charged too.
    let resp = stateless_call(&gw, "/services/fx/mcp", 9, "echo", json!({"text": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let body = messages(resp).await.pop().unwrap();
    assert_eq!(
        body["error"]["message"], "rate limit exceeded: 3 per minute",
        "{body}"
    );
    // The refused stateless request left no session behind.
    let (_, sessions) = gw.get("/sessions").await;
    assert!(
        sessions
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("modern-")),
        "{sessions}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_chatter_spends_no_budget() {
    // Two requests a minute of `default_limits`: one initialize, then only chatter.
    let gw = TestGateway::start(limited_config(
        json!({"default_limits": "2 per minute", "call_limit": "2 per minute",
               "tools_limit": "100 per minute", "session_delete_limit": "5 per minute"}),
        json!({}),
    ))
    .await;
    let mut mcp = Mcp::open(&gw, "/services/fx/mcp").await;
    for _ in 0..30 {
        let (_, resp) = mcp.send("ping", json!({})).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let resp = mcp
            .notify(
                "notifications/progress",
                json!({"progressToken": 1, "progress": 1}),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
    }
    let get = mcp
        .with_headers(gw.http.get(gw.url("/services/fx/mcp")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::OK);
    drop(get);
    let (_, listed) = gw.get("/services/fx/tools").await;
    let count = listed["tools"].as_array().unwrap().len();
    assert_eq!(mcp.tool_names().await.len(), count);
    // The call budget is whole: two calls pass, the third is refused.
    for _ in 0..2 {
        let (status, _, last) = mcp_call(&mut mcp, false, "echo", json!({"text": "x"})).await;
        assert_eq!(status, StatusCode::OK, "{last}");
    }
    let (status, _, _) = mcp_call(&mut mcp, false, "echo", json!({"text": "x"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // A second session's initialize still fits `default_limits`; a third does not.
    let second = Mcp::open(&gw, "/services/fx/mcp").await;
    let mut third = Mcp::new(&gw, "/services/fx/mcp");
    let (status, body) = third.initialize("2025-11-25").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(second.delete().await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_calls_pass_the_concurrency_gates() {
    let mut cfg = limited_config(json!({"call_limit": "100 per minute"}), json!({}));
    cfg["services"]["fx"]["max_calls_in_flight"] = json!(1);
    cfg["services"]["fx"]["max_queued_calls"] = json!(0);
    let gw = TestGateway::start(cfg).await;
    let mut slow = Mcp::open(&gw, "/services/fx/mcp").await;
    let mut other = Mcp::open(&gw, "/mcp").await;
    // An SSE call holds the service's only place until it is answered.
    let (_, first) = slow
        .send(
            "tools/call",
            json!({"name": "sleep", "arguments": {"ms": 3_000}}),
        )
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    wait_for_calls(&gw, 1).await;
    let (status, headers, last) =
        mcp_call(&mut other, false, "fx_echo", json!({"text": "x"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{last}");
    assert_eq!(headers["retry-after"], "1");
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many calls in flight for service fx"),
        "{last}"
    );
    assert_eq!(
        rest_call(&gw, "rest").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Answered: the place is free again, for MCP and REST alike.
    let answer = messages(first).await;
    assert!(answer.last().unwrap().get("result").is_some(), "{answer:?}");
    let (status, _, last) = mcp_call(&mut other, false, "fx_echo", json!({"text": "x"})).await;
    assert_eq!(status, StatusCode::OK, "{last}");
    assert_eq!(rest_call(&gw, "rest").await.0, StatusCode::OK);
}

/// Wait until the gateway counts `n` calls in its sessions (a call counts once it holds its
/// places).
async fn wait_for_calls(gw: &TestGateway, n: u64) {
    within(30, "the first call to be in flight", async {
        loop {
            let (_, sessions) = gw.get("/sessions").await;
            let calls: u64 = sessions
                .as_object()
                .unwrap()
                .values()
                .filter_map(|s| s["calls"].as_u64())
                .sum();
            if calls >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
}
