//! Names on the front door: `{service}{separator}{name}` for tools and prompts (shortened
//! deterministically to 64 characters), `{service}{separator}{uri}` for resources, and the
//! reverse lookups. Pure, apart from the name map each session keeps.

use std::collections::HashMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::{McpConfig, PrefixMode};

/// The longest tool or prompt name we expose (model providers' limit).
pub(super) const MAX_NAME: usize = 64;
/// Characters of the hash that ends a shortened name.
const HASH_CHARS: usize = 8;

/// Which services an endpoint serves, and how their names are spelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Naming {
    /// Sorted service names.
    pub services: Vec<String>,
    pub separator: String,
    pub prefixed: bool,
}

impl Naming {
    /// `/mcp`: every service; prefixes as configured.
    pub(crate) fn all(services: Vec<String>, config: &McpConfig) -> Self {
        let prefixed = match config.prefix {
            PrefixMode::Always => true,
            PrefixMode::Multiple => services.len() > 1,
            PrefixMode::Never => false,
        };
        Self {
            services,
            separator: config.separator.clone(),
            prefixed,
        }
    }

    /// `/services/{name}/mcp`: one service, names as the child spells them.
    pub(crate) fn one(service: String, config: &McpConfig) -> Self {
        Self {
            services: vec![service],
            separator: config.separator.clone(),
            prefixed: false,
        }
    }

    /// The exposed name of a tool or prompt.
    pub(crate) fn expose(&self, service: &str, name: &str) -> String {
        if self.prefixed {
            shorten(&format!("{service}{}{name}", self.separator))
        } else {
            name.to_string()
        }
    }

    /// The exposed URI (or URI template) of a resource.
    pub(crate) fn expose_uri(&self, service: &str, uri: &str) -> String {
        if self.prefixed {
            format!("{service}{}{uri}", self.separator)
        } else {
            uri.to_string()
        }
    }

    /// The service and original name behind an exposed name, by prefix alone (no map).
    pub(crate) fn split<'a>(&self, exposed: &'a str) -> Option<(String, &'a str)> {
        if !self.prefixed {
            return match self.services.as_slice() {
                [only] => Some((only.clone(), exposed)),
                _ => None,
            };
        }
        // The longest matching service wins ("a" and "a__b" cannot both exist: startup check).
        self.services
            .iter()
            .filter_map(|s| {
                exposed
                    .strip_prefix(s.as_str())
                    .and_then(|rest| rest.strip_prefix(self.separator.as_str()))
                    .map(|rest| (s.clone(), rest))
            })
            .max_by_key(|(s, _)| s.len())
    }
}

/// Keep `name` within [`MAX_NAME`] characters: a longer name becomes its first characters,
/// `_` and 8 hex characters of its SHA-256, so the same long name always maps to the same
/// short one and two long names sharing a prefix still differ.
pub(super) fn shorten(name: &str) -> String {
    if name.len() <= MAX_NAME {
        return name.to_string();
    }
    let digest = Sha256::digest(name.as_bytes());
    let hash: String = digest
        .iter()
        .take(HASH_CHARS / 2)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut keep = MAX_NAME - HASH_CHARS - 1;
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}_{hash}", &name[..keep])
}

/// Exposed name -> (service, original name), filled as lists are served.
#[derive(Debug, Default)]
pub(crate) struct NameMap {
    map: HashMap<String, (String, String)>,
}

impl NameMap {
    pub(crate) fn insert(&mut self, exposed: String, service: &str, original: &str) {
        self.map
            .insert(exposed, (service.to_string(), original.to_string()));
    }

    pub(crate) fn get(&self, exposed: &str) -> Option<(String, String)> {
        self.map.get(exposed).cloned()
    }

    pub(crate) fn extend(&mut self, other: NameMap) {
        self.map.extend(other.map);
    }
}

