//! An answer that is complete at once leaves at once: no 40 ms stall between the response head
//! and its SSE body (Nagle's algorithm meeting the client's delayed ACK; issue 12).

use std::time::{Duration, Instant};

use serde_json::json;

use super::client::*;
use crate::support::*;

/// Not a timing benchmark: with the stall *every* SSE answer takes at least the client's
/// delayed-ACK time (40 ms on Linux), so the fastest of 20 sequential calls shows it whatever
/// the load on the machine; without it the fastest call takes a millisecond or two.
#[tokio::test]
async fn sse_tool_answers_leave_without_a_delayed_ack_stall() {
    let gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    let mut mcp = Mcp::open(&gw, "/services/fx/mcp").await;
    let mut fastest = Duration::MAX;
    for i in 0..20 {
        let started = Instant::now();
        let (_, resp) = mcp
            .send(
                "tools/call",
                json!({"name": "echo", "arguments": {"text": i.to_string()}}),
            )
            .await;
        let sse = resp
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/event-stream"));
        let messages = messages(resp).await;
        fastest = fastest.min(started.elapsed());
        assert!(
            sse,
            "a tools/call answered as SSE when the client accepts both"
        );
        assert_eq!(
            messages.last().unwrap()["result"]["content"][0]["text"],
            i.to_string()
        );
    }
    assert!(
        fastest < Duration::from_millis(30),
        "the fastest of 20 SSE tools/call answers took {fastest:?}: a delayed-ACK stall"
    );
}
