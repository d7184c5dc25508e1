//! Two gateway processes sharing one budget through a real `redis-server`, and the policy when
//! Redis goes away and comes back.

use std::time::Duration;

use serde_json::{Value, json};

use super::{As, assert_rate_limited, get, limited};
use crate::support::*;

fn redis_config(redis: &Redis, fail_open: bool) -> Value {
    config(
        json!({}),
        json!({"rate_limiting": limited(json!({
            "storage_uri": redis.uri(), "default_limits": ["4 per minute"],
            "fail_open": fail_open, "storage_timeout": 0.3}))}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_one_budget_through_redis() {
    let redis = Redis::start().await;
    let one = TestGateway::start(redis_config(&redis, false)).await;
    let two = TestGateway::start(redis_config(&redis, false)).await;
    let mut remaining = Vec::new();
    for gw in [&one, &two, &one, &two] {
        let r = get(gw, "/services", As::Token(TOKEN)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        remaining.push(r.number("ratelimit-remaining"));
    }
    assert_eq!(remaining, [3, 2, 1, 0], "one budget across both gateways");
    for gw in [&one, &two] {
        assert_rate_limited(
            &get(gw, "/services", As::Token(TOKEN)).await,
            "4 per minute",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_closed_or_open_as_configured_and_recovers() {
    let mut redis = Redis::start().await;
    let closed = TestGateway::start(redis_config(&redis, false)).await;
    let open = TestGateway::start(redis_config(&redis, true)).await;
    for gw in [&closed, &open] {
        assert_eq!(get(gw, "/services", As::Token(TOKEN)).await.status, 200);
        let ready = get(gw, "/ready", As::Nobody).await;
        assert_eq!(ready.status, 200, "{}", ready.body);
        assert_eq!(ready.body["rate_limit_storage"], "reachable");
    }
    redis.kill();
    let r = get(&closed, "/services", As::Token(TOKEN)).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.body["code"], "rate_limit_unavailable");
    assert_eq!(r.number("retry-after"), 1);
    let r = get(&open, "/services", As::Token(TOKEN)).await;
    assert_eq!(r.status, 200, "fail_open lets requests through unchecked");
    assert!(r.header("ratelimit-limit").is_none());
    assert_eq!(get(&closed, "/health", As::Nobody).await.status, 200);
    // Readiness: failing closed, every limited request is refused, so the replica is out of the
    // balancer; failing open, it still serves, so it stays in.
    let ready = get(&closed, "/ready", As::Nobody).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.body["status"], "rate limit storage unreachable");
    let ready = get(&open, "/ready", As::Nobody).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert!(
        (ready.body["rate_limit_storage"].as_str()).is_some_and(|s| s.starts_with("unreachable")),
        "{}",
        ready.body
    );
    wait_until(10, "the outage is logged", || {
        closed.log().contains("rate_limit_storage_down")
    })
    .await;

    redis.restart().await;
    within(30, "the gateway uses Redis again once it is back", async {
        loop {
            let r = get(&closed, "/services", As::Token(TOKEN)).await;
            if r.status == 200 {
                assert!(r.header("ratelimit-remaining").is_some());
                return;
            }
            assert_eq!(r.status, 503, "{}", r.body);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    wait_until(10, "the recovery is logged", || {
        closed.log().contains("rate_limit_storage_recovered")
    })
    .await;
    assert_eq!(get(&closed, "/ready", As::Nobody).await.status, 200);
}
