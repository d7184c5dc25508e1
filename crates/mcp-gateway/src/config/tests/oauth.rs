//! `auth.oauth`: resource, authorization servers, grants, and what is wrong with them.

use super::*;

fn with_oauth(oauth: &str) -> String {
    format!(
        r#"{{"server": {{"host": "10.0.0.1", "auth_token": "t"}},
        "services": {{"a": {{"command": ["a"]}}, "b": {{"command": ["b"]}}}},
        "auth": {{"oauth": {oauth}}}}}"#
    )
}

const GOOD: &str = r#"{"resource": "https://mcp.example.com/",
    "authorization_servers": ["https://idp.example.com/realms/x",
        {"issuer": "https://login.example.org/tenant/v2.0", "jwks_uri": "https://login.example.org/keys",
         "introspection": {"client_id": "gw", "client_secret": "s3cret"}}],
    "grants": [{"scope": "mcp:a", "services": ["a"], "tools": ["t1"]},
               {"scope": "mcp:all", "metrics": true, "rate_limits": {"call_limit": "5 per minute"}},
               {"scope": "mcp:a", "services": ["b"]}],
    "leeway_seconds": 5}"#;

#[test]
fn a_full_section() {
    let c = config(&with_oauth(GOOD));
    let o = c.traffic.oauth.as_ref().expect("oauth");
    assert_eq!(o.resource.as_deref(), Some("https://mcp.example.com"));
    assert_eq!(o.authorization_servers.len(), 2);
    assert_eq!(
        o.authorization_servers[0].issuer,
        "https://idp.example.com/realms/x"
    );
    assert_eq!(o.authorization_servers[0].jwks_uri, None);
    assert_eq!(o.authorization_servers[0].introspection, None);
    let introspection = o.authorization_servers[1].introspection.as_ref().unwrap();
    assert_eq!(introspection.client_id, "gw");
    assert_eq!(introspection.endpoint, None);
    assert!(
        !format!("{introspection:?}").contains("s3cret"),
        "secrets stay out of logs"
    );
    assert_eq!(o.introspection_cache, Duration::from_secs(60));
    assert_eq!(
        o.authorization_servers[1].jwks_uri.as_deref(),
        Some("https://login.example.org/keys")
    );
    assert_eq!(o.grants.len(), 3);
    assert!(o.grants[0].allows_tool("a", "t1") && !o.grants[0].allows_tool("a", "t2"));
    assert!(!o.grants[0].allows_service("b"));
    assert!(o.grants[1].metrics && o.grants[1].allows_service("b"));
    assert_eq!(o.grants[1].limits.call_limit.as_ref().unwrap()[0].count, 5);
    assert_eq!(o.scopes(), ["mcp:a", "mcp:all"], "each scope once");
    assert_eq!(o.grants[0].scope.as_deref(), Some("mcp:a"));
    assert!(o.grants[0].held_by(&["x".into(), "mcp:a".into()]));
    assert!(!o.grants[0].held_by(&["mcp:all".into()]));
    assert_eq!(o.leeway, Duration::from_secs(5));
    assert_eq!(o.jwks_refresh, Duration::from_secs(10));
    assert_eq!(o.jwks_max_age, Duration::from_secs(3600));
    assert!(ok(&with_oauth(GOOD)).warnings.is_empty());
}

#[test]
fn a_star_grant_is_held_by_every_token_and_not_advertised() {
    let c = config(&with_oauth(
        r#"{"resource": "https://m", "authorization_servers": ["https://i"],
        "grants": [{"scope": "*", "services": ["a"]}, {"scope": "admin", "metrics": true}]}"#,
    ));
    let o = c.traffic.oauth.unwrap();
    assert_eq!(o.grants[0].scope, None);
    assert!(o.grants[0].held_by(&[]));
    assert!(!o.grants[1].held_by(&[]));
    assert_eq!(o.scopes(), ["admin"]);
}

#[test]
fn no_section_no_oauth() {
    assert!(config("{}").traffic.oauth.is_none());
}

