//! The `mcp` section and `server.allowed_origins`.

use super::*;

#[test]
fn mcp_defaults_and_values() {
    let c = config(r#"{"services": {"s": {"command": ["srv"]}}}"#);
    assert_eq!(c.mcp.separator, "__");
    assert_eq!(c.mcp.prefix, PrefixMode::Multiple);
    assert_eq!(c.mcp.cancel_grace, Duration::from_secs(10));
    assert!(!c.mcp.eager);
    assert!(c.server.allowed_origins.is_empty());
    let c = config(
        r#"{"services": {"s": {"command": ["srv"]}},
            "server": {"allowed_origins": ["https://app.example.com/"]},
            "mcp": {"separator": ".", "prefix": "always", "cancel_grace": 0.5, "page_size": 10, "eager": true}}"#,
    );
    assert_eq!(c.mcp.separator, ".");
    assert_eq!(c.mcp.prefix, PrefixMode::Always);
    assert_eq!(c.mcp.cancel_grace, Duration::from_millis(500));
    assert_eq!(c.mcp.page_size, 10);
    assert!(c.mcp.eager);
    assert_eq!(c.server.allowed_origins, vec!["https://app.example.com"]);
}

#[test]
fn ambiguous_names_are_caught_at_startup() {
    let err = load_env(
        r#"{"services": {"a__b": {"command": ["x"]}, "a": {"command": ["y"]}}}"#,
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("services.a__b") && err.contains("separator"),
        "{err}"
    );
    let err = load_env(
        r#"{"services": {"s": {"command": ["x"]}}, "mcp": {"prefix": "sometimes", "separator": "a b"}}"#,
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("mcp.prefix") && err.contains("mcp.separator"),
        "{err}"
    );
    let never = warnings(
        r#"{"services": {"a": {"command": ["x"]}, "b": {"command": ["y"]}}, "mcp": {"prefix": "never"}}"#,
    );
    assert!(never.iter().any(|w| w.contains("mcp.prefix")), "{never:?}");
}

#[test]
fn remote_services() {
    let c = config(
        r#"{"services": {"r": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer x"}}}}"#,
    );
    let remote = c.services["r"].remote.clone().expect("a remote service");
    assert_eq!(remote.url, "https://mcp.example.com/mcp");
    assert_eq!(remote.headers["Authorization"], "Bearer x");
    assert!(c.services["r"].command.is_empty());
    for bad in [
        r#"{"services": {"r": {"url": "ftp://x", "command": ["y"]}}}"#,
        r#"{"services": {"r": {"url": "https://x", "command": ["y"]}}}"#,
        r#"{"services": {"r": {"url": "https://x", "headers": {"A": 1}}}}"#,
    ] {
        assert!(load_env(bad, &[]).is_err(), "{bad}");
    }
}
