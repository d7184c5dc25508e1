//! One gateway call for one SWAIG invocation: which session, what metadata, and the
//! retry loop.

use mcp_gateway_client::{CallRequest, CallResponse, GatewayClient, GatewayError};
use serde_json::{Map, Value, json};

use crate::log;
use crate::policy::{Decision, RetryPolicy};

/// The gateway session a SWAIG invocation belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionRef {
    /// `global_data.mcp_call_id`, set by the agent to pick a session explicitly.
    Explicit(String),
    /// The platform's `call_id`: one session per phone call, shared by all services.
    Call(String),
    /// No call id (a test tool, a hand-made request): a fresh session for this one
    /// invocation, so unrelated callers never share state.
    Adhoc(String),
}

impl SessionRef {
    pub fn id(&self) -> &str {
        match self {
            SessionRef::Explicit(id) | SessionRef::Call(id) | SessionRef::Adhoc(id) => id,
        }
    }
}

/// The session for a SWAIG request's raw data.
pub fn session_for(raw: &Map<String, Value>) -> SessionRef {
    let explicit = raw
        .get("global_data")
        .and_then(|g| g.get("mcp_call_id"))
        .and_then(non_empty);
    if let Some(id) = explicit {
        return SessionRef::Explicit(id);
    }
    match call_id(raw) {
        Some(id) => SessionRef::Call(id),
        None => SessionRef::Adhoc(format!("adhoc-{}", uuid::Uuid::new_v4())),
    }
}

/// The platform's call id (`call_id`, else `call.call_id`).
pub fn call_id(raw: &Map<String, Value>) -> Option<String> {
    raw.get("call_id").and_then(non_empty).or_else(|| {
        raw.get("call")
            .and_then(|c| c.get("call_id"))
            .and_then(non_empty)
    })
}

fn non_empty(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// The call body for `tool` with the AI's `arguments`.
pub fn request(
    tool: &str,
    arguments: Map<String, Value>,
    session: &SessionRef,
    session_timeout: f64,
    agent_name: &str,
    raw: &Map<String, Value>,
) -> CallRequest {
    let mut metadata = Map::new();
    metadata.insert("agent_id".into(), json!(agent_name));
    metadata.insert(
        "call_id".into(),
        call_id(raw).map(Value::String).unwrap_or(Value::Null),
    );
    CallRequest::new(tool, session.id())
        .arguments(arguments)
        .timeout(session_timeout)
        .metadata(metadata)
}

/// `POST /services/{service}/call`, retried only while the policy allows (that is,
/// only when the failed attempt provably did not run).
pub async fn call_with_retry(
    client: &GatewayClient,
    policy: RetryPolicy,
    service: &str,
    request: &CallRequest,
) -> Result<CallResponse, GatewayError> {
    let mut attempt = 1;
    loop {
        match client.call(service, request).await {
            Ok(response) => return Ok(response),
            Err(err) => match policy.decide(attempt, &err) {
                Decision::RetryAfter(wait) => {
                    log().warn(&format!(
                        "mcp_gateway: {service}.{} attempt {attempt} did not run ({err}); \
                         retrying in {} ms",
                        request.tool,
                        wait.as_millis()
                    ));
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Decision::GiveUp => return Err(err),
            },
        }
    }
}

/// `DELETE /sessions/{id}`; an unknown session counts as closed. Closing is
/// idempotent, so a timeout may be retried too.
pub async fn close_with_retry(
    client: &GatewayClient,
    policy: RetryPolicy,
    session_id: &str,
) -> Result<(), GatewayError> {
    let mut attempt = 1;
    loop {
        let err = match client.close_session(session_id).await {
            Ok(_) | Err(GatewayError::NotFound { .. }) => return Ok(()),
            Err(err) => err,
        };
        let retryable = err.provably_not_executed() || matches!(err, GatewayError::Timeout { .. });
        if !retryable || attempt >= policy.attempts {
            return Err(err);
        }
        let wait = match policy.decide(attempt, &err) {
            Decision::RetryAfter(wait) => wait,
            Decision::GiveUp => policy.base_delay,
        };
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn session_prefers_explicit_then_call_id_then_a_fresh_one() {
        assert_eq!(
            session_for(&raw(
                json!({"call_id": "c1", "global_data": {"mcp_call_id": "custom"}})
            )),
            SessionRef::Explicit("custom".into())
        );
        assert_eq!(
            session_for(&raw(json!({"call_id": "c1", "global_data": {}}))),
            SessionRef::Call("c1".into())
        );
        assert_eq!(
            session_for(&raw(json!({"call": {"call_id": "c2"}}))),
            SessionRef::Call("c2".into())
        );
        let a = session_for(&raw(json!({"call_id": ""})));
        let b = session_for(&raw(json!({})));
        assert!(matches!(a, SessionRef::Adhoc(_)) && matches!(b, SessionRef::Adhoc(_)));
        assert_ne!(a, b, "call-less invocations never share a session");
        assert!(a.id().starts_with("adhoc-"));
    }

    #[test]
    fn request_carries_session_timeout_and_metadata() {
        let r = raw(json!({"call_id": "c1"}));
        let mut args = Map::new();
        args.insert("name".into(), json!("Ada"));
        let req = request("greet", args, &session_for(&r), 300.0, "greeter-agent", &r);
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"tool": "greet", "arguments": {"name": "Ada"}, "session_id": "c1",
                   "timeout": 300.0,
                   "metadata": {"agent_id": "greeter-agent", "call_id": "c1"}})
        );
    }
}
