//! Every endpoint: happy paths and every error status, with exact bodies.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

async fn gateway() -> TestGateway {
    TestGateway::start(config(
        json!({ "fx": fixture_service(&[]), "todo": fixture_service(&["--name", "todo"]) }),
        json!({}),
    ))
    .await
}

#[tokio::test]
async fn health_is_open_and_upstream_shaped() {
    let gw = gateway().await;
    let resp = gw.http.get(gw.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
    assert_eq!(resp.headers()["x-xss-protection"], "1; mode=block");
    assert_eq!(
        resp.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none';"
    );
    assert!(resp.headers().contains_key("x-request-id"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    let ts = body["timestamp"].as_str().unwrap();
    assert!(chrono_like(ts), "timestamp {ts}");
    // HEAD works too, and /health is never behind auth even with a wrong token.
    let head = gw
        .http
        .head(gw.url("/health"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
}

fn chrono_like(ts: &str) -> bool {
    ts.len() == 26 && ts.as_bytes()[10] == b'T' && ts.as_bytes()[19] == b'.'
}

#[tokio::test]
async fn auth_basic_bearer_and_failures() {
    let gw = gateway().await;
    let ok = gw
        .http
        .get(gw.url("/services"))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let ok = gw
        .http
        .get(gw.url("/services"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    for (name, req) in [
        ("none", gw.http.get(gw.url("/services"))),
        (
            "bad password",
            gw.http
                .get(gw.url("/services"))
                .basic_auth(USER, Some("nope")),
        ),
        (
            "bad token",
            gw.http.get(gw.url("/services")).bearer_auth("nope"),
        ),
        (
            "lowercase scheme",
            gw.http
                .get(gw.url("/services"))
                .header("authorization", format!("bearer {TOKEN}")),
        ),
        (
            "non-ascii password",
            gw.http
                .get(gw.url("/services"))
                .basic_auth(USER, Some("p\u{e4}ss")),
        ),
        (
            "non-ascii token",
            gw.http
                .get(gw.url("/services"))
                .header("authorization", "Bearer t\u{f6}k".as_bytes()),
        ),
    ] {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{name}");
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Basic realm=\"MCP Gateway\"",
            "{name}"
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body,
            json!({"error": "authentication required", "code": "unauthorized"}),
            "{name}"
        );
    }
    assert!(gw.log().contains("auth_failed"), "security event logged");
}

#[tokio::test]
async fn services_hide_commands_by_default() {
    let gw = gateway().await;
    let (status, body) = gw.get("/services").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"fx": {"description": "fixture", "enabled": true}, "todo": {"description": "fixture", "enabled": true}})
    );
    let exposed = TestGateway::start(config(
        json!({ "fx": fixture_service(&[]) }),
        json!({ "server": { "expose_commands": true } }),
    ))
    .await;
    let (_, body) = exposed.get("/services").await;
    assert_eq!(body["fx"]["command"], json!([fixture_bin()]));
}

#[tokio::test]
async fn tools_are_listed_from_the_cache_with_pagination() {
    let gw = TestGateway::start(config(
        json!({ "paged": fixture_service(&["--page-size", "3"]) }),
        json!({}),
    ))
    .await;
    let (status, body) = gw.get("/services/paged/tools").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["service"], "paged");
    let names: Vec<&str> = body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for expected in [
        "echo",
        "greet",
        "add_todo",
        "list_todos",
        "crash",
        "sleep",
        "ask_client",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let greet = body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "greet")
        .unwrap();
    assert!(
        greet["inputSchema"]["properties"]["name"].is_object(),
        "raw schema kept: {greet}"
    );
    // Served from the cache: no new child per request (only the discovery child ever ran).
    let (_, again) = gw.get("/services/paged/tools").await;
    assert_eq!(again, body);
}

#[tokio::test]
async fn tools_errors() {
    let gw = gateway().await;
    let (status, body) = gw.get("/services/nosuch/tools").await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"error": "unknown service: nosuch", "code": "unknown_service"})
    );
    let (status, body) = gw.get("/services/bad.name/tools").await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "invalid_request");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("service name contains invalid characters")
    );
}

#[tokio::test]
async fn call_happy_path_keeps_everything() {
    let gw = gateway().await;
    let (status, body) = gw
        .call("fx", "call-1", "greet", json!({"name": "Ada"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "result": "Hello, Ada!",
            "content": [{"type": "text", "text": "Hello, Ada!"}],
            "isError": false,
            "service": "fx",
            "session_id": "call-1",
            "tool": "greet"
        })
    );
    let (_, body) = gw.call("fx", "call-1", "structured", json!({})).await;
    assert_eq!(body["structuredContent"], json!({"a": 1}));
    assert_eq!(
        body["result"],
        json!({"content": [], "structuredContent": {"a": 1}})
    );
    let (_, body) = gw.call("fx", "call-1", "image", json!({})).await;
    assert_eq!(body["result"]["content"][0]["type"], "image");
    let (status, body) = gw
        .call(
            "fx",
            "call-1",
            "tool_error",
            json!({"message": "something went wrong"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["isError"], true);
    assert_eq!(body["result"], "something went wrong");
    // Names with dots are valid MCP tool names; a name the service does not list is a 404.
    let (status, body) = gw.call("fx", "call-1", "no.such-tool", json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"error": "unknown tool: no.such-tool (service fx does not list it)", "code": "unknown_tool"})
    );
}

