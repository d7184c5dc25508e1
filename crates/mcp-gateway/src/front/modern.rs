//! The stateless 2026-07-28 revision: no handshake, no `Mcp-Session-Id`; every request carries
//! its protocol version and client capabilities in `params._meta`, mirrored in headers
//! (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`). Pure: detection, validation, results.

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::rpc::{self, Inbound};
use super::version::SUPPORTED_VERSIONS;

pub(crate) const VERSION: &str = "2026-07-28";
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
pub(crate) use crate::mcp::jsonrpc::{HEADER_MISMATCH, UNSUPPORTED_VERSION};

/// A message without a session that speaks the modern revision.
pub fn is_modern(inbound: &Inbound) -> bool {
    match inbound {
        Inbound::Request { method, params, .. } => {
            method == "server/discover"
                || params
                    .get("_meta")
                    .and_then(|m| m.get(META_VERSION))
                    .is_some()
        }
        Inbound::Notification { params, .. } => params
            .get("_meta")
            .and_then(|m| m.get(META_VERSION))
            .is_some(),
        Inbound::Response => false,
    }
}

/// The methods served statelessly (no `ping`, no `logging/setLevel`, no subscriptions).
pub(crate) fn serves(method: &str) -> bool {
    matches!(
        method,
        "tools/list"
            | "tools/call"
            | "prompts/list"
            | "prompts/get"
            | "resources/list"
            | "resources/read"
            | "resources/templates/list"
            | "completion/complete"
    )
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The version in `_meta` must be ours; the headers must mirror the body.
pub fn validate(
    headers: &HeaderMap,
    id: &Value,
    method: &str,
    params: &Value,
) -> Result<(), (StatusCode, Value)> {
    let meta_version = params
        .get("_meta")
        .and_then(|m| m.get(META_VERSION))
        .and_then(Value::as_str);
    let bad = |code: i64, message: String, data: Value| {
        let mut error = rpc::error(id, code, message);
        error["error"]["data"] = data;
        Err((StatusCode::BAD_REQUEST, error))
    };
    let mut supported = vec![VERSION];
    supported.extend(SUPPORTED_VERSIONS);
    match meta_version {
        Some(VERSION) => {}
        None if method == "server/discover" => {}
        Some(other) => {
            return bad(
                UNSUPPORTED_VERSION,
                format!("unsupported protocol version {other}"),
                json!({ "supported": supported, "requested": other }),
            );
        }
        None => {
            return bad(
                rpc::INVALID_PARAMS,
                format!("missing _meta[\"{META_VERSION}\"]"),
                Value::Null,
            );
        }
    }
    let expected_version = meta_version.unwrap_or(VERSION);
    if header(headers, "mcp-protocol-version") != Some(expected_version) {
        return bad(
            HEADER_MISMATCH,
            format!("MCP-Protocol-Version header must be {expected_version}"),
            Value::Null,
        );
    }
    if header(headers, "mcp-method") != Some(method) {
        return bad(
            HEADER_MISMATCH,
            format!("Mcp-Method header must be {method}"),
            Value::Null,
        );
    }
    let name = match method {
        "tools/call" | "prompts/get" => params.get("name").and_then(Value::as_str),
        "resources/read" => params.get("uri").and_then(Value::as_str),
        _ => None,
    };
    if let Some(name) = name
        && header(headers, "mcp-name").map(decode) != Some(name.to_string())
    {
        return bad(
            HEADER_MISMATCH,
            format!("Mcp-Name header must be {name}"),
            Value::Null,
        );
    }
    Ok(())
}

/// A header value, `=?base64?...?=` decoded.
fn decode(value: &str) -> String {
    use base64::Engine;
    value
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| value.to_string())
}

fn server_info() -> Value {
    json!({ "name": "mcp-gateway", "version": env!("CARGO_PKG_VERSION") })
}

/// The `server/discover` result.
pub(crate) fn discover() -> Value {
    let mut versions = vec![VERSION];
    versions.extend(SUPPORTED_VERSIONS);
    json!({
        "supportedVersions": versions,
        "capabilities": { "tools": {}, "prompts": {}, "resources": {}, "completions": {} },
        "resultType": "complete",
        "ttlMs": 0,
        "cacheScope": "private",
        "_meta": { META_SERVER_INFO: server_info() },
    })
}

/// Add what a modern result carries: `resultType`, `serverInfo`, and for lists and reads the
/// cache hints (`ttlMs: 0`, `cacheScope: "private"`: each request may reach a fresh child).
pub(crate) fn stamp(method: &str, response: &mut Value) {
    let Some(result) = response.get_mut("result").and_then(Value::as_object_mut) else {
        return;
    };
    result
        .entry("resultType")
        .or_insert_with(|| json!("complete"));
    let meta = result.entry("_meta").or_insert_with(|| json!({}));
    if let Some(meta) = meta.as_object_mut() {
        meta.insert(META_SERVER_INFO.into(), server_info());
    }
    if method.ends_with("/list") || method == "resources/read" {
        result.entry("ttlMs").or_insert_with(|| json!(0));
        result
            .entry("cacheScope")
            .or_insert_with(|| json!("private"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn headers_must_mirror_the_body() {
        let params = json!({"name": "echo", "_meta": {META_VERSION: VERSION}});
        let good = headers(&[
            ("mcp-protocol-version", VERSION),
            ("mcp-method", "tools/call"),
            ("mcp-name", "=?base64?ZWNobw==?="),
        ]);
        assert!(validate(&good, &json!(1), "tools/call", &params).is_ok());
        let wrong_name = headers(&[
            ("mcp-protocol-version", VERSION),
            ("mcp-method", "tools/call"),
            ("mcp-name", "other"),
        ]);
        let (status, error) = validate(&wrong_name, &json!(1), "tools/call", &params).unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["error"]["code"], HEADER_MISMATCH);
        let old = json!({"_meta": {META_VERSION: "2099-01-01"}});
        let (_, error) = validate(&good, &json!(1), "tools/list", &old).unwrap_err();
        assert_eq!(error["error"]["code"], UNSUPPORTED_VERSION);
        assert_eq!(error["error"]["data"]["requested"], "2099-01-01");
    }

    #[test]
    fn results_are_stamped() {
        let mut response = rpc::result(&json!(1), json!({"tools": []}));
        stamp("tools/list", &mut response);
        assert_eq!(response["result"]["resultType"], "complete");
        assert_eq!(response["result"]["cacheScope"], "private");
        assert_eq!(
            response["result"]["_meta"][META_SERVER_INFO]["name"],
            "mcp-gateway"
        );
    }
}
