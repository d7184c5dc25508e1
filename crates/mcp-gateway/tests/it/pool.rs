//! Warm pools: initialized children handed to new sessions, refilled, capped, reaped.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::metrics::{scrape, value};
use crate::support::procs;
use crate::support::*;

fn pool_service(n: usize) -> serde_json::Value {
    let mut service = fixture_service(&[]);
    service["warm_pool"] = json!(n);
    service
}

async fn pool_ready(gw: &TestGateway) -> f64 {
    value(&scrape(gw).await, "mcp_gateway_pool_ready{service=\"fx\"}")
}

async fn wait_pool(gw: &TestGateway, n: f64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while pool_ready(gw).await != n {
        assert!(Instant::now() < deadline, "timed out: {what}\n{}", gw.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_children(gw: &TestGateway, n: usize, what: &str) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let children: Vec<u32> = procs::children_of(gw.pid())
            .into_iter()
            .filter(|p| procs::alive(*p))
            .collect();
        if children.len() == n {
            return children;
        }
        assert!(
            Instant::now() < deadline,
            "timed out: {what}: {children:?}\n{}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn pool_hands_out_an_initialized_child_and_refills() {
    let gw = TestGateway::start(config(json!({ "fx": pool_service(2) }), json!({}))).await;
    wait_pool(&gw, 2.0, "pool filled at startup").await;
    let pooled = wait_children(&gw, 2, "only the two pooled children alive").await;

    let started = Instant::now();
    gw.call_ok("fx", "s1", "echo", json!({"text": "hi"})).await;
    let first_call = started.elapsed();
    let pid = gw.child_pid("s1", "fx").await;
    assert!(pooled.contains(&pid), "{pid} not from the pool {pooled:?}");
    assert!(
        first_call < Duration::from_secs(2),
        "first call on a pooled child took {first_call:?}"
    );

    wait_pool(&gw, 2.0, "pool refilled after a hit").await;
    wait_children(&gw, 3, "one session child and two pooled").await;
    let text = scrape(&gw).await;
    assert_eq!(
        value(
            &text,
            "mcp_gateway_pool_requests_total{service=\"fx\",outcome=\"hit\"}"
        ),
        1.0,
        "{text}"
    );
    // A pooled child serves one session only: a second session gets another child.
    gw.call_ok("fx", "s2", "echo", json!({"text": "hi"})).await;
    assert_ne!(gw.child_pid("s2", "fx").await, pid);
}

#[tokio::test]
async fn pooled_children_count_against_caps_and_die_after_use_and_at_shutdown() {
    let mut gw = TestGateway::start(config(
        json!({ "fx": pool_service(2) }),
        json!({ "session": { "max_sessions_per_service": 2 } }),
    ))
    .await;
    wait_pool(&gw, 2.0, "pool filled at startup").await;
    gw.call_ok("fx", "a", "echo", json!({"text": "x"})).await;
    gw.call_ok("fx", "b", "echo", json!({"text": "x"})).await;
    // Both reservations are held by the sessions now: the pool cannot refill, and a third
    // session is refused without spawning anything.
    let (status, body) = gw.call("fx", "c", "echo", json!({"text": "x"})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(pool_ready(&gw).await, 0.0);
    wait_children(&gw, 2, "two session children, nothing pooled").await;

    let a = gw.child_pid("a", "fx").await;
    let (status, _) = gw.delete("/sessions/a").await;
    assert_eq!(status, StatusCode::OK);
    within(10, "deleted session's child exits", async {
        while procs::alive(a) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    wait_pool(&gw, 1.0, "released reservation refills the pool").await;
    let children = wait_children(&gw, 2, "one session child and one pooled").await;

    gw.signal(15);
    assert_eq!(gw.wait_exit(30).await, Some(0), "log:\n{}", gw.log());
    for pid in children {
        assert!(!procs::alive(pid), "child {pid} survived shutdown");
    }
}

#[tokio::test]
async fn no_child_left_after_churn_with_a_pool() {
    let mut gw = TestGateway::start(config(
        json!({ "fx": pool_service(4) }),
        json!({ "logging": { "level": "WARNING" } }),
    ))
    .await;
    wait_pool(&gw, 4.0, "pool filled at startup").await;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (http, url) = (gw.http.clone(), gw.base.clone());
        tasks.spawn(async move {
            for i in 0..40 {
                let id = format!("churn-{worker}-{i}");
                let resp = http
                    .post(format!("{url}/services/fx/call"))
                    .bearer_auth(TOKEN)
                    .json(&json!({"tool": "echo", "session_id": id, "arguments": {"text": "x"}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), StatusCode::OK);
                let resp = http
                    .delete(format!("{url}/sessions/{id}"))
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), StatusCode::OK);
            }
        });
    }
    within(120, "320 sessions of churn", async {
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
    })
    .await;
    wait_pool(&gw, 4.0, "pool refilled after churn").await;
    wait_children(&gw, 4, "only the pooled children left after churn").await;
    let text = scrape(&gw).await;
    let hits = value(
        &text,
        "mcp_gateway_pool_requests_total{service=\"fx\",outcome=\"hit\"}",
    );
    let misses = value(
        &text,
        "mcp_gateway_pool_requests_total{service=\"fx\",outcome=\"miss\"}",
    );
    assert_eq!(hits + misses, 320.0, "{text}");
    assert!(hits >= 4.0, "{text}");
    gw.signal(15);
    assert_eq!(gw.wait_exit(30).await, Some(0), "log:\n{}", gw.log());
    assert!(procs::descendants_of(gw.pid()).is_empty());
}

/// `/ready` (issue 16): 503 until every warm pool has been full once, naming the pools still
/// filling; a pool that can never fill (its children never answer `initialize`) keeps the
/// replica unready, while a full one stays ready when traffic drains it.
#[tokio::test]
async fn ready_waits_until_every_warm_pool_has_been_full_once() {
    let mut stuck = fixture_service(&["--no-init-reply"]);
    stuck["warm_pool"] = json!(1);
    stuck["startup_timeout"] = json!(1);
    let gw = TestGateway::start(config(
        json!({"fx": pool_service(2), "stuck": stuck}),
        json!({}),
    ))
    .await;
    wait_pool(&gw, 2.0, "fx's pool full").await;
    let (status, body) = gw.get("/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "warm pools filling", "{body}");
    assert_eq!(body["pools_filling"], json!(["stuck"]), "{body}");

    let gw = TestGateway::start(config(json!({"fx": pool_service(2)}), json!({}))).await;
    wait_until(20, "ready once the pool is full", || {
        let status = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &gw.url("/ready"),
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default();
        status == "200"
    })
    .await;
    // Sessions take both pooled children: the replica stays ready.
    gw.call_ok("fx", "a", "echo", json!({"text": "x"})).await;
    gw.call_ok("fx", "b", "echo", json!({"text": "x"})).await;
    let (status, body) = gw.get("/ready").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
