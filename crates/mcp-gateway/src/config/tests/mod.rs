//! Loading whole configurations: defaults, every key's validation, diagnostics.
//!
//! Shared helpers and whole-file cases here; one file per part of the schema beside it.

mod cluster;
mod mcp;
mod oauth;
mod reload;
mod sections;
mod server;
mod services;
mod traffic;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const FILE: &str = "gw.json";

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Load `json` with `pairs` as the environment and no `certs/server.pem` around.
fn load_env(json: &str, pairs: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    load_in(
        json,
        Path::new(FILE),
        &env(pairs),
        Path::new("/nonexistent/base"),
    )
}

fn ok(json: &str) -> Loaded {
    load_env(json, &[]).unwrap_or_else(|err| panic!("config should load:\n{json}\n{err}"))
}

fn config(json: &str) -> Config {
    ok(json).config
}

/// "key: message" of every error.
fn errors(json: &str) -> Vec<String> {
    match load_env(json, &[]) {
        Ok(_) => panic!("config should not load:\n{json}"),
        Err(err) => err
            .errors
            .iter()
            .map(|d| format!("{}: {}", d.key, d.message))
            .collect(),
    }
}

fn warnings(json: &str) -> Vec<String> {
    ok(json)
        .warnings
        .iter()
        .map(|d| format!("{}: {}", d.key, d.message))
        .collect()
}

/// Exactly one error, on `key`, whose message contains `fragment`.
fn check_error(json: &str, key: &str, fragment: &str) {
    let errors = errors(json);
    assert_eq!(
        errors.len(),
        1,
        "expected one error for {json}, got {errors:#?}"
    );
    let expected = format!("{key}: ");
    assert!(
        errors[0].starts_with(&expected) && errors[0].contains(fragment),
        "expected an error on {key:?} containing {fragment:?}, got {:?}",
        errors[0]
    );
}

fn check_warning(json: &str, key: &str, fragment: &str) {
    let warnings = warnings(json);
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with(&format!("{key}: ")) && w.contains(fragment)),
        "expected a warning on {key:?} containing {fragment:?}, got {warnings:#?}"
    );
}

/// A config with one service `s` whose body is `service` (a JSON object's inside).
fn with_service(service: &str) -> String {
    format!(r#"{{"services": {{"s": {{"command": ["srv"], {service}}}}}}}"#)
}

fn service(json: &str) -> ServiceConfig {
    config(json).services.remove("s").expect("service s")
}

// ---- whole-file problems ----

#[test]
fn missing_file_is_an_error_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.json");
    let err = load(&path, &ProcessEnv).expect_err("missing file must not load");
    assert_eq!(err.errors.len(), 1);
    assert_eq!(err.errors[0].key, "");
    assert_eq!(err.errors[0].message, "file does not exist");
    assert_eq!(
        err.to_string(),
        format!("{}: file does not exist", path.display())
    );
    assert!(!path.exists(), "no default config may be written");
}

#[test]
fn existing_file_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.json");
    std::fs::write(&path, r#"{"services": {"s": {"command": ["srv"]}}}"#).expect("write");
    let loaded = load(&path, &env(&[])).expect("loads");
    assert_eq!(loaded.config.source, path);
    assert_eq!(loaded.config.services["s"].command, ["srv"]);
}

#[test]
fn invalid_json_reports_line_and_column() {
    let err = load_env("{\n  \"server\": {\n    \"port\": 80,\n  }\n}", &[]).expect_err("invalid");
    assert_eq!(err.errors.len(), 1);
    let message = &err.errors[0].message;
    assert!(
        message.starts_with("invalid JSON at line 4, column 3: "),
        "got {message:?}"
    );
    assert!(
        !message.ends_with("column 3"),
        "position given twice: {message:?}"
    );
}

#[test]
fn top_level_must_be_an_object() {
    let err = load_env("[1, 2]", &[]).expect_err("array");
    assert_eq!(
        err.errors[0].message,
        "the top level must be an object, got an array"
    );
}

#[test]
fn diagnostics_display_file_key_and_message() {
    let d = Diagnostic {
        file: PathBuf::from("a.json"),
        key: "server.port".into(),
        message: "bad".into(),
    };
    assert_eq!(d.to_string(), "a.json: server.port: bad");
}

#[test]
fn every_error_is_reported_together_one_per_line() {
    let json = r#"{
        "server": {"port": "abc", "host": "nope"},
        "services": {"a": {}, "b": {"command": ["x", 1]}},
        "logging": {"level": "LOUD"}
    }"#;
    let err = load_env(json, &[]).expect_err("several errors");
    let keys: Vec<&str> = err.errors.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "server.host",
            "server.port",
            "services.a.command",
            "services.b.command[1]",
            "logging.level"
        ]
    );
    let text = err.to_string();
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(
        text.lines().all(|line| line.starts_with("gw.json: ")),
        "{text}"
    );
}

// ---- defaults ----

