//! JSON-RPC classification of a child's line (`mcp::jsonrpc`): the class agrees with the
//! message's keys, and what the gateway writes back (results, errors, requests,
//! notifications) is one line that classifies as what was meant, carrying the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_gateway::mcp::jsonrpc::{
    Incoming, METHOD_NOT_FOUND, Outcome, classify, encode_error, encode_notification,
    encode_request, encode_result,
};
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let incoming = classify(data);
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        assert!(
            matches!(incoming, Incoming::Invalid(_)),
            "not JSON: {incoming:?}"
        );
        return;
    };
    let Value::Object(msg) = &value else {
        assert!(
            matches!(incoming, Incoming::Invalid(_)),
            "not an object: {incoming:?}"
        );
        return;
    };
    let params = || msg.get("params").cloned().unwrap_or(Value::Null);
    match &incoming {
        Incoming::Request {
            id,
            method,
            params: p,
        } => {
            assert_eq!(msg.get("method"), Some(&Value::String(method.clone())));
            assert_eq!(msg.get("id"), Some(id));
            assert_eq!(*p, params());
            // Our answer to it is one line that reads back as the response to that id.
            let result = reread(&encode_result(id, p.clone()));
            assert_eq!(
                result,
                Incoming::Response {
                    id: id.clone(),
                    outcome: Outcome::Result(p.clone())
                }
            );
            let error = reread(&encode_error(id, METHOD_NOT_FOUND, method));
            assert_eq!(
                error,
                Incoming::Response {
                    id: id.clone(),
                    outcome: Outcome::Error {
                        code: METHOD_NOT_FOUND,
                        message: method.clone(),
                        data: None
                    },
                }
            );
            // Our own request with its method and params reads back the same.
            let ours = id.as_u64().unwrap_or(7);
            let request = reread(&encode_request(ours, method, p));
            assert_eq!(
                request,
                Incoming::Request {
                    id: ours.into(),
                    method: method.clone(),
                    params: p.clone()
                }
            );
        }
        Incoming::Notification { method, params: p } => {
            assert_eq!(msg.get("method"), Some(&Value::String(method.clone())));
            assert!(!msg.contains_key("id"));
            assert_eq!(*p, params());
            let note = reread(&encode_notification(method, p));
            assert_eq!(note, incoming);
        }
        Incoming::Response { id, outcome } => {
            assert!(!msg.contains_key("method"));
            assert_eq!(msg.get("id"), Some(id));
            let error = msg.get("error").filter(|e| !e.is_null());
            match outcome {
                Outcome::Result(result) => {
                    assert_eq!(msg.get("result"), Some(result));
                    assert!(error.is_none());
                }
                Outcome::Error {
                    code,
                    message,
                    data,
                } => {
                    let error = error.and_then(Value::as_object).expect("an error object");
                    assert!(!msg.contains_key("result"));
                    assert_eq!(error.get("code").and_then(Value::as_i64), Some(*code));
                    if let Some(Value::String(m)) = error.get("message") {
                        assert_eq!(m, message);
                    }
                    assert_eq!(error.get("data"), data.as_ref());
                }
                Outcome::Malformed(why) => assert!(!why.is_empty()),
            }
        }
        Incoming::Invalid(why) => {
            assert!(!why.is_empty());
            assert!(invalid(msg), "{value} classified as invalid: {why}");
        }
    }
});

/// Whether a JSON object is neither a request, a notification nor a response.
fn invalid(msg: &Map<String, Value>) -> bool {
    match msg.get("method") {
        Some(method) => !method.is_string(),
        None => {
            !msg.contains_key("id")
                || (!msg.contains_key("result") && msg.get("error").is_none_or(Value::is_null))
        }
    }
}

/// An encoded line: exactly one newline, at its end; classified again.
fn reread(line: &[u8]) -> Incoming {
    let (last, body) = line.split_last().expect("an encoded line is never empty");
    assert_eq!(*last, b'\n', "an encoded line ends with a newline");
    assert!(!body.contains(&b'\n'), "a newline inside an encoded line");
    classify(body)
}
