//! Children that break the wire (issue 17): answers the JSON parser refuses, a line that never
//! ends, a stdin that is never read, stdout noise. Each call fails at once with an error naming
//! the cause (never a wait for `call_timeout`), and the gateway's memory and log stay bounded.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::procs;
use crate::support::*;

/// A fixture service whose `call_timeout` (30 s) is long enough that an answer other than 504
/// proves the gateway did not wait for it.
fn service(extra: Value) -> Value {
    let mut s = fixture_service(&[]);
    s["call_timeout"] = json!(30);
    if let (Value::Object(s), Value::Object(extra)) = (&mut s, extra) {
        s.extend(extra);
    }
    s
}

fn error(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn answers_the_parser_refuses_fail_at_once_naming_the_cause() {
    let gw = TestGateway::start(config(json!({ "fx": service(json!({})) }), json!({}))).await;
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let cases = [
        ("NaN", r#"{"n":NaN}"#.to_string(), "NaN"),
        ("Infinity", r#"{"n":-Infinity}"#.to_string(), "Infinity"),
        ("200 levels", format!(r#"{{"n":{deep}}}"#), "nested"),
    ];
    for (what, structured, cause) in cases {
        let line = format!(
            r#"{{"jsonrpc":"2.0","id":$ID,"result":{{"content":[],"structuredContent":{structured}}}}}"#
        );
        let (status, body) = gw
            .call("fx", "s", "raw_reply", json!({ "line": line }))
            .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{what}: {body}");
        assert_eq!(body["code"], "bad_response", "{what}: {body}");
        assert!(
            error(&body).contains("not valid JSON") && error(&body).contains(cause),
            "{what}: {body}"
        );
    }
    // The id may come last, as any JSON encoder may put it.
    let line = r#"{"jsonrpc":"2.0","result":{"n":NaN},"id":$ID}"#;
    let (status, body) = gw
        .call("fx", "s", "raw_reply", json!({ "line": line }))
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "id last: {body}");
    // Only that call failed: the child still serves.
    assert_eq!(
        gw.call_ok("fx", "s", "echo", json!({"text": "fine"})).await,
        "fine"
    );
}

#[tokio::test]
async fn a_line_that_never_ends_stops_the_child() {
    let gw = TestGateway::start(config(
        json!({ "fx": service(json!({"max_line_bytes": 65536})) }),
        json!({}),
    ))
    .await;
    gw.call_ok("fx", "s", "echo", json!({"text": "up"})).await;
    let pid = gw.child_pid("s", "fx").await;
    let (status, body) = gw.call("fx", "s", "endless_line", json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["code"], "child_exited", "{body}");
    assert!(
        body["exit_status"]
            .as_str()
            .unwrap_or_default()
            .contains("stopped by the gateway: it wrote a line longer than"),
        "{body}"
    );
    wait_until(15, "the child writing an endless line is killed", || {
        !procs::alive(pid)
    })
    .await;
    // The session starts a new child on its next use.
    assert_eq!(
        gw.call_ok("fx", "s", "echo", json!({"text": "again"}))
            .await,
        "again"
    );
}

#[tokio::test]
async fn a_child_that_never_reads_stdin_is_stopped_at_the_queue_bound() {
    let gw = TestGateway::start(config(json!({ "fx": service(json!({})) }), json!({}))).await;
    gw.call_ok("fx", "s", "echo", json!({"text": "up"})).await;
    let pid = gw.child_pid("s", "fx").await;
    // 20,000 refusals of about 1 KiB each: more than the stdin queue may hold.
    let (status, body) = gw
        .call(
            "fx",
            "s",
            "flood_requests",
            json!({"count": 20_000, "id_bytes": 1000}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["code"], "child_exited", "{body}");
    assert!(
        body["exit_status"]
            .as_str()
            .unwrap_or_default()
            .contains("stopped by the gateway: it does not read its stdin"),
        "{body}"
    );
    wait_until(15, "the child that never reads is killed", || {
        !procs::alive(pid)
    })
    .await;
}

#[tokio::test]
async fn stdout_noise_is_logged_at_a_bounded_rate_with_a_count() {
    let gw = TestGateway::start(config(json!({ "fx": service(json!({})) }), json!({}))).await;
    assert_eq!(
        gw.call_ok("fx", "s", "stdout_noise", json!({"lines": 50_000}))
            .await,
        "noisy 50000"
    );
    // The count of what was not logged is logged at the latest when the child goes.
    let (status, _) = gw.delete("/sessions/s").await;
    assert_eq!(status, StatusCode::OK);
    wait_until(15, "the count of unlogged bad lines", || {
        gw.log().contains("bad lines from the server not logged")
    })
    .await;
    let log = gw.log();
    let logged = log.matches("skipping a bad line from the server").count();
    assert!(
        (1..=200).contains(&logged),
        "{logged} bad lines logged one by one"
    );
    let unlogged: u64 = log
        .lines()
        .filter(|l| l.contains("bad lines from the server not logged"))
        .filter_map(|l| l.split("suppressed=").nth(1))
        .filter_map(|n| n.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(unlogged + logged as u64, 50_000, "{unlogged} + {logged}");
}

/// A remote MCP service (Streamable HTTP, JSON answers) with two tools whose answers never
/// end: `endless` (200) and `failing` (500). It never holds a session.
async fn endless_remote() -> String {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                loop {
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = n.trim().parse().unwrap();
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    stream.read_exact(&mut body).await.unwrap();
                    let request: Value = serde_json::from_slice(&body).unwrap();
                    let result = match request["method"].as_str().unwrap_or_default() {
                        "initialize" => json!({"protocolVersion": "2025-06-18",
                            "capabilities": {"tools": {}}, "serverInfo": {"name": "endless", "version": "1"}}),
                        "tools/list" => json!({"tools": [
                            {"name": "endless", "inputSchema": {"type": "object"}},
                            {"name": "failing", "inputSchema": {"type": "object"}}]}),
                        "tools/call" => {
                            let status = match request["params"]["name"].as_str() {
                                Some("failing") => "500 Internal Server Error",
                                _ => "200 OK",
                            };
                            let head = format!(
                                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":\"",
                                request["id"]
                            );
                            let stream = stream.get_mut();
                            let _ = stream.write_all(head.as_bytes()).await;
                            let chunk = vec![b'x'; 1 << 16];
                            while stream.write_all(&chunk).await.is_ok() {}
                            return;
                        }
                        _ => {
                            let _ = stream
                                .get_mut()
                                .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                                .await;
                            continue;
                        }
                    };
                    let body = json!({"jsonrpc": "2.0", "id": request["id"], "result": result})
                        .to_string();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream
                        .get_mut()
                        .write_all(response.as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn a_remote_answer_that_never_ends_is_cut_at_the_bound() {
    let url = endless_remote().await;
    let gw = TestGateway::start(config(
        json!({ "far": {"url": url, "call_timeout": 30, "max_line_bytes": 1_048_576} }),
        json!({}),
    ))
    .await;
    let (status, body) = gw.call("far", "s", "endless", json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["code"], "bad_response", "{body}");
    assert!(error(&body).contains("longer than 1048576 bytes"), "{body}");
    // An error status with an endless body: its start is quoted, the rest never read.
    let (status, body) = gw.call("far", "s", "failing", json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["code"], "child_exited", "{body}");
    assert!(
        body["stderr_tail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("HTTP 500 Internal Server Error: {\"jsonrpc\""),
        "{body}"
    );
}

/// Integers past 64 bits reach the client digit for digit (once they became floats).
#[tokio::test]
async fn integers_past_64_bits_pass_exactly() {
    let gw = TestGateway::start(config(json!({ "fx": service(json!({})) }), json!({}))).await;
    let numbers = r#"{"big":123456789012345678901234567890,"neg":-98765432109876543210,"max":18446744073709551615}"#;
    let line = format!(
        r#"{{"jsonrpc":"2.0","id":$ID,"result":{{"content":[],"structuredContent":{numbers}}}}}"#
    );
    let body = json!({"tool": "raw_reply", "session_id": "s", "arguments": {"line": line}});
    let response = gw
        .http
        .post(gw.url("/services/fx/call"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send();
    let response = within(60, "the call", response).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    for number in [
        r#""big":123456789012345678901234567890"#,
        r#""neg":-98765432109876543210"#,
        r#""max":18446744073709551615"#,
    ] {
        assert_eq!(text.matches(number).count(), 2, "{number} in {text}");
    }
}
