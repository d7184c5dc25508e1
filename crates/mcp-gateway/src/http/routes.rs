//! Handlers of the REST API (upstream paths and JSON shapes, see docs/wire.md).

use std::net::SocketAddr;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Local};
use mcp_gateway_wire::{
    CallResponse, ChildInfo, Health, ServiceInfo, Services, SessionClosed, SessionInfo, Sessions,
    ToolList, code,
};
use serde_json::{Value, json};
use tracing::Instrument;

use super::client_addr::ClientAddr;
use super::error::ApiError;
use super::principal::Principal;
use super::state::AppState;
use super::validate;
use crate::audit;
use crate::mcp::Tool;
use crate::session::{SessionError, SessionSnapshot};

/// Upstream's timestamp format: naive local time with microseconds.
pub(super) fn timestamp(t: DateTime<Local>) -> String {
    t.naive_local().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

pub(super) async fn health() -> Json<Health> {
    Json(Health {
        status: "healthy".into(),
        timestamp: Some(timestamp(Local::now())),
        version: Some(env!("CARGO_PKG_VERSION").into()),
    })
}

/// `GET /ready`: 200 while this replica takes requests; 503 once it drains (SIGTERM) or, in a
/// cluster, until it has joined.
///
/// Also 503 while a warm pool has not yet been full once since start (a replica taking
/// traffic before its pools are warm would answer its first sessions cold), and while the rate
/// limits' Redis does not answer and `rate_limiting.fail_open` is off: every limited request
/// would be refused then. With `fail_open` the replica serves without Redis, so it stays ready
/// (an outage would otherwise take every replica out of the balancer at once); the storage's
/// state is reported either way (`rate_limit_storage`).
pub(super) async fn ready(State(state): State<AppState>) -> Response {
    let draining = state.draining.load(std::sync::atomic::Ordering::Relaxed);
    let member = state.cluster.as_ref().is_none_or(|c| c.is_ready());
    let filling = state.sessions.pools_never_filled();
    let reached = state.traffic.limiter.reachable().await;
    let storage_down = {
        let config = state.sessions.config();
        let limits = &config.rate_limiting;
        limits.enabled && !limits.fail_open && matches!(reached, Some(Err(_)))
    };
    let (status, word) = if draining {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else if !member {
        (StatusCode::SERVICE_UNAVAILABLE, "not yet a cluster member")
    } else if !filling.is_empty() {
        (StatusCode::SERVICE_UNAVAILABLE, "warm pools filling")
    } else if storage_down {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "rate limit storage unreachable",
        )
    } else {
        (StatusCode::OK, "ready")
    };
    let mut body = json!({ "status": word, "config_generation": state.sessions.generation() });
    if !filling.is_empty() {
        body["pools_filling"] = json!(filling);
    }
    if let Some(reached) = reached {
        body["rate_limit_storage"] = json!(match reached {
            Ok(()) => "reachable".to_string(),
            Err(e) => format!("unreachable: {e}"),
        });
    }
    if let Some(cluster) = &state.cluster {
        body["member"] = json!(cluster.me().to_string());
        body["members"] = json!(cluster.peers().len() + usize::from(cluster.is_ready()));
        body["lease"] = json!(cluster.holds_lease());
    }
    (status, Json(body)).into_response()
}

pub(super) async fn services(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Json<Services> {
    let config = state.sessions.config();
    let services = config
        .services
        .values()
        .filter(|s| principal.allows_service(&s.name))
        .map(|s| {
            let entry = ServiceInfo {
                description: s.description.clone(),
                enabled: true,
                command: config.server.expose_commands.then(|| s.command.clone()),
            };
            (s.name.clone(), entry)
        })
        .collect();
    Json(services)
}

pub(super) async fn tools(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    service: Result<Path<String>, PathRejection>,
) -> Result<Json<ToolList<Tool>>, ApiError> {
    let service = path_param(service, "service name")?;
    validate::service_name(&service)?;
    if !principal.allows_service(&service) {
        return Err(SessionError::UnknownService(service).into());
    }
    let tools = state.sessions.tools(&service).await?;
    let tools = tools
        .iter()
        .filter(|t| principal.allows_tool(&service, &t.name))
        .cloned()
        .collect();
    Ok(Json(ToolList { service, tools }))
}

pub(super) async fn call(
    State(state): State<AppState>,
    service: Result<Path<String>, PathRejection>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(principal): Extension<Principal>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CallResponse>, ApiError> {
    let service = path_param(service, "service name")?;
    validate::service_name(&service)?;
    if !principal.allows_service(&service) {
        return Err(SessionError::UnknownService(service).into());
    }
    if !is_json(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::UNSUPPORTED_MEDIA_TYPE,
            "request content type must be application/json",
        ));
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                code::PAYLOAD_TOO_LARGE,
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
    // Ownership, expiry and creation, decided once; a refused call leaves no empty session.
    let ticket = state.sessions.enter_call(&request, owner)?;
    if let Some(identity) = principal.identity() {
        ticket.set_identity(identity);
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
    let _permits = super::admission::enter_call(&state, &service, &request.session_id).await?;
    let audit = state.sessions.audit().cloned();
    if let Some(audit) = &audit {
        audit.admit().map_err(audit_unavailable)?;
    }
    tracing::debug!(arguments = %request.arguments, "tool call arguments");
    let (tool, session_id) = (request.tool.clone(), request.session_id.clone());
    let arguments = audit.as_ref().map(|_| request.arguments.clone());
    let started = std::time::Instant::now();
    let span = tracing::info_span!(
        target: crate::telemetry::TARGET,
        "session",
        "mcp.session.id" = %session_id,
        "mcp.service" = %service,
        "error.type" = tracing::field::Empty,
    );
    let outcome = state
        .sessions
        .call(ticket, request)
        .instrument(span.clone())
        .await
        .map_err(ApiError::from);
    if let Err(e) = &outcome {
        span.record("error.type", e.body.code.as_str());
    }
    if let (Some(audit), Some(arguments)) = (&audit, &arguments) {
        let principal = principal.audit_name();
        let record = audit::ToolCall {
            via: "rest",
            principal: Some(&principal),
            client: Some(ip),
            service: &service,
            tool: &tool,
            session: &session_id,
            arguments,
            outcome: match &outcome {
                Ok(o) => audit::Outcome::Answered {
                    is_error: o.result.get("isError") == Some(&Value::Bool(true)),
                },
                Err(e) => audit::Outcome::Failed(&e.body.code),
            },
            duration: started.elapsed(),
        };
        audit.tool_call(&record).map_err(audit_unavailable)?;
    }
    let outcome = outcome?;
    tracing::debug!(result = %outcome.result, "tool call result");
    Ok(Json(call_response(
        outcome.result,
        &service,
        &session_id,
        &tool,
    )))
}

/// The call may not run, or ran but its record is lost: `audit.on_failure` is `"fail"`.
pub(super) fn audit_unavailable(e: audit::AuditError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        code::AUDIT_UNAVAILABLE,
        e.to_string(),
    )
}

/// Build the upstream body (`result` = the first text content as a string, else the raw
/// result) plus everything upstream dropped: `content`, `structuredContent`, `isError`, `_meta`.
pub(super) fn call_response(
    result: Value,
    service: &str,
    session_id: &str,
    tool: &str,
) -> CallResponse {
    let first_text = result
        .get("content")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .filter(|item| item.get("type").and_then(Value::as_str) == Some("text"))
        .and_then(|item| item.get("text"))
        .and_then(Value::as_str)
        .map(str::to_string);
    CallResponse {
        content: result.get("content").cloned().unwrap_or_else(|| json!([])),
        is_error: result
            .get("isError")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        structured_content: result.get("structuredContent").cloned(),
        meta: result.get("_meta").cloned(),
        service: service.into(),
        session_id: session_id.into(),
        tool: tool.into(),
        result: match first_text {
            Some(text) => Value::String(text),
            None => result,
        },
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// `GET /sessions` query: `memory=true` adds each child's resident memory (a read of its
/// `/proc/<pid>/status`, so not by default).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct SessionsQuery {
    memory: bool,
}

pub(super) async fn sessions(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<SessionsQuery>, QueryRejection>,
) -> Result<Json<Sessions>, ApiError> {
    let memory = query_param(query)?.memory;
    let sessions = state
        .sessions
        .list_for(principal.owner())
        .into_iter()
        .map(|s| (s.id.clone(), session_info(s, memory)))
        .collect();
    Ok(Json(sessions))
}

/// A query string, or a 400 `invalid_request` naming what is wrong with it.
fn query_param<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query.map(|Query(q)| q).map_err(|rejection| {
        ApiError::bad_request(format!("invalid query: {}", rejection.body_text()))
    })
}

fn session_info(s: SessionSnapshot, memory: bool) -> SessionInfo {
    let children = s
        .children
        .into_iter()
        .map(|(name, c)| {
            let child = ChildInfo {
                pid: Some(c.pid),
                calls: Some(c.calls),
                started_at: Some(timestamp(c.started_at)),
                rss_bytes: memory.then(|| resident_bytes(c.pid)).flatten(),
            };
            (name, child)
        })
        .collect();
    SessionInfo {
        created_at: Some(timestamp(s.created_at)),
        last_accessed: Some(timestamp(s.last_accessed)),
        metadata: match s.metadata {
            Value::Object(metadata) => metadata,
            _ => Default::default(),
        },
        service_name: Some(s.services.first().cloned().unwrap_or_default()),
        services: s.services,
        time_remaining: Some(s.time_remaining),
        timeout: match s.timeout {
            Value::Number(seconds) => Some(seconds),
            _ => None,
        },
        calls: Some(s.calls),
        children,
        kind: Some(s.kind.as_str().into()),
    }
}

pub(super) async fn close_session(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(principal): Extension<Principal>,
    client: Option<Extension<ClientAddr>>,
) -> Result<Json<SessionClosed>, ApiError> {
    let id = path_param(id, "session ID")?;
    validate::session_id(&id)?;
    state.sessions.close_for(&id, principal.owner())?;
    let ip = client.map_or(peer.ip(), |c| c.0.0);
    tracing::info!(target: "security", event_type = "session_closed", session_id = %id, ip = %ip, key = principal.owner().unwrap_or(""), "session closed");
    Ok(Json(SessionClosed {
        message: format!("Session {id} closed"),
    }))
}

/// `VmRSS` of a live process, in bytes.
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: u64 = kib.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// `GET /audit/recent?limit=N` (default 50, at most 200): the last records of the audit log,
/// newest first, for principals that see every session (not a scoped key or token: to them,
/// as when `audit.file` is unset, the route does not exist).
pub(super) async fn audit_recent(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let limit = query_param(query)?.limit.min(200);
    let audit = state
        .sessions
        .audit()
        .filter(|_| principal.owner().is_none())
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, code::NOT_FOUND, "not found"))?;
    Ok(Json(json!({ "records": audit.recent(limit) })))
}

