//! Scoped API keys on the front door: a key sees only its services and tools on `/mcp`,
//! `/services/{name}/mcp` and the stateless path, anything else answers like an unknown name,
//! and an MCP session belongs to the key that initialized it.

use mcp_gateway::mcp::jsonrpc::INVALID_PARAMS;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::client::*;
use crate::support::*;

const ALPHA: &str = "alpha-front-secret-0123456789";
const BETA: &str = "beta-front-secret-0123456789";

/// `fx` (plain fixture) and `fy` (with prompts and resources); `alpha` may use `fx` and only
/// its `echo`, `beta` everything.
fn keyed_config() -> Value {
    config(
        json!({"fx": fixture_service(&[]), "fy": fixture_service(&["--conformance"])}),
        json!({"auth": {"keys": [
            {"name": "alpha", "secret": ALPHA, "services": ["fx"], "tools": ["echo"]},
            {"name": "beta", "secret": BETA, "services": "*"}
        ]}}),
    )
}

/// The last message answering `method` (the response).
async fn answer(mcp: &mut Mcp<'_>, method: &str, params: Value) -> Value {
    mcp.exchange(method, params)
        .await
        .last()
        .cloned()
        .unwrap_or(Value::Null)
}

/// A JSON-RPC error with `name` replaced by `X`, to compare two errors differing only in it.
fn error_shape(message: &Value, name: &str) -> String {
    assert!(message.get("error").is_some(), "not an error: {message}");
    message["error"].to_string().replace(name, "X")
}

fn names(result: &Value, items: &str, key: &str) -> Vec<String> {
    result[items]
        .as_array()
        .unwrap_or_else(|| panic!("no {items}: {result}"))
        .iter()
        .map(|i| i[key].as_str().unwrap().to_string())
        .collect()
}

