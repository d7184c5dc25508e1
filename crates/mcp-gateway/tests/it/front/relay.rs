//! Relaying: progress before the result, cancellation reaching the child with its own id,
//! child notifications on the GET stream, child requests a client never answers.

use reqwest::Response;
use serde_json::{Value, json};

use super::client::*;
use crate::support::*;

/// The next SSE message of a streaming response; `None` at the end of the stream.
async fn next_message(resp: &mut Response, buf: &mut String) -> Option<Value> {
    loop {
        if let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            let mut parsed = parse_sse(&event);
            if let Some(message) = parsed.pop() {
                return Some(message);
            }
            continue;
        }
        let chunk = within(30, "an SSE chunk", resp.chunk()).await.ok()??;
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn progress_arrives_before_the_result_with_the_clients_token() {
    let gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    let mut mcp = Mcp::open(&gw, "/mcp").await;
    let messages = mcp
        .exchange(
            "tools/call",
            json!({"name": "progress", "arguments": {"steps": 3}, "_meta": {"progressToken": "tok-1"}}),
        )
        .await;
    assert_eq!(messages.len(), 4, "{messages:?}\n{}", gw.log());
    for (i, m) in messages[..3].iter().enumerate() {
        assert_eq!(m["method"], "notifications/progress");
        assert_eq!(m["params"]["progressToken"], "tok-1");
        assert_eq!(m["params"]["progress"], i as u64 + 1);
    }
    assert_eq!(text(&messages[3]["result"]), "done");

    // Integer tokens too; and a client that only accepts JSON gets the bare result.
    let body = json!({"jsonrpc": "2.0", "id": 77, "method": "tools/call",
        "params": {"name": "progress", "arguments": {"steps": 2}, "_meta": {"progressToken": 5}}});
    let resp = gw
        .http
        .post(gw.url("/mcp"))
        .bearer_auth(TOKEN)
        .header("accept", "application/json")
        .header("mcp-session-id", mcp.session.clone().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let message: Value = resp.json().await.unwrap();
    assert_eq!(text(&message["result"]), "done");
}

#[tokio::test]
async fn cancel_reaches_the_child_and_the_stream_ends_without_a_result() {
    let gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    let mut mcp = Mcp::open(&gw, "/mcp").await;
    mcp.next_id = 500;
    let (id, mut resp) = mcp
        .send(
            "tools/call",
            json!({"name": "progress", "arguments": {"steps": 1000, "interval_ms": 50}, "_meta": {"progressToken": "p"}}),
        )
        .await;
    let mut buf = String::new();
    let first = next_message(&mut resp, &mut buf)
        .await
        .expect("a progress notification");
    assert_eq!(first["params"]["progressToken"], "p");
    let status = mcp
        .notify(
            "notifications/cancelled",
            json!({"requestId": id, "reason": "enough"}),
        )
        .await
        .status();
    assert_eq!(status, 202);
    // Progress already in flight may still arrive; the result never does.
    while let Some(message) = next_message(&mut resp, &mut buf).await {
        assert_eq!(message["method"], "notifications/progress", "{message}");
    }
    // The child got notifications/cancelled for its own request id.
    // (The fixture lists the ids it was told to cancel: one, in the gateway's id space.)
    let cancels = mcp.call("cancelled", json!({})).await;
    let ids: Vec<Value> = serde_json::from_str(&text(&cancels)).unwrap();
    assert_eq!(ids.len(), 1, "{}", gw.log());
    assert_ne!(
        ids[0],
        json!(id),
        "the child's id space is ours, not the client's"
    );
}

#[tokio::test]
async fn list_changed_reaches_the_get_stream() {
    let gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    let mut mcp = Mcp::open(&gw, "/mcp").await;
    // The child starts with the first call; its notifications go to the GET stream.
    mcp.call("echo", json!({"message": "x"})).await;
    let mut stream = mcp
        .with_headers(gw.http.get(gw.url("/mcp")))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let added = mcp.call("add_tool", json!({"name": "fresh"})).await;
    assert_eq!(text(&added), "added fresh");
    let mut buf = String::new();
    let message = next_message(&mut stream, &mut buf)
        .await
        .expect("a notification");
    assert_eq!(message["method"], "notifications/tools/list_changed");
    let names = mcp.tool_names().await;
    assert!(names.contains(&"fresh".to_string()), "{names:?}");
    let called = mcp.call("fresh", json!({})).await;
    assert_eq!(text(&called), "dynamic fresh");
}

/// A client that declares sampling but never reads its GET stream: the child's requests
/// relayed to it wait in a bounded table; the others are refused at once (the table once grew
/// by one entry per request, for ever).
#[tokio::test]
async fn requests_relayed_to_a_client_that_never_answers_are_bounded() {
    let gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    let mut mcp = Mcp::new(&gw, "/mcp");
    let (status, init) = mcp
        .initialize_with("2025-11-25", json!({"sampling": {}}))
        .await;
    assert_eq!(status, 200, "{init}");
    mcp.notify("notifications/initialized", json!({})).await;
    mcp.call("echo", json!({"text": "start the child"})).await;
    let unread = mcp
        .with_headers(gw.http.get(gw.url("/mcp")))
        .send()
        .await
        .unwrap();
    assert_eq!(unread.status(), 200);
    // In JSON response mode the call has no stream: the requests go to the GET stream.
    let body = json!({"jsonrpc": "2.0", "id": 99, "method": "tools/call",
        "params": {"name": "sample_many", "arguments": {"count": 500, "timeout_ms": 3000}}});
    let mut request = gw
        .http
        .post(gw.url("/mcp"))
        .bearer_auth(TOKEN)
        .header("accept", "application/json");
    request = request
        .header("mcp-session-id", mcp.session.clone().unwrap())
        .header("mcp-protocol-version", &mcp.version);
    let response = within(60, "sample_many", request.json(&body).send())
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
    let counts: Value = serde_json::from_str(&text(&answer["result"])).unwrap();
    let errors = counts["errors"].as_u64().unwrap();
    assert!(
        (500 - 64..500).contains(&errors),
        "at most 64 requests wait for the client, the rest are refused: {counts}"
    );
    drop(unread);
}

/// A client that stops reading its SSE answer must not suspend the call: `call_timeout` still
/// fires (the child is sent `notifications/cancelled`), and progress it does not read is
/// dropped rather than queued without end (issue 17, defect 13).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_does_not_suspend_the_call_timeout() {
    let mut fx = fixture_service(&[]);
    fx["call_timeout"] = json!(5);
    let gw = TestGateway::start(config(json!({ "fx": fx }), json!({}))).await;
    let mut mcp = Mcp::open(&gw, "/services/fx/mcp").await;
    let id = mcp.next_id();
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
        "name": "progress", "arguments": {"steps": 1_000_000, "interval_ms": 0},
        "_meta": {"progressToken": "p"}}});
    let resp = within(
        60,
        "the SSE answer's head",
        mcp.builder().json(&body).send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    // Not read: the progress fills every buffer between the child and us.
    let sent = std::time::Instant::now();
    within(60, "call_timeout to cancel the child's request", async {
        while !gw.log().contains("cancelling a request") {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    let took = sent.elapsed();
    // The timeout fires on time (5 s), not when the client reads again (before the fix: 10.7 s
    // on an idle machine, and unbounded with more buffering); 3 s of slack for load.
    assert!(
        took < std::time::Duration::from_secs(8) * time_scale() as u32,
        "call_timeout 5 s fired after {took:?}"
    );
    // Reading now: the stream ends with the timeout's error for our request.
    let messages = within(60, "the rest of the answer", messages(resp)).await;
    let last = messages.last().unwrap();
    assert_eq!(last["id"], id, "{last}");
    assert!(last.get("error").is_some(), "{last}");
}
