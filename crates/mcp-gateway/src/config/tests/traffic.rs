//! `auth`, `server.trusted_proxies`, per-service limits, concurrency and the new
//! `rate_limiting` keys.

use super::*;

const SECRET_A: &str = "alpha-secret-0123456789";

#[test]
fn defaults() {
    let c = config("{}");
    let r = &c.rate_limiting;
    assert_eq!(
        (
            r.unauthenticated_limit.count,
            r.unauthenticated_limit.period
        ),
        (60, Duration::from_secs(60))
    );
    assert!(!r.fail_open);
    assert_eq!(r.storage_timeout, Duration::from_millis(500));
    let t = &c.traffic;
    assert!(t.keys.is_empty() && t.trusted_proxies.is_empty() && t.services.is_empty());
    assert_eq!(t.failure_limit.as_ref().unwrap().count, 10);
    assert_eq!(t.block_for, Duration::from_secs(300));
    assert_eq!(t.session_concurrency.max_in_flight, Some(16));
    assert_eq!(t.session_concurrency.max_queued, 64);
}

#[test]
fn keys_scopes_and_own_limits() {
    let digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"; // "test"
    let c = config(&format!(
        r#"{{"services": {{"a": {{"command": ["a"]}}, "b": {{"command": ["b"]}}}},
        "auth": {{"keys": [
            {{"name": "alpha", "secret": "{SECRET_A}", "services": ["a"], "tools": ["t1"],
              "rate_limits": {{"call_limit": "2 per minute", "default_limits": ["1/second"]}}}},
            {{"name": "beta", "secret_sha256": "{digest}", "tools": {{"b": ["x"]}}}}
        ], "failure_limit": "3 per minute", "block_seconds": 0}}}}"#
    ));
    let keys = &c.traffic.keys;
    assert_eq!(keys.len(), 2);
    let (alpha, beta) = (&keys[0], &keys[1]);
    assert!(alpha.allows_service("a") && !alpha.allows_service("b"));
    assert!(alpha.allows_tool("a", "t1") && !alpha.allows_tool("a", "t2"));
    assert_eq!(alpha.limits.call_limit.as_ref().unwrap()[0].count, 2);
    assert_eq!(alpha.limits.default_limits.as_ref().unwrap().len(), 1);
    assert!(alpha.limits.tools_limit.is_none());
    assert_eq!(beta.secret_sha256[..2], [0x9f, 0x86]);
    assert!(
        beta.allows_tool("a", "anything"),
        "a service not in the map: all tools"
    );
    assert!(beta.allows_tool("b", "x") && !beta.allows_tool("b", "y"));
    assert_eq!(c.traffic.failure_limit.as_ref().unwrap().count, 3);
    assert!(c.traffic.block_for.is_zero());
    assert!(
        !format!("{alpha:?}").contains("secret_sha256"),
        "digests stay out of logs"
    );
}

#[test]
fn key_errors_name_the_key() {
    check_error(
        r#"{"auth": {"keys": [{"name": "k"}]}}"#,
        "auth.keys[0].secret",
        "required",
    );
    check_error(
        &format!(r#"{{"auth": {{"keys": [{{"secret": "{SECRET_A}"}}]}}}}"#),
        "auth.keys[0].name",
        "required",
    );
    check_error(
        r#"{"auth": {"keys": [{"name": "k", "secret_sha256": "abc"}]}}"#,
        "auth.keys[0].secret_sha256",
        "64 hexadecimal",
    );
    check_error(
        &format!(
            r#"{{"auth": {{"keys": [{{"name": "k", "secret": "{SECRET_A}"}},
            {{"name": "k", "secret": "{SECRET_A}x"}}]}}}}"#
        ),
        "auth.keys[1].name",
        "duplicate",
    );
    check_error(
        &format!(
            r#"{{"auth": {{"keys": [{{"name": "k", "secret": "{SECRET_A}", "services": "a"}}]}}}}"#
        ),
        "auth.keys[0].services",
        "\"*\" or an array",
    );
    check_error(
        &format!(
            r#"{{"auth": {{"keys": [{{"name": "k", "secret": "{SECRET_A}",
            "rate_limits": {{"call_limit": "lots"}}}}]}}}}"#
        ),
        "auth.keys[0].rate_limits.call_limit",
        "invalid rate",
    );
    check_error(r#"{"auth": {"keys": {}}}"#, "auth.keys", "array");
    check_warning(
        r#"{"auth": {"keys": [{"name": "k", "secret": "short"}]}}"#,
        "auth.keys[0].secret",
        "shorter than 16",
    );
}

