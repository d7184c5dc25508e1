//! `failing`: a tool that always fails and counts its executions in this process, so a
//! test can tell whether a client ran it more than once (retries). Its arguments use a
//! nested object, an array and an enum, so it also exercises schema conversion.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value, json};

use super::{Outcome, error_result};

pub const NAMES: &[&str] = &["failing"];

/// Executions of `failing` in this process (one server per process).
static EXECUTIONS: AtomicU64 = AtomicU64::new(0);

pub fn definitions() -> Vec<Value> {
    vec![json!({
        "name": "failing",
        "description": "Count this execution, then fail: \"failing call #<n>: <reason>\" as a tool \
                        error (isError) or, with mode rpc_error, as JSON-RPC error -32000",
        "inputSchema": {
            "type": "object",
            "properties": {
                "mode": {"type": "string", "enum": ["tool_error", "rpc_error"], "default": "tool_error",
                         "description": "How to fail"},
                "detail": {
                    "type": "object",
                    "description": "Why it fails",
                    "properties": {
                        "reason": {"type": "string", "description": "Text after the count"},
                        "tags": {"type": "array", "items": {"type": "string"}, "description": "Ignored labels"}
                    },
                    "required": ["reason"]
                }
            },
            "required": ["mode"]
        }
    })]
}

pub fn call(args: &Map<String, Value>) -> Outcome {
    let n = EXECUTIONS.fetch_add(1, Ordering::Relaxed) + 1;
    let reason = args
        .get("detail")
        .and_then(|d| d.get("reason"))
        .and_then(Value::as_str)
        .unwrap_or("failed on purpose");
    let message = format!("failing call #{n}: {reason}");
    match args.get("mode").and_then(Value::as_str) {
        Some("rpc_error") => Outcome::RpcError {
            code: -32000,
            message,
            data: None,
        },
        _ => Outcome::Result(error_result(message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_execution_and_fails_as_asked() {
        let args = json!({"mode": "rpc_error", "detail": {"reason": "r"}});
        let Outcome::RpcError { code, message, .. } = call(args.as_object().unwrap()) else {
            panic!("a JSON-RPC error");
        };
        assert_eq!(code, -32000);
        assert!(message.starts_with("failing call #") && message.ends_with(": r"));
        let Outcome::Result(result) = call(&Map::new()) else {
            panic!("a result");
        };
        assert_eq!(result["isError"], true);
    }
}
