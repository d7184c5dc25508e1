//! `ApiError`: every failure of the REST API as a status and a stable JSON body
//! `{"error": "...", "code": "..."}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::session::SessionError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra fields merged into the body (e.g. `rpc_error`, `stderr_tail`). Boxed to keep
    /// `Result<_, ApiError>` small (clippy `result_large_err` once `serde_json/preserve_order`
    /// is on in the workspace).
    pub extra: Box<Map<String, Value>>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: Box::default(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "authentication required",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed",
        )
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }
}

impl From<SessionError> for ApiError {
    fn from(err: SessionError) -> Self {
        let message = err.to_string();
        match err {
            SessionError::UnknownService(_) => {
                Self::new(StatusCode::NOT_FOUND, "unknown_service", message)
            }
            SessionError::UnknownTool { .. } => {
                Self::new(StatusCode::NOT_FOUND, "unknown_tool", message)
            }
            SessionError::UnknownSession(_) => {
                Self::new(StatusCode::NOT_FOUND, "unknown_session", message)
            }
            SessionError::SessionExists(_) => {
                Self::new(StatusCode::CONFLICT, "session_exists", message)
            }
            SessionError::SessionClosed(_) => {
                Self::new(StatusCode::CONFLICT, "session_closed", message)
            }
            SessionError::SessionLimit(_) => {
                let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "session_limit", message);
                e.retry_after = Some(1);
                e
            }
            SessionError::ServiceUnavailable { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                message,
            ),
            SessionError::ShuttingDown => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", message)
            }
            SessionError::ToolRejected {
                code,
                message: rpc_message,
                data,
            } => {
                let mut rpc = json!({ "code": code, "message": rpc_message });
                if let Some(data) = data {
                    rpc["data"] = data;
                }
                Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "tool_call_rejected",
                    message,
                )
                .with("rpc_error", rpc)
            }
            SessionError::ChildExited {
                status,
                stderr_tail,
                ..
            } => Self::new(StatusCode::BAD_GATEWAY, "child_exited", message)
                .with("exit_status", Value::String(status))
                .with("stderr_tail", Value::String(tail(&stderr_tail, 2048))),
            SessionError::BadResponse { .. } => {
                Self::new(StatusCode::BAD_GATEWAY, "bad_response", message)
            }
            SessionError::Timeout { .. } => {
                Self::new(StatusCode::GATEWAY_TIMEOUT, "timeout", message)
            }
        }
    }
}

/// The last `max` bytes of `text`, cut at a character boundary.
fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = *self.extra;
        body.insert("error".into(), Value::String(self.message));
        body.insert("code".into(), Value::String(self.code.into()));
        let mut response = (self.status, Json(Value::Object(body))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"MCP Gateway\""),
            );
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
