//! `ApiError`: every failure of the REST API as a status and a stable JSON body
//! `{"error": "...", "code": "..."}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_gateway_wire::{ErrorBody, RpcError, code};

use crate::session::SessionError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// The body (`error`, `code`, and what some codes carry: `rpc_error`, `stderr_tail`...).
    /// Boxed to keep `Result<_, ApiError>` small.
    pub body: Box<ErrorBody>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::with_body(status, ErrorBody::new(code, message))
    }

    fn with_body(status: StatusCode, body: ErrorBody) -> Self {
        Self {
            status,
            body: Box::new(body),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code::INVALID_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code::NOT_FOUND, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            code::UNAUTHORIZED,
            "authentication required",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            code::METHOD_NOT_ALLOWED,
            "method not allowed",
        )
    }
}

impl From<SessionError> for ApiError {
    fn from(err: SessionError) -> Self {
        let message = err.to_string();
        match err {
            SessionError::UnknownService(_) => {
                Self::new(StatusCode::NOT_FOUND, code::UNKNOWN_SERVICE, message)
            }
            SessionError::UnknownTool { .. } => {
                Self::new(StatusCode::NOT_FOUND, code::UNKNOWN_TOOL, message)
            }
            SessionError::UnknownSession(_) => {
                Self::new(StatusCode::NOT_FOUND, code::UNKNOWN_SESSION, message)
            }
            SessionError::SessionExists(_) => {
                Self::new(StatusCode::CONFLICT, code::SESSION_EXISTS, message)
            }
            SessionError::SessionClosed(_) => {
                Self::new(StatusCode::CONFLICT, code::SESSION_CLOSED, message)
            }
            SessionError::SessionLimit(_) => {
                let mut e = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code::SESSION_LIMIT,
                    message,
                );
                e.retry_after = Some(1);
                e
            }
            SessionError::ServiceUnavailable { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code::SERVICE_UNAVAILABLE,
                message,
            ),
            SessionError::ShuttingDown => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code::SHUTTING_DOWN,
                message,
            ),
            SessionError::ToolRejected {
                code: rpc_code,
                message: rpc_message,
                data,
            } => Self::with_body(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorBody {
                    rpc_error: Some(RpcError {
                        code: rpc_code,
                        message: rpc_message,
                        data,
                    }),
                    ..ErrorBody::new(code::TOOL_CALL_REJECTED, message)
                },
            ),
            SessionError::ChildExited {
                status,
                stderr_tail,
                ..
            } => Self::with_body(
                StatusCode::BAD_GATEWAY,
                ErrorBody {
                    exit_status: Some(status.into()),
                    stderr_tail: Some(tail(&stderr_tail, 2048)),
                    ..ErrorBody::new(code::CHILD_EXITED, message)
                },
            ),
            SessionError::BadResponse { .. } => {
                Self::new(StatusCode::BAD_GATEWAY, code::BAD_RESPONSE, message)
            }
            SessionError::Timeout { .. } => {
                Self::new(StatusCode::GATEWAY_TIMEOUT, code::TIMEOUT, message)
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
        let mut response = (self.status, Json(*self.body)).into_response();
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
