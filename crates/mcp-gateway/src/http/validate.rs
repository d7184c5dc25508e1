//! Validation of request bodies and path parameters (pure: no IO).

use std::time::Duration;

use serde_json::{Map, Value};

use super::error::ApiError;
use crate::session::CallRequest;

pub const MAX_METADATA_BYTES: usize = 16 * 1024;

/// Service names: `^[A-Za-z0-9_-]{1,64}$` (as upstream).
pub fn service_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 64 {
        return Err(ApiError::bad_request(
            "invalid service name length (1-64 characters)",
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(ApiError::bad_request(
            "service name contains invalid characters (allowed: A-Z a-z 0-9 _ -)",
        ));
    }
    Ok(())
}

/// Session ids: `^[A-Za-z0-9_.-]{1,128}$` (as upstream).
pub fn session_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 128 {
        return Err(ApiError::bad_request(
            "invalid session ID length (1-128 characters)",
        ));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(ApiError::bad_request(
            "session ID contains invalid characters (allowed: A-Z a-z 0-9 _ . -)",
        ));
    }
    // A URL path cannot name them (`DELETE /sessions/..` is normalised away by clients), so a
    // session by that id could never be closed.
    if id == "." || id == ".." {
        return Err(ApiError::bad_request(
            "session ID must not be \".\" or \"..\" (a URL path cannot name it)",
        ));
    }
    Ok(())
}

/// Tool names: whatever an MCP server lists (`search/web`, `a b`, non-ASCII), so any string of
/// 1-128 characters without control characters.
pub fn tool_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.chars().count() > 128 {
        return Err(ApiError::bad_request(
            "invalid tool name length (1-128 characters)",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "tool name contains invalid characters (control characters are not allowed)",
        ));
    }
    Ok(())
}

/// Parse and check a `POST /services/{service}/call` body.
pub fn call_body(service: &str, body: &[u8]) -> Result<CallRequest, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let Value::Object(mut obj) = value else {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    };
    let tool = required_string(&obj, "tool")?;
    tool_name(&tool)?;
    let session = required_string(&obj, "session_id")?;
    session_id(&session)?;
    let arguments = match obj.remove("arguments") {
        None => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid 'arguments' parameter: must be an object",
            ));
        }
    };
    let timeout = match obj.remove("timeout") {
        None => None,
        Some(v) => Some((timeout_secs(&v)?, v)),
    };
    let metadata = match obj.remove("metadata") {
        None => None,
        Some(v @ Value::Object(_)) => {
            if v.to_string().len() > MAX_METADATA_BYTES {
                return Err(ApiError::bad_request(format!(
                    "invalid 'metadata' parameter: larger than {MAX_METADATA_BYTES} bytes"
                )));
            }
            Some(v)
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid 'metadata' parameter: must be an object",
            ));
        }
    };
    Ok(CallRequest {
        service: service.to_string(),
        session_id: session,
        tool,
        arguments,
        timeout,
        metadata,
    })
}

fn required_string(obj: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => {
            Err(ApiError::bad_request(format!("missing '{key}' parameter")))
        }
        Some(Value::String(s)) if s.is_empty() => {
            Err(ApiError::bad_request(format!("missing '{key}' parameter")))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ApiError::bad_request(format!(
            "invalid '{key}' parameter: must be a string"
        ))),
    }
}

/// A session idle timeout in seconds: a number (not a bool, not a string) in (0, 3600].
fn timeout_secs(v: &Value) -> Result<Duration, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "invalid 'timeout' parameter: must be a number of seconds, 0 < timeout <= 3600",
        )
    };
    let secs = v.as_f64().ok_or_else(bad)?;
    if !(secs > 0.0 && secs <= 3600.0) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_err(body: &str, expected: &str) {
        let err = call_body("svc", body.as_bytes()).unwrap_err();
        assert_eq!(err.status, 400, "{body}");
        assert!(
            err.body.error.starts_with(expected),
            "{body}: got {:?}, want {expected:?}",
            err.body.error
        );
    }

    #[test]
    fn call_body_errors() {
        check_err("{", "invalid JSON");
        check_err("[1,2]", "request body must be a JSON object");
        check_err("\"abc\"", "request body must be a JSON object");
        check_err("null", "request body must be a JSON object");
        check_err("{}", "missing 'tool' parameter");
        check_err(r#"{"tool":""}"#, "missing 'tool' parameter");
        check_err(
            r#"{"tool":5}"#,
            "invalid 'tool' parameter: must be a string",
        );
        check_err(
            r#"{"tool":"a\u0007b","session_id":"s"}"#,
            "tool name contains invalid characters",
        );
        check_err(
            r#"{"tool":"a\nb","session_id":"s"}"#,
            "tool name contains invalid characters",
        );
        check_err(
            &format!(r#"{{"tool":"{}","session_id":"s"}}"#, "x".repeat(129)),
            "invalid tool name length",
        );
        check_err(r#"{"tool":"t"}"#, "missing 'session_id' parameter");
        check_err(
            r#"{"tool":"t","session_id":7}"#,
            "invalid 'session_id' parameter",
        );
        check_err(
            r#"{"tool":"t","session_id":"a/b"}"#,
            "session ID contains invalid characters",
        );
        check_err(
            r#"{"tool":"t","session_id":"s","arguments":null}"#,
            "invalid 'arguments' parameter",
        );
        check_err(
            r#"{"tool":"t","session_id":"s","arguments":[1]}"#,
            "invalid 'arguments' parameter",
        );
        check_err(
            r#"{"tool":"t","session_id":"s","timeout":true}"#,
            "invalid 'timeout' parameter",
        );
        check_err(
            r#"{"tool":"t","session_id":"s","timeout":"10"}"#,
            "invalid 'timeout' parameter",
        );
        check_err(
            r#"{"tool":"t","session_id":"s","timeout":0}"#,
            "invalid 'timeout' parameter",
        );
        check_err(
            r#"{"tool":"t","session_id":"s","timeout":3601}"#,
            "invalid 'timeout' parameter",
        );
        check_err(
            r#"{"tool":"t","session_id":"s","metadata":"x"}"#,
            "invalid 'metadata' parameter",
        );
    }

    #[test]
    fn call_body_ok() {
        let req = call_body("svc", br#"{"tool":"ns.get-thing_2","session_id":"call-1.a","timeout":1.5,"metadata":{"k":"v"}}"#)
            .unwrap();
        assert_eq!(req.tool, "ns.get-thing_2");
        assert_eq!(req.arguments, Value::Object(Map::new()));
        assert_eq!(req.timeout.unwrap().0, Duration::from_millis(1500));
        assert_eq!(req.metadata.unwrap()["k"], "v");
    }

    #[test]
    fn names() {
        assert!(service_name("todo_1-x").is_ok());
        assert!(service_name("").is_err());
        assert!(service_name("a.b").is_err());
        assert!(service_name(&"a".repeat(65)).is_err());
        assert!(session_id("call-1.x_y").is_ok());
        assert!(session_id("a b").is_err());
        assert!(session_id(".").is_err() && session_id("..").is_err());
        assert!(session_id("...").is_ok() && session_id(".a").is_ok());
        for ok in [
            "search/web",
            "a b",
            "ns:tool",
            "wetter-abfrage-für-köln",
            &"é".repeat(128),
        ] {
            assert!(tool_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a\tb", "a\u{7f}", &"x".repeat(129)] {
            assert!(tool_name(bad).is_err(), "{bad:?}");
        }
    }
}
