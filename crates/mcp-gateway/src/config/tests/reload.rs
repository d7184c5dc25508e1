//! What a reload applies at once and what it keeps for a restart.

use super::*;

const BASE: &str = r#"{
  "server": {"host": "127.0.0.1", "port": 9000, "auth_token": "one"},
  "services": {
    "a": {"command": ["a"], "env": {"X": "1"}},
    "b": {"command": ["b"]},
    "c": {"command": ["c"]}
  },
  "session": {"max_total_sessions": 10},
  "rate_limiting": {"storage_uri": "memory://"}
}"#;

#[test]
fn services_credentials_and_limits_apply_at_once() {
    let old = config(BASE);
    let text = BASE
        .replace(r#""auth_token": "one""#, r#""auth_token": "two""#)
        .replace(r#""max_total_sessions": 10"#, r#""max_total_sessions": 20"#)
        .replace(r#""X": "1""#, r#""X": "2""#)
        .replace(r#""c": {"command": ["c"]}"#, r#""d": {"command": ["d"]}"#);
    let new = config(&text);
    let changes = ServiceChanges::between(&old, &new);
    let reloaded = reloadable(&old, new);
    assert!(reloaded.restart_required.is_empty());
    let config = reloaded.config;
    assert_eq!(config.server.bearer_token.as_deref(), Some("two"));
    assert_eq!(config.session.max_total_sessions, 20);
    assert_eq!(config.services["a"].env["X"], "2");
    assert_eq!(
        changes,
        ServiceChanges {
            added: vec!["d".into()],
            removed: vec!["c".into()],
            changed: vec!["a".into()],
        }
    );
}

#[test]
fn restart_only_keys_keep_their_running_value_and_are_named() {
    let old = config(BASE);
    let text = BASE
        .replace(r#""port": 9000"#, r#""port": 9001"#)
        .replace("memory://", "redis://127.0.0.1:6379")
        .replace(r#""auth_token": "one""#, r#""auth_token": "two""#);
    let reloaded = reloadable(&old, config(&text));
    assert_eq!(
        reloaded.restart_required,
        ["server.port", "rate_limiting.storage_uri"]
    );
    assert_eq!(reloaded.config.server.port, 9000);
    assert_eq!(reloaded.config.rate_limiting.storage_uri, "memory://");
    // What may change still does.
    assert_eq!(reloaded.config.server.bearer_token.as_deref(), Some("two"));
}

#[test]
fn an_unchanged_file_changes_nothing() {
    let old = config(BASE);
    let new = config(BASE);
    assert!(ServiceChanges::between(&old, &new).is_empty());
    assert!(reloadable(&old, new).restart_required.is_empty());
}
