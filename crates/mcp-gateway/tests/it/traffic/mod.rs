//! Traffic policy end to end: rate limits and their headers, unauthenticated budgets, trusted
//! proxies, auth-failure blocking, concurrency limits, config errors; Redis shared by two
//! gateways and Redis going away (`redis`); scoped keys on every endpoint (`keys`).

mod keys;
mod redis;

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::support::*;

pub(super) const ALPHA: &str = "alpha-secret-0123456789";
pub(super) const BETA: &str = "beta-secret-0123456789";

/// How a request authenticates.
#[derive(Clone, Copy)]
pub(super) enum As<'a> {
    Nobody,
    Token(&'a str),
    Basic(&'a str, &'a str),
}

pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Value,
}

impl Reply {
    pub(super) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    pub(super) fn number(&self, name: &str) -> u64 {
        self.header(name)
            .unwrap_or_else(|| panic!("no {name} header: {:?}", self.headers))
            .parse()
            .unwrap()
    }
}

pub(super) async fn send(
    gw: &TestGateway,
    method: reqwest::Method,
    path: &str,
    who: As<'_>,
    forwarded_for: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut req = gw.http.request(method, gw.url(path));
    req = match who {
        As::Nobody => req,
        As::Token(t) => req.bearer_auth(t),
        As::Basic(u, p) => req.basic_auth(u, Some(p)),
    };
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = within(60, "HTTP request", req.send())
        .await
        .expect("request failed");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        headers,
        body,
    }
}

pub(super) async fn get(gw: &TestGateway, path: &str, who: As<'_>) -> Reply {
    send(gw, reqwest::Method::GET, path, who, None, None).await
}

pub(super) async fn call(
    gw: &TestGateway,
    who: As<'_>,
    service: &str,
    session: &str,
    tool: &str,
) -> Reply {
    let body = json!({"tool": tool, "session_id": session, "arguments": {"text": "hi"}});
    let path = format!("/services/{service}/call");
    send(gw, reqwest::Method::POST, &path, who, None, Some(body)).await
}

pub(super) fn limited(rate_limiting: Value) -> Value {
    let mut rl = json!({"enabled": true});
    rl.as_object_mut()
        .unwrap()
        .extend(rate_limiting.as_object().unwrap().clone());
    rl
}

pub(super) fn assert_rate_limited(r: &Reply, limit: &str) {
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"error": format!("rate limit exceeded: {limit}"), "code": "rate_limited"})
    );
    assert!(r.number("retry-after") >= 1);
    assert_eq!(r.number("ratelimit-remaining"), 0);
}