#[derive(Debug, serde::Deserialize)]
#[serde(default)]
pub(super) struct AuditQuery {
    limit: usize,
}

impl Default for AuditQuery {
    fn default() -> Self {
        Self { limit: 50 }
    }
}

/// A path segment as a string; one that is not UTF-8 once percent-decoded (`/services/%FF/tools`)
/// is a 400 `invalid_request` like any other bad name, not axum's plain-text rejection.
pub(super) fn path_param(
    param: Result<Path<String>, PathRejection>,
    what: &str,
) -> Result<String, ApiError> {
    param
        .map(|Path(value)| value)
        .map_err(|_| ApiError::bad_request(format!("invalid {what} in path: not valid UTF-8")))
}

pub(super) async fn not_found() -> Response {
    ApiError::not_found("not found").into_response()
}

pub(super) async fn method_not_allowed() -> Response {
    ApiError::method_not_allowed().into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(result: Value, expected: Value) {
        let body = serde_json::to_value(call_response(result.clone(), "svc", "s-1", "t")).unwrap();
        assert_eq!(body, expected, "{result}");
    }

    #[test]
    fn call_bodies_keep_what_the_result_had_and_only_that() {
        let ids = json!({"service": "svc", "session_id": "s-1", "tool": "t"});
        let with = |extra: Value| {
            let mut body = ids.clone();
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            body
        };
        check(
            json!({"content": [{"type": "text", "text": "hi"}]}),
            with(
                json!({"result": "hi", "content": [{"type": "text", "text": "hi"}], "isError": false}),
            ),
        );
        // No content: `[]`; the raw result; `structuredContent: null` and `_meta` kept as sent.
        let odd = json!({"structuredContent": null, "_meta": {"k": 1}, "isError": true});
        check(
            odd.clone(),
            with(
                json!({"result": odd, "content": [], "isError": true, "structuredContent": null, "_meta": {"k": 1}}),
            ),
        );
        // Content that is not an array passes through as it came.
        let text = json!({"content": "plain"});
        check(
            text.clone(),
            with(json!({"result": text, "content": "plain", "isError": false})),
        );
    }
}