async fn session_ids(gw: &TestGateway, token: &str) -> Vec<String> {
    let resp = gw
        .http
        .get(gw.url("/sessions"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    body.as_object().unwrap().keys().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_see_only_their_services_and_tools() {
    let gw = TestGateway::start(keyed_config()).await;
    let mut alpha = Mcp::open_as(&gw, "/mcp", ALPHA).await;
    let mut beta = Mcp::open_as(&gw, "/mcp", BETA).await;

    // Lists: alpha sees the gateway as if only fx (and its echo) were configured.
    assert_eq!(alpha.tool_names().await, ["echo"]);
    let all = beta.tool_names().await;
    for name in ["fx__echo", "fx__greet", "fy__echo"] {
        assert!(all.contains(&name.to_string()), "{all:?}");
    }
    let prompts = alpha.request("prompts/list", json!({})).await;
    assert!(names(&prompts, "prompts", "name").is_empty(), "{prompts}");
    let prompts = beta.request("prompts/list", json!({})).await;
    assert!(
        names(&prompts, "prompts", "name").contains(&"fy__test_simple_prompt".to_string()),
        "{prompts}"
    );
    for (method, items, key) in [
        ("resources/list", "resources", "uri"),
        (
            "resources/templates/list",
            "resourceTemplates",
            "uriTemplate",
        ),
    ] {
        let hidden = alpha.request(method, json!({})).await;
        assert!(names(&hidden, items, key).is_empty(), "{hidden}");
        let shown = beta.request(method, json!({})).await;
        assert!(
            names(&shown, items, key)
                .iter()
                .any(|n| n.starts_with("fy__")),
            "{shown}"
        );
    }

    // Calls: a hidden tool or service answers exactly like an unknown one.
    let result = alpha.call("echo", json!({"message": "hi"})).await;
    assert_eq!(text(&result), "hi", "{result}");
    let hidden = answer(&mut alpha, "tools/call", json!({"name": "greet"})).await;
    let unknown = answer(&mut alpha, "tools/call", json!({"name": "nosuchtool"})).await;
    assert_eq!(hidden["error"]["code"], INVALID_PARAMS, "{hidden}");
    assert_eq!(
        error_shape(&hidden, "greet"),
        error_shape(&unknown, "nosuchtool")
    );
    let hidden = answer(&mut alpha, "tools/call", json!({"name": "fy__echo"})).await;
    let unknown = answer(&mut alpha, "tools/call", json!({"name": "nosuch__echo"})).await;
    assert_eq!(
        error_shape(&hidden, "fy__echo"),
        error_shape(&unknown, "nosuch__echo")
    );
    let hidden = answer(
        &mut alpha,
        "prompts/get",
        json!({"name": "fy__test_simple_prompt"}),
    )
    .await;
    let unknown = answer(&mut alpha, "prompts/get", json!({"name": "nosuch__prompt"})).await;
    assert_eq!(
        error_shape(&hidden, "fy__test_simple_prompt"),
        error_shape(&unknown, "nosuch__prompt")
    );
    let hidden = answer(
        &mut alpha,
        "resources/read",
        json!({"uri": "fy__test://static-text"}),
    )
    .await;
    let unknown = answer(
        &mut alpha,
        "resources/read",
        json!({"uri": "nosuch__test://x"}),
    )
    .await;
    assert_eq!(
        error_shape(&hidden, "fy__test://static-text"),
        error_shape(&unknown, "nosuch__test://x")
    );
    // beta may use all of it.
    let greeting = beta.call("fx__greet", json!({"name": "B"})).await;
    assert!(text(&greeting).contains("Hello"), "{greeting}");
    let prompt = beta
        .request("prompts/get", json!({"name": "fy__test_simple_prompt"}))
        .await;
    assert!(prompt["messages"].is_array(), "{prompt}");

    // The per-service endpoint of a hidden service is an unknown service.
    let mut hidden = Mcp::new(&gw, "/services/fy/mcp");
    hidden.token = ALPHA;
    let (status, hidden_body) = hidden.initialize("2025-11-25").await;
    let mut unknown = Mcp::new(&gw, "/services/nosuch/mcp");
    unknown.token = ALPHA;
    let (unknown_status, unknown_body) = unknown.initialize("2025-11-25").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(unknown_status, StatusCode::NOT_FOUND);
    assert_eq!(
        error_shape(&hidden_body, "fy"),
        error_shape(&unknown_body, "nosuch")
    );
    assert!(hidden.session.is_none());
    let mut one = Mcp::open_as(&gw, "/services/fx/mcp", ALPHA).await;
    assert_eq!(one.tool_names().await, ["echo"]);
    let hidden = answer(&mut one, "tools/call", json!({"name": "greet"})).await;
    assert_eq!(hidden["error"]["code"], INVALID_PARAMS, "{hidden}");
    let mut one = Mcp::open_as(&gw, "/services/fy/mcp", BETA).await;
    assert!(one.tool_names().await.contains(&"echo".to_string()));
    assert_eq!(one.delete().await, StatusCode::OK);

    assert_eq!(alpha.delete().await, StatusCode::OK);
    assert_eq!(beta.delete().await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_sessions_belong_to_the_key_that_initialized_them() {
    let gw = TestGateway::start(keyed_config()).await;
    let mut alpha = Mcp::open_as(&gw, "/mcp", ALPHA).await;
    let id = alpha.session.clone().unwrap();
    assert_eq!(alpha.tool_names().await, ["echo"]);

    // Another key gets exactly what an unknown session gets, on POST, GET and DELETE.
    let mut intruder = Mcp::new(&gw, "/mcp");
    intruder.token = BETA;
    intruder.version = alpha.version.clone();
    let mut stranger = Mcp::new(&gw, "/mcp");
    stranger.token = BETA;
    stranger.version = alpha.version.clone();
    intruder.session = Some(id.clone());
    stranger.session = Some("0123456789abcdef0123456789abcdef".into());
    for mcp in [&mut intruder, &mut stranger] {
        let (_, resp) = mcp.send("tools/list", json!({})).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
    let (_, foreign) = intruder.send("tools/list", json!({})).await;
    let (_, missing) = stranger.send("tools/list", json!({})).await;
    assert_eq!(foreign.text().await.unwrap(), missing.text().await.unwrap());
    let get = |mcp: &Mcp<'_>| {
        mcp.with_headers(gw.http.get(gw.url("/mcp")))
            .header("accept", "text/event-stream")
            .send()
    };
    assert_eq!(
        get(&intruder).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&stranger).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(intruder.delete().await, StatusCode::NOT_FOUND);
    assert_eq!(stranger.delete().await, StatusCode::NOT_FOUND);

    // The REST API agrees: listed for alpha only, and beta cannot delete it.
    assert!(session_ids(&gw, ALPHA).await.contains(&id));
    assert!(!session_ids(&gw, BETA).await.contains(&id));
    let resp = gw
        .http
        .delete(gw.url(&format!("/sessions/{id}")))
        .bearer_auth(BETA)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // Still alpha's; the unscoped upstream credentials may use it, as on REST (with alpha's
    // view, fixed at initialize).
    assert_eq!(alpha.tool_names().await, ["echo"]);
    let mut admin = Mcp::new(&gw, "/mcp");
    admin.session = Some(id.clone());
    admin.version = alpha.version.clone();
    assert_eq!(admin.tool_names().await, ["echo"]);
    assert_eq!(alpha.delete().await, StatusCode::OK);
    assert_eq!(alpha.delete().await, StatusCode::NOT_FOUND);
}

/// A 2026-07-28 (stateless) request to `/mcp` as `token`.
async fn modern(gw: &TestGateway, token: &str, method: &str, params: Value) -> Value {
    let mut params = params;
    params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2026-07-28");
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut req = gw
        .http
        .post(gw.url("/mcp"))
        .bearer_auth(token)
        .header("accept", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = params["name"].as_str() {
        req = req.header("mcp-name", name);
    }
    let resp = req.json(&body).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{method}");
    messages(resp).await.pop().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_requests_are_scoped_too() {
    let gw = TestGateway::start(keyed_config()).await;
    let list = modern(&gw, ALPHA, "tools/list", json!({})).await;
    assert_eq!(names(&list["result"], "tools", "name"), ["echo"]);
    let list = modern(&gw, BETA, "tools/list", json!({})).await;
    assert!(names(&list["result"], "tools", "name").contains(&"fy__echo".to_string()));

    let ok = modern(
        &gw,
        ALPHA,
        "tools/call",
        json!({"name": "echo", "arguments": {"message": "m"}}),
    )
    .await;
    assert_eq!(text(&ok["result"]), "m", "{ok}");
    let hidden = modern(&gw, ALPHA, "tools/call", json!({"name": "greet"})).await;
    let unknown = modern(&gw, ALPHA, "tools/call", json!({"name": "nosuchtool"})).await;
    assert_eq!(
        error_shape(&hidden, "greet"),
        error_shape(&unknown, "nosuchtool")
    );
    let prompts = modern(&gw, ALPHA, "prompts/list", json!({})).await;
    assert!(
        names(&prompts["result"], "prompts", "name").is_empty(),
        "{prompts}"
    );
}
