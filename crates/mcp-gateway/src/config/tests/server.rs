//! `server.*`, and the number, boolean and duration rules shown on its keys.

use super::*;

// ---- server ----

#[test]
fn port_forms() {
    assert_eq!(config(r#"{"server": {"port": 8100}}"#).server.port, 8100);
    assert_eq!(
        config(r#"{"server": {"port": "${P|8100}"}}"#).server.port,
        8100
    );
    assert_eq!(config(r#"{"server": {"port": "9000"}}"#).server.port, 9000);
    assert_eq!(config(r#"{"server": {"port": 0}}"#).server.port, 0);
    assert_eq!(config(r#"{"server": {"port": 65535}}"#).server.port, 65535);
    check_error(
        r#"{"server": {"port": ""}}"#,
        "server.port",
        "got an empty string",
    );
    check_error(
        r#"{"server": {"port": "${P}"}}"#,
        "server.port",
        "got an empty string",
    );
    check_error(
        r#"{"server": {"port": "abc"}}"#,
        "server.port",
        r#"got "abc""#,
    );
    check_error(
        r#"{"server": {"port": 65536}}"#,
        "server.port",
        "between 0 and 65535",
    );
    check_error(
        r#"{"server": {"port": -1}}"#,
        "server.port",
        "between 0 and 65535, got -1",
    );
    check_error(
        r#"{"server": {"port": 80.5}}"#,
        "server.port",
        "whole number",
    );
    check_error(r#"{"server": {"port": true}}"#, "server.port", "got true");
}

#[test]
fn host_forms() {
    let host = |h: &str| {
        config(&format!(r#"{{"server": {{"host": "{h}"}}}}"#))
            .server
            .host
    };
    assert_eq!(host(""), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert_eq!(host("0.0.0.0"), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert_eq!(host("localhost"), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(host("127.0.0.1"), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(host("::1"), IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert_eq!(host("[::]"), IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    check_error(
        r#"{"server": {"host": "example.com"}}"#,
        "server.host",
        "expected an IP address",
    );
    check_error(
        r#"{"server": {"host": 5}}"#,
        "server.host",
        "expected a string, got a number",
    );
}

#[test]
fn auth_modes() {
    let c = config(r#"{"server": {"auth_user": "u", "auth_password": "p", "auth_token": "t"}}"#);
    let basic = c.server.basic.expect("basic");
    assert_eq!((basic.user.as_str(), basic.password.as_str()), ("u", "p"));
    assert_eq!(c.server.bearer_token.as_deref(), Some("t"));

    let c = config(r#"{"server": {"auth_user": "", "auth_password": "", "auth_token": ""}}"#);
    assert!(c.server.basic.is_none() && c.server.bearer_token.is_none());

    let json = r#"{"server": {"auth_user": "admin", "auth_password": "${PW}"}}"#;
    assert!(config(json).server.basic.is_none());
    check_warning(json, "server.auth_password", "Basic auth is disabled");
    check_warning(
        r#"{"server": {"auth_user": "admin", "auth_password": "changeme"}}"#,
        "server.auth_password",
        "sample default",
    );
    check_error(
        r#"{"server": {"auth_user": "a:b", "auth_password": "p"}}"#,
        "server.auth_user",
        "':'",
    );
    check_error(
        r#"{"server": {"auth_password": 12345}}"#,
        "server.auth_password",
        "expected a string, got a number",
    );
}

#[test]
fn booleans_accept_words_in_any_case() {
    let flags = |v: &str| {
        let c = config(&format!(r#"{{"server": {{"expose_commands": {v}}}}}"#));
        c.server.expose_commands
    };
    assert!(flags("true"));
    assert!(!flags("false"));
    assert!(flags(r#""TRUE""#));
    assert!(!flags(r#""False""#));
    assert!(flags(r#""${X|true}""#));
    check_error(
        r#"{"server": {"allow_unauthenticated": "yes"}}"#,
        "server.allow_unauthenticated",
        r#"expected true or false, got "yes""#,
    );
    check_error(
        r#"{"server": {"expose_commands": 1}}"#,
        "server.expose_commands",
        "got 1",
    );
}

#[test]
fn durations_allow_fractions_and_are_bounded() {
    let c = config(r#"{"session": {"cleanup_interval": 0.25, "default_timeout": "${T|1.5}"}}"#);
    assert_eq!(c.session.cleanup_interval, Duration::from_millis(250));
    assert_eq!(c.session.default_timeout, Duration::from_millis(1500));
    let grace = config(r#"{"server": {"shutdown_grace": 0}}"#)
        .server
        .shutdown_grace;
    assert_eq!(grace, Duration::ZERO);

    check_error(
        r#"{"session": {"cleanup_interval": 0}}"#,
        "session.cleanup_interval",
        "greater than 0",
    );
    check_error(
        &with_service(r#""call_timeout": 0"#),
        "services.s.call_timeout",
        "greater than 0",
    );
    check_error(
        &with_service(r#""call_timeout": 86401"#),
        "services.s.call_timeout",
        "at most 86400 seconds",
    );
    check_error(
        &with_service(r#""stop_grace": -1"#),
        "services.s.stop_grace",
        "must not be negative",
    );
    check_error(
        &with_service(r#""startup_timeout": "soon""#),
        "services.s.startup_timeout",
        r#"expected a number of seconds, got "soon""#,
    );
}

#[test]
fn caps_and_limits_are_checked() {
    let c = config(r#"{"session": {"max_sessions_per_service": "7", "max_total_sessions": 9}}"#);
    assert_eq!(
        (
            c.session.max_sessions_per_service,
            c.session.max_total_sessions
        ),
        (7, 9)
    );
    check_error(
        r#"{"session": {"max_total_sessions": 0}}"#,
        "session.max_total_sessions",
        "between 1 and",
    );
    check_error(
        r#"{"server": {"max_body_bytes": 0}}"#,
        "server.max_body_bytes",
        "between 1",
    );
}

#[test]
fn tls_combinations() {
    let c = config(r#"{"server": {"tls_cert": "c.pem", "tls_key": "k.pem"}}"#);
    let files = TlsConfig::Files {
        cert: "c.pem".into(),
        key: "k.pem".into(),
    };
    assert_eq!(c.server.tls, Some(files.clone()));
    check_error(
        r#"{"server": {"tls_cert": "c.pem"}}"#,
        "server.tls_key",
        "together",
    );
    check_error(
        r#"{"server": {"tls_cert": "", "tls_key": "k.pem"}}"#,
        "server.tls_cert",
        "together",
    );
    assert_eq!(
        config(r#"{"server": {"tls_cert": "", "tls_key": ""}}"#)
            .server
            .tls,
        None
    );

    // The upstream convention: certs/server.pem under the working directory.
    let dir = tempfile::tempdir().expect("tempdir");
    let in_dir = |json: &str| {
        load_in(json, Path::new(FILE), &env(&[]), dir.path())
            .expect("loads")
            .config
            .server
            .tls
    };
    assert_eq!(in_dir("{}"), None);
    std::fs::create_dir(dir.path().join("certs")).expect("mkdir");
    let pem = dir.path().join("certs").join("server.pem");
    std::fs::write(&pem, "not read here").expect("write");
    assert_eq!(in_dir("{}"), Some(TlsConfig::CombinedPem(pem)));
    let explicit = in_dir(r#"{"server": {"tls_cert": "c.pem", "tls_key": "k.pem"}}"#);
    assert_eq!(explicit, Some(files));
}
