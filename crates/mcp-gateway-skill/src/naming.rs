//! SWAIG function names for MCP tools: `{prefix}{service}_{tool}`, sanitized to
//! `^[A-Za-z_][A-Za-z0-9_]*$` (the SDK's validator) and at most [`MAX_NAME_LEN`]
//! characters (the function-name limit of the LLM tool-calling APIs behind SWAIG).

use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// Longest function name the platform's LLM providers accept.
pub const MAX_NAME_LEN: usize = 64;

/// Hex digits of the hash that make a shortened name unique.
const HASH_LEN: usize = 8;

/// Reserved SWAIG function names the platform calls by itself.
pub const RESERVED: &[&str] = &["hangup_hook", "startup_hook", "summarize_conversation"];

/// Replace every character outside `[A-Za-z0-9_]` with `_`.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The function name of `service`'s `tool`: sanitized, starting with a letter or `_`,
/// and shortened deterministically when longer than [`MAX_NAME_LEN`] (kept head + `_` +
/// 8 hex digits of a hash of the unsanitized `(prefix, service, tool)`).
pub fn function_name(prefix: &str, service: &str, tool: &str) -> String {
    let mut name = format!(
        "{}{}_{}",
        sanitize(prefix),
        sanitize(service),
        sanitize(tool)
    );
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    if name.len() <= MAX_NAME_LEN {
        return name;
    }
    let mut hasher = Sha256::new();
    for part in [prefix, service, tool] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let hash: String = digest
        .iter()
        .take(HASH_LEN / 2)
        .map(|b| format!("{b:02x}"))
        .collect();
    // ASCII only after sanitizing, so byte slicing is on char boundaries.
    name.truncate(MAX_NAME_LEN - HASH_LEN - 1);
    format!("{name}_{hash}")
}

/// Two tools that would get the same function name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "function name {name:?} is produced by both {first} and {second}; \
     rename a tool, narrow the services' tool lists, or change tool_prefix"
)]
pub struct Collision {
    pub name: String,
    /// `service.tool` (or a reserved function) that got the name first.
    pub first: String,
    pub second: String,
}

/// Hands out function names and refuses duplicates.
#[derive(Debug, Default)]
pub struct NameTable {
    taken: HashMap<String, String>,
}

impl NameTable {
    /// A table where the platform's reserved names (and `extra`) are already taken.
    pub fn with_reserved(extra: &[&str]) -> Self {
        let mut table = NameTable::default();
        for name in RESERVED.iter().chain(extra) {
            table
                .taken
                .insert((*name).to_owned(), format!("the reserved function {name}"));
        }
        table
    }

    /// Claim the name of `service.tool`.
    pub fn claim(&mut self, prefix: &str, service: &str, tool: &str) -> Result<String, Collision> {
        let name = function_name(prefix, service, tool);
        let owner = format!("{service}.{tool}");
        if let Some(first) = self.taken.get(&name) {
            return Err(Collision {
                name,
                first: first.clone(),
                second: owner,
            });
        }
        self.taken.insert(name.clone(), owner);
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && name.len() <= MAX_NAME_LEN
    }

    #[test]
    fn plain_names_are_kept() {
        assert_eq!(
            function_name("mcp_", "todo", "add_todo"),
            "mcp_todo_add_todo"
        );
        assert_eq!(function_name("", "greeter", "greet"), "greeter_greet");
    }

    #[test]
    fn invalid_characters_become_underscores() {
        for (prefix, service, tool, expected) in [
            ("mcp_", "my-svc", "files.read", "mcp_my_svc_files_read"),
            ("mcp_", "svc", "a/b c", "mcp_svc_a_b_c"),
            ("mcp_", "café", "naïve", "mcp_caf__na_ve"),
            ("", "9lives", "x", "_9lives_x"),
            ("mcp-", "s", "t", "mcp_s_t"),
        ] {
            let name = function_name(prefix, service, tool);
            assert_eq!(name, expected);
            assert!(valid(&name), "{name}");
        }
    }

    #[test]
    fn long_names_are_shortened_deterministically_and_distinctly() {
        let tool_a = format!("{}_alpha", "very_long_tool_name".repeat(4));
        let tool_b = format!("{}_beta", "very_long_tool_name".repeat(4));
        let a = function_name("mcp_", "service", &tool_a);
        let b = function_name("mcp_", "service", &tool_b);
        assert_eq!(a.len(), MAX_NAME_LEN);
        assert!(valid(&a) && valid(&b));
        assert_ne!(a, b, "same head, different tools");
        assert_eq!(
            a,
            function_name("mcp_", "service", &tool_a),
            "deterministic"
        );
        assert!(a.starts_with("mcp_service_very_long_tool_name"));
        // Exactly at the limit: untouched.
        let exact = "t".repeat(MAX_NAME_LEN - "mcp_s_".len());
        assert_eq!(function_name("mcp_", "s", &exact).len(), MAX_NAME_LEN);
        assert!(!function_name("mcp_", "s", &exact).contains(char::is_numeric));
    }

    #[test]
    fn collisions_name_both_tools() {
        let mut table = NameTable::with_reserved(&[]);
        assert_eq!(table.claim("mcp_", "svc", "a.b").unwrap(), "mcp_svc_a_b");
        let err = table.claim("mcp_", "svc", "a_b").unwrap_err();
        assert_eq!(err.name, "mcp_svc_a_b");
        assert_eq!(err.first, "svc.a.b");
        assert_eq!(err.second, "svc.a_b");
        let msg = err.to_string();
        assert!(msg.contains("svc.a.b") && msg.contains("svc.a_b"), "{msg}");

        // `{prefix}{service}_{tool}` is ambiguous across services too.
        let mut table = NameTable::with_reserved(&[]);
        table.claim("mcp_", "a_b", "c").unwrap();
        assert!(table.claim("mcp_", "a", "b_c").is_err());

        // Reserved names are refused.
        let mut table = NameTable::with_reserved(&["mcp_svc_t"]);
        let err = table.claim("", "hangup", "hook").unwrap_err();
        assert!(err.first.contains("reserved"), "{err}");
        assert!(table.claim("mcp_", "svc", "t").is_err());
    }
}