/// Items of one service's list, renamed: `key` is `name` or `uri` / `uriTemplate`. Items whose
/// exposed name was already taken by an earlier service are dropped (and logged).
pub(super) fn rename_items(
    naming: &Naming,
    service: &str,
    items: Vec<Value>,
    key: &str,
    seen: &mut std::collections::HashSet<String>,
    names: &mut NameMap,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(items.len());
    for mut item in items {
        let Some(original) = item.get(key).and_then(Value::as_str).map(str::to_owned) else {
            continue;
        };
        let exposed = if key == "name" {
            naming.expose(service, &original)
        } else {
            naming.expose_uri(service, &original)
        };
        if !seen.insert(exposed.clone()) {
            tracing::warn!(%service, name = %original, %exposed, "name already served by another service: skipped");
            continue;
        }
        names.insert(exposed.clone(), service, &original);
        item[key] = Value::String(exposed);
        out.push(item);
    }
    out
}

/// One page of `items`: `cursor` is the decimal offset we handed out as `nextCursor`.
pub(super) fn page(
    items: Vec<Value>,
    cursor: Option<&str>,
    size: usize,
) -> Result<(Vec<Value>, Option<String>), String> {
    let start = match cursor {
        None => 0,
        Some(c) => c
            .parse::<usize>()
            .ok()
            .filter(|&n| n <= items.len())
            .ok_or_else(|| format!("invalid cursor {c:?}"))?,
    };
    let end = (start + size).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items[start..end].to_vec(), next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn naming(services: &[&str], prefix: PrefixMode) -> Naming {
        let config = McpConfig {
            prefix,
            ..McpConfig::default()
        };
        Naming::all(services.iter().map(|s| s.to_string()).collect(), &config)
    }

    #[test]
    fn prefixes_follow_the_mode() {
        let one = naming(&["fs"], PrefixMode::Multiple);
        assert_eq!(one.expose("fs", "read"), "read");
        assert_eq!(one.split("read"), Some(("fs".into(), "read")));
        let two = naming(&["fs", "git"], PrefixMode::Multiple);
        assert_eq!(two.expose("git", "log"), "git__log");
        assert_eq!(two.split("git__log"), Some(("git".into(), "log")));
        assert_eq!(two.split("log"), None);
        let always = naming(&["fs"], PrefixMode::Always);
        assert_eq!(always.expose("fs", "read"), "fs__read");
        let never = naming(&["fs", "git"], PrefixMode::Never);
        assert_eq!(never.expose("git", "log"), "log");
        assert_eq!(never.split("log"), None);
    }

    #[test]
    fn long_names_are_shortened_deterministically() {
        let long = format!("svc__{}", "x".repeat(80));
        let short = shorten(&long);
        assert_eq!(short.len(), MAX_NAME);
        assert_eq!(short, shorten(&long));
        assert_ne!(short, shorten(&format!("{long}y")));
        assert!(short.starts_with("svc__xxx"));
        assert_eq!(shorten("short"), "short");
        let unicode = "é".repeat(40);
        assert!(shorten(&unicode).len() <= MAX_NAME);
    }

    #[test]
    fn pages_and_collisions() {
        let items: Vec<Value> = (0..5).map(|i| json!({ "name": format!("t{i}") })).collect();
        let (first, next) = page(items.clone(), None, 2).unwrap();
        assert_eq!(first.len(), 2);
        assert_eq!(next.as_deref(), Some("2"));
        let (last, next) = page(items.clone(), Some("4"), 2).unwrap();
        assert_eq!(last, vec![json!({"name": "t4"})]);
        assert_eq!(next, None);
        assert!(page(items, Some("bogus"), 2).is_err());

        let never = naming(&["a", "b"], PrefixMode::Never);
        let mut seen = Default::default();
        let mut names = NameMap::default();
        let a = rename_items(
            &never,
            "a",
            vec![json!({"name": "x"})],
            "name",
            &mut seen,
            &mut names,
        );
        let b = rename_items(
            &never,
            "b",
            vec![json!({"name": "x"}), json!({"name": "y"})],
            "name",
            &mut seen,
            &mut names,
        );
        assert_eq!(a.len(), 1);
        assert_eq!(b, vec![json!({"name": "y"})]);
        assert_eq!(names.get("x"), Some(("a".into(), "x".into())));
    }
}
