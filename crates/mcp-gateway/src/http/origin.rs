//! DNS-rebinding and cross-origin protection for every route: a browser page on a foreign
//! origin must not reach a gateway on loopback (which usually runs without credentials).
//! - `Origin` present, not loopback and not in `server.allowed_origins` → 403.
//! - Listening on a loopback address, a `Host` that is not loopback → 403.
//!
//! REST routes answer the REST error body; the front door's paths a JSON-RPC one.

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::AppState;
use crate::config::ServerConfig;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
    Origin(String),
    Host(String),
}

impl Refusal {
    pub(super) fn message(&self) -> &'static str {
        match self {
            Refusal::Origin(_) => "origin not allowed",
            Refusal::Host(_) => "host not allowed",
        }
    }
}

/// The policy, shared by the REST API and the front door.
pub(super) fn check(server: &ServerConfig, headers: &HeaderMap) -> Result<(), Refusal> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = String::from_utf8_lossy(origin.as_bytes());
        if !origin_allowed(&origin, &server.allowed_origins) {
            tracing::warn!(target: "security", event_type = "origin_rejected", %origin, "request from a foreign origin");
            return Err(Refusal::Origin(origin.into_owned()));
        }
    }
    if server.host.is_loopback()
        && let Some(host) = headers.get(header::HOST)
    {
        let host = String::from_utf8_lossy(host.as_bytes());
        if !is_loopback_authority(&host) && !host_allowed(&host, &server.allowed_hosts) {
            tracing::warn!(target: "security", event_type = "host_rejected", %host, "request for a foreign host");
            return Err(Refusal::Host(host.into_owned()));
        }
    }
    Ok(())
}

/// The refusal of a request that fails the policy, in its route's shape (checked in front of
/// every route, before auth and budgets, by `body::edge`).
pub(super) fn refuse(state: &AppState, request: &Request) -> Option<Response> {
    let refusal = check(&state.sessions.config().server, request.headers()).err()?;
    Some(if is_front_door(request.uri().path()) {
        crate::front::reply::refusal(StatusCode::FORBIDDEN, refusal.message())
    } else {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", refusal.message()).into_response()
    })
}

/// `/mcp` and `/services/{name}/mcp`.
pub(super) fn is_front_door(path: &str) -> bool {
    path == "/mcp"
        || path
            .strip_prefix("/services/")
            .and_then(|rest| rest.strip_suffix("/mcp"))
            .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// Loopback origins (any port) and the configured ones are allowed; `*` allows all.
fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let origin = origin.trim_end_matches('/');
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https") && is_loopback_authority(authority)
}

/// A `Host` (with or without a port) named in `server.allowed_hosts`, or `*` there.
fn host_allowed(authority: &str, allowed: &[String]) -> bool {
    let name = if authority.starts_with('[') {
        authority.split(']').next().map(|h| format!("{h}]"))
    } else {
        authority.split(':').next().map(str::to_owned)
    }
    .unwrap_or_default()
    .to_ascii_lowercase();
    allowed.iter().any(|a| a == "*" || *a == name)
}

/// `localhost`, `127.0.0.1` or `[::1]`, with or without a port.
fn is_loopback_authority(authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "::1"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let allowed = vec!["https://app.example.com".to_string()];
        assert!(origin_allowed("http://localhost:6274", &allowed));
        assert!(origin_allowed("http://127.0.0.1", &allowed));
        assert!(origin_allowed("http://[::1]:8080", &allowed));
        assert!(origin_allowed("https://app.example.com/", &allowed));
        assert!(!origin_allowed("http://evil.example", &allowed));
        assert!(!origin_allowed("http://localhost.evil.example", &allowed));
        assert!(!origin_allowed("null", &allowed));
        assert!(origin_allowed("http://evil.example", &["*".into()]));
    }

    #[test]
    fn hosts() {
        let allowed = vec!["gw.example.com".to_string()];
        assert!(host_allowed("GW.example.com:443", &allowed));
        assert!(host_allowed("gw.example.com", &allowed));
        assert!(!host_allowed("evil.example", &allowed));
        assert!(!host_allowed("gw.example.com.evil.example", &allowed));
        assert!(host_allowed("anything", &["*".into()]));
        assert!(!host_allowed("anything", &[]));
    }

    #[test]
    fn front_door_paths() {
        assert!(is_front_door("/mcp"));
        assert!(is_front_door("/services/todo/mcp"));
        assert!(!is_front_door("/services/todo/call"));
        assert!(!is_front_door("/services//mcp"));
        assert!(!is_front_door("/services/a/b/mcp"));
        assert!(!is_front_door("/sessions"));
    }
}
