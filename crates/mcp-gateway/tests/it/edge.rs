//! The HTTP edge against hostile clients (issue 17): DNS rebinding on every route, `/metrics`
//! for scoped keys.

use std::time::Duration;

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

/// A local reverse proxy forwarding its public name: `server.allowed_hosts` lets it in, and
/// only it.
#[tokio::test]
async fn allowed_hosts_admit_a_proxy_s_public_name() {
    let gw = TestGateway::start(config(
        json!({ "fx": fixture_service(&[]) }),
        json!({ "server": { "allowed_hosts": ["gw.example.com"] } }),
    ))
    .await;
    let auth = format!("Bearer {TOKEN}");
    for (host, want) in [
        ("gw.example.com", StatusCode::OK),
        ("GW.example.com:443", StatusCode::OK),
        ("evil.example", StatusCode::FORBIDDEN),
    ] {
        let headers = [("authorization", auth.as_str()), ("host", host)];
        let (status, _) = send(&gw, Method::GET, "/services", &headers, None).await;
        assert_eq!(status, want, "{host}");
    }
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

/// A hand-written HTTP/2 client (prior knowledge, no TLS) that keeps its connection busy at the
/// transport level: it answers the server's SETTINGS and PINGs and sends a PING of its own every
/// 100 ms, after at most one `GET /health`. Returns when the server closes the connection (GOAWAY
/// or EOF), with what it saw.
async fn h2_pinging_client(addr: &str, request: bool) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }
    let mut conn = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend(frame(4, 0, 0, &[]));
    if request {
        // HPACK without Huffman: :method GET, :scheme http, :path /health, :authority.
        let mut block = vec![0x82, 0x86, 0x44, 7];
        block.extend_from_slice(b"/health");
        block.extend_from_slice(&[0x41, addr.len() as u8]);
        block.extend_from_slice(addr.as_bytes());
        hello.extend(frame(1, 0x5, 1, &block));
    }
    conn.write_all(&hello).await.map_err(|e| e.to_string())?;
    let (mut rd, mut wr) = conn.into_split();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let writer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            let out = tokio::select! {
                _ = tick.tick() => frame(6, 0, 0, b"clientpg"),
                out = rx.recv() => match out { Some(out) => out, None => return },
            };
            if wr.write_all(&out).await.is_err() {
                return;
            }
        }
    });
    let mut seen = String::new();
    let result = loop {
        let mut head = [0u8; 9];
        if rd.read_exact(&mut head).await.is_err() {
            break Ok(format!("{seen}EOF"));
        }
        let len = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
        let mut payload = vec![0u8; len];
        if rd.read_exact(&mut payload).await.is_err() {
            break Ok(format!("{seen}EOF"));
        }
        match (head[3], head[4] & 1) {
            (4, 0) => {
                let _ = tx.send(frame(4, 1, 0, &[])).await;
            }
            (6, 0) => {
                let _ = tx.send(frame(6, 1, 0, &payload)).await;
            }
            (1, _) => seen.push_str("HEADERS "),
            (7, _) => break Ok(format!("{seen}GOAWAY")),
            _ => {}
        }
    };
    writer.abort();
    result
}

/// Idle HTTP/2 connections close like HTTP/1 ones, even when they answer (and send) PINGs: they
/// must not hold `server.max_connections` for ever (issue 17, defect 7).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connections_close_even_when_they_ping() {
    let gw = TestGateway::start(config(
        json!({ "fx": fixture_service(&[]) }),
        json!({ "server": { "max_connections": 3, "header_read_timeout": 1 } }),
    ))
    .await;
    let addr = gw.base.trim_start_matches("http://").to_string();
    let clients: Vec<_> = [false, false, true]
        .into_iter()
        .map(|request| {
            let addr = addr.clone();
            tokio::spawn(async move { h2_pinging_client(&addr, request).await })
        })
        .collect();
    let mut seen = Vec::new();
    for client in clients {
        let outcome = within(30, "an idle HTTP/2 connection to be closed", client)
            .await
            .unwrap()
            .unwrap();
        seen.push(outcome);
    }
    assert!(
        seen[2].starts_with("HEADERS"),
        "the request was answered: {seen:?}"
    );
    // Every place is free again.
    let (status, _) = gw.get("/health").await;
    assert_eq!(status, StatusCode::OK);
}

/// Send `path` a POST whose body trickles in one byte every 300 ms; the whole answer.
async fn trickle(gw: &TestGateway, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = gw.base.trim_start_matches("http://").to_string();
    let conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut rd, mut wr) = conn.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Content-Length: 200\r\n\r\n"
    );
    wr.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        for _ in 0..200 {
            if wr.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let mut answer = Vec::new();
    let _ = rd.read_to_end(&mut answer).await;
    writer.abort();
    String::from_utf8_lossy(&answer).into_owned()
}

/// An authenticated request whose body trickles in is answered 408 once
/// `server.body_read_timeout` passes, and its connection closed (issue 17, defect 13).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_body_is_cut_off_with_408() {
    let gw = TestGateway::start(config(
        json!({ "fx": fixture_service(&[]) }),
        json!({ "server": { "body_read_timeout": 1 } }),
    ))
    .await;
    for (path, shape) in [
        ("/services/fx/call", "\"code\":\"request_timeout\""),
        ("/mcp", "\"jsonrpc\":\"2.0\""),
    ] {
        let started = std::time::Instant::now();
        let answer = within(30, "the 408", trickle(&gw, path)).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains("body_read_timeout"), "{path}: {answer}");
        assert!(answer.contains(shape), "{path}: {answer}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{path}: {:?}",
            started.elapsed()
        );
    }
    // A body that arrives in time is served as usual.
    let (status, _) = gw
        .post(
            "/services/fx/call",
            &json!({"tool": "echo", "session_id": "s", "arguments": {"text": "x"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}
