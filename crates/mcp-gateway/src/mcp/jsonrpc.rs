//! JSON-RPC 2.0 as MCP uses it over stdio: classify what a child wrote, build what we write.
//!
//! Pure: no IO, no state. Our request ids are integers we allocate; a child's request ids are
//! whatever it chose. A message carrying `method` is never a response, whatever its `id`.

use serde_json::{Map, Value, json};

use super::McpError;

/// The JSON text was not valid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// Not a valid JSON-RPC message (a batch, no `jsonrpc: "2.0"`, a bad id...).
pub const INVALID_REQUEST: i64 = -32600;
/// A method the receiver does not serve.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// The method exists but its params are wrong (also: an unknown tool or service).
pub const INVALID_PARAMS: i64 = -32602;
/// What a response with an `error` but no usable code is taken to mean.
pub const INTERNAL_ERROR: i64 = -32603;
/// MCP: the request was cancelled before it was answered.
pub const REQUEST_CANCELLED: i64 = -32800;
/// The gateway's own (-32000..-32099, implementation-defined): it could not serve the
/// request (child down, cap reached, too many messages waiting).
pub const GATEWAY_ERROR: i64 = -32000;
/// The gateway's own: the `Mcp-Session-Id` names no live session of the front door.
pub const SESSION_NOT_FOUND: i64 = -32001;
/// 2026-07-28: a header (`Mcp-Method`, `Mcp-Name`, `MCP-Protocol-Version`) disagrees with
/// the body.
pub const HEADER_MISMATCH: i64 = -32020;
/// 2026-07-28: the request's protocol version is not one the gateway speaks.
pub const UNSUPPORTED_VERSION: i64 = -32022;

/// The refusal of a child's request that would be relayed to an MCP client, but too many
/// of its messages already wait to be relayed.
pub const BUSY: (i64, &str) = (
    GATEWAY_ERROR,
    "too many messages wait to be relayed to the client",
);

/// One message read from a child, classified.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A request from the child (`method` and `id`): it must get an answer.
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    /// A notification from the child (`method`, no `id`).
    Notification { method: String, params: Value },
    /// A response to one of our requests (no `method`; `id` with `result` or `error`).
    Response { id: Value, outcome: Outcome },
    /// Anything else, with the reason; logged and skipped.
    Invalid(String),
}

/// What a response says.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Result(Value),
    Error {
        code: i64,
        message: String,
        data: Option<Value>,
    },
    /// A response whose `error` is not a JSON-RPC error object, or with both `result` and `error`.
    Malformed(String),
}

impl Outcome {
    pub fn into_result(self) -> Result<Value, McpError> {
        match self {
            Outcome::Result(value) => Ok(value),
            Outcome::Error {
                code,
                message,
                data,
            } => Err(McpError::Rpc {
                code,
                message,
                data,
            }),
            Outcome::Malformed(why) => Err(McpError::Protocol(why)),
        }
    }
}

/// Parse and classify one line (without its newline).
pub fn classify(line: &[u8]) -> Incoming {
    match serde_json::from_slice::<Value>(line) {
        Ok(value) => classify_value(value),
        Err(err) => Incoming::Invalid(not_json(line, &err)),
    }
}

/// Why a line is not JSON, in words that name what an encoder did (Python's `json.dumps`
/// writes `NaN` and `Infinity` by default; serde_json stops at 128 levels of nesting).
fn not_json(line: &[u8], err: &serde_json::Error) -> String {
    let what = err.to_string();
    let at = format!("line {} column {}", err.line(), err.column());
    if what.starts_with("recursion limit exceeded") {
        return format!("not valid JSON: nested deeper than 128 levels at {at}");
    }
    if err.line() == 1 && (what.starts_with("expected value") || what.starts_with("invalid number"))
    {
        // The column is that of the byte where the value went wrong (1-based).
        let from = err.column().saturating_sub(2).min(line.len());
        let near = &line[from..line.len().min(from + 10)];
        for token in ["NaN", "Infinity"] {
            if near.windows(token.len()).any(|w| w == token.as_bytes()) {
                return format!("not valid JSON: {token} is not a JSON number, at {at}");
            }
        }
    }
    format!("not valid JSON: {what}")
}

