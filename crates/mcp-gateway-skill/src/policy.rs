//! When a failed gateway request may be sent again.
//!
//! Only requests that provably did not run are retried (connection refused, 429, 503);
//! a tool error, a JSON-RPC rejection, a timeout or a crashed server is never retried,
//! because the tool may already have done its work. The caller is on a phone call, so
//! the waits are short and a long `Retry-After` ends the attempts instead of stalling.

use std::time::Duration;

use mcp_gateway_client::GatewayError;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    RetryAfter(Duration),
    GiveUp,
}

/// Retry policy for one gateway request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (>= 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubled each time.
    pub base_delay: Duration,
    /// Longest single wait; a `Retry-After` above it gives up.
    pub max_delay: Duration,
}

impl RetryPolicy {
    pub fn new(attempts: u32) -> Self {
        RetryPolicy {
            attempts: attempts.max(1),
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
        }
    }

    /// Decide after `attempt` (1-based) failed with `err`.
    pub fn decide(&self, attempt: u32, err: &GatewayError) -> Decision {
        if attempt >= self.attempts || !err.provably_not_executed() {
            return Decision::GiveUp;
        }
        if let GatewayError::RateLimited {
            retry_after: Some(wait),
        } = err
        {
            return if *wait <= self.max_delay {
                Decision::RetryAfter(*wait)
            } else {
                Decision::GiveUp
            };
        }
        let factor = 1u32 << (attempt - 1).min(16);
        Decision::RetryAfter((self.base_delay * factor).min(self.max_delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_gateway_client::TimeoutOrigin;

    fn connect() -> GatewayError {
        GatewayError::Connect {
            message: "refused".into(),
        }
    }

    #[test]
    fn retries_what_provably_did_not_run_with_backoff() {
        let p = RetryPolicy::new(4);
        assert_eq!(
            p.decide(1, &connect()),
            Decision::RetryAfter(Duration::from_millis(200))
        );
        assert_eq!(
            p.decide(2, &connect()),
            Decision::RetryAfter(Duration::from_millis(400))
        );
        assert_eq!(
            p.decide(3, &connect()),
            Decision::RetryAfter(Duration::from_millis(800))
        );
        assert_eq!(
            p.decide(4, &connect()),
            Decision::GiveUp,
            "attempts are a total"
        );
        let unavailable = GatewayError::Unavailable {
            code: "session_limit".into(),
            message: String::new(),
        };
        assert!(matches!(p.decide(1, &unavailable), Decision::RetryAfter(_)));
        let capped = RetryPolicy {
            attempts: 10,
            ..RetryPolicy::new(10)
        };
        assert_eq!(
            capped.decide(9, &connect()),
            Decision::RetryAfter(capped.max_delay)
        );
    }

    #[test]
    fn honours_short_retry_after_and_gives_up_on_long_ones() {
        let p = RetryPolicy::new(3);
        let short = GatewayError::RateLimited {
            retry_after: Some(Duration::from_secs(1)),
        };
        assert_eq!(
            p.decide(1, &short),
            Decision::RetryAfter(Duration::from_secs(1))
        );
        let long = GatewayError::RateLimited {
            retry_after: Some(Duration::from_secs(60)),
        };
        assert_eq!(p.decide(1, &long), Decision::GiveUp);
        let unknown = GatewayError::RateLimited { retry_after: None };
        assert!(matches!(p.decide(1, &unknown), Decision::RetryAfter(_)));
    }

    #[test]
    fn never_retries_what_may_have_run_or_cannot_succeed() {
        let p = RetryPolicy::new(3);
        for err in [
            GatewayError::Timeout {
                origin: TimeoutOrigin::Client,
            },
            GatewayError::Timeout {
                origin: TimeoutOrigin::Gateway,
            },
            GatewayError::ChildExited {
                message: String::new(),
                exit_status: None,
                stderr_tail: None,
            },
            GatewayError::ToolRejected {
                code: -32602,
                message: String::new(),
                data: None,
            },
            GatewayError::Validation {
                code: "invalid_request".into(),
                message: String::new(),
            },
            GatewayError::NotFound {
                code: "unknown_tool".into(),
                message: String::new(),
            },
            GatewayError::Unauthorized {
                message: String::new(),
            },
            GatewayError::Other {
                status: Some(500),
                message: String::new(),
            },
        ] {
            assert_eq!(p.decide(1, &err), Decision::GiveUp, "{err:?}");
        }
        assert_eq!(RetryPolicy::new(1).decide(1, &connect()), Decision::GiveUp);
    }
}
