//! Connection hardening (slow and silent clients, the connection cap) and edge cases of names:
//! non-UTF-8 path segments, tool names outside `[A-Za-z0-9_.-]`.

use std::time::{Duration, Instant};

use mcp_gateway::mcp::jsonrpc::INVALID_REQUEST;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{TOKEN, TestGateway, config, fixture_service, within};

fn addr(gw: &TestGateway) -> String {
    gw.base.trim_start_matches("http://").to_string()
}

/// Read until the server closes the connection (EOF or reset); return what was read.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Send `bytes` and measure how long the server keeps the connection open afterwards.
async fn closed_after(gw: &TestGateway, bytes: &[u8]) -> (Duration, Vec<u8>) {
    let mut stream = TcpStream::connect(addr(gw)).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let start = Instant::now();
    let read = within(
        10,
        "server closes the connection",
        read_to_close(&mut stream),
    )
    .await;
    (start.elapsed(), read)
}

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";

#[tokio::test]
async fn slow_and_silent_clients_are_disconnected() {
    let gw = TestGateway::start(config(
        json!({ "fx": fixture_service(&[]) }),
        json!({"server": {"header_read_timeout": 1}}),
    ))
    .await;
    let slow = [
        ("a partial request line", &b"GET /health HT"[..]),
        (
            "a partial header block",
            &b"GET /health HTTP/1.1\r\nHost: localhost\r\n"[..],
        ),
        ("nothing at all", &b""[..]),
        ("a prefix of the HTTP/2 preface", &b"PRI * HTTP/2.0\r\n"[..]),
    ];
    // All at once, while a normal request is served.
    let waits = slow.map(|(what, bytes)| {
        let gw = &gw;
        async move { (what, closed_after(gw, bytes).await) }
    });
    let (closed, (status, body)) =
        tokio::join!(futures::future::join_all(waits), gw.get("/health"));
    assert_eq!(status, 200);
    assert_eq!(body["status"], "healthy");
    for (what, (elapsed, _)) in closed {
        assert!(
            elapsed >= Duration::from_millis(700) && elapsed < Duration::from_secs(5),
            "{what}: closed after {elapsed:?}, want about 1 s"
        );
    }
    // A served keep-alive connection that stays idle is closed as well.
    let (elapsed, read) = closed_after(&gw, HEALTH).await;
    assert!(
        read.starts_with(b"HTTP/1.1 200 OK"),
        "{}",
        String::from_utf8_lossy(&read)
    );
    assert!(
        elapsed >= Duration::from_millis(700) && elapsed < Duration::from_secs(5),
        "idle keep-alive closed after {elapsed:?}"
    );
    // A client that is merely slow but within the timeout is served.
    let mut stream = TcpStream::connect(addr(&gw)).await.unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream
        .write_all(b"Host: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let read = within(10, "response", read_to_close(&mut stream)).await;
    assert!(
        read.starts_with(b"HTTP/1.1 200 OK"),
        "{}",
        String::from_utf8_lossy(&read)
    );
}

/// Open a connection and have one request served on it (kept alive).
async fn served_connection(gw: &TestGateway) -> Option<TcpStream> {
    let mut stream = TcpStream::connect(addr(gw)).await.unwrap();
    stream.write_all(HEALTH).await.ok()?;
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match within(10, "response head", stream.read(&mut buf)).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200 OK"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    Some(stream)
}

/// `server.max_connections`: a connection over the cap is closed at once, unanswered (it is
/// refused, not queued); once one closes, a new one is served.
#[tokio::test]
async fn connection_cap_is_enforced() {
    let gw = TestGateway::start(config(
        json!({ "fx": fixture_service(&[]) }),
        json!({"server": {"max_connections": 5, "header_read_timeout": 30}}),
    ))
    .await;
    let mut open = Vec::new();
    for i in 0..5 {
        open.push(
            served_connection(&gw)
                .await
                .unwrap_or_else(|| panic!("connection {i} within the cap is served")),
        );
    }
    let (_, read) = closed_after(&gw, HEALTH).await;
    assert!(
        read.is_empty(),
        "6th connection answered: {}",
        String::from_utf8_lossy(&read)
    );
    // Silent connections count too, and do not need to send anything to be refused.
    let start = Instant::now();
    let (_, read) = closed_after(&gw, b"").await;
    assert!(read.is_empty());
    assert!(start.elapsed() < Duration::from_secs(5), "refused at once");

    drop(open.pop());
    let mut served = None;
    for _ in 0..100 {
        if let Some(stream) = served_connection(&gw).await {
            served = Some(stream);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        served.is_some(),
        "a slot freed by a closed connection is reused"
    );
}

async fn raw(gw: &TestGateway, method: reqwest::Method, path: &str) -> (u16, String, Value) {
    let mut req = gw
        .http
        .request(method.clone(), gw.url(path))
        .bearer_auth(TOKEN);
    if method == reqwest::Method::POST {
        req = req
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(r#"{"tool":"echo","session_id":"s"}"#);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, resp.json().await.unwrap())
}

#[tokio::test]
async fn non_utf8_path_segments_are_json_errors() {
    let gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    let service = json!({
        "error": "invalid service name in path: not valid UTF-8",
        "code": "invalid_request"
    });
    let session = json!({
        "error": "invalid session ID in path: not valid UTF-8",
        "code": "invalid_request"
    });
    for (method, path, want) in [
        (reqwest::Method::GET, "/services/%FF/tools", &service),
        (reqwest::Method::POST, "/services/%FF/call", &service),
        (reqwest::Method::DELETE, "/sessions/%FF", &session),
    ] {
        let (status, ct, body) = raw(&gw, method, path).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(ct, "application/json", "{path}");
        assert_eq!(&body, want, "{path}");
    }
    // The MCP front door answers in its own (JSON-RPC) shape.
    let (status, ct, body) = raw(&gw, reqwest::Method::POST, "/services/%FF/mcp").await;
    assert_eq!(status, 400);
    assert_eq!(ct, "application/json");
    assert_eq!(
        body,
        json!({"jsonrpc": "2.0", "id": null, "error": {
            "code": INVALID_REQUEST, "message": "invalid service name in path: not valid UTF-8"
        }})
    );
}

#[tokio::test]
async fn tool_names_outside_the_old_charset_reach_the_service() {
    let gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    // Valid now, so an unlisted one is an unknown tool rather than a 400.
    let (status, body) = gw.call("fx", "s", "a b", json!({})).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "unknown_tool");
    gw.call_ok("fx", "s", "add_tool", json!({"name": "search/web"}))
        .await;
    // The session's child lists it once its watcher has its new list (its own list only:
    // the shared catalog stays discovery's).
    let mut listed = false;
    for _ in 0..500 {
        if gw.call("fx", "s", "search/web", json!({})).await.0 == 200 {
            listed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(listed, "search/web listed by the session's child");
    assert_eq!(
        gw.call_ok("fx", "s", "search/web", json!({})).await,
        "dynamic search/web"
    );
}

/// `serve` raises the soft open-files limit to the hard one.
#[tokio::test]
async fn open_files_limit_is_raised() {
    let gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", gw.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[3], fields[4], "soft = hard: {line}");
}
