//! Unknown keys, `security`, `rate_limiting`, `logging`, the upstream sample and `describe`.

use super::*;

// ---- unknown keys ----

#[test]
fn unknown_keys_are_warnings_naming_the_key() {
    let json = r#"{
        "extra": 1,
        "server": {"prot": 1},
        "services": {"s": {"command": ["srv"], "comand": [], "sandbox": {"chroot": true,
            "allowed_paths": [{"path": "/x", "mode": "rw"}]}}},
        "session": {"timeout": 1},
        "rate_limiting": {"strategy": "x"},
        "logging": {"colour": true}
    }"#;
    let warnings = warnings(json);
    for key in [
        "extra",
        "server.prot",
        "services.s.comand",
        "services.s.sandbox.chroot",
        "services.s.sandbox.allowed_paths[0].mode",
        "session.timeout",
        "rate_limiting.strategy",
        "logging.colour",
    ] {
        let expected = format!("{key}: unknown key, ignored");
        assert!(
            warnings.contains(&expected),
            "missing {expected:?} in {warnings:#?}"
        );
    }
    assert_eq!(warnings.len(), 8, "{warnings:#?}");
}

#[test]
fn security_block_warns_once() {
    let json = r#"{"security": {"ssl_enabled": true, "cors_origins": ["*"]}}"#;
    let security: Vec<String> = warnings(json)
        .into_iter()
        .filter(|w| w.starts_with("security"))
        .collect();
    assert_eq!(security.len(), 1, "{security:#?}");
    assert!(security[0].contains("no effect"));
}

// ---- rate limiting ----

#[test]
fn rate_limit_keys() {
    let c = config(
        r#"{"rate_limiting": {"enabled": false, "default_limits": ["5/second", "100 per 2 hours"],
            "tools_limit": "1 per second", "call_limit": "10/hour",
            "session_delete_limit": "${DEL|3 per day}", "storage_uri": "redis://localhost:6379"}}"#,
    );
    let r = c.rate_limiting;
    assert!(!r.enabled);
    let periods: Vec<(u64, u64)> = r
        .default_limits
        .iter()
        .map(|l| (l.count, l.period.as_secs()))
        .collect();
    assert_eq!(periods, [(5, 1), (100, 7200)]);
    assert_eq!(
        (r.tools_limit[0].count, r.tools_limit[0].period.as_secs()),
        (1, 1)
    );
    assert_eq!(
        (r.call_limit[0].count, r.call_limit[0].period.as_secs()),
        (10, 3600)
    );
    assert_eq!(r.session_delete_limit[0].text, "3 per day");
    assert_eq!(r.storage_uri, "redis://localhost:6379");

    let none = config(r#"{"rate_limiting": {"default_limits": []}}"#);
    assert!(none.rate_limiting.default_limits.is_empty());
    let single = config(r#"{"rate_limiting": {"default_limits": "7 per minute"}}"#);
    assert_eq!(single.rate_limiting.default_limits[0].count, 7);
}

#[test]
fn one_string_may_hold_several_limits() {
    // As Python's `limits.parse_many` (upstream's Flask-Limiter) reads them: every one applies.
    let c = config(
        r#"{"rate_limiting": {"call_limit": "10 per minute; 100/hour", "tools_limit": "1/second, 5 per minute | 50 per day",
            "default_limits": ["200 per day; 50 per hour"]}}"#,
    );
    let r = c.rate_limiting;
    let pairs = |rates: &[crate::config::RateLimit]| -> Vec<(u64, u64)> {
        rates
            .iter()
            .map(|l| (l.count, l.period.as_secs()))
            .collect()
    };
    assert_eq!(pairs(&r.call_limit), [(10, 60), (100, 3600)]);
    assert_eq!(pairs(&r.tools_limit), [(1, 1), (5, 60), (50, 86400)]);
    assert_eq!(pairs(&r.default_limits), [(200, 86400), (50, 3600)]);
    check_error(
        r#"{"rate_limiting": {"call_limit": "10 per minute;"}}"#,
        "rate_limiting.call_limit",
        "invalid rate",
    );
}

#[test]
fn malformed_rates_name_their_key() {
    check_error(
        r#"{"rate_limiting": {"call_limit": "10 a minute"}}"#,
        "rate_limiting.call_limit",
        "invalid rate \"10 a minute\"",
    );
    check_error(
        r#"{"rate_limiting": {"default_limits": ["1 per day", "lots"]}}"#,
        "rate_limiting.default_limits[1]",
        "invalid rate",
    );
    check_error(
        r#"{"rate_limiting": {"tools_limit": 30}}"#,
        "rate_limiting.tools_limit",
        "expected a string",
    );
    check_error(
        r#"{"rate_limiting": {"storage_uri": "memcached://x"}}"#,
        "rate_limiting.storage_uri",
        "unsupported storage",
    );
}