#[test]
fn defaults_apply_to_an_empty_object() {
    let loaded = ok("{}");
    let c = loaded.config;
    assert_eq!(c.source, PathBuf::from(FILE));

    let s = &c.server;
    assert_eq!(s.host, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert_eq!(s.port, 8080);
    assert!(s.basic.is_none());
    assert!(s.bearer_token.is_none());
    assert!(!s.allow_unauthenticated);
    assert!(s.tls.is_none());
    assert!(!s.expose_commands);
    assert_eq!(s.max_body_bytes, 10 * 1024 * 1024);
    assert_eq!(s.shutdown_grace, Duration::from_secs(10));
    assert_eq!(s.header_read_timeout, Duration::from_secs(10));
    assert_eq!(s.body_read_timeout, Duration::from_secs(30));
    assert_eq!(s.max_connections, 10_000);

    assert!(c.services.is_empty());
    assert!(c.disabled_services.is_empty());

    let session = &c.session;
    assert_eq!(session.default_timeout, Duration::from_secs(300));
    assert_eq!(session.max_sessions_per_service, 100);
    assert_eq!(session.max_total_sessions, 500);
    assert_eq!(session.cleanup_interval, Duration::from_secs(60));
    assert_eq!(session.sandbox_dir, PathBuf::from("./sandbox"));
    assert_eq!(session.stderr_buffer_bytes, 64 * 1024);
    assert_eq!(session.child_uids, 60000..=60999);

    let r = &c.rate_limiting;
    assert!(r.enabled);
    let texts: Vec<&str> = r.default_limits.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["200 per day", "50 per hour"]);
    assert_eq!(r.tools_limit[0].text, "30 per minute");
    assert_eq!(r.call_limit[0].text, "10 per minute");
    assert_eq!(r.session_delete_limit[0].text, "20 per minute");
    assert_eq!(r.storage_uri, "memory://");

    assert_eq!(c.logging.filter, "info");
    assert_eq!(c.logging.file, None);
    assert_eq!(c.logging.format, LogFormat::Text);

    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(warnings, ["gw.json: services: no services configured"]);
}

#[test]
fn default_rates_match_their_text() {
    for rate in validate::default_rates() {
        assert_eq!(parse_rate(&rate.text).expect("parses"), rate);
    }
}

#[test]
fn service_defaults() {
    let s = service(r#"{"services": {"s": {"command": ["python3", "srv.py"]}}}"#);
    assert_eq!(s.name, "s");
    assert_eq!(s.command, ["python3", "srv.py"]);
    assert_eq!(s.description, "");
    assert!(s.env.is_empty());
    assert_eq!(s.cwd, None);
    assert_eq!(s.call_timeout, Duration::from_secs(30));
    assert_eq!(s.startup_timeout, Duration::from_secs(30));
    assert_eq!(s.max_line_bytes, 16 * 1024 * 1024);
    assert_eq!(s.stop_grace, Duration::from_secs(2));
    assert_eq!(s.sandbox, SandboxConfig::default());
}

#[test]
fn null_means_absent() {
    let c = config(r#"{"server": {"port": null, "auth_token": null}, "logging": null}"#);
    assert_eq!(c.server.port, 8080);
    assert!(c.server.bearer_token.is_none());
    assert_eq!(c.logging.filter, "info");
}

// ---- no type coercion ----

#[test]
fn numeric_looking_strings_stay_strings() {
    let json = r#"{
        "server": {"auth_user": "007", "auth_password": "12345", "auth_token": "${TOKEN|999}"},
        "services": {"s": {"command": ["srv.py", "8080", "${FLAG|true}", "1.5"],
                           "description": "true"}}
    }"#;
    let c = config(json);
    let basic = c.server.basic.expect("basic auth");
    assert_eq!(
        (basic.user.as_str(), basic.password.as_str()),
        ("007", "12345")
    );
    assert_eq!(c.server.bearer_token.as_deref(), Some("999"));
    assert_eq!(c.services["s"].command, ["srv.py", "8080", "true", "1.5"]);
    assert_eq!(c.services["s"].description, "true");
}

#[test]
fn substitution_applies_to_values_from_the_environment() {
    let json = r#"{"server": {"port": "${MCP_PORT|8100}", "auth_password": "${PW}",
                   "auth_user": "${USER_NAME|admin}"}}"#;
    let c = load_env(json, &[("MCP_PORT", "9000"), ("PW", "12345")])
        .expect("loads")
        .config;
    assert_eq!(c.server.port, 9000);
    let basic = c.server.basic.expect("basic");
    assert_eq!(
        (basic.user.as_str(), basic.password.as_str()),
        ("admin", "12345")
    );
}

#[test]
fn child_uids_and_sandbox_user() {
    let c = config(r#"{"session": {"child_uids": "70000-70099"}}"#);
    assert_eq!(c.session.child_uids, 70000..=70099);
    check_error(
        r#"{"session": {"child_uids": "0-100"}}"#,
        "session.child_uids",
        "root",
    );
    check_error(
        r#"{"session": {"child_uids": 5}}"#,
        "session.child_uids",
        "string",
    );
    check_error(
        &with_service(r#""sandbox": {"user": "nobody"}"#),
        "services.s.sandbox.user",
        r#"expected one of "own", "gateway""#,
    );
}
