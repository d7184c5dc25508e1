//! The gateway's REST contract (`docs/wire.md`): the request and response bodies of
//! `/health`, `/services`, `/services/{s}/tools`, `/services/{s}/call`, `/sessions` and the
//! error body `{"error": "...", "code": "..."}`.
//!
//! One definition for both sides: the gateway (`mcp-gateway`'s `http`) serializes these types
//! and the client (`mcp-gateway-client`, and its fake gateway) reads and writes them, so a
//! field renamed here is renamed on both. Serde only: no HTTP.
//!
//! What the gateway writes is what it always wrote (fields present or absent, `null` or not);
//! what a client reads is lenient: missing fields take defaults, so a newer gateway with
//! additive fields still decodes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

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

/// `GET /services/{name}/tools`. The gateway writes each tool exactly as its service listed
/// it (`T` is its own lossless tool type); a client reads [`Tool`]s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolList<T = Tool> {
    pub service: String,
    #[serde(default = "Vec::new")]
    pub tools: Vec<T>,
}

/// A raw MCP tool object as the service listed it, as a client reads it.
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

/// 200 answer of `POST /services/{name}/call`: upstream's body (`result`) plus what upstream
/// dropped of the MCP result (`content`, `structuredContent`, `isError`, `_meta`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallResponse {
    /// The first text content as a string, else the raw MCP result object.
    #[serde(default)]
    pub result: Value,
    /// The MCP content blocks as the tool returned them (an array from a server that follows
    /// the spec; `[]` when absent).
    #[serde(default = "empty_array")]
    pub content: Value,
    /// The tool reported failure in its result (MCP `isError`).
    #[serde(rename = "isError", default)]
    pub is_error: bool,
    #[serde(
        rename = "structuredContent",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub structured_content: Option<Value>,
    /// The result's `_meta`, when it had one.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub session_id: String,
    #[serde(default)]
    pub tool: String,
}

fn empty_array() -> Value {
    Value::Array(Vec::new())
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionInfo {
    pub created_at: Option<String>,
    pub last_accessed: Option<String>,
    pub metadata: Map<String, Value>,
    /// The first service the session used (upstream compatibility).
    pub service_name: Option<String>,
    pub services: Vec<String>,
    pub time_remaining: Option<f64>,
    /// The idle timeout in seconds, as the caller gave it (`120` stays an integer).
    pub timeout: Option<Number>,
    pub calls: Option<u64>,
    /// Per-service child details.
    pub children: BTreeMap<String, ChildInfo>,
    /// `"rest"`, or `"mcp"` for a session of the MCP front door.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl SessionInfo {
    /// [`SessionInfo::timeout`] as seconds.
    pub fn timeout_seconds(&self) -> Option<f64> {
        self.timeout.as_ref().and_then(Number::as_f64)
    }
}

/// One child of a session in `GET /sessions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChildInfo {
    pub pid: Option<u32>,
    pub calls: Option<u64>,
    pub started_at: Option<String>,
    /// The child's resident memory (`VmRSS`), with `GET /sessions?memory=true` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_bytes: Option<u64>,
}

/// `GET /sessions` keyed by session id.
pub type Sessions = BTreeMap<String, SessionInfo>;

/// 200 answer of `DELETE /sessions/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionClosed {
    #[serde(default)]
    pub message: String,
}

/// Every non-2xx answer: `{"error": "...", "code": "..."}`, plus what some codes carry.
/// A client reads a missing `error` or `code` as "".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub error: String,
    /// What went wrong, for programs: one of [`code`].
    pub code: String,
    /// `tool_call_rejected`: the service's JSON-RPC error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc_error: Option<RpcError>,
    /// `child_exited`: how the child ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<Value>,
    /// `child_exited`: the end of what the child wrote to stderr.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr_tail: Option<String>,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, error: impl Into<String>) -> Self {
        ErrorBody {
            error: error.into(),
            code: code.into(),
            ..ErrorBody::default()
        }
    }
}

/// A JSON-RPC error object as a service answered it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// The `code` of an [`ErrorBody`] (docs/wire.md has the table of statuses).
pub mod code {
    pub const INVALID_REQUEST: &str = "invalid_request";
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// An OAuth access token that is valid but grants nothing here (or not this service):
    /// 403 with a `WWW-Authenticate: Bearer error="insufficient_scope"` challenge.
    pub const INSUFFICIENT_SCOPE: &str = "insufficient_scope";
    pub const NOT_FOUND: &str = "not_found";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    pub const UNKNOWN_SERVICE: &str = "unknown_service";
    pub const UNKNOWN_TOOL: &str = "unknown_tool";
    pub const UNKNOWN_SESSION: &str = "unknown_session";
    pub const SESSION_CLOSED: &str = "session_closed";
    /// A new session's id is taken by a live one (the gateway mints MCP session ids, so only
    /// a clash of those).
    pub const SESSION_EXISTS: &str = "session_exists";
    pub const TOOL_CALL_REJECTED: &str = "tool_call_rejected";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const CHILD_EXITED: &str = "child_exited";
    pub const BAD_RESPONSE: &str = "bad_response";
    pub const SESSION_LIMIT: &str = "session_limit";
    pub const SERVICE_UNAVAILABLE: &str = "service_unavailable";
    pub const SHUTTING_DOWN: &str = "shutting_down";
    pub const TIMEOUT: &str = "timeout";
    /// The audit log cannot be written and `audit.on_failure` is `"fail"`.
    pub const AUDIT_UNAVAILABLE: &str = "audit_unavailable";
}

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
        assert_eq!(empty.content, json!([]));
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

    #[test]
    fn optional_fields_are_absent_not_null() {
        let service = ServiceInfo {
            description: "d".into(),
            enabled: true,
            command: None,
        };
        assert_eq!(
            serde_json::to_value(&service).unwrap(),
            json!({"description": "d", "enabled": true})
        );
        assert_eq!(
            serde_json::to_value(ErrorBody::new(code::UNKNOWN_TOOL, "unknown tool: x")).unwrap(),
            json!({"error": "unknown tool: x", "code": "unknown_tool"})
        );
        let rejected = ErrorBody {
            rpc_error: Some(RpcError {
                code: -32602,
                message: "bad".into(),
                data: None,
            }),
            ..ErrorBody::new(code::TOOL_CALL_REJECTED, "rejected")
        };
        assert_eq!(
            serde_json::to_value(&rejected).unwrap()["rpc_error"],
            json!({"code": -32602, "message": "bad"})
        );
    }

    #[test]
    fn a_session_reads_back_as_written() {
        let written = json!({
            "created_at": "2026-01-01T00:00:00.000000", "last_accessed": "2026-01-01T00:00:01.000000",
            "metadata": {"agent": "a1"}, "service_name": "fx", "services": ["fx"],
            "time_remaining": 299.5, "timeout": 120, "calls": 2,
            "children": {"fx": {"pid": 42, "calls": 2, "started_at": "2026-01-01T00:00:00.000000"}},
            "kind": "rest",
        });
        let session: SessionInfo = serde_json::from_value(written.clone()).unwrap();
        assert_eq!(serde_json::to_value(&session).unwrap(), written);
        assert_eq!(session.children["fx"].pid, Some(42));
    }
}
