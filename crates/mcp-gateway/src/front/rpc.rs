//! JSON-RPC messages as the front door sees them: classification of what a client POSTs, and
//! the responses and errors it sends back (pure).

use serde_json::Value;

use crate::mcp::McpError;
use crate::session::SessionError;

// The messages and codes are `mcp::jsonrpc`'s; the front door names them through here.
pub(crate) use crate::mcp::jsonrpc::{
    GATEWAY_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR,
    REQUEST_CANCELLED, SESSION_NOT_FOUND, error, notification, result,
};

/// One message POSTed by a client.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    Notification {
        method: String,
        params: Value,
    },
    /// A response to a request of ours.
    Response,
}

/// Classify one JSON value; `Err` is the JSON-RPC error to send back.
pub fn classify(message: &Value) -> Result<Inbound, (i64, String)> {
    let Some(object) = message.as_object() else {
        let what = if message.is_array() {
            "batches are not supported: send one JSON-RPC message per POST"
        } else {
            "a JSON-RPC message must be an object"
        };
        return Err((INVALID_REQUEST, what.into()));
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err((INVALID_REQUEST, "jsonrpc must be \"2.0\"".into()));
    }
    let params = object.get("params").cloned().unwrap_or(Value::Null);
    if !(params.is_null() || params.is_object() || params.is_array()) {
        return Err((INVALID_REQUEST, "params must be an object".into()));
    }
    match (object.get("method"), object.get("id")) {
        (Some(Value::String(method)), Some(id)) => {
            if !(id.is_string() || id.is_i64() || id.is_u64()) {
                return Err((INVALID_REQUEST, "id must be a string or an integer".into()));
            }
            Ok(Inbound::Request {
                id: id.clone(),
                method: method.clone(),
                params,
            })
        }
        (Some(Value::String(method)), None) => Ok(Inbound::Notification {
            method: method.clone(),
            params,
        }),
        (Some(_), _) => Err((INVALID_REQUEST, "method must be a string".into())),
        (None, Some(_)) if object.contains_key("result") || object.contains_key("error") => {
            Ok(Inbound::Response)
        }
        (None, _) => Err((
            INVALID_REQUEST,
            "not a request, notification or response".into(),
        )),
    }
}

/// A JSON-RPC error object for a failure of the gateway or of a child. A child's own
/// JSON-RPC error passes through unchanged.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub(crate) fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub(crate) fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, message)
    }

    pub(crate) fn to_response(&self, id: &Value) -> Value {
        crate::mcp::jsonrpc::error_with_data(id, self.code, &self.message, self.data.clone())
    }

    pub(crate) fn from_mcp(service: &str, err: McpError) -> Self {
        match err {
            McpError::Rpc {
                code,
                message,
                data,
            } => Self {
                code,
                message,
                data,
            },
            other => Self::from_session(SessionError::from_call(service, other)),
        }
    }

    pub(crate) fn from_session(err: SessionError) -> Self {
        match err {
            SessionError::ToolRejected {
                code,
                message,
                data,
            } => Self {
                code,
                message,
                data,
            },
            SessionError::UnknownService(_) | SessionError::UnknownTool { .. } => {
                Self::invalid_params(err.to_string())
            }
            other => Self::new(GATEWAY_ERROR, other.to_string()),
        }
    }
}

/// `params._meta.progressToken`, if the client asked for progress.
pub fn progress_token(params: &Value) -> Option<Value> {
    params
        .get("_meta")
        .and_then(|m| m.get("progressToken"))
        .filter(|t| t.is_string() || t.is_number())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_messages() {
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
        assert!(matches!(classify(&request), Ok(Inbound::Request { .. })));
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert!(matches!(classify(&note), Ok(Inbound::Notification { .. })));
        let response = json!({"jsonrpc": "2.0", "id": 1, "result": {}});
        assert_eq!(classify(&response), Ok(Inbound::Response));
        let batch = json!([request]);
        assert_eq!(classify(&batch).unwrap_err().0, INVALID_REQUEST);
        let bad_id = json!({"jsonrpc": "2.0", "id": 1.5, "method": "ping"});
        assert_eq!(classify(&bad_id).unwrap_err().0, INVALID_REQUEST);
        let no_version = json!({"id": 1, "method": "ping"});
        assert_eq!(classify(&no_version).unwrap_err().0, INVALID_REQUEST);
    }

    #[test]
    fn child_errors_pass_through() {
        let err = McpError::Rpc {
            code: INVALID_PARAMS,
            message: "bad".into(),
            data: Some(json!({"x": 1})),
        };
        let rpc = RpcError::from_mcp("svc", err);
        assert_eq!(
            rpc.to_response(&json!(7)),
            json!({"jsonrpc": "2.0", "id": 7, "error": {"code": INVALID_PARAMS, "message": "bad", "data": {"x": 1}}})
        );
    }
}
