use std::time::Duration;

use serde_json::Value;

use crate::mcp::McpError;

/// Why a session operation failed; each variant maps to one HTTP status.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SessionError {
    #[error("unknown service: {0}")]
    UnknownService(String),
    #[error("unknown tool: {tool} (service {service} does not list it)")]
    UnknownTool { service: String, tool: String },
    #[error("session {0} not found")]
    UnknownSession(String),
    #[error("session {0} was closed while this call was in flight")]
    SessionClosed(String),
    /// A new session's id is taken by a live session.
    #[error("session {0} already exists")]
    SessionExists(String),
    #[error("{0}")]
    SessionLimit(String),
    #[error("service {service} is unavailable: {reason}")]
    ServiceUnavailable { service: String, reason: String },
    #[error("MCP error {code}: {message}")]
    ToolRejected {
        code: i64,
        message: String,
        data: Option<Value>,
    },
    #[error("service {service} exited during the call ({status})")]
    ChildExited {
        service: String,
        status: String,
        stderr_tail: String,
    },
    #[error("{method} on service {service} timed out after {}s", after.as_secs_f64())]
    Timeout {
        service: String,
        method: String,
        after: Duration,
    },
    #[error("service {service} sent an invalid response: {reason}")]
    BadResponse { service: String, reason: String },
    #[error("the gateway is shutting down")]
    ShuttingDown,
}

impl SessionError {
    /// Map an error of a call on a ready child.
    pub(crate) fn from_call(service: &str, err: McpError) -> Self {
        match err {
            McpError::Rpc {
                code,
                message,
                data,
            } => Self::ToolRejected {
                code,
                message,
                data,
            },
            McpError::ProcessExited {
                status,
                stderr_tail,
            } => Self::ChildExited {
                service: service.to_string(),
                status,
                stderr_tail,
            },
            McpError::Timeout { method, after } => Self::Timeout {
                service: service.to_string(),
                method,
                after,
            },
            McpError::ResponseTooLarge { limit } => Self::BadResponse {
                service: service.to_string(),
                reason: format!("response line longer than {limit} bytes"),
            },
            McpError::Protocol(reason) => Self::BadResponse {
                service: service.to_string(),
                reason,
            },
            McpError::Closed => Self::ChildExited {
                service: service.to_string(),
                status: "stopped by the gateway".into(),
                stderr_tail: String::new(),
            },
            McpError::Spawn(reason) | McpError::Sandbox(reason) => Self::ServiceUnavailable {
                service: service.to_string(),
                reason,
            },
        }
    }

    /// Map an error while starting a child (spawn, initialize, first tools/list).
    pub(crate) fn from_start(service: &str, err: McpError) -> Self {
        let reason = match err {
            McpError::ProcessExited {
                status,
                stderr_tail,
            } if stderr_tail.trim().is_empty() => {
                format!("it exited during startup ({status})")
            }
            McpError::ProcessExited {
                status,
                stderr_tail,
            } => {
                format!(
                    "it exited during startup ({status}): {}",
                    last_line(&stderr_tail)
                )
            }
            McpError::Timeout { method, after } => {
                format!("no answer to {method} within {}s", after.as_secs_f64())
            }
            other => other.to_string(),
        };
        Self::ServiceUnavailable {
            service: service.to_string(),
            reason,
        }
    }
}

fn last_line(text: &str) -> &str {
    text.trim_end().lines().last().unwrap_or("").trim()
}
