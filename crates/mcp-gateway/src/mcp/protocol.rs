//! The MCP methods the client uses, as pure functions over JSON values: the `initialize`
//! handshake, `tools/list` pagination and `tools/call` results.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{McpError, Tool};

/// Every session-based ("legacy") revision the gateway speaks, newest first. With a child it
/// accepts each of them in the `initialize` answer.
pub const SUPPORTED_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// The revisions the front door serves to MCP clients over Streamable HTTP, newest first (the
/// first is what it answers to an unknown one): 2024-11-05 had no Streamable HTTP. The
/// stateless 2026-07-28 revision is `front::modern`'s.
pub const SERVED_VERSIONS: &[&str] = SUPPORTED_VERSIONS.split_at(3).0;
/// The version we ask a child for (the newest legacy revision).
pub const PROTOCOL_VERSION: &str = SUPPORTED_VERSIONS[0];
/// Most `tools/list` pages followed before giving up.
pub const MAX_PAGES: usize = 1000;

/// What the server said about itself in its `initialize` result.
#[derive(Debug, Clone, PartialEq)]
pub struct InitializeInfo {
    /// The negotiated version, one of [`SUPPORTED_VERSIONS`].
    pub protocol_version: String,
    /// `serverInfo` as sent (`name`, `version`, ...), `null` if absent.
    pub server_info: Value,
    /// `capabilities` as sent, `{}` if absent.
    pub capabilities: Value,
    pub instructions: Option<String>,
}

/// `initialize` params: we offer no client capabilities, so servers never ask for sampling,
/// elicitation or roots.
pub fn initialize_params() -> Value {
    json!({
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": { "name": "mcp-gateway", "version": env!("CARGO_PKG_VERSION") },
    })
}

pub fn parse_initialize(result: Value) -> Result<InitializeInfo, McpError> {
    let Value::Object(mut result) = result else {
        return Err(McpError::Protocol(
            "initialize result is not an object".into(),
        ));
    };
    let protocol_version = match result.remove("protocolVersion") {
        Some(Value::String(v)) if SUPPORTED_VERSIONS.contains(&v.as_str()) => v,
        Some(Value::String(v)) => {
            return Err(McpError::Protocol(format!(
                "the server wants protocol version {v:?}; supported: {}",
                oldest_first(SUPPORTED_VERSIONS)
            )));
        }
        _ => {
            return Err(McpError::Protocol(
                "initialize result has no protocolVersion string".into(),
            ));
        }
    };
    let capabilities = match result.remove("capabilities") {
        Some(caps @ Value::Object(_)) => caps,
        None | Some(Value::Null) => json!({}),
        Some(_) => {
            return Err(McpError::Protocol(
                "initialize capabilities is not an object".into(),
            ));
        }
    };
    let instructions = match result.remove("instructions") {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    Ok(InitializeInfo {
        protocol_version,
        server_info: result.remove("serverInfo").unwrap_or(Value::Null),
        capabilities,
        instructions,
    })
}

/// `versions` oldest first, comma-separated (how the handshake error has always listed them).
fn oldest_first(versions: &[&str]) -> String {
    let mut versions = versions.to_vec();
    versions.reverse();
    versions.join(", ")
}

/// `tools/list` params for a page.
pub fn tools_list_params(cursor: Option<&str>) -> Value {
    match cursor {
        Some(cursor) => json!({ "cursor": cursor }),
        None => json!({}),
    }
}

/// One `tools/list` page: its tools (kept as sent) and the next cursor. An entry that is not
/// an object with a string `name` names no tool anyone could call: it is left out.
pub fn parse_tools_page(result: Value) -> Result<(Vec<Tool>, Option<String>), McpError> {
    let Value::Object(mut result) = result else {
        return Err(McpError::Protocol(
            "tools/list result is not an object".into(),
        ));
    };
    let tools = match result.remove("tools") {
        Some(Value::Array(tools)) => tools.into_iter().filter_map(Tool::from_value).collect(),
        _ => {
            return Err(McpError::Protocol(
                "tools/list result has no tools array".into(),
            ));
        }
    };
    let next = match result.remove("nextCursor") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) => Some(c),
        Some(_) => {
            return Err(McpError::Protocol(
                "tools/list nextCursor is not a string".into(),
            ));
        }
    };
    Ok((tools, next))
}

/// Guards a pagination loop: at most [`MAX_PAGES`] pages, and no cursor twice.
#[derive(Debug, Default)]
pub struct Pages {
    seen: HashSet<String>,
    pages: usize,
}

impl Pages {
    /// Record that a page arrived with `next`; returns the cursor to follow, if any.
    pub fn advance(
        &mut self,
        method: &str,
        next: Option<String>,
    ) -> Result<Option<String>, McpError> {
        self.pages += 1;
        let Some(cursor) = next else { return Ok(None) };
        if self.pages >= MAX_PAGES {
            return Err(McpError::Protocol(format!(
                "{method} returned more than {MAX_PAGES} pages"
            )));
        }
        if !self.seen.insert(cursor.clone()) {
            return Err(McpError::Protocol(format!(
                "{method} repeated the cursor {cursor:?}"
            )));
        }
        Ok(Some(cursor))
    }
}

