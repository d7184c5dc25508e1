//! The audit record of a front-door `tools/call` (`audit.file`): taken before the call is
//! handed to the child, written once its answer is known.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::rpc;
use crate::audit::{Audit, AuditError, Outcome, ToolCall};

/// What the record of one call needs, from before the call consumes it.
pub(super) struct Audited {
    audit: Arc<Audit>,
    principal: String,
    client: IpAddr,
    service: String,
    tool: String,
    session: String,
    arguments: Value,
    started: Instant,
}

impl Audited {
    pub(super) fn new(
        audit: Arc<Audit>,
        principal: String,
        client: IpAddr,
        call: &super::relay::ToolCall,
        session: &str,
    ) -> Self {
        Self {
            audit,
            principal,
            client,
            service: call.service.clone(),
            tool: call.tool.clone(),
            session: session.to_string(),
            arguments: call.params.get("arguments").cloned().unwrap_or(Value::Null),
            started: Instant::now(),
        }
    }

    /// Record the call's answer (`None`: cancelled by the client); the answer to send, which is
    /// an error when the record is lost and `audit.on_failure` is `"fail"`.
    pub(super) fn finish(self, id: &Value, response: Option<Value>) -> Option<Value> {
        let code = response
            .as_ref()
            .and_then(|r| r.get("error"))
            .map(|e| format!("jsonrpc {}", e.get("code").unwrap_or(&Value::Null)));
        let outcome = match (&response, &code) {
            (None, _) => Outcome::Failed("cancelled"),
            (Some(_), Some(code)) => Outcome::Failed(code),
            (Some(r), None) => Outcome::Answered {
                is_error: r["result"]["isError"] == Value::Bool(true),
            },
        };
        let record = ToolCall {
            via: "mcp",
            principal: Some(&self.principal),
            client: Some(self.client),
            service: &self.service,
            tool: &self.tool,
            session: &self.session,
            arguments: &self.arguments,
            outcome,
            duration: self.started.elapsed(),
        };
        match self.audit.tool_call(&record) {
            Ok(()) => response,
            Err(e) => Some(unavailable(id, &e)),
        }
    }
}

/// The JSON-RPC error of a call refused (or whose record is lost) for the audit log.
pub(super) fn unavailable(id: &Value, e: &AuditError) -> Value {
    rpc::error(id, rpc::GATEWAY_ERROR, e.to_string())
}
