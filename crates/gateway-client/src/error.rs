//! Errors a gateway call can end with, one variant per decision a caller makes.

use std::time::Duration;

use serde_json::Value;

use crate::types::ErrorBody;
use crate::types::code as wire;

/// Why a [`crate::GatewayClient`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("invalid gateway url {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot build http client: {0}")]
    Http(#[source] reqwest::Error),
}

/// Where a timeout was observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutOrigin {
    /// The gateway answered 504: the call ran past the service's `call_timeout`.
    Gateway,
    /// No complete answer arrived within the client's `request_timeout`.
    Client,
}

/// A failed gateway request.
///
/// The variants follow the error table of `docs/wire.md`. Messages are the gateway's
/// own (lowercase, meant for logs); they are not meant to be shown to end users.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// 401: missing or wrong credentials.
    #[error("gateway rejected the credentials: {message}")]
    Unauthorized { message: String },
    /// 404: `unknown_service`, `unknown_tool`, `unknown_session` or `not_found`.
    #[error("not found ({code}): {message}")]
    NotFound { code: String, message: String },
    /// 400, 405, 413, 415: the request itself was refused before anything ran.
    #[error("request refused ({code}): {message}")]
    Validation { code: String, message: String },
    /// 422: the MCP server answered the call with a JSON-RPC error.
    #[error("tool call rejected by the mcp server (json-rpc {code}): {message}")]
    ToolRejected {
        code: i64,
        message: String,
        data: Option<Value>,
    },
    /// 429: rate limited; nothing ran.
    #[error("rate limited by the gateway")]
    RateLimited { retry_after: Option<Duration> },
    /// 502: the MCP server process died during the call; the tool may have run.
    #[error("mcp server exited during the call: {message}")]
    ChildExited {
        message: String,
        exit_status: Option<Value>,
        stderr_tail: Option<String>,
    },
    /// 503: a session cap was reached or the service cannot start; nothing ran.
    #[error("service unavailable ({code}): {message}")]
    Unavailable { code: String, message: String },
    /// 504, or no answer within the client's request timeout; the tool may have run.
    #[error("timed out ({origin:?})")]
    Timeout { origin: TimeoutOrigin },
    /// The connection could not be established (refused, DNS, TLS handshake): the
    /// request was provably never sent.
    #[error("cannot connect to the gateway: {message}")]
    Connect { message: String },
    /// Anything else: unexpected status, undecodable body, broken connection mid-flight.
    #[error("gateway request failed{}: {message}", status.map(|s| format!(" (http {s})")).unwrap_or_default())]
    Other {
        status: Option<u16>,
        message: String,
    },
}

impl GatewayError {
    /// True only when the request provably did not execute anything on the gateway, so
    /// sending it again cannot run a tool twice: connection failures, 429 and 503.
    pub fn provably_not_executed(&self) -> bool {
        matches!(
            self,
            GatewayError::Connect { .. }
                | GatewayError::RateLimited { .. }
                | GatewayError::Unavailable { .. }
        )
    }

    /// The stable machine code of the gateway's error body, when there was one.
    pub fn code(&self) -> Option<&str> {
        match self {
            GatewayError::NotFound { code, .. }
            | GatewayError::Validation { code, .. }
            | GatewayError::Unavailable { code, .. } => Some(code),
            GatewayError::Unauthorized { .. } => Some(wire::UNAUTHORIZED),
            GatewayError::ToolRejected { .. } => Some(wire::TOOL_CALL_REJECTED),
            GatewayError::RateLimited { .. } => Some(wire::RATE_LIMITED),
            GatewayError::ChildExited { .. } => Some(wire::CHILD_EXITED),
            GatewayError::Timeout {
                origin: TimeoutOrigin::Gateway,
            } => Some(wire::TIMEOUT),
            _ => None,
        }
    }

    /// Map a non-2xx answer to an error. `body` is the raw response body.
    pub(crate) fn from_response(status: u16, retry_after: Option<Duration>, body: &str) -> Self {
        let parsed: ErrorBody = serde_json::from_str(body).unwrap_or_default();
        let message = Some(parsed.error)
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| snippet(body, status));
        let code = Some(parsed.code).filter(|c| !c.is_empty());
        let code_or = |fallback: &str| code.clone().unwrap_or_else(|| fallback.to_owned());

        match status {
            401 => GatewayError::Unauthorized { message },
            404 => GatewayError::NotFound {
                code: code_or(wire::NOT_FOUND),
                message,
            },
            400 | 405 | 413 | 415 => GatewayError::Validation {
                code: code_or(match status {
                    405 => wire::METHOD_NOT_ALLOWED,
                    413 => wire::PAYLOAD_TOO_LARGE,
                    415 => wire::UNSUPPORTED_MEDIA_TYPE,
                    _ => wire::INVALID_REQUEST,
                }),
                message,
            },
            // A 422 that is not a tool's answer: the gateway refused what it was asked to do
            // (`POST /reload` of an invalid config file).
            422 if code
                .as_deref()
                .is_some_and(|c| c != wire::TOOL_CALL_REJECTED) =>
            {
                GatewayError::Validation {
                    code: code_or(wire::INVALID_REQUEST),
                    message,
                }
            }
            422 => {
                let rpc = parsed.rpc_error.unwrap_or_default();
                GatewayError::ToolRejected {
                    code: rpc.code,
                    message: Some(rpc.message)
                        .filter(|m| !m.is_empty())
                        .unwrap_or(message),
                    data: rpc.data,
                }
            }
            429 => GatewayError::RateLimited { retry_after },
            502 if code.as_deref().is_none_or(|c| c == wire::CHILD_EXITED) => {
                GatewayError::ChildExited {
                    message,
                    exit_status: parsed.exit_status,
                    stderr_tail: parsed.stderr_tail,
                }
            }
            503 => GatewayError::Unavailable {
                code: code_or(wire::SERVICE_UNAVAILABLE),
                message,
            },
            504 => GatewayError::Timeout {
                origin: TimeoutOrigin::Gateway,
            },
            _ => GatewayError::Other {
                status: Some(status),
                message,
            },
        }
    }

    /// Map a transport failure (no HTTP answer) to an error.
    pub(crate) fn from_transport(err: reqwest::Error) -> Self {
        // A connect error (refused, DNS, TLS handshake, connect timeout) happens before
        // a single byte of the request is written: the request provably did not run.
        if err.is_connect() {
            return GatewayError::Connect {
                message: error_chain(&err),
            };
        }
        if err.is_timeout() {
            return GatewayError::Timeout {
                origin: TimeoutOrigin::Client,
            };
        }
        GatewayError::Other {
            status: err.status().map(|s| s.as_u16()),
            message: error_chain(&err),
        }
    }
}