#[test]
fn malformed_limits_are_startup_errors_naming_the_key() {
    for (json, key) in [
        (
            r#"{"rate_limiting": {"call_limit": "10 per fortnight"}}"#,
            "rate_limiting.call_limit",
        ),
        (
            r#"{"rate_limiting": {"tools_limit": 30}}"#,
            "rate_limiting.tools_limit",
        ),
        (
            r#"{"rate_limiting": {"default_limits": ["1/second", "x"]}}"#,
            "rate_limiting.default_limits[1]",
        ),
        (
            r#"{"rate_limiting": {"unauthenticated_limit": "0 per minute"}}"#,
            "rate_limiting.unauthenticated_limit",
        ),
        (
            r#"{"services": {"s": {"command": ["s"], "call_limit": "often"}}}"#,
            "services.s.call_limit",
        ),
        (r#"{"auth": {"failure_limit": "5"}}"#, "auth.failure_limit"),
    ] {
        check_error(json, key, "");
    }
    check_error(
        r#"{"rate_limiting": {"storage_uri": "rediss://h:6379"}}"#,
        "rate_limiting.storage_uri",
        "not supported",
    );
    check_error(
        r#"{"rate_limiting": {"storage_uri": "redis://h:notaport"}}"#,
        "rate_limiting.storage_uri",
        "invalid Redis URI",
    );
    check_error(
        r#"{"rate_limiting": {"storage_timeout": 0}}"#,
        "rate_limiting.storage_timeout",
        "",
    );
}

#[test]
fn per_service_limits_and_concurrency() {
    let c = config(
        r#"{"services": {
            "slow": {"command": ["s"], "call_limit": "2 per minute", "max_calls_in_flight": 3,
                     "max_queued_calls": 0},
            "plain": {"command": ["p"]},
            "off": {"command": ["o"], "enabled": false, "call_limit": "nonsense"}},
        "session": {"max_calls_in_flight": 4, "max_queued_calls": 8}}"#,
    );
    let slow = &c.traffic.services["slow"];
    assert_eq!(slow.call_limit.as_ref().unwrap()[0].count, 2);
    assert_eq!(
        (slow.concurrency.max_in_flight, slow.concurrency.max_queued),
        (Some(3), 0)
    );
    assert!(!c.traffic.services.contains_key("plain"));
    assert!(
        !c.traffic.services.contains_key("off"),
        "disabled services are not read"
    );
    assert_eq!(c.traffic.session_concurrency.max_in_flight, Some(4));
    assert_eq!(c.traffic.session_concurrency.max_queued, 8);
    check_error(
        r#"{"session": {"max_calls_in_flight": 0}}"#,
        "session.max_calls_in_flight",
        "whole number",
    );
}

#[test]
fn trusted_proxies() {
    let c = config(r#"{"server": {"trusted_proxies": ["10.0.0.0/8", "::1", "192.0.2.7"]}}"#);
    let nets = &c.traffic.trusted_proxies;
    assert_eq!(nets.len(), 3);
    assert!(nets[0].contains(IpAddr::V4(Ipv4Addr::new(10, 9, 8, 7))));
    assert!(nets[1].contains(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    check_error(
        r#"{"server": {"trusted_proxies": ["10.0.0.0/40"]}}"#,
        "server.trusted_proxies[0]",
        "prefix",
    );
    check_error(
        r#"{"server": {"trusted_proxies": "10.0.0.1"}}"#,
        "server.trusted_proxies",
        "array",
    );
    let w = warnings(r#"{"server": {"trusted_proxies": []}}"#);
    assert!(!w.iter().any(|w| w.contains("trusted_proxies")), "{w:?}");
}
