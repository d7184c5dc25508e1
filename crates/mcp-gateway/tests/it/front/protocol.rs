//! Streamable HTTP details: negotiation, headers, status codes, sessions.

use mcp_gateway::mcp::jsonrpc::{INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::client::*;
use crate::support::*;

fn two_fixtures() -> Value {
    config(
        json!({ "alpha": fixture_service(&["--name", "alpha"]), "beta": fixture_service(&["--name", "beta"]) }),
        json!({ "server": { "allowed_origins": ["https://app.example.com"] } }),
    )
}

#[tokio::test]
async fn negotiation_and_session_headers() {
    let gw = TestGateway::start(two_fixtures()).await;
    for (asked, answered) in [
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("1999-01-01", "2025-11-25"),
    ] {
        let mut mcp = Mcp::new(&gw, "/mcp");
        let (status, init) = mcp.initialize(asked).await;
        assert_eq!(status, 200, "{init}");
        assert_eq!(init["result"]["protocolVersion"], answered);
        assert_eq!(init["result"]["serverInfo"]["name"], "mcp-gateway");
        assert!(init["result"]["capabilities"]["tools"]["listChanged"] == true);
        let id = mcp
            .session
            .clone()
            .expect("Mcp-Session-Id on the initialize response");
        assert!(
            id.len() >= 32 && id.bytes().all(|b| (0x21..=0x7e).contains(&b)),
            "{id}"
        );
    }

    let mut mcp = Mcp::open(&gw, "/mcp").await;
    assert_eq!(mcp.request("ping", json!({})).await, json!({}));

    // No session header: 400; unknown session: 404.
    let ping = json!({"jsonrpc": "2.0", "id": 9, "method": "ping"});
    let resp = gw
        .http
        .post(gw.url("/mcp"))
        .bearer_auth(TOKEN)
        .json(&ping)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = gw
        .http
        .post(gw.url("/mcp"))
        .bearer_auth(TOKEN)
        .header("mcp-session-id", "nope")
        .json(&ping)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // An unsupported protocol version header: 400. (A supported one other than the
    // negotiated one is tolerated: the conformance suite sends one.)
    let id = mcp.session.clone().unwrap();
    for version in ["2030-01-01", "2025-13-01"] {
        let resp = gw
            .http
            .post(gw.url("/mcp"))
            .bearer_auth(TOKEN)
            .header("mcp-session-id", &id)
            .header("mcp-protocol-version", version)
            .json(&ping)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{version}");
    }

    // Origin: loopback and configured ones pass, a foreign one is 403.
    for (origin, status) in [
        ("http://evil.example", StatusCode::FORBIDDEN),
        ("http://localhost:6274", StatusCode::OK),
        ("https://app.example.com", StatusCode::OK),
    ] {
        let resp = mcp
            .builder()
            .header("origin", origin)
            .json(&ping)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{origin}");
    }

    // Auth as REST: none -> 401; Basic works.
    let resp = gw
        .http
        .post(gw.url("/mcp"))
        .json(&ping)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = gw
        .http
        .post(gw.url("/mcp"))
        .basic_auth(USER, Some(PASSWORD))
        .header("mcp-session-id", mcp.session.clone().unwrap())
        .json(&ping)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // Notifications and responses: 202. Batches: 400 with -32600. Unknown method: -32601.
    assert_eq!(
        mcp.notify("notifications/roots/list_changed", json!({}))
            .await
            .status(),
        202
    );
    let resp = mcp.builder().json(&json!([ping])).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], INVALID_REQUEST);
    let messages = mcp.exchange("no/such", json!({})).await;
    assert_eq!(messages[0]["error"]["code"], METHOD_NOT_FOUND);

    // GET /sessions shows the MCP session with kind "mcp".
    let (_, sessions) = gw.get("/sessions").await;
    let id = mcp.session.clone().unwrap();
    assert_eq!(sessions[&id]["kind"], "mcp", "{sessions}");

    // DELETE ends it: later requests get 404, and the table forgets it.
    assert_eq!(mcp.delete().await, StatusCode::OK);
    let (_, resp) = mcp.send("ping", json!({})).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(mcp.delete().await, StatusCode::NOT_FOUND);
    let (_, sessions) = gw.get("/sessions").await;
    assert!(sessions.get(&id).is_none(), "{sessions}");
}

