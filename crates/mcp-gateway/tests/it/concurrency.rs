//! Many sessions and calls at once: nothing lost, nothing left behind.

use std::collections::HashMap;

use serde_json::json;

use crate::support::procs;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sessions_a_thousand_calls_nothing_lost_nothing_left() {
    let mut gw = TestGateway::start(config(
        json!({ "fx": fixture_service(&[]) }),
        json!({"logging": {"level": "WARNING"}}),
    ))
    .await;
    let sessions: Vec<String> = (0..50).map(|i| format!("conc-{i}")).collect();
    // 50 sessions created in parallel.
    let creates = sessions
        .iter()
        .map(|s| gw.call("fx", s, "count", json!({})));
    for (status, body) in within(
        120,
        "50 parallel session creations",
        futures::future::join_all(creates),
    )
    .await
    {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"], "1");
    }
    // 1,000 calls spread over them, 20 per session, all concurrently.
    let gw_ref = &gw;
    let calls = (0..1000).map(|i| {
        let s = &sessions[i % 50];
        async move { (s.clone(), gw_ref.call("fx", s, "count", json!({})).await) }
    });
    let results = within(
        300,
        "1000 concurrent calls",
        futures::future::join_all(calls),
    )
    .await;
    let mut seen: HashMap<String, Vec<u64>> = HashMap::new();
    for (s, (status, body)) in results {
        assert_eq!(status, 200, "{body}");
        seen.entry(s)
            .or_default()
            .push(body["result"].as_str().unwrap().parse().unwrap());
    }
    for (s, mut counts) in seen {
        counts.sort();
        assert_eq!(
            counts,
            (2..=21).collect::<Vec<u64>>(),
            "session {s} lost or duplicated a call"
        );
    }
    let children = procs::descendants_of(gw.pid());
    assert!(children.len() >= 50);
    // Delete all sessions concurrently: every child goes away.
    let paths: Vec<String> = sessions.iter().map(|s| format!("/sessions/{s}")).collect();
    let deletes = paths.iter().map(|p| gw.delete(p));
    for (status, body) in within(60, "50 deletes", futures::future::join_all(deletes)).await {
        assert_eq!(status, 200, "{body}");
    }
    wait_until(30, "zero children after deletes", || {
        procs::children_of(gw.pid()).is_empty()
    })
    .await;
    for pid in &children {
        assert!(!procs::exists(*pid), "child {pid} not reaped");
    }
    // And shutdown with a fresh batch alive leaves nothing either.
    for s in &sessions[..10] {
        gw.call_ok("fx", s, "count", json!({})).await;
    }
    let children = procs::descendants_of(gw.pid());
    gw.signal(15);
    assert_eq!(gw.wait_exit(30).await, Some(0));
    for pid in children {
        assert!(!procs::alive(pid), "child {pid} survived shutdown");
    }
}