pub fn classify_value(value: Value) -> Incoming {
    let Value::Object(mut msg) = value else {
        return Incoming::Invalid("not a JSON object".into());
    };
    let params = |msg: &mut Map<String, Value>| msg.remove("params").unwrap_or(Value::Null);
    match msg.remove("method") {
        Some(Value::String(method)) => match msg.remove("id") {
            Some(id) => Incoming::Request {
                id,
                params: params(&mut msg),
                method,
            },
            None => Incoming::Notification {
                params: params(&mut msg),
                method,
            },
        },
        Some(_) => Incoming::Invalid("method is not a string".into()),
        None => {
            let Some(id) = msg.remove("id") else {
                return Incoming::Invalid(
                    "neither a request, a notification nor a response".into(),
                );
            };
            let result = msg.remove("result");
            let error = msg.remove("error").filter(|e| !e.is_null());
            let outcome = match (result, error) {
                (None, None) => {
                    return Incoming::Invalid(
                        "a message with an id but no method, result or error".into(),
                    );
                }
                (Some(_), Some(_)) => {
                    Outcome::Malformed("response has both result and error".into())
                }
                (Some(result), None) => Outcome::Result(result),
                (None, Some(error)) => error_outcome(error),
            };
            Incoming::Response { id, outcome }
        }
    }
}

fn error_outcome(error: Value) -> Outcome {
    let Value::Object(mut error) = error else {
        return Outcome::Malformed("response error is not an object".into());
    };
    let Some(code) = error.get("code").and_then(Value::as_i64) else {
        return Outcome::Malformed("response error has no integer code".into());
    };
    let message = match error.remove("message") {
        Some(Value::String(message)) => message,
        _ => String::new(),
    };
    Outcome::Error {
        code,
        message,
        data: error.remove("data"),
    }
}

/// The id of a response, if it can be one of ours (a non-negative integer).
pub fn our_id(id: &Value) -> Option<u64> {
    id.as_u64()
}

/// How the gateway answers a request from a child. We advertise no client capabilities, so a
/// compliant server only pings; `roots/list` gets an empty list, everything else is refused.
pub fn answer_child_request(method: &str) -> Result<Value, (i64, &'static str)> {
    match method {
        "ping" => Ok(json!({})),
        "roots/list" => Ok(json!({ "roots": [] })),
        _ => Err((METHOD_NOT_FOUND, "method not supported by the gateway")),
    }
}

/// Requests of the child that a subscriber may relay to an MCP client.
pub fn is_relayable(method: &str) -> bool {
    matches!(
        method,
        "sampling/createMessage" | "elicitation/create" | "roots/list"
    )
}

/// Whether a timed-out or abandoned request gets `notifications/cancelled` (never `initialize`).
pub fn is_cancellable(method: &str) -> bool {
    method != "initialize"
}

/// A request. `params: null` is left out.
pub fn request(id: &Value, method: &str, params: Value) -> Value {
    let mut msg = json!({ "jsonrpc": "2.0", "id": id, "method": method });
    if !params.is_null() {
        msg["params"] = params;
    }
    msg
}

/// A notification. `params: null` is left out.
pub fn notification(method: &str, params: Value) -> Value {
    let mut msg = json!({ "jsonrpc": "2.0", "method": method });
    if !params.is_null() {
        msg["params"] = params;
    }
    msg
}