#[tokio::test]
async fn aggregated_tools_are_prefixed_and_results_verbatim() {
    let gw = TestGateway::start(two_fixtures()).await;
    let mut mcp = Mcp::open(&gw, "/mcp").await;
    let names = mcp.tool_names().await;
    assert!(names.contains(&"alpha__echo".to_string()), "{names:?}");
    assert!(names.contains(&"beta__structured".to_string()), "{names:?}");
    assert!(names.iter().all(|n| n.len() <= 64));

    let result = mcp.call("alpha__echo", json!({"message": "hi"})).await;
    assert_eq!(text(&result), "hi", "{result}");
    // structuredContent, isError and _meta pass through untouched.
    let direct = mcp.call("beta__structured", json!({})).await;
    assert!(direct.get("structuredContent").is_some(), "{direct}");
    let error = mcp
        .call("alpha__tool_error", json!({"message": "boom"}))
        .await;
    assert_eq!(error["isError"], true, "{error}");
    let messages = mcp
        .exchange(
            "tools/call",
            json!({"name": "gamma__echo", "arguments": {}}),
        )
        .await;
    assert_eq!(messages[0]["error"]["code"], INVALID_PARAMS, "{messages:?}");
    let messages = mcp
        .exchange(
            "tools/call",
            json!({"name": "alpha__rpc_error", "arguments": {"code": -32042, "message": "nope"}}),
        )
        .await;
    assert_eq!(messages[0]["error"]["code"], -32042, "{messages:?}");

    // One service on its own endpoint: names as the child spells them; sessions do not
    // cross endpoints.
    let mut one = Mcp::open(&gw, "/services/beta/mcp").await;
    let names = one.tool_names().await;
    assert!(names.contains(&"echo".to_string()), "{names:?}");
    let result = one.call("echo", json!({"message": "solo"})).await;
    assert_eq!(text(&result), "solo");
    let mut crossed = Mcp::new(&gw, "/mcp");
    crossed.session = one.session.clone();
    let (_, resp) = crossed.send("ping", json!({})).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn child_state_lives_in_one_mcp_session_only() {
    let gw = TestGateway::start(config(json!({ "todo": fixture_service(&[]) }), json!({}))).await;
    let mut a = Mcp::open(&gw, "/mcp").await;
    let mut b = Mcp::open(&gw, "/mcp").await;
    a.call("add_todo", json!({"text": "milk"})).await;
    let list = a.call("list_todos", json!({})).await;
    assert!(text(&list).contains("milk"), "{list}");
    let other = b.call("list_todos", json!({})).await;
    assert!(!text(&other).contains("milk"), "{other}");
    let (_, sessions) = gw.get("/sessions").await;
    let pid_a = sessions[a.session.as_ref().unwrap()]["children"]["todo"]["pid"]
        .as_u64()
        .unwrap();
    let pid_b = sessions[b.session.as_ref().unwrap()]["children"]["todo"]["pid"]
        .as_u64()
        .unwrap();
    assert_ne!(pid_a, pid_b);
    assert_eq!(a.delete().await, StatusCode::OK);
    wait_until(10, "the deleted session's child exits", || {
        !crate::support::procs::alive(pid_a as u32)
    })
    .await;
    assert!(crate::support::procs::alive(pid_b as u32));
}

#[tokio::test]
async fn abandoned_sessions_are_reaped() {
    let gw = TestGateway::start(config(
        json!({ "fx": fixture_service(&[]) }),
        json!({ "session": { "default_timeout": 1, "max_sessions_per_service": 250, "max_total_sessions": 250 } }),
    ))
    .await;
    let mut opened = Vec::new();
    for _ in 0..200 {
        let mut mcp = Mcp::open(&gw, "/mcp").await;
        let result = mcp.call("echo", json!({"message": "x"})).await;
        assert_eq!(text(&result), "x");
        opened.push(mcp.session.clone().unwrap());
    }
    wait_until(60, "every abandoned session is reaped", || {
        crate::support::procs::descendants_of(gw.pid()).is_empty()
    })
    .await;
    let (_, sessions) = gw.get("/sessions").await;
    assert_eq!(sessions, json!({}));
    let mut stale = Mcp::new(&gw, "/mcp");
    stale.session = Some(opened[0].clone());
    let (_, resp) = stale.send("ping", json!({})).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn eager_sessions_start_their_children_at_initialize() {
    let gw = TestGateway::start(config(
        json!({ "fx": fixture_service(&[]) }),
        json!({ "mcp": { "eager": true } }),
    ))
    .await;
    let mcp = Mcp::open(&gw, "/mcp").await;
    let id = mcp.session.clone().unwrap();
    let mut pid = None;
    within(20, "the eager child", async {
        while pid.is_none() {
            let (_, sessions) = gw.get("/sessions").await;
            pid = sessions[&id]["children"]["fx"]["pid"].as_u64();
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(mcp.delete().await, StatusCode::OK);
    let pid = pid.unwrap() as u32;
    wait_until(10, "the eager child is stopped with its session", || {
        !crate::support::procs::alive(pid)
    })
    .await;
}