#[tokio::test]
async fn limits_answer_429_with_headers_and_health_is_never_limited() {
    let gw = TestGateway::start(config(
        json!({"fx": fixture_service(&[])}),
        json!({"rate_limiting": limited(json!({
            "default_limits": ["200 per day", "3 per hour"], "call_limit": "2 per minute"}))}),
    ))
    .await;
    for remaining in [2, 1, 0] {
        let r = get(&gw, "/services", As::Token(TOKEN)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.number("ratelimit-limit"), 3, "the tighter limit is shown");
        assert_eq!(r.number("ratelimit-remaining"), remaining);
        assert_eq!(r.header("ratelimit-policy").unwrap(), "3;w=3600");
        assert!(r.header("retry-after").is_none());
    }
    let r = get(&gw, "/services", As::Token(TOKEN)).await;
    assert_rate_limited(&r, "3 per hour");
    // GCRA: one request back every 20 minutes, the full budget after an hour.
    assert_eq!(r.number("retry-after"), 1_200);
    assert_eq!(r.number("ratelimit-reset"), 3_600);
    assert_eq!(r.header("content-type").unwrap(), "application/json");

    // Routes have their own budgets: /sessions is untouched, calls have call_limit.
    assert_eq!(get(&gw, "/sessions", As::Token(TOKEN)).await.status, 200);
    for _ in 0..2 {
        let r = call(&gw, As::Token(TOKEN), "fx", "s1", "echo").await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_rate_limited(
        &call(&gw, As::Token(TOKEN), "fx", "s1", "echo").await,
        "2 per minute",
    );
    // Refused requests count too (as upstream), including ones that fail validation.
    let bad = send(
        &gw,
        reqwest::Method::POST,
        "/services/fx/call",
        As::Token(TOKEN),
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(bad.status, 429);

    // /health: no limit, no headers, ever.
    for _ in 0..60 {
        let r = get(&gw, "/health", As::Nobody).await;
        assert_eq!(r.status, 200);
        assert!(r.header("ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn one_rate_string_may_hold_several_limits_and_all_apply() {
    let gw = TestGateway::start(config(
        json!({"fx": fixture_service(&[])}),
        json!({"rate_limiting": limited(json!({"call_limit": "100 per minute; 2 per hour"}))}),
    ))
    .await;
    for _ in 0..2 {
        let r = call(&gw, As::Token(TOKEN), "fx", "m1", "echo").await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_rate_limited(
        &call(&gw, As::Token(TOKEN), "fx", "m1", "echo").await,
        "2 per hour",
    );
}

#[tokio::test]
async fn unauthenticated_floods_spend_only_their_address_budget() {
    let gw = TestGateway::start(config(
        json!({}),
        json!({"rate_limiting": limited(json!({
            "unauthenticated_limit": "5 per minute", "default_limits": ["10 per minute"]}))}),
    ))
    .await;
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(get(&gw, "/services", As::Nobody).await.status.as_u16());
    }
    assert_eq!(statuses[..5], [401; 5]);
    assert!(statuses[5..].iter().all(|&s| s == 429), "{statuses:?}");
    let flood = get(&gw, "/services", As::Nobody).await;
    assert_eq!(flood.body["code"], "rate_limited");
    assert!(flood.number("retry-after") >= 1);
    // The authenticated caller on the same address has its whole budget.
    let r = get(&gw, "/services", As::Token(TOKEN)).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        (r.number("ratelimit-limit"), r.number("ratelimit-remaining")),
        (10, 9)
    );
    // A flood without credentials never blocks the address.
    assert!(!gw.log().contains("address_blocked"));
}

#[tokio::test]
async fn repeated_auth_failures_block_the_address_for_a_while() {
    let gw = TestGateway::start(config(
        json!({}),
        json!({"auth": {"failure_limit": "3 per minute", "block_seconds": 120}}),
    ))
    .await;
    for _ in 0..3 {
        let r = get(&gw, "/services", As::Token("wrong")).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.body["code"], "unauthorized");
    }
    // The fourth failure starts the block; from then on credentials are not even checked.
    assert_eq!(get(&gw, "/services", As::Token("wrong")).await.status, 401);
    for who in [As::Token("wrong"), As::Token(TOKEN)] {
        let r = get(&gw, "/services", who).await;
        assert_eq!(r.status, 429, "{}", r.body);
        assert_eq!(r.body["code"], "rate_limited");
        let wait = r.number("retry-after");
        assert!((1..=120).contains(&wait), "{wait}");
    }
    // Requests without credentials are unaffected (they get their 401), /health too.
    assert_eq!(get(&gw, "/services", As::Nobody).await.status, 401);
    assert_eq!(get(&gw, "/health", As::Nobody).await.status, 200);
    let log = gw.log();
    assert!(
        log.lines().any(|l| l.contains("auth_failed")
            && l.contains("127.0.0.1")
            && l.contains("invalid credentials")),
        "{log}"
    );
    assert!(log.contains("address_blocked"), "{log}");
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let rl = limited(json!({"unauthenticated_limit": "2 per minute"}));
    let trusting = TestGateway::start(config(
        json!({}),
        json!({"rate_limiting": rl.clone(), "server": {"trusted_proxies": ["127.0.0.0/8"]}}),
    ))
    .await;
    let path = "/services";
    let xff = |gw, ip| send(gw, reqwest::Method::GET, path, As::Nobody, Some(ip), None);
    for expected in [401, 401, 429] {
        assert_eq!(xff(&trusting, "198.51.100.1").await.status, expected);
    }
    // Another client behind the same proxy has its own budget.
    assert_eq!(xff(&trusting, "198.51.100.2").await.status, 401);
    // The rightmost untrusted hop counts, not what the client wrote on the left.
    assert_eq!(
        xff(&trusting, "6.6.6.6, 198.51.100.1").await.status,
        429,
        "a forged left hop must not buy a fresh budget"
    );
    assert!(
        trusting.log().contains("ip=198.51.100.2"),
        "{}",
        trusting.log()
    );

    // Without trusted proxies the header is ignored: one budget for the peer.
    let plain = TestGateway::start(config(json!({}), json!({"rate_limiting": rl}))).await;
    let statuses = [
        xff(&plain, "198.51.100.1").await.status,
        xff(&plain, "198.51.100.2").await.status,
        xff(&plain, "198.51.100.3").await.status,
    ];
    assert_eq!(statuses, [401, 401, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_service_call_limit_and_concurrency_limit() {
    let mut slow = fixture_service(&[]);
    slow["call_limit"] = json!("1 per minute");
    let mut cfg = config(
        json!({"fx": fixture_service(&[]), "slow": slow}),
        json!({"rate_limiting": limited(json!({"call_limit": "100 per minute"})),
               "session": {"max_calls_in_flight": 1, "max_queued_calls": 0}}),
    );
    cfg["services"]["fx"]["max_calls_in_flight"] = json!(5);
    let gw = TestGateway::start(cfg).await;

    // services.slow.call_limit replaces call_limit for that service only.
    assert_eq!(
        call(&gw, As::Token(TOKEN), "slow", "c-1", "echo")
            .await
            .status,
        200
    );
    assert_rate_limited(
        &call(&gw, As::Token(TOKEN), "slow", "c-1", "echo").await,
        "1 per minute",
    );
    assert_eq!(
        call(&gw, As::Token(TOKEN), "fx", "c-1", "echo")
            .await
            .status,
        200
    );

    // One call in flight per session, no queue: a second call into the session is refused.
    let body = json!({"tool": "sleep", "session_id": "busy", "arguments": {"ms": 3_000}});
    let first = gw.post("/services/fx/call", &body);
    let second = async {
        wait_for_calls(&gw, "busy", 1).await;
        let r = call(&gw, As::Token(TOKEN), "fx", "busy", "echo").await;
        // Another session is not affected.
        let other = call(&gw, As::Token(TOKEN), "fx", "idle", "echo").await;
        (r, other)
    };
    let ((status, _), (refused, other)) = within(60, "a slow call and a refused one", async {
        tokio::join!(first, second)
    })
    .await;
    assert_eq!(status, 200);
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.body["code"], "concurrency_limited");
    assert_eq!(refused.number("retry-after"), 1);
    assert_eq!(other.status, 200);
    // Once the first call is done the session takes calls again.
    assert_eq!(
        call(&gw, As::Token(TOKEN), "fx", "busy", "echo")
            .await
            .status,
        200
    );
}

/// A call the concurrency gates refuse leaves nothing behind: a session it would have created
/// is not listed, and a live session does not count it (nor take its timeout or metadata).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_refused_at_the_gates_creates_and_counts_nothing() {
    let mut fx = fixture_service(&[]);
    fx["max_calls_in_flight"] = json!(1);
    fx["max_queued_calls"] = json!(0);
    let cfg = config(json!({"fx": fx}), json!({}));
    let gw = TestGateway::start(cfg).await;
    let body = json!({"tool": "sleep", "session_id": "busy", "arguments": {"ms": 3_000}});
    let first = gw.post("/services/fx/call", &body);
    let refused = async {
        wait_for_calls(&gw, "busy", 1).await;
        let new = call(&gw, As::Token(TOKEN), "fx", "newcomer", "echo").await;
        let again = gw
            .post(
                "/services/fx/call",
                &json!({"tool": "echo", "session_id": "busy", "arguments": {"text": "x"},
                        "timeout": 7, "metadata": {"changed": true}}),
            )
            .await;
        (new, again)
    };
    let ((status, _), (new, (again, again_body))) =
        within(60, "a slow call and refused ones", async {
            tokio::join!(first, refused)
        })
        .await;
    assert_eq!(status, 200);
    assert_eq!(new.status, 429, "{}", new.body);
    assert_eq!(again, 429, "{again_body}");
    let (_, sessions) = gw.get("/sessions").await;
    assert!(sessions.get("newcomer").is_none(), "{sessions}");
    assert_eq!(sessions["busy"]["calls"], 1, "{sessions}");
    assert_ne!(sessions["busy"]["timeout"], 7, "{sessions}");
    assert_eq!(sessions["busy"]["metadata"], json!({}), "{sessions}");
}

/// Wait until session `id` has counted `n` calls (a call is counted once it holds its places).
async fn wait_for_calls(gw: &TestGateway, id: &str, n: u64) {
    within(30, "the first call to be in flight", async {
        loop {
            let (_, sessions) = gw.get("/sessions").await;
            if sessions[id]["calls"].as_u64() == Some(n) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[test]
fn malformed_limits_fail_validation_naming_the_key() {
    let cfg = json!({
        "server": {"auth_token": TOKEN, "trusted_proxies": ["not-an-ip"]},
        "services": {"s": {"command": ["s"], "call_limit": "5 per fortnight"}},
        "rate_limiting": {"default_limits": ["200 per day", "fifty per hour"],
                          "storage_uri": "memcached://x"},
        "auth": {"keys": [{"name": "k", "secret_sha256": "xyz"}]}
    });
    let (code, stdout) = validate("cfg.json", &cfg);
    assert_eq!(code, Some(1), "{stdout}");
    for key in [
        "server.trusted_proxies[0]:",
        "services.s.call_limit:",
        "rate_limiting.default_limits[1]:",
        "rate_limiting.storage_uri:",
        "auth.keys[0].secret_sha256:",
    ] {
        assert!(
            stdout.contains(&format!("cfg.json: {key}")),
            "missing {key} in:\n{stdout}"
        );
    }
}
