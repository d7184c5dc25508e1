//! Handlers of the REST API (upstream paths and JSON shapes, see docs/wire.md).

use std::net::SocketAddr;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Local};
use serde_json::{Map, Value, json};

use super::client_addr::ClientAddr;
use super::error::ApiError;
use super::principal::Principal;
use super::state::AppState;
use super::validate;
use crate::session::{SessionError, SessionSnapshot};

/// Upstream's timestamp format: naive local time with microseconds.
pub fn timestamp(t: DateTime<Local>) -> String {
    t.naive_local().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

pub async fn health() -> Json<Value> {
    Json(json!({
        "status": "healthy",
        "timestamp": timestamp(Local::now()),
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

pub async fn services(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Json<Value> {
    let config = state.sessions.config();
    let services: Map<String, Value> = config
        .services
        .values()
        .filter(|s| principal.allows_service(&s.name))
        .map(|s| {
            let mut entry = json!({ "description": s.description, "enabled": true });
            if config.server.expose_commands {
                entry["command"] = json!(s.command);
            }
            (s.name.clone(), entry)
        })
        .collect();
    Json(Value::Object(services))
}

pub async fn tools(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    service: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let service = path_param(service, "service name")?;
    validate::service_name(&service)?;
    if !principal.allows_service(&service) {
        return Err(SessionError::UnknownService(service).into());
    }
    let tools = state.sessions.tools(&service).await?;
    if principal.key().is_none() {
        return Ok(Json(json!({ "service": service, "tools": *tools })));
    }
    let visible: Vec<&Value> = tools
        .iter()
        .filter(|t| {
            t.get("name")
                .and_then(Value::as_str)
                .is_some_and(|name| principal.allows_tool(&service, name))
        })
        .collect();
    Ok(Json(json!({ "service": service, "tools": visible })))
}

pub async fn call(
    State(state): State<AppState>,
    service: Result<Path<String>, PathRejection>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(principal): Extension<Principal>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let service = path_param(service, "service name")?;
    validate::service_name(&service)?;
    if !principal.allows_service(&service) {
        return Err(SessionError::UnknownService(service).into());
    }
    if !is_json(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "request content type must be application/json",
        ));
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body too large",
            )
        } else {
            ApiError::bad_request(format!("cannot read request body: {rejection}"))
        }
    })?;
    let request = validate::call_body(&service, &body)?;
    if !principal.allows_tool(&service, &request.tool) {
        return Err(SessionError::UnknownTool {
            service,
            tool: request.tool,
        }
        .into());
    }
    let owner = principal.owner();
    if !state.sessions.may_use(&request.session_id, owner) {
        return Err(SessionError::UnknownSession(request.session_id).into());
    }
    let ip = client.map_or(peer.ip(), |c| c.0.0);
    tracing::info!(
        target: "security",
        event_type = "tool_call",
        service = %request.service,
        tool = %request.tool,
        session_id = %request.session_id,
        ip = %ip,
        key = owner.unwrap_or(""),
        "tool call"
    );
    let _permits = super::limits::enter_call(&state, &service, &request.session_id).await?;
    tracing::debug!(arguments = %request.arguments, "tool call arguments");
    let (tool, session_id) = (request.tool.clone(), request.session_id.clone());
    let outcome = state.sessions.call_as(request, owner).await?;
    tracing::debug!(result = %outcome.result, "tool call result");
    Ok(Json(call_response(
        outcome.result,
        &service,
        &session_id,
        &tool,
    )))
}

/// Build the upstream body (`result` = the first text content as a string, else the raw
/// result) plus everything upstream dropped: `content`, `structuredContent`, `isError`, `_meta`.
pub fn call_response(result: Value, service: &str, session_id: &str, tool: &str) -> Value {
    let first_text = result
        .get("content")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .filter(|item| item.get("type").and_then(Value::as_str) == Some("text"))
        .and_then(|item| item.get("text"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut body = json!({
        "service": service,
        "session_id": session_id,
        "tool": tool,
        "content": result.get("content").cloned().unwrap_or_else(|| json!([])),
        "isError": result.get("isError").and_then(Value::as_bool).unwrap_or(false),
    });
    for key in ["structuredContent", "_meta"] {
        if let Some(v) = result.get(key) {
            body[key] = v.clone();
        }
    }
    body["result"] = match first_text {
        Some(text) => Value::String(text),
        None => result,
    };
    body
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

pub async fn sessions(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Json<Value> {
    let sessions: Map<String, Value> = state
        .sessions
        .list_for(principal.owner())
        .into_iter()
        .map(|s| (s.id.clone(), session_json(s)))
        .collect();
    Json(Value::Object(sessions))
}

fn session_json(s: SessionSnapshot) -> Value {
    let children: Map<String, Value> = s
        .children
        .into_iter()
        .map(|(name, c)| {
            (
                name,
                json!({ "pid": c.pid, "calls": c.calls, "started_at": timestamp(c.started_at) }),
            )
        })
        .collect();
    json!({
        "created_at": timestamp(s.created_at),
        "last_accessed": timestamp(s.last_accessed),
        "metadata": s.metadata,
        "service_name": s.services.first().cloned().unwrap_or_default(),
        "services": s.services,
        "time_remaining": s.time_remaining,
        "timeout": s.timeout,
        "calls": s.calls,
        "children": children,
        "kind": s.kind,
    })
}

pub async fn close_session(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(principal): Extension<Principal>,
    client: Option<Extension<ClientAddr>>,
) -> Result<Json<Value>, ApiError> {
    let id = path_param(id, "session ID")?;
    validate::session_id(&id)?;
    state.sessions.close_for(&id, principal.owner())?;
    let ip = client.map_or(peer.ip(), |c| c.0.0);
    tracing::info!(target: "security", event_type = "session_closed", session_id = %id, ip = %ip, key = principal.owner().unwrap_or(""), "session closed");
    Ok(Json(json!({ "message": format!("Session {id} closed") })))
}

/// A path segment as a string; one that is not UTF-8 once percent-decoded (`/services/%FF/tools`)
/// is a 400 `invalid_request` like any other bad name, not axum's plain-text rejection.
pub fn path_param(
    param: Result<Path<String>, PathRejection>,
    what: &str,
) -> Result<String, ApiError> {
    param
        .map(|Path(value)| value)
        .map_err(|_| ApiError::bad_request(format!("invalid {what} in path: not valid UTF-8")))
}

pub async fn not_found() -> Response {
    ApiError::not_found("not found").into_response()
}

pub async fn method_not_allowed() -> Response {
    ApiError::method_not_allowed().into_response()
}
