//! What can go wrong talking to a child, and how a child ended.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::sandbox::SandboxError;

/// How a child process ended, with the end of what it wrote to stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitInfo {
    /// The exit code, when the child exited normally.
    pub code: Option<i32>,
    /// The signal that killed it, when it did not.
    pub signal: Option<i32>,
    /// The last few KiB of its stderr (lossy UTF-8).
    pub stderr_tail: String,
}

impl ExitInfo {
    pub(crate) fn from_status(status: std::process::ExitStatus, stderr_tail: String) -> Self {
        use std::os::unix::process::ExitStatusExt;
        Self {
            code: status.code(),
            signal: status.signal(),
            stderr_tail,
        }
    }

    /// The error a request gets when this exit ends it.
    pub fn to_error(&self) -> McpError {
        McpError::ProcessExited {
            status: self.to_string(),
            stderr_tail: self.stderr_tail.clone(),
        }
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit status {code}"),
            (None, Some(signal)) => write!(f, "killed by signal {signal}"),
            (None, None) => f.write_str("exited with an unknown status"),
        }
    }
}

/// Errors of the MCP client. Callers branch on the variant; messages name what was wrong.
#[derive(Debug, Clone, thiserror::Error)]
pub enum McpError {
    /// The child could not be started.
    #[error("cannot start the server: {0}")]
    Spawn(String),
    /// The sandbox refused to start the child (its message says why).
    #[error("{0}")]
    Sandbox(String),
    /// The child died, before or during the request.
    #[error("the server process ended ({status})")]
    ProcessExited { status: String, stderr_tail: String },
    #[error("{method} timed out after {after:?}")]
    Timeout { method: String, after: Duration },
    /// A JSON-RPC error answered by the server.
    #[error("the server returned error {code}: {message}")]
    Rpc {
        code: i64,
        message: String,
        data: Option<Value>,
    },
    /// Garbage where a response was due, a bad handshake, a malformed result...
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The response to this request was longer than `max_line_bytes`.
    #[error("the server's response exceeds {limit} bytes")]
    ResponseTooLarge { limit: usize },
    /// [`super::McpClient::stop`] was called (or every handle was dropped).
    #[error("the server was stopped")]
    Closed,
}

impl From<SandboxError> for McpError {
    fn from(err: SandboxError) -> Self {
        McpError::Sandbox(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_info_display() {
        let check = |code, signal, expected: &str| {
            let info = ExitInfo {
                code,
                signal,
                stderr_tail: String::new(),
            };
            assert_eq!(info.to_string(), expected);
        };
        check(Some(3), None, "exit status 3");
        check(None, Some(9), "killed by signal 9");
        check(None, None, "exited with an unknown status");
    }

    #[test]
    fn exit_info_to_error_carries_the_tail() {
        let info = ExitInfo {
            code: Some(3),
            signal: None,
            stderr_tail: "boom\n".into(),
        };
        match info.to_error() {
            McpError::ProcessExited {
                status,
                stderr_tail,
            } => {
                assert_eq!(status, "exit status 3");
                assert_eq!(stderr_tail, "boom\n");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
