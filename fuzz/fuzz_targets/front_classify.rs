//! The MCP front door's classification of a POSTed body (`front::rpc::classify`, then
//! `modern::is_modern` and, for a stateless 2026-07-28 request, `modern::validate`): the
//! class agrees with the message's keys and every refusal is an Invalid Request; a modern
//! request whose headers mirror its body is accepted, and one whose `Mcp-Method` header
//! differs is refused.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use mcp_gateway::fuzzing::front::{Inbound, classify, is_modern, progress_token, validate_modern};
use serde_json::{Map, Value};

const INVALID_REQUEST: i64 = -32600;
const MODERN: &str = "2026-07-28";
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

fuzz_target!(|data: &[u8]| {
    let Ok(message) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let inbound = classify(&message);
    let Some(msg) = message.as_object().filter(|m| well_formed(m)) else {
        let (code, why) = inbound.expect_err("accepted a malformed message");
        assert_eq!(code, INVALID_REQUEST);
        assert!(!why.is_empty());
        return;
    };
    let params = msg.get("params").cloned().unwrap_or(Value::Null);
    let inbound = inbound.unwrap_or_else(|e| panic!("refused {message}: {e:?}"));
    match &inbound {
        Inbound::Request {
            id,
            method,
            params: p,
        } => {
            assert_eq!(msg.get("id"), Some(id));
            assert_eq!(
                msg.get("method").and_then(Value::as_str),
                Some(method.as_str())
            );
            assert_eq!(*p, params);
        }
        Inbound::Notification { method, params: p } => {
            assert!(!msg.contains_key("id"));
            assert_eq!(
                msg.get("method").and_then(Value::as_str),
                Some(method.as_str())
            );
            assert_eq!(*p, params);
        }
        Inbound::Response => assert!(!msg.contains_key("method")),
    }
    if let Some(token) = progress_token(&params) {
        assert!(token.is_string() || token.is_number());
    }

    let version = params.get("_meta").and_then(|m| m.get(META_VERSION));
    let modern = is_modern(&inbound);
    match &inbound {
        Inbound::Request { method, .. } => {
            assert_eq!(modern, method == "server/discover" || version.is_some())
        }
        Inbound::Notification { .. } => assert_eq!(modern, version.is_some()),
        Inbound::Response => assert!(!modern),
    }
    if let Inbound::Request { id, method, params } = &inbound
        && modern
    {
        check_modern(id, method, params, version);
    }
});

/// What `classify` must accept: one object, `"jsonrpc": "2.0"`, params absent, null, an object
/// or an array, and a request (string method, string or integer id), a notification (string
/// method, no id) or a response (no method; an id with a result or an error).
fn well_formed(msg: &Map<String, Value>) -> bool {
    let params_ok = msg
        .get("params")
        .is_none_or(|p| p.is_null() || p.is_object() || p.is_array());
    let version_ok = msg.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
    let shape_ok = match (msg.get("method"), msg.get("id")) {
        (Some(Value::String(_)), None) => true,
        (Some(Value::String(_)), Some(id)) => id.is_string() || id.is_i64() || id.is_u64(),
        (Some(_), _) => false,
        (None, Some(_)) => msg.contains_key("result") || msg.contains_key("error"),
        (None, None) => false,
    };
    params_ok && version_ok && shape_ok
}

fn check_modern(id: &Value, method: &str, params: &Value, version: Option<&Value>) {
    // Only what a header can carry verbatim.
    let Ok(method_header) = HeaderValue::from_str(method) else {
        return;
    };
    if !method.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return;
    }
    let version = version.map(|v| v.as_str());
    let header_version = match version {
        None => MODERN,
        Some(Some(v)) if v.bytes().all(|b| (0x20..0x7f).contains(&b)) => v,
        Some(_) => return,
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        "mcp-protocol-version",
        HeaderValue::from_str(header_version).unwrap(),
    );
    headers.insert("mcp-method", method_header);
    let name = match method {
        "tools/call" | "prompts/get" => params.get("name").and_then(Value::as_str),
        "resources/read" => params.get("uri").and_then(Value::as_str),
        _ => None,
    };
    if let Some(name) = name {
        let encoded = format!("=?base64?{}?=", base64(name.as_bytes()));
        headers.insert("mcp-name", HeaderValue::from_str(&encoded).unwrap());
    }
    let ours = match version {
        None => method == "server/discover",
        Some(v) => v == Some(MODERN),
    };
    let verdict = validate_modern(&headers, id, method, params);
    assert_eq!(verdict.is_ok(), ours, "{method} {version:?}: {verdict:?}");
    if let Err((status, body)) = &verdict {
        assert_eq!(*status, 400);
        assert_eq!(body["id"], *id);
    }
    if ours {
        headers.insert("mcp-method", HeaderValue::from_static("other/method"));
        if method != "other/method" {
            assert!(validate_modern(&headers, id, method, params).is_err());
        }
    }
}

/// Standard base64 with padding (the `=?base64?...?=` form of `Mcp-Name`).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
