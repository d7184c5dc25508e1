//! The HTTP edge against hostile clients (issue 17): DNS rebinding on every route, `/metrics`
//! for scoped keys.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

/// An open gateway on loopback, as `mcp-gateway` runs by default on a developer's machine.
async fn open_gateway() -> TestGateway {
    TestGateway::start(config(
        json!({ "fx": fixture_service(&[]) }),
        json!({ "server": { "auth_user": "", "auth_password": "", "auth_token": "" },
                "metrics": { "require_auth": false } }),
    ))
    .await
}

async fn send(
    gw: &TestGateway,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = gw.http.request(method, gw.url(path));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = within(60, "request", req.send()).await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A page on `rebind.evil.example` whose name now resolves to 127.0.0.1 sends its own Host and
/// Origin: no route may answer it, whatever the method.
#[tokio::test]
async fn dns_rebinding_is_refused_on_every_route() {
    let gw = open_gateway().await;
    let call = json!({"tool": "echo", "arguments": {"text": "hi"}, "session_id": "victim"});
    let ok = gw.post("/services/fx/call", &call).await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    let port = gw.base.rsplit(':').next().unwrap().to_string();
    let evil_host = format!("rebind.evil.example:{port}");
    let evil = [
        ("host", evil_host.as_str()),
        ("origin", "http://rebind.evil.example"),
    ];
    let routes = [
        (Method::GET, "/services", None),
        (Method::GET, "/services/fx/tools", None),
        (Method::POST, "/services/fx/call", Some(call.clone())),
        (Method::GET, "/sessions", None),
        (Method::DELETE, "/sessions/victim", None),
        (Method::GET, "/health", None),
        (Method::GET, "/metrics", None),
    ];
    for (method, path, body) in routes.clone() {
        let (status, body) = send(&gw, method.clone(), path, &evil, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert_eq!(body["code"], "forbidden", "{method} {path}: {body}");
    }
    // Host alone (a rebinding page that sends no Origin, e.g. a plain GET) and Origin alone.
    let (status, _) = send(&gw, Method::GET, "/sessions", &evil[..1], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = send(&gw, Method::GET, "/sessions", &evil[1..], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The front door answers in JSON-RPC.
    let (status, body) = send(
        &gw,
        Method::POST,
        "/mcp",
        &evil,
        Some(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["message"], "origin not allowed", "{body}");
    // Nothing was run or closed: the victim's session is still there.
    let (_, sessions) = gw.get("/sessions").await;
    assert!(sessions.get("victim").is_some(), "{sessions}");
    // Loopback names, with or without a port, and loopback origins keep working.
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "localhost".to_string(),
    ] {
        let headers = [("host", host.as_str()), ("origin", "http://localhost:3000")];
        for (method, path, body) in routes.iter().take(4).cloned() {
            let (status, body) = send(&gw, method.clone(), path, &headers, body).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{method} {path} Host {host}: {body}"
            );
        }
    }
    assert!(gw.log().contains("host_rejected"), "security log");
}

/// Listening on every address (a container), Host is not checked but Origin still is.
#[tokio::test]
async fn on_all_addresses_only_the_origin_is_checked() {
    let mut cfg = config(json!({ "fx": fixture_service(&[]) }), json!({}));
    cfg["server"]["host"] = json!("0.0.0.0");
    let gw = TestGateway::start(cfg).await;
    let auth = format!("Bearer {TOKEN}");
    let (status, _) = send(
        &gw,
        Method::GET,
        "/services",
        &[("authorization", &auth), ("host", "gateway.internal:8100")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(
        &gw,
        Method::GET,
        "/services",
        &[("authorization", &auth), ("origin", "https://evil.example")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// `/metrics` names every service and counts for the whole gateway: a scoped key sees it only
/// when granted `metrics: true`; unscoped credentials as before.
#[tokio::test]
async fn metrics_are_hidden_from_scoped_keys_unless_granted() {
    let gw = TestGateway::start(config(
        json!({ "fx": fixture_service(&[]), "secret-service": fixture_service(&[]) }),
        json!({"auth": {"keys": [
            {"name": "narrow", "secret": "narrow-secret-0123456789", "services": ["fx"]},
            {"name": "scraper", "secret": "scraper-secret-0123456789", "services": ["fx"], "metrics": true}
        ]}}),
    ))
    .await;
    let get = |token: &'static str| {
        let req = gw.http.get(gw.url("/metrics")).bearer_auth(token);
        async move {
            let resp = within(60, "metrics", req.send()).await.unwrap();
            (resp.status(), resp.text().await.unwrap())
        }
    };
    let (status, body) = get("narrow-secret-0123456789").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(!body.contains("secret-service"), "{body}");
    let (status, body) = get("scraper-secret-0123456789").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("# EOF"), "{body}");
    let (status, _) = get(TOKEN).await;
    assert_eq!(status, StatusCode::OK);
}