/// A success response.
pub fn result(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// An error response.
pub fn error(id: &Value, code: i64, message: impl Into<String>) -> Value {
    error_with_data(id, code, message, None)
}

/// An error response; `data` is left out when `None`.
pub fn error_with_data(
    id: &Value,
    code: i64,
    message: impl Into<String>,
    data: Option<Value>,
) -> Value {
    let mut error = json!({ "code": code, "message": message.into() });
    if let Some(data) = data {
        error["data"] = data;
    }
    json!({ "jsonrpc": "2.0", "id": id, "error": error })
}

/// A response to a request: its result, or a `(code, message)` refusal.
pub fn answer(id: &Value, outcome: Result<Value, (i64, impl Into<String>)>) -> Value {
    match outcome {
        Ok(value) => result(id, value),
        Err((code, message)) => error(id, code, message),
    }
}

/// `notifications/cancelled` for our request `id`.
pub fn cancelled(id: u64, reason: &str) -> Value {
    notification(
        "notifications/cancelled",
        json!({ "requestId": id, "reason": reason }),
    )
}

/// A request line, newline included. `params: null` is left out.
pub fn encode_request(id: u64, method: &str, params: &Value) -> Vec<u8> {
    to_line(&request(&json!(id), method, params.clone()))
}

/// A notification line, newline included. `params: null` is left out.
pub fn encode_notification(method: &str, params: &Value) -> Vec<u8> {
    to_line(&notification(method, params.clone()))
}

/// A success response to a child's request.
pub fn encode_result(id: &Value, value: Value) -> Vec<u8> {
    to_line(&result(id, value))
}

/// An error response to a child's request.
pub fn encode_error(id: &Value, code: i64, message: &str) -> Vec<u8> {
    to_line(&error(id, code, message))
}

/// `notifications/cancelled` for our request `id`, as a line.
pub fn encode_cancelled(id: u64, reason: &str) -> Vec<u8> {
    to_line(&cancelled(id, reason))
}

fn to_line(msg: &Value) -> Vec<u8> {
    // Compact serde_json output escapes control characters: never a raw newline inside.
    let mut line = serde_json::to_vec(msg).unwrap_or_default();
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str, expected: Incoming) {
        assert_eq!(classify(line.as_bytes()), expected, "classifying {line}");
    }

    fn invalid(line: &str) {
        let got = classify(line.as_bytes());
        assert!(
            matches!(got, Incoming::Invalid(_)),
            "{line} should be invalid, got {got:?}"
        );
    }

    #[test]
    fn requests_from_the_child_are_never_responses() {
        check(
            r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#,
            Incoming::Request {
                id: json!(3),
                method: "ping".into(),
                params: Value::Null,
            },
        );
        // Even with a result field, a message with a method is a request.
        check(
            r#"{"jsonrpc":"2.0","id":3,"method":"ping","result":{}}"#,
            Incoming::Request {
                id: json!(3),
                method: "ping".into(),
                params: Value::Null,
            },
        );
        check(
            r#"{"jsonrpc":"2.0","id":"s-1","method":"sampling/createMessage","params":{"x":1}}"#,
            Incoming::Request {
                id: json!("s-1"),
                method: "sampling/createMessage".into(),
                params: json!({"x":1}),
            },
        );
        check(
            r#"{"jsonrpc":"2.0","id":null,"method":"roots/list"}"#,
            Incoming::Request {
                id: Value::Null,
                method: "roots/list".into(),
                params: Value::Null,
            },
        );
    }

    #[test]
    fn notifications() {
        check(
            r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#,
            Incoming::Notification {
                method: "notifications/tools/list_changed".into(),
                params: Value::Null,
            },
        );
        check(
            r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"hi"}}"#,
            Incoming::Notification {
                method: "notifications/message".into(),
                params: json!({"level":"info","data":"hi"}),
            },
        );
    }

    #[test]
    fn responses() {
        check(
            r#"{"jsonrpc":"2.0","id":7,"result":{"tools":[]}}"#,
            Incoming::Response {
                id: json!(7),
                outcome: Outcome::Result(json!({"tools":[]})),
            },
        );
        check(
            r#"{"jsonrpc":"2.0","id":7,"result":null}"#,
            Incoming::Response {
                id: json!(7),
                outcome: Outcome::Result(Value::Null),
            },
        );
        check(
            r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"bad","data":{"k":1}}}"#,
            Incoming::Response {
                id: json!(7),
                outcome: Outcome::Error {
                    code: -32602,
                    message: "bad".into(),
                    data: Some(json!({"k":1})),
                },
            },
        );
        check(
            r#"{"jsonrpc":"2.0","id":7,"result":1,"error":null}"#,
            Incoming::Response {
                id: json!(7),
                outcome: Outcome::Result(json!(1)),
            },
        );
        let malformed = |line: &str| {
            let got = classify(line.as_bytes());
            assert!(
                matches!(
                    got,
                    Incoming::Response {
                        outcome: Outcome::Malformed(_),
                        ..
                    }
                ),
                "{line}: {got:?}"
            );
        };
        malformed(r#"{"jsonrpc":"2.0","id":7,"error":"nope"}"#);
        malformed(r#"{"jsonrpc":"2.0","id":7,"error":{"message":"no code"}}"#);
        malformed(r#"{"jsonrpc":"2.0","id":7,"result":1,"error":{"code":1,"message":"x"}}"#);
    }

    #[test]
    fn garbage_is_invalid() {
        invalid("hello");
        invalid("");
        invalid("[1,2,3]");
        invalid(r#"[{"jsonrpc":"2.0","id":1,"result":{}}]"#);
        invalid(r#"{"jsonrpc":"2.0"}"#);
        invalid(r#"{"jsonrpc":"2.0","id":1}"#);
        invalid(r#"{"jsonrpc":"2.0","method":5}"#);
        assert!(matches!(
            classify(b"{\"id\":1,\"result\":\"\xff\xfe\"}"),
            Incoming::Invalid(_)
        ));
    }

    #[test]
    fn why_a_line_is_not_json() {
        let why = |line: &str| match classify(line.as_bytes()) {
            Incoming::Invalid(why) => why,
            other => panic!("{line}: {other:?}"),
        };
        assert_eq!(
            why(r#"{"id":1,"result":{"n":NaN}}"#),
            "not valid JSON: NaN is not a JSON number, at line 1 column 23"
        );
        assert!(
            why(r#"{"id":1,"result":[1,-Infinity]}"#).contains("Infinity is not a JSON number")
        );
        assert!(why(r#"{"id":1,"result":Infinity}"#).contains("Infinity is not a JSON number"));
        // serde_json's `arbitrary_precision` keeps 1e400 as written: valid.
        assert!(matches!(
            classify(br#"{"id":1,"result":1e400}"#),
            Incoming::Response { .. }
        ));
        let deep = format!(
            r#"{{"id":1,"result":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(why(&deep).starts_with("not valid JSON: nested deeper than 128 levels"));
        assert!(why("hello").starts_with("not valid JSON: expected value"));
    }

    #[test]
    fn only_integer_ids_are_ours() {
        assert_eq!(our_id(&json!(5)), Some(5));
        assert_eq!(our_id(&json!("5")), None);
        assert_eq!(our_id(&json!(-1)), None);
        assert_eq!(our_id(&json!(5.5)), None);
        assert_eq!(our_id(&Value::Null), None);
    }

    #[test]
    fn answers_to_child_requests() {
        assert_eq!(answer_child_request("ping"), Ok(json!({})));
        assert_eq!(answer_child_request("roots/list"), Ok(json!({"roots": []})));
        for method in ["sampling/createMessage", "elicitation/create", "tools/call"] {
            assert_eq!(
                answer_child_request(method),
                Err((METHOD_NOT_FOUND, "method not supported by the gateway"))
            );
        }
    }

    #[test]
    fn the_builder_writes_each_message_once() {
        let id = json!("a");
        assert_eq!(
            request(&json!(2), "tools/list", json!({})),
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})
        );
        assert_eq!(
            request(&id, "ping", Value::Null),
            json!({"jsonrpc": "2.0", "id": "a", "method": "ping"})
        );
        assert_eq!(
            notification("n", Value::Null),
            json!({"jsonrpc": "2.0", "method": "n"})
        );
        assert_eq!(
            answer(&id, Ok::<_, (i64, &str)>(json!(1))),
            json!({"jsonrpc": "2.0", "id": "a", "result": 1})
        );
        assert_eq!(
            answer(&id, Err::<Value, _>(BUSY)),
            json!({"jsonrpc": "2.0", "id": "a", "error": {"code": -32000, "message": BUSY.1}})
        );
        assert_eq!(
            error_with_data(&Value::Null, INVALID_PARAMS, "bad", Some(json!({"k": 1}))),
            json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32602, "message": "bad", "data": {"k": 1}}})
        );
        assert_eq!(
            cancelled(4, "timeout"),
            json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 4, "reason": "timeout"}})
        );
    }

    #[test]
    fn encoding_is_one_line() {
        let line = encode_request(
            4,
            "tools/call",
            &json!({"name":"x","arguments":{"s":"a\nb"}}),
        );
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(*line.last().unwrap(), b'\n');
        let msg: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            msg,
            json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"x","arguments":{"s":"a\nb"}}})
        );

        let msg: Value = serde_json::from_slice(&encode_request(1, "ping", &Value::Null)).unwrap();
        assert_eq!(msg, json!({"jsonrpc":"2.0","id":1,"method":"ping"}));

        let msg: Value = serde_json::from_slice(&encode_cancelled(9, "timed out")).unwrap();
        assert_eq!(
            msg,
            json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9,"reason":"timed out"}})
        );

        let msg: Value = serde_json::from_slice(&encode_result(&json!("a"), json!({}))).unwrap();
        assert_eq!(msg, json!({"jsonrpc":"2.0","id":"a","result":{}}));

        let msg: Value =
            serde_json::from_slice(&encode_error(&json!(3), METHOD_NOT_FOUND, "no")).unwrap();
        assert_eq!(
            msg,
            json!({"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"no"}})
        );
    }

    #[test]
    fn initialize_is_never_cancelled() {
        assert!(!is_cancellable("initialize"));
        assert!(is_cancellable("tools/call"));
        assert!(is_cancellable("tools/list"));
    }

    #[test]
    fn outcome_into_result() {
        assert_eq!(Outcome::Result(json!(1)).into_result().unwrap(), json!(1));
        assert!(matches!(
            Outcome::Error {
                code: -1,
                message: "m".into(),
                data: None
            }
            .into_result(),
            Err(McpError::Rpc { code: -1, .. })
        ));
        assert!(matches!(
            Outcome::Malformed("x".into()).into_result(),
            Err(McpError::Protocol(_))
        ));
    }
}
