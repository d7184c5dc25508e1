//! JSON-RPC 2.0 messages: classify what arrives, build what leaves. Pure: no IO.

use serde_json::{Map, Value, json};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;

/// One message read from stdin.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    /// Has `method` and a non-null `id`: must be answered.
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    /// Has `method` and no `id`: never answered.
    Notification { method: String, params: Value },
    /// No `method`, an `id` and `result` or `error`: the client answering one of our requests.
    Response { id: Value, message: Value },
    /// Valid JSON that is not a JSON-RPC message; answered with `-32600` and `id` (or null).
    Invalid { id: Value, reason: &'static str },
}

/// Parse one line. `Err` means the line is not JSON at all (answer `-32700`).
pub fn parse(line: &[u8]) -> Result<Incoming, serde_json::Error> {
    serde_json::from_slice(line).map(classify)
}

pub fn classify(message: Value) -> Incoming {
    let Value::Object(mut object) = message else {
        let reason = if message.is_array() {
            "batches are not supported"
        } else {
            "a message must be a JSON object"
        };
        return Incoming::Invalid {
            id: Value::Null,
            reason,
        };
    };
    let id = object.remove("id");
    match object.remove("method") {
        Some(Value::String(method)) => {
            let params = object.remove("params").unwrap_or(Value::Null);
            match id {
                None => Incoming::Notification { method, params },
                Some(id @ (Value::String(_) | Value::Number(_))) => {
                    Incoming::Request { id, method, params }
                }
                Some(_) => Incoming::Invalid {
                    id: Value::Null,
                    reason: "id must be a string or a number",
                },
            }
        }
        Some(_) => Incoming::Invalid {
            id: id.unwrap_or(Value::Null),
            reason: "method must be a string",
        },
        None => match id {
            Some(id) if object.contains_key("result") || object.contains_key("error") => {
                object.insert("id".to_owned(), id.clone());
                Incoming::Response {
                    id,
                    message: Value::Object(object),
                }
            }
            id => Incoming::Invalid {
                id: id.unwrap_or(Value::Null),
                reason: "neither a request, a notification nor a response",
            },
        },
    }
}

/// A stable map key for a request id: `7` and `"7"` stay distinct.
pub fn id_key(id: &Value) -> String {
    id.to_string()
}

pub fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

pub fn error(id: &Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = Map::new();
    error.insert("code".into(), code.into());
    error.insert("message".into(), message.into());
    if let Some(data) = data {
        error.insert("data".into(), data);
    }
    json!({"jsonrpc": "2.0", "id": id, "error": error})
}

pub fn notification(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "method": method, "params": params})
}

pub fn request(id: Value, method: &str, params: Option<Value>) -> Value {
    let mut message = json!({"jsonrpc": "2.0", "id": id, "method": method});
    if let Some(params) = params {
        message["params"] = params;
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str, expected: Incoming) {
        assert_eq!(
            parse(line.as_bytes()).expect("valid JSON"),
            expected,
            "line: {line}"
        );
    }

    #[test]
    fn requests_notifications_and_responses_are_told_apart() {
        check(
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            Incoming::Request {
                id: json!(1),
                method: "ping".into(),
                params: Value::Null,
            },
        );
        check(
            r#"{"jsonrpc":"2.0","id":"a","method":"tools/list","params":{"cursor":"page-2"}}"#,
            Incoming::Request {
                id: json!("a"),
                method: "tools/list".into(),
                params: json!({"cursor": "page-2"}),
            },
        );
        check(
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            Incoming::Notification {
                method: "notifications/initialized".into(),
                params: Value::Null,
            },
        );
        check(
            r#"{"jsonrpc":"2.0","id":"r-1","result":{"roots":[]}}"#,
            Incoming::Response {
                id: json!("r-1"),
                message: json!({"jsonrpc":"2.0","id":"r-1","result":{"roots":[]}}),
            },
        );
        check(
            r#"{"jsonrpc":"2.0","id":9,"error":{"code":-1,"message":"no"}}"#,
            Incoming::Response {
                id: json!(9),
                message: json!({"jsonrpc":"2.0","id":9,"error":{"code":-1,"message":"no"}}),
            },
        );
    }

    #[test]
    fn malformed_messages_are_invalid() {
        check(
            "[]",
            Incoming::Invalid {
                id: Value::Null,
                reason: "batches are not supported",
            },
        );
        check(
            "3",
            Incoming::Invalid {
                id: Value::Null,
                reason: "a message must be a JSON object",
            },
        );
        check(
            r#"{"id":null,"method":"ping"}"#,
            Incoming::Invalid {
                id: Value::Null,
                reason: "id must be a string or a number",
            },
        );
        check(
            r#"{"id":4,"method":5}"#,
            Incoming::Invalid {
                id: json!(4),
                reason: "method must be a string",
            },
        );
        check(
            r#"{"id":4}"#,
            Incoming::Invalid {
                id: json!(4),
                reason: "neither a request, a notification nor a response",
            },
        );
        assert!(parse(b"this is not json").is_err());
    }

    #[test]
    fn builders_produce_jsonrpc_2() {
        assert_eq!(
            result(&json!(1), json!({})),
            json!({"jsonrpc":"2.0","id":1,"result":{}})
        );
        assert_eq!(
            error(
                &json!("x"),
                METHOD_NOT_FOUND,
                "Method not found: nope",
                None
            ),
            json!({"jsonrpc":"2.0","id":"x","error":{"code":-32601,"message":"Method not found: nope"}})
        );
        assert_eq!(
            error(&json!(2), INVALID_PARAMS, "bad", Some(json!({"k": 1})))["error"]["data"],
            json!({"k": 1})
        );
        assert_eq!(
            request(json!(3), "ping", None),
            json!({"jsonrpc":"2.0","id":3,"method":"ping"})
        );
        assert_eq!(
            notification("notifications/tools/list_changed", json!({})),
            json!({"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{}})
        );
        assert_ne!(id_key(&json!(7)), id_key(&json!("7")));
    }
}
