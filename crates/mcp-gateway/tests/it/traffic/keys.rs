//! Scoped API keys on every endpoint, including other keys' sessions, and keys' own limits.

use serde_json::{Value, json};

use super::{ALPHA, As, BETA, Reply, assert_rate_limited, call, get, limited, send};
use crate::support::*;

fn keyed_config(extra: Value) -> Value {
    let mut cfg = config(
        json!({"fx": fixture_service(&[]), "fy": fixture_service(&[])}),
        json!({"auth": {"keys": [
            {"name": "alpha", "secret": ALPHA, "services": ["fx"], "tools": ["echo", "sleep"]},
            {"name": "beta", "secret": BETA, "services": "*"}
        ]}}),
    );
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            cfg[k] = v;
        }
    }
    cfg
}

/// The body with `name` replaced by `X`, to compare two 404s that differ only in the name.
fn shape(r: &Reply, name: &str) -> (u16, String) {
    (r.status.as_u16(), r.body.to_string().replace(name, "X"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_keys_see_only_their_services_tools_and_sessions() {
    let gw = TestGateway::start(keyed_config(json!({}))).await;
    let alpha = As::Token(ALPHA);
    let beta = As::Token(BETA);

    // GET /services
    let services = |r: Reply| {
        let mut names: Vec<String> = r.body.as_object().unwrap().keys().cloned().collect();
        names.sort();
        names
    };
    assert_eq!(services(get(&gw, "/services", alpha).await), ["fx"]);
    assert_eq!(services(get(&gw, "/services", beta).await), ["fx", "fy"]);
    assert_eq!(
        services(get(&gw, "/services", As::Token(TOKEN)).await),
        ["fx", "fy"]
    );
    // Basic auth with the key's name works too; a wrong name does not.
    let basic = get(&gw, "/services", As::Basic("alpha", ALPHA)).await;
    assert_eq!(services(basic), ["fx"]);
    assert_eq!(
        get(&gw, "/services", As::Basic("beta", ALPHA)).await.status,
        401
    );

    // GET /services/{s}/tools
    let r = get(&gw, "/services/fx/tools", alpha).await;
    let tools: Vec<&str> = r.body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["echo", "sleep"]);
    let hidden = get(&gw, "/services/fy/tools", alpha).await;
    let unknown = get(&gw, "/services/nosuch/tools", alpha).await;
    assert_eq!(hidden.status, 404);
    assert_eq!(shape(&hidden, "fy"), shape(&unknown, "nosuch"));
    assert!(
        get(&gw, "/services/fx/tools", beta).await.body["tools"]
            .as_array()
            .unwrap()
            .len()
            > 2
    );

    // POST /services/{s}/call: a hidden tool or service is exactly an unknown one.
    assert_eq!(call(&gw, alpha, "fx", "a-1", "echo").await.status, 200);
    let hidden = call(&gw, alpha, "fx", "a-1", "greet").await;
    let unknown = call(&gw, alpha, "fx", "a-1", "nosuchtool").await;
    assert_eq!(hidden.status, 404, "{}", hidden.body);
    assert_eq!(shape(&hidden, "greet"), shape(&unknown, "nosuchtool"));
    let hidden = call(&gw, alpha, "fy", "a-1", "echo").await;
    let unknown = call(&gw, alpha, "nosuch", "a-1", "echo").await;
    assert_eq!(hidden.status, 404);
    assert_eq!(shape(&hidden, "fy"), shape(&unknown, "nosuch"));

    // Sessions belong to the key that created them.
    assert_eq!(call(&gw, beta, "fy", "b-1", "greet").await.status, 200);
    let sessions = |r: Reply| {
        let mut ids: Vec<String> = r.body.as_object().unwrap().keys().cloned().collect();
        ids.sort();
        ids
    };
    assert_eq!(sessions(get(&gw, "/sessions", alpha).await), ["a-1"]);
    assert_eq!(sessions(get(&gw, "/sessions", beta).await), ["b-1"]);
    assert_eq!(
        sessions(get(&gw, "/sessions", As::Token(TOKEN)).await),
        ["a-1", "b-1"],
        "the upstream credentials are unscoped"
    );
    // Another key can neither call into it nor delete it: 404 as for a session that is not there.
    let foreign = call(&gw, beta, "fx", "a-1", "echo").await;
    assert_eq!(foreign.status, 404, "{}", foreign.body);
    assert_eq!(foreign.body["code"], "unknown_session");
    let gw_ref = &gw;
    let del = |id: &str, who| {
        let path = format!("/sessions/{id}");
        async move { send(gw_ref, reqwest::Method::DELETE, &path, who, None, None).await }
    };
    let foreign = del("a-1", beta).await;
    let missing = del("nosuch", beta).await;
    assert_eq!(foreign.status, 404);
    assert_eq!(shape(&foreign, "a-1"), shape(&missing, "nosuch"));
    assert_eq!(
        sessions(get(&gw, "/sessions", alpha).await),
        ["a-1"],
        "still there"
    );
    assert_eq!(del("a-1", alpha).await.status, 200);
    assert_eq!(del("b-1", As::Token(TOKEN)).await.status, 200);
    assert!(sessions(get(&gw, "/sessions", As::Token(TOKEN)).await).is_empty());
    let log = gw.log();
    assert!(
        log.contains("key=\"alpha\"") || log.contains("key=alpha"),
        "{log}"
    );
}

#[tokio::test]
async fn keys_have_their_own_budgets_and_limits() {
    let gw = TestGateway::start(keyed_config(json!({
        "auth": {"keys": [
            {"name": "alpha", "secret": ALPHA, "rate_limits": {"default_limits": ["2 per minute"]}},
            {"name": "beta", "secret": BETA}
        ]},
        "rate_limiting": limited(json!({"default_limits": ["5 per minute"]}))
    })))
    .await;
    for _ in 0..2 {
        assert_eq!(get(&gw, "/services", As::Token(ALPHA)).await.status, 200);
    }
    assert_rate_limited(
        &get(&gw, "/services", As::Token(ALPHA)).await,
        "2 per minute",
    );
    let r = get(&gw, "/services", As::Token(BETA)).await;
    assert_eq!(
        (r.status.as_u16(), r.number("ratelimit-remaining")),
        (200, 4)
    );
}
