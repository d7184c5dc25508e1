//! The whole config loader from a string (`config::load_str`: JSON, `${VAR|default}` in every
//! string value, validation into `Config`). It never panics; a refusal holds at least one
//! error and is the same on a second run; an accepted config keeps what validation promises
//! (valid service names, rates of at least 1 per a positive period, bounded line sizes) and
//! can be described.
#![no_main]

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mcp_gateway::config::{Config, RateLimit, describe, load_str};
use mcp_gateway::fuzzing::http::service_name;

static ENV: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    [
        ("MCP_HOST", "127.0.0.1"),
        ("MCP_PORT", "8081"),
        ("MCP_AUTH_TOKEN", "secret-token"),
        ("EMPTY", ""),
        ("RATE", "10 per minute"),
        ("SELF", "${SELF}"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Path::new("fuzz.json");
    match load_str(text, source, &*ENV) {
        Ok(loaded) => {
            check(&loaded.config);
            assert!(loaded.warnings.iter().all(|w| w.file == source));
            describe(&loaded.config);
        }
        Err(err) => {
            assert!(!err.errors.is_empty(), "a refusal without an error");
            assert!(
                err.errors
                    .iter()
                    .all(|e| e.file == source && !e.message.is_empty())
            );
            let again = load_str(text, source, &*ENV).expect_err("refused once, then accepted");
            assert_eq!(again.errors, err.errors, "a second run differs");
        }
    }
});

fn check(config: &Config) {
    for (name, service) in &config.services {
        assert!(service_name(name).is_ok(), "service name {name:?} accepted");
        assert!(
            service.max_line_bytes >= 1,
            "service {name}: max_line_bytes 0"
        );
    }
    let limits = &config.rate_limiting;
    for rate in limits
        .default_limits
        .iter()
        .chain(&limits.tools_limit)
        .chain(&limits.call_limit)
        .chain(&limits.session_delete_limit)
    {
        check_rate(rate);
    }
}

fn check_rate(rate: &RateLimit) {
    assert!(rate.count >= 1, "{rate:?}");
    assert!(!rate.period.is_zero(), "{rate:?}");
}
