//! The stateless 2026-07-28 revision: discover, per-request `_meta`, mirrored headers, one
//! child per request.

use mcp_gateway::mcp::jsonrpc::{HEADER_MISMATCH, METHOD_NOT_FOUND, UNSUPPORTED_VERSION};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::client::*;
use crate::support::*;

const VERSION: &str = "2026-07-28";

async fn modern(
    gw: &TestGateway,
    method: &str,
    mut params: Value,
    name: Option<&str>,
) -> (StatusCode, Vec<Value>) {
    params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!(VERSION);
    params["_meta"]["io.modelcontextprotocol/clientCapabilities"] = json!({});
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut req = gw
        .http
        .post(gw.url("/mcp"))
        .bearer_auth(TOKEN)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", VERSION)
        .header("mcp-method", method);
    if let Some(name) = name {
        req = req.header("mcp-name", name);
    }
    let resp = req.json(&body).send().await.unwrap();
    let status = resp.status();
    (status, messages(resp).await)
}

#[tokio::test]
async fn stateless_requests_get_a_child_each() {
    let gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    let (status, discover) = modern(&gw, "server/discover", json!({}), None).await;
    assert_eq!(status, 200);
    let result = &discover[0]["result"];
    assert_eq!(result["supportedVersions"][0], VERSION, "{result}");
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "mcp-gateway"
    );

    let (status, list) = modern(&gw, "tools/list", json!({}), None).await;
    assert_eq!(status, 200);
    let result = &list[0]["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["cacheScope"], "private");
    assert!(
        result["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "echo")
    );

    let (status, call) = modern(
        &gw,
        "tools/call",
        json!({"name": "progress", "arguments": {"steps": 2}, "_meta": {"progressToken": "m"}}),
        Some("progress"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(call.len(), 3, "{call:?}");
    assert_eq!(call[0]["params"]["progressToken"], "m");
    assert_eq!(call[2]["result"]["resultType"], "complete");
    assert_eq!(text(&call[2]["result"]), "done");

    // No state between requests: each call gets a fresh child (the counter starts again).
    for _ in 0..2 {
        let (_, count) = modern(
            &gw,
            "tools/call",
            json!({"name": "count", "arguments": {}}),
            Some("count"),
        )
        .await;
        assert_eq!(text(&count[0]["result"]), "1", "{count:?}");
    }
    wait_until(10, "the per-request sessions and children are gone", || {
        crate::support::procs::descendants_of(gw.pid()).is_empty()
    })
    .await;
    let (_, sessions) = gw.get("/sessions").await;
    assert_eq!(sessions, json!({}));

    // Header mismatches, unsupported versions, removed methods.
    let (status, wrong) = modern(
        &gw,
        "tools/call",
        json!({"name": "echo", "arguments": {}}),
        Some("other"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(wrong[0]["error"]["code"], HEADER_MISMATCH);
    let mut params = json!({});
    params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": params});
    let resp = gw
        .http
        .post(gw.url("/mcp"))
        .bearer_auth(TOKEN)
        .header("mcp-protocol-version", VERSION)
        .header("mcp-method", "tools/list")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let error: Value = resp.json().await.unwrap();
    assert_eq!(error["error"]["code"], UNSUPPORTED_VERSION);
    let (status, ping) = modern(&gw, "ping", json!({}), None).await;
    assert_eq!(status, 404);
    assert_eq!(ping[0]["error"]["code"], METHOD_NOT_FOUND);
}
