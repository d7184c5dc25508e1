//! Tool definitions as `tools/list` shows them. Built once.

use std::sync::OnceLock;

use serde_json::{Value, json};

/// Every fixed tool, in `tools/list` order.
pub const NAMES: &[&str] = &[
    "echo",
    "greet",
    "add",
    "count",
    "add_todo",
    "list_todos",
    "complete_todo",
    "delete_todo",
    "clear_todos",
    "whoami",
    "meta",
    "sleep",
    "cancelled",
    "crash",
    "stderr_flood",
    "garbage",
    "oversized",
    "noise_then_reply",
    "ask_client",
    "add_tool",
    "image",
    "structured",
    "tool_error",
    "rpc_error",
    "progress",
    "work",
    "spawn_grandchild",
    // hostile.rs
    "alloc_mb",
    "spin_cpu",
    "write_file",
    "fork_many",
    "read_file",
    "list_dir",
    "connect",
    "read_env",
    "spawn_daemon",
    "signal",
    "ptrace",
    "syscall",
    "raw_reply",
    "endless_line",
    "flood_requests",
    "stdout_noise",
    "sample_many",
];

pub fn definitions() -> &'static [Value] {
    static TOOLS: OnceLock<Vec<Value>> = OnceLock::new();
    TOOLS.get_or_init(build)
}

/// A tool added at run time with `add_tool`.
pub fn dynamic_definition(name: &str) -> Value {
    tool(
        name,
        &format!("Dynamic tool added by add_tool; replies \"dynamic {name}\""),
        object(json!({}), &[]),
    )
}

fn tool(name: &str, description: &str, input_schema: Value) -> Value {
    json!({"name": name, "description": description, "inputSchema": input_schema})
}

