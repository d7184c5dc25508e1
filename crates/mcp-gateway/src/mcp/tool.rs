//! An MCP tool as a server lists it (`tools/list`), and the one answer to "does this list have
//! that tool?".
//!
//! Lossless: whatever the server sent besides `name` is kept as sent and written back as it
//! came (`description: null` stays null, a `description` that is not a string stays too), so
//! the catalog and `GET /services/{s}/tools` show a service's tools unchanged.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Map<String, Value>")]
pub struct Tool {
    pub name: String,
    /// A string `description`; any other value of it stays in `extra`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `inputSchema` as sent (a JSON Schema object, for a server that follows the spec).
    #[serde(rename = "inputSchema", skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    /// Every other field (`title`, `annotations`, `outputSchema`, `_meta`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl TryFrom<Map<String, Value>> for Tool {
    type Error = String;

    fn try_from(mut fields: Map<String, Value>) -> Result<Self, String> {
        let Some(Value::String(name)) = fields.remove("name") else {
            return Err("a tool has no name string".into());
        };
        let description = match fields.remove("description") {
            Some(Value::String(text)) => Some(text),
            Some(other) => {
                fields.insert("description".into(), other);
                None
            }
            None => None,
        };
        Ok(Tool {
            name,
            description,
            input_schema: fields.remove("inputSchema"),
            extra: fields,
        })
    }
}

impl Tool {
    /// One entry of a `tools/list` result; `None` unless it is an object with a string `name`.
    pub fn from_value(value: Value) -> Option<Tool> {
        match value {
            Value::Object(fields) => Tool::try_from(fields).ok(),
            _ => None,
        }
    }

    /// The tool object as the server sent it.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// Does `tools` list a tool called `name`? The only place this is decided.
pub fn lists_tool(tools: &[Tool], name: &str) -> bool {
    tools.iter().any(|tool| tool.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(sent: Value) {
        let tool = Tool::from_value(sent.clone()).expect("a tool");
        assert_eq!(tool.to_value(), sent);
        let parsed: Tool = serde_json::from_value(sent.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), sent);
    }

    #[test]
    fn keeps_what_the_server_sent() {
        round_trip(json!({"name": "a"}));
        round_trip(json!({"name": "a", "description": "d", "inputSchema": {"type": "object"}}));
        round_trip(json!({"name": "a", "description": null, "inputSchema": null}));
        round_trip(json!({"name": "a", "description": 5, "title": "A", "x-extra": [1]}));
        let tool = Tool::from_value(json!({"name": "a", "description": "d"})).unwrap();
        assert_eq!(tool.description.as_deref(), Some("d"));
        assert_eq!(tool.input_schema, None);
    }

    #[test]
    fn a_tool_has_a_name() {
        for bad in [json!({}), json!({"name": 5}), json!("a"), json!(null)] {
            assert_eq!(Tool::from_value(bad.clone()), None, "{bad}");
        }
        assert!(serde_json::from_value::<Tool>(json!({"name": null})).is_err());
    }

    #[test]
    fn lists_tool_by_exact_name() {
        let tools: Vec<Tool> = [json!({"name": "a"}), json!({"name": "b.c"})]
            .into_iter()
            .filter_map(Tool::from_value)
            .collect();
        assert!(lists_tool(&tools, "a"));
        assert!(lists_tool(&tools, "b.c"));
        assert!(!lists_tool(&tools, "A"));
        assert!(!lists_tool(&[], "a"));
    }
}
