//! The text a SWAIG function returns to the AI, which it turns into speech.
//!
//! Successful results are passed through. Failures become short sentences that tell
//! the model what happened and what it may do next (retry later, check before
//! retrying, fix the arguments); gateway internals (error codes, stderr, URLs) stay in
//! the logs.

use mcp_gateway_client::{CallResponse, GatewayError};

/// Longest tool text passed to the model on a tool error.
const MAX_TOOL_ERROR_CHARS: usize = 500;

/// Longest JSON-RPC error message passed to the model.
const MAX_SERVER_WORDS_CHARS: usize = 200;

/// The SWAIG response for a successful gateway answer.
pub fn result_text(service: &str, tool: &str, response: &CallResponse) -> String {
    let text = response.text();
    if response.is_error {
        let detail = truncate(text.trim(), MAX_TOOL_ERROR_CHARS);
        return if detail.is_empty() {
            format!(
                "The {} tool of the {} service reported a problem and could not finish.",
                spoken(tool),
                spoken(service)
            )
        } else {
            format!(
                "The {} tool of the {} service reported a problem: {detail}",
                spoken(tool),
                spoken(service)
            )
        };
    }
    if text.trim().is_empty() {
        "Action completed.".to_owned()
    } else {
        text
    }
}

/// The SWAIG response for a failed gateway request.
pub fn error_text(service: &str, tool: &str, err: &GatewayError) -> String {
    let (service, tool) = (spoken(service), spoken(tool));
    match err {
        GatewayError::ToolRejected { code, message, .. } => {
            let advice = if *code == -32602 {
                " Check the details with the caller and try again."
            } else {
                ""
            };
            match server_words(message) {
                Some(words) => format!("The {tool} tool refused the request: {words}.{advice}"),
                None => {
                    format!("The {tool} tool of the {service} service refused the request.{advice}")
                }
            }
        }
        GatewayError::Validation { .. } => format!(
            "The request to the {tool} tool was not valid, so nothing was done. \
             Check the details and try again."
        ),
        GatewayError::NotFound { .. } => {
            format!("The {tool} tool of the {service} service is not available right now.")
        }
        GatewayError::Unauthorized { .. } => "The external tools cannot be used right now \
             because of a configuration problem. Nothing was done."
            .to_owned(),
        GatewayError::RateLimited { .. } => format!(
            "The {service} service is busy right now, so nothing was done. \
             Please try again in a moment."
        ),
        GatewayError::Unavailable { .. } => format!(
            "The {service} service is unavailable right now, so nothing was done. \
             Please try again later."
        ),
        GatewayError::Connect { .. } => "The external tools cannot be reached right now, \
             so nothing was done. Please try again later."
            .to_owned(),
        GatewayError::Timeout { .. } => format!(
            "The {service} service took too long to answer. The action may or may not \
             have happened, so check before trying it again."
        ),
        GatewayError::ChildExited { .. } => format!(
            "The {service} service stopped unexpectedly while working on that. The action \
             may or may not have happened, so check before trying it again."
        ),
        GatewayError::Other { .. } => format!(
            "Something went wrong while using the {tool} tool. The action may or may not \
             have happened, so check before trying it again."
        ),
    }
}

/// The SWAIG response when the gateway has not been reached since the agent started.
pub fn not_discovered_text() -> String {
    "The external tools cannot be reached right now, so nothing was done. \
     Please try again later."
        .to_owned()
}

/// The SWAIG response for a tool that is not among the configured ones.
pub fn unknown_tool_text(service: &str, tool: &str) -> String {
    format!(
        "There is no tool called {} in the {} service. Use one of the listed tools.",
        spoken(tool),
        spoken(service)
    )
}

/// The SWAIG response when the skill itself failed (a bug, not the gateway).
pub fn internal_error_text() -> String {
    "Something went wrong while using the external tools, and it is not clear whether the \
     action happened. Check before trying it again."
        .to_owned()
}

/// The first line of an MCP server's JSON-RPC error message (meant for its client),
/// bounded; `None` for an empty one or what looks like a crash dump.
fn server_words(message: &str) -> Option<String> {
    let line = message
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches('.');
    let dump = ["Traceback", "panicked at"];
    if line.is_empty() || dump.iter().any(|d| line.contains(d)) {
        return None;
    }
    Some(truncate(line, MAX_SERVER_WORDS_CHARS))
}

