//! The names the official conformance suite (`@modelcontextprotocol/conformance` 0.1.16,
//! server scenarios) calls, written from the scenario descriptions. Served only with
//! `--conformance`, on top of the usual tools, with prompts, resources, completion and
//! logging, so the suite can be run against the gateway's `/mcp` with this server behind it.

use std::sync::mpsc::{self};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Call, Outcome, basic::PNG_1X1, error_result, text};
use crate::jsonrpc;
use crate::output;
use crate::server::Server;

pub const NAMES: &[&str] = &[
    "test_simple_text",
    "test_image_content",
    "test_audio_content",
    "test_embedded_resource",
    "test_multiple_content_types",
    "test_tool_with_logging",
    "test_error_handling",
    "test_tool_with_progress",
    "test_sampling",
    "test_elicitation",
    "test_elicitation_sep1034_defaults",
    "test_elicitation_sep1330_enums",
    "json_schema_2020_12_tool",
];

/// A 44-byte WAV header with no samples (valid RIFF, 8 kHz mono 8-bit).
const WAV_EMPTY: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=";
const ASK_TIMEOUT: Duration = Duration::from_secs(10);

pub fn capabilities() -> Value {
    json!({
        "tools": {"listChanged": true},
        "prompts": {"listChanged": true},
        "resources": {"subscribe": true, "listChanged": true},
        "logging": {},
        "completions": {},
    })
}

fn no_args(name: &str, description: &str) -> Value {
    json!({"name": name, "description": description, "inputSchema": {"type": "object", "properties": {}}})
}

pub fn definitions() -> Vec<Value> {
    let mut tools: Vec<Value> = [
        ("test_simple_text", "Reply a fixed text"),
        ("test_image_content", "Reply a 1x1 PNG"),
        ("test_audio_content", "Reply an empty WAV"),
        ("test_embedded_resource", "Reply an embedded text resource"),
        (
            "test_multiple_content_types",
            "Reply text, image and resource",
        ),
        (
            "test_tool_with_logging",
            "Log three info messages 50 ms apart",
        ),
        ("test_error_handling", "Reply a tool execution error"),
        (
            "test_tool_with_progress",
            "Report progress 0, 50, 100 of 100",
        ),
        (
            "test_elicitation_sep1034_defaults",
            "Elicit a form with defaults",
        ),
        (
            "test_elicitation_sep1330_enums",
            "Elicit a form with every enum shape",
        ),
    ]
    .iter()
    .map(|(name, description)| no_args(name, description))
    .collect();
    tools.push(
        json!({"name": "test_sampling", "description": "Ask the client's LLM", "inputSchema": {
        "type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]}}),
    );
    tools.push(
        json!({"name": "test_elicitation", "description": "Ask the user", "inputSchema": {
        "type": "object", "properties": {"message": {"type": "string"}}}}),
    );
    tools.push(json!({"name": "json_schema_2020_12_tool",
        "description": "Tool with JSON Schema 2020-12 features", "inputSchema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {"address": {"type": "object", "properties": {
            "street": {"type": "string"}, "city": {"type": "string"}}}},
        "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
        "additionalProperties": false}}));
    tools
}

/// Tools that wait (on time or on the client) run on their own thread.
pub fn runs_on_thread(name: &str) -> bool {
    name == "test_tool_with_logging"
        || name == "test_tool_with_progress"
        || name == "test_sampling"
        || name.starts_with("test_elicitation")
}