fn snippet(body: &str, status: u16) -> String {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        format!("http {status}")
    } else {
        trimmed.chars().take(200).collect()
    }
}

/// The error and its sources on one line (reqwest hides the useful part in sources).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(status: u16, body: Value) -> GatewayError {
        GatewayError::from_response(status, None, &body.to_string())
    }

    #[test]
    fn maps_each_status_of_the_wire_table() {
        assert!(matches!(
            check(
                401,
                json!({"error": "unauthorized", "code": "unauthorized"})
            ),
            GatewayError::Unauthorized { .. }
        ));
        match check(
            404,
            json!({"error": "unknown tool x", "code": "unknown_tool"}),
        ) {
            GatewayError::NotFound { code, message } => {
                assert_eq!(code, "unknown_tool");
                assert_eq!(message, "unknown tool x");
            }
            other => panic!("unexpected {other:?}"),
        }
        for status in [400, 405, 413, 415] {
            assert!(matches!(
                check(status, json!({"error": "bad", "code": "whatever"})),
                GatewayError::Validation { .. }
            ));
        }
        match check(
            422,
            json!({"error": "rejected", "code": "tool_call_rejected",
                   "rpc_error": {"code": -32602, "message": "bad params", "data": {"field": "x"}}}),
        ) {
            GatewayError::ToolRejected {
                code,
                message,
                data,
            } => {
                assert_eq!(code, -32602);
                assert_eq!(message, "bad params");
                assert_eq!(data, Some(json!({"field": "x"})));
            }
            other => panic!("unexpected {other:?}"),
        }
        match check(
            502,
            json!({"error": "child exited", "code": "child_exited", "exit_status": 1, "stderr_tail": "boom"}),
        ) {
            GatewayError::ChildExited { stderr_tail, .. } => {
                assert_eq!(stderr_tail.as_deref(), Some("boom"))
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            check(503, json!({"error": "cap", "code": "session_limit"})),
            GatewayError::Unavailable { code, .. } if code == "session_limit"
        ));
        assert!(matches!(
            check(504, json!({"error": "timeout", "code": "timeout"})),
            GatewayError::Timeout {
                origin: TimeoutOrigin::Gateway
            }
        ));
        assert!(matches!(
            check(500, json!({"error": "internal"})),
            GatewayError::Other {
                status: Some(500),
                ..
            }
        ));
    }

    #[test]
    fn rate_limit_keeps_retry_after() {
        let err = GatewayError::from_response(429, Some(Duration::from_secs(2)), "{}");
        assert!(matches!(
            err,
            GatewayError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(2)
        ));
    }

    #[test]
    fn non_json_bodies_still_map_by_status() {
        let err = GatewayError::from_response(503, None, "<html>down</html>");
        assert!(
            matches!(err, GatewayError::Unavailable { ref code, ref message } if code == "service_unavailable" && message == "<html>down</html>")
        );
        assert!(matches!(
            GatewayError::from_response(404, None, ""),
            GatewayError::NotFound { .. }
        ));
    }

    #[test]
    fn only_connect_rate_limit_and_unavailable_are_provably_not_executed() {
        let cases: Vec<(GatewayError, bool)> = vec![
            (
                GatewayError::Connect {
                    message: "refused".into(),
                },
                true,
            ),
            (GatewayError::RateLimited { retry_after: None }, true),
            (
                GatewayError::Unavailable {
                    code: "session_limit".into(),
                    message: String::new(),
                },
                true,
            ),
            (
                GatewayError::Timeout {
                    origin: TimeoutOrigin::Client,
                },
                false,
            ),
            (
                GatewayError::Timeout {
                    origin: TimeoutOrigin::Gateway,
                },
                false,
            ),
            (
                GatewayError::ChildExited {
                    message: String::new(),
                    exit_status: None,
                    stderr_tail: None,
                },
                false,
            ),
            (
                GatewayError::ToolRejected {
                    code: -32602,
                    message: String::new(),
                    data: None,
                },
                false,
            ),
            (
                GatewayError::Unauthorized {
                    message: String::new(),
                },
                false,
            ),
            (
                GatewayError::Other {
                    status: Some(500),
                    message: String::new(),
                },
                false,
            ),
        ];
        for (err, expected) in cases {
            assert_eq!(err.provably_not_executed(), expected, "{err:?}");
        }
    }
}