#[test]
fn resource_may_be_left_out_only_on_loopback() {
    let loopback = r#"{"server": {"host": "127.0.0.1"}, "auth": {"oauth": {
        "authorization_servers": ["http://127.0.0.1:9/"], "grants": [{"scope": "s"}]}}}"#;
    assert_eq!(config(loopback).traffic.oauth.unwrap().resource, None);
    check_error(
        &with_oauth(r#"{"authorization_servers": ["https://i"], "grants": [{"scope": "s"}]}"#),
        "auth.oauth.resource",
        "required when server.host is not a loopback",
    );
}

#[test]
fn errors_name_the_key() {
    let grants = r#""grants": [{"scope": "s"}]"#;
    let servers = r#""authorization_servers": ["https://i.example"]"#;
    for (oauth, key, fragment) in [
        (
            format!(r#"{{"resource": "http://mcp.example.com", {servers}, {grants}}}"#),
            "auth.oauth.resource",
            "must use https",
        ),
        (
            format!(r#"{{"resource": "https://mcp.example.com/mcp", {servers}, {grants}}}"#),
            "auth.oauth.resource",
            "without a path",
        ),
        (
            format!(r#"{{"resource": "mcp.example.com", {servers}, {grants}}}"#),
            "auth.oauth.resource",
            "invalid URL",
        ),
        (
            format!(r#"{{"resource": "https://m", {grants}}}"#),
            "auth.oauth.authorization_servers",
            "required",
        ),
        (
            format!(r#"{{"resource": "https://m", "authorization_servers": [], {grants}}}"#),
            "auth.oauth.authorization_servers",
            "at least one",
        ),
        (
            format!(
                r#"{{"resource": "https://m", "authorization_servers": ["http://idp.example.com"], {grants}}}"#
            ),
            "auth.oauth.authorization_servers[0]",
            "must use https",
        ),
        (
            format!(
                r#"{{"resource": "https://m", "authorization_servers": [{{"jwks_uri": "https://k"}}], {grants}}}"#
            ),
            "auth.oauth.authorization_servers[0].issuer",
            "required",
        ),
        (
            format!(
                r#"{{"resource": "https://m", "authorization_servers": ["https://i", "https://i"], {grants}}}"#
            ),
            "auth.oauth.authorization_servers[1]",
            "duplicate issuer",
        ),
        (
            format!(r#"{{"resource": "https://m", {servers}}}"#),
            "auth.oauth.grants",
            "required",
        ),
        (
            format!(
                r#"{{"resource": "https://m", "authorization_servers": [{{"issuer": "https://i",
                "introspection": {{"client_id": "gw"}}}}], {grants}}}"#
            ),
            "auth.oauth.authorization_servers[0].introspection.client_secret",
            "required",
        ),
        (
            format!(r#"{{"resource": "https://m", {servers}, "grants": []}}"#),
            "auth.oauth.grants",
            "at least one",
        ),
        (
            format!(r#"{{"resource": "https://m", {servers}, "grants": [{{"services": "*"}}]}}"#),
            "auth.oauth.grants[0].scope",
            "required",
        ),
        (
            format!(r#"{{"resource": "https://m", {servers}, "grants": [{{"scope": "a b"}}]}}"#),
            "auth.oauth.grants[0].scope",
            "expected one scope",
        ),
        (
            format!(
                r#"{{"resource": "https://m", {servers}, "grants": [{{"scope": "s", "tools": 3}}]}}"#
            ),
            "auth.oauth.grants[0].tools",
            "\"*\" or an array",
        ),
        (
            format!(r#"{{"resource": "https://m", {servers}, {grants}, "leeway_seconds": 900}}"#),
            "auth.oauth.leeway_seconds",
            "at most 300",
        ),
    ] {
        check_error(&with_oauth(&oauth), key, fragment);
    }
    check_warning(
        &with_oauth(
            r#"{"resource": "https://m", "authorization_servers": ["https://i"],
            "grants": [{"scope": "s", "services": ["nope"]}], "audience_relaxed": true}"#,
        ),
        "auth.oauth.audience_relaxed",
        "unknown key",
    );
    check_warning(
        &with_oauth(
            r#"{"resource": "https://m", "authorization_servers": ["https://i"],
            "grants": [{"scope": "s", "services": ["nope"]}]}"#,
        ),
        "auth.oauth.grants[0].services",
        "not an enabled service",
    );
}
