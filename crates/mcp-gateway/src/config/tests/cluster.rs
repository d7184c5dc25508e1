//! The `cluster` section.

use super::*;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="; // 32 bytes
const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// A config whose `cluster` section holds `body` (a JSON object's inside), served on `host`.
fn with_cluster(host: &str, body: &str) -> String {
    format!(r#"{{"server": {{"host": "{host}"}}, "cluster": {{{body}}}}}"#)
}

fn full(extra: &str) -> String {
    with_cluster(
        "10.0.0.7",
        &format!(
            r#""redis_uri": "redis://redis:6379/0", "secret": "{SECRET}", "session_keys": ["{KEY}"]{extra}"#
        ),
    )
}

#[test]
fn no_section_is_one_replica_and_a_full_one_is_read() {
    assert!(config("{}").cluster.is_none());
    let c = config(&full("")).cluster.expect("a cluster");
    assert_eq!(c.redis_uri, "redis://redis:6379/0");
    assert_eq!(c.advertise, Advertise::Bound("10.0.0.7".parse().unwrap()));
    assert_eq!(c.secret, SECRET.as_bytes());
    assert_eq!(
        c.session_keys,
        vec![core::array::from_fn::<u8, 32, _>(|i| i as u8)]
    );
    assert_eq!(c.member_ttl, Duration::from_secs(3));
    assert_eq!(c.name, "default");
    let c = config(&full(
        r#", "advertise": "gw-0.gw:8080", "member_ttl": 1.5, "name": "prod""#,
    ))
    .cluster
    .unwrap();
    assert_eq!(c.advertise, Advertise::Fixed("gw-0.gw:8080".into()));
    assert_eq!(c.member_ttl, Duration::from_millis(1500));
    assert_eq!(c.name, "prod");
    assert!(
        !format!("{c:?}").contains(SECRET),
        "the secret is never printed"
    );
}

#[test]
fn every_problem_names_its_key() {
    let errors = errors(&with_cluster("0.0.0.0", ""));
    for key in ["redis_uri", "secret", "session_keys", "advertise"] {
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&format!("cluster.{key}: is required"))),
            "{key}: {errors:#?}"
        );
    }
    check_error(
        &full(r#", "advertise": "0.0.0.0:8080""#),
        "cluster.advertise",
        "wildcard",
    );
    check_error(
        &full(r#", "advertise": "gw-0""#),
        "cluster.advertise",
        "host:port",
    );
    check_error(
        &full(r#", "member_ttl": 0.1"#),
        "cluster.member_ttl",
        "at least 0.3",
    );
    check_error(
        &full(r#", "name": "a b""#),
        "cluster.name",
        "[A-Za-z0-9_.-]",
    );
    let bad = |body: &str| with_cluster("10.0.0.7", body);
    check_error(
        &bad(&format!(
            r#""redis_uri": "rediss://r:6379", "secret": "{SECRET}", "session_keys": ["{KEY}"]"#
        )),
        "cluster.redis_uri",
        "redis://",
    );
    check_error(
        &bad(&format!(
            r#""redis_uri": "redis://r", "secret": "short", "session_keys": ["{KEY}"]"#
        )),
        "cluster.secret",
        "at least 32 bytes",
    );
    check_error(
        &bad(&format!(
            r#""redis_uri": "redis://r", "secret": "{SECRET}", "session_keys": []"#
        )),
        "cluster.session_keys",
        "at least one key",
    );
    check_error(
        &bad(&format!(
            r#""redis_uri": "redis://r", "secret": "{SECRET}", "session_keys": ["{KEY}", "c2hvcnQ="]"#
        )),
        "cluster.session_keys",
        "[1]: must decode to 32 bytes, got 5",
    );
    check_error(
        &bad(&format!(
            r#""redis_uri": "redis://r", "secret": "{SECRET}", "session_keys": ["%%%"]"#
        )),
        "cluster.session_keys",
        "[0]: not base64",
    );
    check_warning(&full(r#", "bogus": 1"#), "cluster.bogus", "unknown key");
}