pub fn call(call: &Call<'_>, name: &str) -> Outcome {
    match name {
        "test_simple_text" => text("This is a simple text response for testing."),
        "json_schema_2020_12_tool" => {
            text(format!("received {}", Value::Object(call.args.clone())))
        }
        "test_image_content" => Outcome::Result(
            json!({"content": [{"type": "image", "data": PNG_1X1, "mimeType": "image/png"}]}),
        ),
        "test_audio_content" => Outcome::Result(
            json!({"content": [{"type": "audio", "data": WAV_EMPTY, "mimeType": "audio/wav"}]}),
        ),
        "test_embedded_resource" => {
            Outcome::Result(json!({"content": [{"type": "resource", "resource": {
            "uri": "test://embedded-resource", "mimeType": "text/plain",
            "text": "This is an embedded resource content."}}]}))
        }
        "test_multiple_content_types" => Outcome::Result(json!({"content": [
            {"type": "text", "text": "Multiple content types test:"},
            {"type": "image", "data": PNG_1X1, "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "test://mixed-content-resource",
                "mimeType": "application/json", "text": "{\"test\":\"data\",\"value\":123}"}},
        ]})),
        "test_tool_with_logging" => {
            for (i, data) in [
                "Tool execution started",
                "Tool processing data",
                "Tool execution completed",
            ]
            .iter()
            .enumerate()
            {
                if i > 0 {
                    std::thread::sleep(Duration::from_millis(50));
                }
                output::send(&jsonrpc::notification(
                    "notifications/message",
                    json!({"level": "info", "logger": "conformance", "data": data}),
                ));
            }
            text("Tool with logging executed successfully")
        }
        "test_error_handling" => Outcome::Result(error_result(
            "This tool intentionally returns an error for testing",
        )),
        "test_tool_with_progress" => {
            let token = call.meta.get("progressToken").filter(|t| !t.is_null());
            for (i, progress) in [0, 50, 100].iter().enumerate() {
                if i > 0 {
                    std::thread::sleep(Duration::from_millis(50));
                }
                if let Some(token) = token {
                    output::send(&jsonrpc::notification(
                        "notifications/progress",
                        json!({"progressToken": token, "progress": progress, "total": 100}),
                    ));
                }
            }
            text("Tool with progress executed successfully")
        }
        "test_sampling" => {
            let prompt = call
                .args
                .get("prompt")
                .and_then(Value::as_str)
                .unwrap_or("Hello");
            let params = json!({"messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
                "maxTokens": 100});
            match ask(call, "sampling/createMessage", params) {
                Ok(result) => text(format!(
                    "LLM response: {}",
                    result["content"]["text"].as_str().unwrap_or_default()
                )),
                Err(message) => Outcome::Result(error_result(message)),
            }
        }
        elicit => {
            let params = match elicit {
                "test_elicitation" => json!({
                    "message": call.args.get("message").and_then(Value::as_str).unwrap_or("Please provide your information"),
                    "requestedSchema": {"type": "object", "properties": {
                        "username": {"type": "string", "description": "Your username"},
                        "email": {"type": "string", "description": "Your email address"}},
                        "required": ["username", "email"]}}),
                "test_elicitation_sep1034_defaults" => json!({
                    "message": "Please review and update the form fields with defaults",
                    "requestedSchema": {"type": "object", "properties": {
                        "name": {"type": "string", "description": "User name", "default": "John Doe"},
                        "age": {"type": "integer", "description": "User age", "default": 30},
                        "score": {"type": "number", "description": "User score", "default": 95.5},
                        "status": {"type": "string", "description": "User status",
                            "enum": ["active", "inactive", "pending"], "default": "active"},
                        "verified": {"type": "boolean", "description": "Verification status", "default": true}}}}),
                _ => json!({
                    "message": "Please select options from the enum fields",
                    "requestedSchema": {"type": "object", "properties": {
                        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
                        "titledSingle": {"type": "string", "oneOf": [
                            {"const": "value1", "title": "First Option"},
                            {"const": "value2", "title": "Second Option"},
                            {"const": "value3", "title": "Third Option"}]},
                        "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"],
                            "enumNames": ["Option One", "Option Two", "Option Three"]},
                        "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
                        "titledMulti": {"type": "array", "items": {"anyOf": [
                            {"const": "value1", "title": "First Choice"},
                            {"const": "value2", "title": "Second Choice"},
                            {"const": "value3", "title": "Third Choice"}]}}}}}),
            };
            match ask(call, "elicitation/create", params) {
                Ok(result) => text(format!(
                    "Elicitation completed: action={}, content={}",
                    result["action"].as_str().unwrap_or("unknown"),
                    result.get("content").cloned().unwrap_or(json!({}))
                )),
                Err(message) => Outcome::Result(error_result(message)),
            }
        }
    }
}

/// Send a request to the client and wait for its result.
fn ask(call: &Call<'_>, method: &str, params: Value) -> Result<Value, String> {
    let state = &call.server.state;
    let token = state.next_token();
    let id = json!(format!("conformance-{token}"));
    let (tx, rx) = mpsc::channel();
    state.inbox.expect(&id, token, tx);
    output::send(&jsonrpc::request(id, method, Some(params)));
    let response = rx.recv_timeout(ASK_TIMEOUT);
    state.inbox.forget(token);
    let response = response.map_err(|_| format!("no answer to {method}"))?;
    match response.get("result") {
        Some(result) => Ok(result.clone()),
        None => Err(format!("{method} refused: {}", response["error"])),
    }
}

