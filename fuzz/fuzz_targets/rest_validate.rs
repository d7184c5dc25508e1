//! REST body and name validation (`http::validate`): `call_body` accepts a body exactly when
//! the documented rules (docs/wire.md) accept it, checked against an independent statement of
//! them, and then carries its values unchanged; every refusal is a 400 with a message. The
//! name checks agree with upstream's regexes.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mcp_gateway::fuzzing::http::{
    MAX_METADATA_BYTES, call_body, service_name, session_id, tool_name,
};
use regex::Regex;
use serde_json::{Map, Value};

static SERVICE: LazyLock<Regex> = LazyLock::new(|| Regex::new("^[A-Za-z0-9_-]{1,64}$").unwrap());
static SESSION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_.-]{1,128}$").unwrap());

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check_names(text);
    }
    let got = call_body("svc", data);
    let want = expected(data);
    match (got, want) {
        (Ok(req), Some(want)) => {
            assert_eq!(req.service, "svc");
            assert_eq!(req.tool, want["tool"]);
            assert_eq!(req.session_id, want["session_id"]);
            let no_arguments = Value::Object(Map::new());
            assert_eq!(
                req.arguments,
                *want.get("arguments").unwrap_or(&no_arguments)
            );
            match (&req.timeout, want.get("timeout")) {
                (None, None) => {}
                (Some((secs, json)), Some(given)) => {
                    assert_eq!(json, given);
                    assert!(*secs <= Duration::from_secs(3600), "{secs:?}");
                }
                (got, given) => panic!("timeout {got:?} from {given:?}"),
            }
            assert_eq!(req.metadata.as_ref(), want.get("metadata"));
        }
        (Err(err), None) => {
            assert_eq!(err.status, 400, "{err:?}");
            assert!(!err.body.error.is_empty());
        }
        (Ok(req), None) => panic!("accepted {:?}: {req:?}", String::from_utf8_lossy(data)),
        (Err(err), Some(_)) => panic!("refused {:?}: {err:?}", String::from_utf8_lossy(data)),
    }
});

/// The body as an object if the rules accept it.
fn expected(data: &[u8]) -> Option<Map<String, Value>> {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(data) else {
        return None;
    };
    let tool = body.get("tool")?.as_str()?;
    let session = body.get("session_id")?.as_str()?;
    let tool_ok = (1..=128).contains(&tool.chars().count()) && !tool.chars().any(char::is_control);
    let session_ok = SESSION.is_match(session) && session != "." && session != "..";
    let arguments_ok = body.get("arguments").is_none_or(Value::is_object);
    let timeout_ok = body
        .get("timeout")
        .is_none_or(|t| t.as_f64().is_some_and(|s| 0.0 < s && s <= 3600.0));
    let metadata_ok = body.get("metadata").is_none_or(|m| {
        m.is_object() && serde_json::to_string(m).unwrap().len() <= MAX_METADATA_BYTES
    });
    (tool_ok && session_ok && arguments_ok && timeout_ok && metadata_ok).then_some(body)
}

fn check_names(text: &str) {
    assert_eq!(
        service_name(text).is_ok(),
        SERVICE.is_match(text),
        "service {text:?}"
    );
    let session = SESSION.is_match(text) && text != "." && text != "..";
    assert_eq!(session_id(text).is_ok(), session, "session {text:?}");
    let tool = (1..=128).contains(&text.chars().count()) && !text.chars().any(char::is_control);
    assert_eq!(tool_name(text).is_ok(), tool, "tool {text:?}");
}