fn object(properties: Value, required: &[&str]) -> Value {
    let mut schema = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

fn with(mut tool: Value, key: &str, value: Value) -> Value {
    tool[key] = value;
    tool
}

fn integer(description: &str) -> Value {
    json!({"type": "integer", "minimum": 0, "description": description})
}

fn build() -> Vec<Value> {
    let mut tools = build_basic();
    tools.extend(super::hostile::definitions());
    tools
}

fn build_basic() -> Vec<Value> {
    let read_only = json!({"readOnlyHint": true, "openWorldHint": false});
    let todo_id = json!({"id": {"type": "integer", "description": "The todo item ID"}});
    vec![
        with(
            tool(
                "echo",
                "Reply with the given text (\"message\" is accepted as an alias of \"text\")",
                object(
                    json!({
                        "text": {"type": "string", "description": "Text to echo back"},
                        "message": {"type": "string", "description": "Alias of text"},
                    }),
                    &[],
                ),
            ),
            "annotations",
            read_only.clone(),
        ),
        with(
            tool(
                "greet",
                "Greet someone by name",
                object(
                    json!({
                        "name": {"type": "string", "description": "Who to greet"},
                        "style": {"type": "string", "enum": ["plain", "loud"], "default": "plain",
                                  "description": "plain: \"Hello, Ada!\"; loud: \"HELLO, ADA!\""},
                    }),
                    &["name"],
                ),
            ),
            "annotations",
            read_only.clone(),
        ),
        with(
            tool(
                "add",
                "Add two numbers; the sum is also given as structuredContent {\"sum\": n}",
                object(
                    json!({
                        "a": {"type": "number", "description": "First addend"},
                        "b": {"type": "number", "description": "Second addend"},
                    }),
                    &["a", "b"],
                ),
            ),
            "outputSchema",
            object(json!({"sum": {"type": "number"}}), &["sum"]),
        ),
        tool(
            "count",
            "Increment this process's counter and reply its value (1, 2, ...)",
            object(json!({}), &[]),
        ),
        tool(
            "add_todo",
            "Add a new todo item",
            object(
                json!({
                    "text": {"type": "string", "description": "The todo item text"},
                    "priority": {"type": "string", "description": "Priority level (low, medium, high)",
                                 "enum": ["low", "medium", "high"], "default": "medium"},
                }),
                &["text"],
            ),
        ),
        tool(
            "list_todos",
            "List all todo items",
            object(
                json!({
                    "status": {"type": "string", "description": "Filter by status (all, pending, completed)",
                               "enum": ["all", "pending", "completed"], "default": "all"},
                }),
                &[],
            ),
        ),
        tool(
            "complete_todo",
            "Mark a todo item as completed",
            object(todo_id.clone(), &["id"]),
        ),
        tool(
            "delete_todo",
            "Delete a todo item",
            object(todo_id, &["id"]),
        ),
        tool(
            "clear_todos",
            "Clear all todo items",
            object(json!({}), &[]),
        ),
        with(
            tool(
                "whoami",
                "Describe this process as JSON text: pid, ppid, pgid, uid, gid, cwd, argv, env, rlimits",
                object(json!({}), &[]),
            ),
            "annotations",
            read_only,
        ),
        tool(
            "meta",
            "Reply the call's params._meta as JSON text (null when absent)",
            object(json!({}), &[]),
        ),
        tool(
            "sleep",
            "Reply \"slept <ms>\" after ms milliseconds, without blocking other calls; never replies if cancelled",
            object(json!({"ms": integer("Milliseconds to wait")}), &["ms"]),
        ),
        tool(
            "cancelled",
            "Reply the request ids received in notifications/cancelled so far, as a JSON array",
            object(json!({}), &[]),
        ),
        tool(
            "crash",
            "Write message to stderr and exit at once with code, without replying",
            object(
                json!({
                    "code": {"type": "integer", "default": 3, "description": "Exit status"},
                    "message": {"type": "string", "description": "Last words, written to stderr"},
                }),
                &[],
            ),
        ),
        tool(
            "stderr_flood",
            "Write bytes bytes of text lines to stderr, then reply \"flooded <bytes>\"",
            object(
                json!({"bytes": integer("How many bytes to write to stderr")}),
                &["bytes"],
            ),
        ),
        tool(
            "garbage",
            "Write the non-JSON line \"this is not json\" to stdout, then reply \"ok\"",
            object(json!({}), &[]),
        ),
        tool(
            "oversized",
            "Reply a text content of exactly bytes characters",
            object(
                json!({"bytes": integer("Length of the reply text")}),
                &["bytes"],
            ),
        ),
        tool(
            "noise_then_reply",
            "Write an unrelated notifications/message line of bytes bytes, then reply \"ok\"",
            object(
                json!({"bytes": integer("Length of the notification line")}),
                &["bytes"],
            ),
        ),
        tool(
            "ask_client",
            "Send the client ping (with this call's id), roots/list (id \"r-1\") and sampling/createMessage \
             (id 9999), then reply their responses as JSON text {\"ping\", \"roots\", \"sampling\"}",
            object(
                json!({"timeout_ms": integer("How long to wait for the responses (default 5000)")}),
                &[],
            ),
        ),
        tool(
            "add_tool",
            "Add a tool replying \"dynamic <name>\", send notifications/tools/list_changed, reply \"added <name>\"",
            object(
                json!({"name": {"type": "string", "description": "Name of the new tool"}}),
                &["name"],
            ),
        ),
        tool(
            "image",
            "Reply one image content (a 1x1 PNG)",
            object(json!({}), &[]),
        ),
        with(
            tool(
                "structured",
                "Reply no content and structuredContent {\"a\": 1}",
                object(json!({}), &[]),
            ),
            "outputSchema",
            object(json!({"a": {"type": "integer"}}), &["a"]),
        ),
        tool(
            "tool_error",
            "Reply a tool execution error (isError: true) with message",
            object(
                json!({"message": {"type": "string", "description": "The error text"}}),
                &[],
            ),
        ),
        tool(
            "rpc_error",
            "Reply a JSON-RPC error with code, message and data",
            object(
                json!({
                    "code": {"type": "integer", "default": -32602, "description": "JSON-RPC error code"},
                    "message": {"type": "string", "description": "Error message"},
                    "data": {"description": "Error data (any JSON)"},
                }),
                &[],
            ),
        ),
        tool(
            "progress",
            "Send steps notifications/progress (when _meta.progressToken is set), interval_ms apart, then reply \"done\"",
            object(
                json!({
                    "steps": integer("Number of progress notifications (default 3)"),
                    "interval_ms": integer("Pause after each step (default 0)"),
                }),
                &[],
            ),
        ),
        tool(
            "work",
            "Busy-loop iterations times (hashing), then reply the iteration count",
            object(
                json!({"iterations": integer("Loop iterations")}),
                &["iterations"],
            ),
        ),
        tool(
            "spawn_grandchild",
            "Start `sleep <seconds>` (default 1000) without waiting for it; reply its pid",
            object(
                json!({"seconds": integer("Argument to sleep (default 1000)")}),
                &[],
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_definitions_in_order() {
        let names: Vec<&str> = definitions()
            .iter()
            .map(|t| t["name"].as_str().expect("a name"))
            .collect();
        assert_eq!(names, NAMES);
    }

    #[test]
    fn every_definition_is_a_valid_tool() {
        for tool in definitions() {
            assert!(
                tool["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{tool}"
            );
            let schema = &tool["inputSchema"];
            assert_eq!(schema["type"], "object", "{tool}");
            assert!(schema["properties"].is_object(), "{tool}");
            for required in schema["required"].as_array().into_iter().flatten() {
                let key = required.as_str().expect("a string");
                assert!(schema["properties"].get(key).is_some(), "{tool}: {key}");
            }
        }
    }
}