// ---- logging ----

#[test]
fn logging_levels_map_to_filters() {
    let filter = |level: &str| {
        config(&format!(r#"{{"logging": {{"level": "{level}"}}}}"#))
            .logging
            .filter
    };
    for (level, expected) in [
        ("DEBUG", "debug"),
        ("info", "info"),
        ("Warning", "warn"),
        ("WARN", "warn"),
        ("ERROR", "error"),
        ("critical", "error"),
    ] {
        assert_eq!(filter(level), expected, "level {level}");
    }
    check_error(
        r#"{"logging": {"level": "verbose"}}"#,
        "logging.level",
        "unknown level",
    );
    check_error(
        r#"{"logging": {"level": ""}}"#,
        "logging.level",
        "unknown level",
    );
}

#[test]
fn logging_file_and_format() {
    let c = config(r#"{"logging": {"file": "${LOG|gateway.log}", "format": "JSON"}}"#);
    assert_eq!(c.logging.file, Some(PathBuf::from("gateway.log")));
    assert_eq!(c.logging.format, LogFormat::Json);
    assert_eq!(config(r#"{"logging": {"file": ""}}"#).logging.file, None);
    check_error(
        r#"{"logging": {"format": "xml"}}"#,
        "logging.format",
        "use \"text\" or \"json\"",
    );
}

// ---- the upstream sample ----

#[test]
fn upstream_sample_config_loads() {
    let json = r#"{
      "server": {
        "host": "${MCP_HOST|0.0.0.0}",
        "port": "${MCP_PORT|8100}",
        "auth_user": "${MCP_AUTH_USER|admin}",
        "auth_password": "${MCP_AUTH_PASSWORD|changeme}",
        "auth_token": "${MCP_AUTH_TOKEN|}"
      },
      "services": {
        "todo": {
          "command": ["python3", "./test/todo_mcp.py"],
          "description": "Simple todo list for testing",
          "enabled": true,
          "sandbox": {"enabled": true, "resource_limits": true, "restricted_env": true,
                      "allowed_paths": ["/tmp"], "note": "paths are not enforced upstream"}
        }
      },
      "session": {
        "default_timeout": "${MCP_SESSION_TIMEOUT|300}",
        "max_sessions_per_service": "${MCP_MAX_SESSIONS|100}",
        "cleanup_interval": "${MCP_CLEANUP_INTERVAL|60}"
      },
      "logging": {"level": "${MCP_LOG_LEVEL|INFO}", "file": "${MCP_LOG_FILE|gateway.log}"}
    }"#;
    let loaded = load_env(json, &[("MCP_AUTH_PASSWORD", "s3cret")]).expect("sample loads");
    let c = loaded.config;
    assert_eq!(c.server.port, 8100);
    assert_eq!(c.server.basic.as_ref().expect("basic").password, "s3cret");
    assert!(c.server.bearer_token.is_none());
    assert_eq!(
        c.services["todo"].command,
        ["python3", "./test/todo_mcp.py"]
    );
    // The only warnings: upstream's plain `allowed_paths` are enforced read-only here.
    assert!(
        loaded
            .warnings
            .iter()
            .all(|w| w.key.contains(".sandbox.allowed_paths[")
                && w.message.contains("readable but not writable")),
        "{:#?}",
        loaded.warnings
    );

    let summary = describe(&c);
    for expected in [
        "listen: http://0.0.0.0:8100",
        "auth: basic (user \"admin\")",
        "todo: python3 ./test/todo_mcp.py",
        "default 200 per day, 50 per hour",
        "logging: info, text, also to gateway.log",
    ] {
        assert!(
            summary.contains(expected),
            "{expected:?} missing from:\n{summary}"
        );
    }
    assert!(
        !summary.contains("s3cret"),
        "the summary must not show secrets:\n{summary}"
    );
}

#[test]
fn describe_quotes_odd_arguments_and_hides_env_values() {
    let json = r#"{"server": {"auth_token": "T0KEN-VALUE", "tls_cert": "c", "tls_key": "k"},
        "services": {"s": {"command": ["srv", "two words", ""], "env": {"KEY": "secret"}},
                     "off": {"command": ["x"], "enabled": false}}}"#;
    let summary = describe(&config(json));
    assert!(summary.contains(r#"s: srv "two words" """#), "{summary}");
    assert!(summary.contains("listen: https://"), "{summary}");
    assert!(summary.contains("env KEY"), "{summary}");
    assert!(summary.contains("disabled: off"), "{summary}");
    assert!(
        !summary.contains("secret") && !summary.contains("T0KEN"),
        "{summary}"
    );
}
