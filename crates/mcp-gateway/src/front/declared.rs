//! What a client declares in `initialize` (`clientInfo`, `capabilities`), bounded before it is
//! kept: the session stores it for its whole life and `GET /sessions` echoes it, so a client
//! must not be able to park megabytes per session.

use serde_json::{Map, Value};

/// Longest string kept from `clientInfo` (in bytes, cut at a character boundary).
const MAX_TEXT: usize = 256;
/// `clientInfo` fields kept (the spec's `Implementation`); others are dropped.
const INFO_FIELDS: [&str; 4] = ["name", "title", "version", "websiteUrl"];
/// Capabilities kept, and the largest value kept whole; a larger one is kept as `{}`, which
/// still declares the capability (all the gateway looks at).
const MAX_CAPABILITIES: usize = 16;
const MAX_CAPABILITY_BYTES: usize = 1024;
const MAX_KEY: usize = 64;

/// `clientInfo` reduced to its string fields, each at most [`MAX_TEXT`] bytes.
pub(super) fn client_info(info: Option<&Value>) -> Value {
    let Some(Value::Object(info)) = info else {
        return Value::Null;
    };
    let kept: Map<String, Value> = INFO_FIELDS
        .iter()
        .filter_map(|&field| {
            let text = info.get(field)?.as_str()?;
            Some((field.to_owned(), Value::String(truncate(text, MAX_TEXT))))
        })
        .collect();
    Value::Object(kept)
}

/// `capabilities` with at most [`MAX_CAPABILITIES`] entries, each value kept only when small.
pub(super) fn capabilities(capabilities: Option<&Value>) -> Value {
    let Some(Value::Object(caps)) = capabilities else {
        return Value::Object(Map::new());
    };
    let kept: Map<String, Value> = caps
        .iter()
        .filter(|(name, _)| name.len() <= MAX_KEY)
        .take(MAX_CAPABILITIES)
        .map(|(name, value)| {
            let small = serde_json::to_vec(value).map_or(0, |v| v.len()) <= MAX_CAPABILITY_BYTES;
            let value = if small {
                value.clone()
            } else {
                Value::Object(Map::new())
            };
            (name.clone(), value)
        })
        .collect();
    Value::Object(kept)
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn client_info_keeps_short_strings_of_known_fields() {
        let huge = "é".repeat(5_000_000);
        let info = json!({"name": huge, "version": "1.2", "extra": "x".repeat(1_000), "title": 7});
        let kept = client_info(Some(&info));
        assert_eq!(kept["version"], "1.2");
        assert!(kept.get("extra").is_none() && kept.get("title").is_none());
        let name = kept["name"].as_str().unwrap();
        assert!(name.len() <= MAX_TEXT + '…'.len_utf8() && name.ends_with('…'));
        assert_eq!(client_info(Some(&json!("a string"))), Value::Null);
        assert_eq!(client_info(None), Value::Null);
    }

    #[test]
    fn capabilities_stay_declared_but_small() {
        let mut caps = json!({"sampling": {}, "roots": {"listChanged": true},
                              "elicitation": {"blob": "x".repeat(10_000)}});
        for i in 0..100 {
            caps[format!("x{i:03}")] = json!({});
        }
        caps["k".repeat(1_000)] = json!({});
        let kept = capabilities(Some(&caps));
        let map = kept.as_object().unwrap();
        assert_eq!(map.len(), MAX_CAPABILITIES);
        assert_eq!(kept["elicitation"], json!({}), "declared, value dropped");
        assert_eq!(kept["roots"], json!({"listChanged": true}));
        assert!(kept.get("sampling").is_some());
        assert!(serde_json::to_vec(&kept).unwrap().len() < 4096);
        assert_eq!(capabilities(Some(&json!([1]))), json!({}));
    }
}