/// `tools/call` params.
pub fn call_params(name: &str, arguments: Value) -> Value {
    let arguments = if arguments.is_null() {
        json!({})
    } else {
        arguments
    };
    json!({ "name": name, "arguments": arguments })
}

/// A `tools/call` result must be an object (`content`, `structuredContent`, `isError`...).
pub fn check_call_result(result: Value) -> Result<Value, McpError> {
    if result.is_object() {
        Ok(result)
    } else {
        Err(McpError::Protocol(
            "tools/call result is not an object".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialize_params_offer_nothing() {
        let params = initialize_params();
        assert_eq!(params["protocolVersion"], "2025-11-25");
        assert_eq!(params["capabilities"], json!({}));
        assert_eq!(params["clientInfo"]["name"], "mcp-gateway");
        assert_eq!(params["clientInfo"]["version"], env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn one_version_list() {
        assert_eq!(PROTOCOL_VERSION, "2025-11-25");
        assert_eq!(SERVED_VERSIONS, ["2025-11-25", "2025-06-18", "2025-03-26"]);
        assert!(!SERVED_VERSIONS.contains(&"2024-11-05"));
        assert_eq!(
            oldest_first(SUPPORTED_VERSIONS),
            "2024-11-05, 2025-03-26, 2025-06-18, 2025-11-25"
        );
    }

    #[test]
    fn accepts_every_supported_version() {
        for v in SUPPORTED_VERSIONS {
            let info = parse_initialize(json!({"protocolVersion": v, "serverInfo": {"name": "s"}}))
                .unwrap();
            assert_eq!(info.protocol_version, *v);
            assert_eq!(info.server_info, json!({"name": "s"}));
            assert_eq!(info.capabilities, json!({}));
            assert_eq!(info.instructions, None);
        }
    }

    #[test]
    fn keeps_capabilities_and_instructions() {
        let info = parse_initialize(json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"tools": {"listChanged": true}},
            "serverInfo": {"name": "s", "version": "1"},
            "instructions": "be nice",
        }))
        .unwrap();
        assert_eq!(info.capabilities, json!({"tools": {"listChanged": true}}));
        assert_eq!(info.instructions.as_deref(), Some("be nice"));
    }

    #[test]
    fn refuses_bad_handshakes() {
        for result in [
            json!({"protocolVersion": "1999-01-01"}),
            json!({"protocolVersion": "2026-07-28"}),
            json!({"protocolVersion": 5}),
            json!({}),
            json!("2025-11-25"),
            json!({"protocolVersion": "2025-11-25", "capabilities": []}),
        ] {
            assert!(
                matches!(parse_initialize(result.clone()), Err(McpError::Protocol(_))),
                "{result}"
            );
        }
    }

    #[test]
    fn tools_pages() {
        assert_eq!(tools_list_params(None), json!({}));
        assert_eq!(tools_list_params(Some("c")), json!({"cursor": "c"}));
        let (tools, next) =
            parse_tools_page(json!({"tools": [{"name": "a", "x-extra": 1}], "nextCursor": "p2"}))
                .unwrap();
        assert_eq!(tools.len(), 1);
        assert_eq!(tools[0].to_value(), json!({"name": "a", "x-extra": 1}));
        let (tools, _) =
            parse_tools_page(json!({"tools": [{"name": "a"}, {"title": "no name"}, 5]})).unwrap();
        assert_eq!(tools.len(), 1);
        assert_eq!(next.as_deref(), Some("p2"));
        assert_eq!(
            parse_tools_page(json!({"tools": [], "nextCursor": null})).unwrap(),
            (vec![], None)
        );
        for bad in [
            json!({}),
            json!({"tools": {}}),
            json!({"tools": [], "nextCursor": 3}),
            json!([]),
        ] {
            assert!(
                matches!(parse_tools_page(bad.clone()), Err(McpError::Protocol(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn pagination_stops_on_repeats_and_runaways() {
        let mut pages = Pages::default();
        assert_eq!(
            pages
                .advance("tools/list", Some("a".into()))
                .unwrap()
                .as_deref(),
            Some("a")
        );
        assert_eq!(
            pages
                .advance("tools/list", Some("b".into()))
                .unwrap()
                .as_deref(),
            Some("b")
        );
        assert!(
            matches!(pages.advance("tools/list", Some("a".into())), Err(McpError::Protocol(m)) if m.contains("repeated"))
        );

        let mut pages = Pages::default();
        for i in 0..MAX_PAGES - 1 {
            pages.advance("tools/list", Some(i.to_string())).unwrap();
        }
        assert!(matches!(
            pages.advance("tools/list", Some("last".into())),
            Err(McpError::Protocol(_))
        ));

        let mut pages = Pages::default();
        assert_eq!(pages.advance("tools/list", None).unwrap(), None);
    }

    #[test]
    fn call_params_and_results() {
        assert_eq!(
            call_params("t", Value::Null),
            json!({"name": "t", "arguments": {}})
        );
        assert_eq!(
            call_params("t", json!({"a": 1})),
            json!({"name": "t", "arguments": {"a": 1}})
        );
        assert!(check_call_result(json!({"content": []})).is_ok());
        assert!(matches!(
            check_call_result(Value::Null),
            Err(McpError::Protocol(_))
        ));
    }
}