/// `add_todo` -> `add todo`, for speech.
fn spoken(name: &str) -> String {
    name.replace(['_', '-', '.'], " ")
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push_str("...");
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_gateway_client::TimeoutOrigin;
    use serde_json::json;

    fn response(result: serde_json::Value, is_error: bool) -> CallResponse {
        serde_json::from_value(json!({"result": result, "isError": is_error})).unwrap()
    }

    #[test]
    fn results_pass_through_and_empty_ones_say_done() {
        assert_eq!(
            result_text("greeter", "greet", &response(json!("Hello, Ada!"), false)),
            "Hello, Ada!"
        );
        assert_eq!(
            result_text("todo", "clear", &response(json!(""), false)),
            "Action completed."
        );
        assert_eq!(
            result_text("todo", "clear", &response(json!(null), false)),
            "Action completed."
        );
        assert_eq!(
            result_text("calc", "add", &response(json!({"sum": 3}), false)),
            r#"{"sum":3}"#
        );
    }

    #[test]
    fn tool_errors_are_explained_with_the_tools_own_words() {
        let text = result_text("todo", "add_todo", &response(json!("list is full"), true));
        assert_eq!(
            text,
            "The add todo tool of the todo service reported a problem: list is full"
        );
        let long = "x".repeat(2000);
        let text = result_text("todo", "add_todo", &response(json!(long), true));
        assert!(text.len() < 600, "tool error text is bounded");
    }

    #[test]
    fn every_error_kind_has_a_spoken_answer_without_internals() {
        let secret = "stderr: Traceback /srv/app.py line 3; http://admin:changeme@gw";
        let cases = vec![
            GatewayError::Unauthorized {
                message: secret.into(),
            },
            GatewayError::NotFound {
                code: "unknown_tool".into(),
                message: secret.into(),
            },
            GatewayError::Validation {
                code: "invalid_request".into(),
                message: secret.into(),
            },
            GatewayError::ToolRejected {
                code: -32000,
                message: "Traceback (most recent call last): /srv/app.py".into(),
                data: None,
            },
            GatewayError::RateLimited { retry_after: None },
            GatewayError::ChildExited {
                message: secret.into(),
                exit_status: None,
                stderr_tail: Some(secret.into()),
            },
            GatewayError::Unavailable {
                code: "session_limit".into(),
                message: secret.into(),
            },
            GatewayError::Timeout {
                origin: TimeoutOrigin::Gateway,
            },
            GatewayError::Connect {
                message: secret.into(),
            },
            GatewayError::Other {
                status: Some(500),
                message: secret.into(),
            },
        ];
        let mut seen = std::collections::HashSet::new();
        for err in &cases {
            let text = error_text("todo", "add_todo", err);
            assert!(!text.is_empty());
            for leak in [
                "Traceback",
                "changeme",
                "http",
                "stderr",
                "_todo",
                "500",
                "session_limit",
            ] {
                assert!(!text.contains(leak), "{err:?} leaked {leak:?}: {text}");
            }
            seen.insert(text);
        }
        assert!(seen.len() >= 9, "error kinds are told apart");

        // What ran and what did not is said plainly.
        assert!(
            error_text(
                "todo",
                "add_todo",
                &GatewayError::RateLimited { retry_after: None }
            )
            .contains("nothing was done")
        );
        assert!(
            error_text(
                "todo",
                "add_todo",
                &GatewayError::Timeout {
                    origin: TimeoutOrigin::Client
                }
            )
            .contains("may or may not")
        );
        // Invalid params: the server's explanation helps the model fix its arguments.
        let text = error_text(
            "todo",
            "add_todo",
            &GatewayError::ToolRejected {
                code: -32602,
                message: "text is required".into(),
                data: None,
            },
        );
        assert_eq!(
            text,
            "The add todo tool refused the request: text is required. \
             Check the details with the caller and try again."
        );
        let text = error_text(
            "todo",
            "complete_todo",
            &GatewayError::ToolRejected {
                code: -32603,
                message: "Todo #7 not found\nmore lines".into(),
                data: None,
            },
        );
        assert_eq!(
            text,
            "The complete todo tool refused the request: Todo #7 not found."
        );
    }
}
