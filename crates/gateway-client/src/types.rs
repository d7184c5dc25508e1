//! Request and response bodies of the gateway's REST API (`docs/wire.md`).
//!
//! Response types are lenient: unknown fields are kept in `extra` (or ignored) so a
//! newer gateway with additive fields still decodes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

/// One entry of `GET /services`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceInfo {
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Only present when the gateway runs with `server.expose_commands`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

/// `GET /services` keyed by service name (sorted).
pub type Services = BTreeMap<String, ServiceInfo>;

/// `GET /services/{name}/tools`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolList {
    pub service: String,
    #[serde(default)]
    pub tools: Vec<Tool>,
}

/// A raw MCP tool object as the service listed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments (`{"type":"object",...}`); `{}` when absent.
    #[serde(rename = "inputSchema", default = "empty_object")]
    pub input_schema: Value,
    /// Every other field of the MCP tool object (`title`, `annotations`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// Body of `POST /services/{name}/call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRequest {
    pub tool: String,
    #[serde(default)]
    pub arguments: Map<String, Value>,
    pub session_id: String,
    /// The session's idle timeout in seconds (0 < t <= 3600); the gateway default when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// Stored with the session and shown in `GET /sessions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

impl CallRequest {
    pub fn new(tool: impl Into<String>, session_id: impl Into<String>) -> Self {
        CallRequest {
            tool: tool.into(),
            arguments: Map::new(),
            session_id: session_id.into(),
            timeout: None,
            metadata: None,
        }
    }

    /// Add one argument.
    pub fn argument(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.arguments.insert(name.into(), value.into());
        self
    }

    pub fn arguments(mut self, arguments: Map<String, Value>) -> Self {
        self.arguments = arguments;
        self
    }

    pub fn timeout(mut self, seconds: f64) -> Self {
        self.timeout = Some(seconds);
        self
    }

    pub fn metadata(mut self, metadata: Map<String, Value>) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

/// 200 answer of `POST /services/{name}/call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallResponse {
    /// The first text content as a string, else the raw MCP result object.
    #[serde(default)]
    pub result: Value,
    #[serde(default)]
    pub content: Vec<Value>,
    /// The tool reported failure in its result (MCP `isError`).
    #[serde(rename = "isError", default)]
    pub is_error: bool,
    #[serde(
        rename = "structuredContent",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub structured_content: Option<Value>,
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub session_id: String,
    #[serde(default)]
    pub tool: String,
}

impl CallResponse {
    /// The result as text: the string itself, or compact JSON of a non-text result
    /// (the structured content when there is one), or "" for a null result.
    pub fn text(&self) -> String {
        match (&self.result, &self.structured_content) {
            (Value::String(s), _) => s.clone(),
            (Value::Null, None) => String::new(),
            (_, Some(structured)) => structured.to_string(),
            (other, None) => other.to_string(),
        }
    }
}

/// One entry of `GET /sessions`, keyed by session id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub last_accessed: Option<String>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// The first service the session used (upstream compatibility).
    #[serde(default)]
    pub service_name: Option<String>,
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub time_remaining: Option<f64>,
    #[serde(default)]
    pub timeout: Option<f64>,
    #[serde(default)]
    pub calls: Option<u64>,
    /// Per-service child details (`pid`, `calls`, `started_at`).
    #[serde(default)]
    pub children: Map<String, Value>,
}

/// `GET /sessions` keyed by session id.
pub type Sessions = BTreeMap<String, SessionInfo>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn call_request_serializes_like_the_wire_example() {
        let mut meta = Map::new();
        meta.insert("k".into(), json!("v"));
        let req = CallRequest::new("greet", "call-1")
            .argument("name", "Ada")
            .timeout(300.0)
            .metadata(meta);
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"tool":"greet","arguments":{"name":"Ada"},"session_id":"call-1","timeout":300.0,"metadata":{"k":"v"}})
        );
    }

    #[test]
    fn call_response_text() {
        let text: CallResponse = serde_json::from_value(json!({
            "result": "Hello", "content": [{"type":"text","text":"Hello"}], "isError": false,
            "service": "greeter", "session_id": "s", "tool": "greet"
        }))
        .unwrap();
        assert_eq!(text.text(), "Hello");
        let structured: CallResponse = serde_json::from_value(json!({
            "result": {"content": []}, "structuredContent": {"n": 3}, "isError": false
        }))
        .unwrap();
        assert_eq!(structured.text(), r#"{"n":3}"#);
        let empty: CallResponse = serde_json::from_value(json!({"result": null})).unwrap();
        assert_eq!(empty.text(), "");
    }

    #[test]
    fn tool_keeps_unknown_fields() {
        let tool: Tool = serde_json::from_value(json!({
            "name": "greet", "description": "Greet", "inputSchema": {"type": "object"},
            "annotations": {"readOnlyHint": true}
        }))
        .unwrap();
        assert_eq!(tool.input_schema, json!({"type": "object"}));
        assert_eq!(tool.extra["annotations"], json!({"readOnlyHint": true}));
        let bare: Tool = serde_json::from_value(json!({"name": "x"})).unwrap();
        assert_eq!(bare.input_schema, json!({}));
    }
}