#[tokio::test]
async fn call_rpc_error_is_422_with_details() {
    let gw = gateway().await;
    let (status, body) = gw
        .call(
            "fx",
            "s",
            "rpc_error",
            json!({"code": -32602, "message": "bad params here", "data": {"field": "x"}}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        body,
        json!({
            "error": "MCP error -32602: bad params here",
            "code": "tool_call_rejected",
            "rpc_error": {"code": -32602, "message": "bad params here", "data": {"field": "x"}}
        })
    );
}

#[tokio::test]
async fn call_validation_errors() {
    let gw = gateway().await;
    let post_raw = |body: &'static str, content_type: Option<&'static str>| {
        let mut req = gw
            .http
            .post(gw.url("/services/fx/call"))
            .bearer_auth(TOKEN)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req
    };
    let cases: Vec<(&str, Option<&str>, u16, &str, &str)> = vec![
        (
            "{",
            Some("application/json"),
            400,
            "invalid_request",
            "invalid JSON",
        ),
        (
            "[1,2]",
            Some("application/json"),
            400,
            "invalid_request",
            "request body must be a JSON object",
        ),
        (
            "\"abc\"",
            Some("application/json"),
            400,
            "invalid_request",
            "request body must be a JSON object",
        ),
        (
            "{}",
            Some("application/json"),
            400,
            "invalid_request",
            "missing 'tool' parameter",
        ),
        (
            r#"{"tool":1,"session_id":"s"}"#,
            Some("application/json"),
            400,
            "invalid_request",
            "invalid 'tool' parameter",
        ),
        (
            r#"{"tool":"a\u0001b","session_id":"s"}"#,
            Some("application/json"),
            400,
            "invalid_request",
            "tool name contains invalid characters",
        ),
        (
            r#"{"tool":"echo"}"#,
            Some("application/json"),
            400,
            "invalid_request",
            "missing 'session_id' parameter",
        ),
        (
            r#"{"tool":"echo","session_id":"a/b"}"#,
            Some("application/json"),
            400,
            "invalid_request",
            "session ID contains invalid characters",
        ),
        (
            r#"{"tool":"echo","session_id":".."}"#,
            Some("application/json"),
            400,
            "invalid_request",
            "session ID must not be \".\" or \"..\"",
        ),
        (
            r#"{"tool":"echo","session_id":"s","arguments":null}"#,
            Some("application/json"),
            400,
            "invalid_request",
            "invalid 'arguments' parameter",
        ),
        (
            r#"{"tool":"echo","session_id":"s","timeout":true}"#,
            Some("application/json"),
            400,
            "invalid_request",
            "invalid 'timeout' parameter",
        ),
        (
            r#"{"tool":"echo","session_id":"s","metadata":[]}"#,
            Some("application/json"),
            400,
            "invalid_request",
            "invalid 'metadata' parameter",
        ),
        (
            r#"{"tool":"echo","session_id":"s"}"#,
            None,
            415,
            "unsupported_media_type",
            "request content type must be application/json",
        ),
        (
            r#"{"tool":"echo","session_id":"s"}"#,
            Some("text/plain"),
            415,
            "unsupported_media_type",
            "request content type must be application/json",
        ),
    ];
    for (body, ct, status, code, message) in cases {
        let resp = post_raw(body, ct).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{body}");
        let json: Value = resp.json().await.unwrap();
        assert_eq!(json["code"], code, "{body}: {json}");
        assert!(
            json["error"].as_str().unwrap().starts_with(message),
            "{body}: {json}"
        );
    }
    // Nothing above created a session.
    let (_, sessions) = gw.get("/sessions").await;
    assert_eq!(sessions, json!({}));
}

#[tokio::test]
async fn routes_and_methods_and_body_limit() {
    let gw = TestGateway::start(config(
        json!({ "fx": fixture_service(&[]) }),
        json!({"server": {"max_body_bytes": 1024}}),
    ))
    .await;
    let (status, body) = gw.get("/nope").await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"error": "not found", "code": "not_found"}));
    let resp = gw
        .http
        .put(gw.url("/services"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"error": "method not allowed", "code": "method_not_allowed"})
    );
    let big = json!({"tool": "echo", "session_id": "s", "arguments": {"text": "x".repeat(4096)}});
    let (status, body) = gw.post("/services/fx/call", &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        body,
        json!({"error": "request body too large", "code": "payload_too_large"})
    );
    // Unauthenticated oversized requests get the 401 first.
    let resp = gw
        .http
        .post(gw.url("/services/fx/call"))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn sessions_listing_and_delete() {
    let gw = gateway().await;
    let body = json!({"tool": "echo", "session_id": "call-9", "arguments": {"text": "hi"}, "timeout": 120, "metadata": {"agent": "a1"}});
    let (status, _) = gw.post("/services/fx/call", &body).await;
    assert_eq!(status, 200);
    let (status, sessions) = gw.get("/sessions").await;
    assert_eq!(status, 200);
    let s = &sessions["call-9"];
    assert_eq!(s["service_name"], "fx");
    assert_eq!(s["services"], json!(["fx"]));
    assert_eq!(s["metadata"], json!({"agent": "a1"}));
    assert_eq!(s["timeout"], 120);
    let remaining = s["time_remaining"].as_f64().unwrap();
    assert!(remaining > 100.0 && remaining <= 120.0, "{remaining}");
    assert_eq!(s["calls"], 1);
    assert!(s["children"]["fx"]["pid"].as_u64().unwrap() > 0);
    for key in ["created_at", "last_accessed"] {
        assert!(chrono_like(s[key].as_str().unwrap()), "{key}");
    }
    let (status, body) = gw.delete("/sessions/call-9").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"message": "Session call-9 closed"}));
    let (status, body) = gw.delete("/sessions/call-9").await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"error": "session call-9 not found", "code": "unknown_session"})
    );
    let (status, body) = gw.delete("/sessions/bad%20id").await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "invalid_request");
}