/// Prompts, resources, completion and logging; false for any other method.
pub fn request(server: &Server, id: &Value, method: &str, params: &Value) -> bool {
    let _ = server;
    let result = match method {
        "prompts/list" => json!({"prompts": [
            {"name": "test_simple_prompt", "description": "A simple prompt"},
            {"name": "test_prompt_with_arguments", "description": "A prompt with arguments", "arguments": [
                {"name": "arg1", "description": "First test argument", "required": true},
                {"name": "arg2", "description": "Second test argument", "required": true}]},
            {"name": "test_prompt_with_embedded_resource", "description": "A prompt with a resource", "arguments": [
                {"name": "resourceUri", "description": "URI of the resource to embed", "required": true}]},
            {"name": "test_prompt_with_image", "description": "A prompt with an image"},
        ]}),
        "prompts/get" => match prompt(params) {
            Some(result) => result,
            None => {
                let name = params["name"].as_str().unwrap_or_default();
                output::send(&jsonrpc::error(
                    id,
                    jsonrpc::INVALID_PARAMS,
                    &format!("Unknown prompt: {name}"),
                    None,
                ));
                return true;
            }
        },
        "resources/list" => json!({"resources": [
            {"uri": "test://static-text", "name": "static-text", "mimeType": "text/plain"},
            {"uri": "test://static-binary", "name": "static-binary", "mimeType": "image/png"},
            {"uri": "test://watched-resource", "name": "watched-resource", "mimeType": "text/plain"},
        ]}),
        "resources/templates/list" => json!({"resourceTemplates": [
            {"uriTemplate": "test://template/{id}/data", "name": "template", "mimeType": "application/json"},
        ]}),
        "resources/read" => {
            let uri = params["uri"].as_str().unwrap_or_default();
            match resource(uri) {
                Some(contents) => json!({"contents": [contents]}),
                None => {
                    output::send(&jsonrpc::error(
                        id,
                        -32002,
                        &format!("Resource not found: {uri}"),
                        Some(json!({"uri": uri})),
                    ));
                    return true;
                }
            }
        }
        "resources/subscribe" | "resources/unsubscribe" | "logging/setLevel" => json!({}),
        "completion/complete" => {
            let value = params["argument"]["value"].as_str().unwrap_or_default();
            let values: Vec<&str> = ["paris", "park", "party"]
                .into_iter()
                .filter(|v| v.starts_with(value))
                .collect();
            json!({"completion": {"values": values, "total": values.len(), "hasMore": false}})
        }
        _ => return false,
    };
    output::send(&jsonrpc::result(id, result));
    true
}

fn prompt(params: &Value) -> Option<Value> {
    let args = &params["arguments"];
    let user = |content: Value| json!({"role": "user", "content": content});
    let messages = match params["name"].as_str()? {
        "test_simple_prompt" => vec![user(
            json!({"type": "text", "text": "This is a simple prompt for testing."}),
        )],
        "test_prompt_with_arguments" => vec![user(json!({"type": "text", "text": format!(
            "Prompt with arguments: arg1='{}', arg2='{}'",
            args["arg1"].as_str().unwrap_or_default(),
            args["arg2"].as_str().unwrap_or_default()
        )}))],
        "test_prompt_with_embedded_resource" => vec![
            user(json!({"type": "resource", "resource": {
                "uri": args["resourceUri"].as_str().unwrap_or("test://example-resource"),
                "mimeType": "text/plain", "text": "Embedded resource content for testing."}})),
            user(json!({"type": "text", "text": "Please process the embedded resource above."})),
        ],
        "test_prompt_with_image" => vec![
            user(json!({"type": "image", "data": PNG_1X1, "mimeType": "image/png"})),
            user(json!({"type": "text", "text": "Please analyze the image above."})),
        ],
        _ => return None,
    };
    Some(json!({ "messages": messages }))
}

fn resource(uri: &str) -> Option<Value> {
    if let Some(id) = uri
        .strip_prefix("test://template/")
        .and_then(|rest| rest.strip_suffix("/data"))
    {
        let text = json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
        return Some(json!({"uri": uri, "mimeType": "application/json", "text": text.to_string()}));
    }
    match uri {
        "test://static-text" => Some(json!({"uri": uri, "mimeType": "text/plain",
            "text": "This is the content of the static text resource."})),
        "test://static-binary" => {
            Some(json!({"uri": uri, "mimeType": "image/png", "blob": PNG_1X1}))
        }
        "test://watched-resource" | "test://example-resource" => {
            Some(json!({"uri": uri, "mimeType": "text/plain", "text": "Watched resource content."}))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_definitions() {
        let defs = definitions();
        let mut names: Vec<&str> = defs.iter().filter_map(|t| t["name"].as_str()).collect();
        let mut expected = NAMES.to_vec();
        names.sort_unstable();
        expected.sort_unstable();
        assert_eq!(names, expected);
    }

    #[test]
    fn template_resources_substitute_the_id() {
        let contents = resource("test://template/123/data").expect("a template match");
        assert!(contents["text"].as_str().unwrap().contains("123"));
        assert!(resource("test://nothing").is_none());
        assert_eq!(
            prompt(&json!({"name": "test_prompt_with_arguments", "arguments": {"arg1": "a", "arg2": "b"}}))
                .unwrap()["messages"][0]["content"]["text"],
            "Prompt with arguments: arg1='a', arg2='b'"
        );
    }
}
