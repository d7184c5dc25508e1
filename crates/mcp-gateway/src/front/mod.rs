//! The MCP front door: every service (`/mcp`) or one (`/services/{name}/mcp`) served over
//! Streamable HTTP, legacy shape (protocol revisions 2025-03-26, 2025-06-18, 2025-11-25), and
//! the stateless 2026-07-28 revision for requests that carry its `_meta` (`modern`).
//!
//! An MCP session is a session of the shared table (its id is the `Mcp-Session-Id`), so its
//! children are started, capped, sandboxed and reaped exactly like REST sessions' children.
//! - `rpc`: JSON-RPC classification and responses (pure).
//! - `endpoint`: which endpoint a request came to (an extractor); `version`: the revisions.
//! - `reply`: HTTP answers, the checks every request shares, SSE responses.
//! - `aggregate`: names (`{service}{sep}{tool}`, shortening), merged and paginated lists.
//! - `session`: per-session protocol state (name maps, in-flight requests, GET stream).
//! - `budget`: what each message spends.
//! - `relay`: `tools/call` with progress and cancellation, child notifications.
//! - `call`: `tools/call` admitted and answered, as JSON or on an SSE stream.
//! - `methods`: the MCP methods answered here or forwarded to a child.
//!
//! This file holds the handlers; the children import one another and `crate::http`'s leaves,
//! never this file.

mod aggregate;
mod audited;
mod budget;
mod call;
mod declared;
mod endpoint;
mod methods;
pub(crate) mod modern;
mod relay;
pub(crate) mod reply;
pub(crate) mod rpc;
pub(crate) mod session;
mod version;

use std::sync::Arc;
use tracing::Instrument;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::http::admission::Spend;
use crate::http::client_addr::ClientAddr;
use crate::http::principal::Principal;
use crate::http::state::AppState;
use budget::Payer;
use call::{Closer, Era};
use endpoint::Endpoint;
use reply::{accepts_sse, check_version, http_error, is_json, session_refused, sse_response};
use rpc::Inbound;
use session::McpSession;
pub(crate) use session::Sessions;
pub(crate) use version::SUPPORTED_VERSIONS;

const SESSION_HEADER: &str = "mcp-session-id";

/// The front door's routes, mounted behind the REST API's auth middleware.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            endpoint::ALL,
            post(post_mcp).get(get_mcp).delete(delete_mcp),
        )
        .route(
            endpoint::ONE,
            post(post_mcp).get(get_mcp).delete(delete_mcp),
        )
}

/// Who pays for a request's messages: the principal at the client's address.
fn payer(state: AppState, principal: Principal, client: Option<Extension<ClientAddr>>) -> Payer {
    let addr = client.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.0);
    Payer {
        state,
        principal,
        addr,
    }
}

async fn post_mcp(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    client: Option<Extension<ClientAddr>>,
    endpoint: Endpoint,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle_post(payer(state, principal, client), endpoint, headers, body).await
}

async fn get_mcp(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    endpoint: Endpoint,
    headers: HeaderMap,
) -> Response {
    handle_get(state, principal, endpoint, headers)
}

async fn delete_mcp(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    client: Option<Extension<ClientAddr>>,
    endpoint: Endpoint,
    headers: HeaderMap,
) -> Response {
    handle_delete(payer(state, principal, client), endpoint, headers).await
}

/// The live session named by the request, or the 400/404 to answer. Another key's session is
/// an unknown one (unscoped principals may use every session, as on the REST API).
fn find_session(
    state: &AppState,
    principal: &Principal,
    endpoint: &Endpoint,
    headers: &HeaderMap,
) -> Result<Arc<McpSession>, Response> {
    let Some(id) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) else {
        return Err(http_error(
            StatusCode::BAD_REQUEST,
            rpc::INVALID_REQUEST,
            "missing Mcp-Session-Id header (initialize first)",
        ));
    };
    let session = state
        .sessions
        .mcp_session(id, principal.owner())
        .filter(|s| s.endpoint() == endpoint.path())
        .ok_or_else(|| {
            http_error(
                StatusCode::NOT_FOUND,
                rpc::SESSION_NOT_FOUND,
                "session not found: initialize a new one",
            )
        })?;
    Ok(session)
}

async fn handle_post(
    payer: Payer,
    endpoint: Endpoint,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (state, principal) = (payer.state.clone(), payer.principal.clone());
    if let Err(response) = check_version(&headers) {
        return response;
    }
    // A service the key may not use is an unknown one.
    // A service a reload removed still serves the sessions that knew it.
    let session_id = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok());
    if let Endpoint::One(service) = &endpoint
        && (!state.sessions.knows_service(session_id, service)
            || !principal.allows_service(service))
    {
        return http_error(
            StatusCode::NOT_FOUND,
            rpc::INVALID_REQUEST,
            &format!("unknown service: {service}"),
        );
    }
    if !is_json(&headers) {
        return http_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            rpc::INVALID_REQUEST,
            "content type must be application/json",
        );
    }
    let message: Value = match serde_json::from_slice(&body) {
        Ok(message) => message,
        Err(err) => {
            return http_error(
                StatusCode::BAD_REQUEST,
                rpc::PARSE_ERROR,
                &format!("invalid JSON: {err}"),
            );
        }
    };
    let inbound = match rpc::classify(&message) {
        Ok(inbound) => inbound,
        Err((code, why)) => return http_error(StatusCode::BAD_REQUEST, code, &why),
    };
    // Lists, reads and `initialize` are charged now; `tools/call` once its service is known.
    let mut decision = None;
    if let Inbound::Request { id, method, .. } = &inbound
        && let Some(spend) = budget::spend_of(method)
    {
        match payer.charge(&spend, id).await {
            Ok(checked) => decision = checked,
            Err(refused) => return refused,
        }
    }
    let response = serve_post(payer, endpoint, headers, message, inbound).await;
    budget::with_headers(response, decision.as_ref())
}

async fn serve_post(
    payer: Payer,
    endpoint: Endpoint,
    headers: HeaderMap,
    message: Value,
    inbound: Inbound,
) -> Response {
    let (state, principal) = (payer.state.clone(), payer.principal.clone());
    if let Inbound::Request { id, method, params } = &inbound
        && method == "initialize"
    {
        return initialize(&state, principal, &endpoint, id, params);
    }
    if headers.get(SESSION_HEADER).is_none() && modern::is_modern(&inbound) {
        return serve_modern(payer, endpoint, headers, inbound).await;
    }
    let session = match find_session(&state, &principal, &endpoint, &headers) {
        Ok(session) => session,
        Err(response) => return response,
    };
    match inbound {
        Inbound::Notification { method, params } => {
            if method == "notifications/cancelled"
                && let Some(id) = params.get("requestId")
            {
                session.cancel(id);
            }
            StatusCode::ACCEPTED.into_response()
        }
        Inbound::Response => {
            relay::client_response(&session, &message);
            StatusCode::ACCEPTED.into_response()
        }
        Inbound::Request { id, method, params } => {
            let span = tracing::info_span!(
                target: crate::telemetry::TARGET,
                "mcp",
                otel.name = %format!("mcp {method}"),
                "mcp.method.name" = %method,
                "mcp.session.id" = %session.id(),
            );
            let ctx = methods::Ctx {
                manager: state.sessions.clone(),
                session,
            };
            async move {
                if method == "tools/call" {
                    let sse = accepts_sse(&headers);
                    return call::tools_call(&payer, ctx, id, params, sse, Era::Legacy, None).await;
                }
                let response = methods::dispatch(&ctx, &id, &method, params).await;
                axum::Json(response).into_response()
            }
            .instrument(span)
            .await
        }
    }
}

/// A 2026-07-28 (stateless) message: validated, then served by a session that lives for this
/// one request (a fresh child per service it touches, stopped when the response is done).
async fn serve_modern(
    payer: Payer,
    endpoint: Endpoint,
    headers: HeaderMap,
    inbound: Inbound,
) -> Response {
    let (state, principal) = (payer.state.clone(), payer.principal.clone());
    let Inbound::Request { id, method, params } = inbound else {
        // Notifications (cancellation is closing the stream) and stray responses.
        return StatusCode::ACCEPTED.into_response();
    };
    if let Err((status, error)) = modern::validate(&headers, &id, &method, &params) {
        return (status, axum::Json(error)).into_response();
    }
    if method == "server/discover" {
        return axum::Json(rpc::result(&id, modern::discover())).into_response();
    }
    if !modern::serves(&method) {
        let error = rpc::error(
            &id,
            rpc::METHOD_NOT_FOUND,
            format!("method not found: {method}"),
        );
        return (StatusCode::NOT_FOUND, axum::Json(error)).into_response();
    }
    let naming = endpoint.naming(&state, &principal);
    let owner = principal.owner().map(str::to_owned);
    let session_id = format!("modern-{}", uuid::Uuid::new_v4().simple());
    // No capabilities: server-to-client requests do not exist in 2026-07-28 (MRTR is not
    // implemented), so a child's sampling/elicitation requests are refused.
    let session = Arc::new(McpSession::new(
        session_id.clone(),
        endpoint.path(),
        naming,
        principal,
        json!({}),
    ));
    let metadata = json!({ "endpoint": endpoint.path(), "protocol_version": modern::VERSION, "method": method });
    let identity = session.principal().identity();
    if let Err(err) = state.sessions.open_mcp(
        &session_id,
        session.clone(),
        metadata,
        owner.as_deref(),
        identity,
    ) {
        return session_refused(&id, err);
    }
    // Closed when this request is done, and also when the client goes away mid-request (the
    // handler is dropped): a per-request child never outlives its request.
    let closer = Closer {
        manager: state.sessions.clone(),
        id: session_id.clone(),
    };
    let ctx = methods::Ctx {
        manager: state.sessions.clone(),
        session,
    };
    if method == "tools/call" {
        let sse = accepts_sse(&headers);
        return call::tools_call(&payer, ctx, id, params, sse, Era::Modern, Some(closer)).await;
    }
    let response = methods::dispatch(&ctx, &id, &method, params).await;
    axum::Json(Era::Modern.finish(&ctx, &method, response)).into_response()
}

fn initialize(
    state: &AppState,
    principal: Principal,
    endpoint: &Endpoint,
    id: &Value,
    params: &Value,
) -> Response {
    let requested = params.get("protocolVersion").and_then(Value::as_str);
    let version = requested
        .filter(|v| SUPPORTED_VERSIONS.contains(v))
        .unwrap_or(SUPPORTED_VERSIONS[0])
        .to_string();
    let config = state.sessions.config();
    let naming = endpoint.naming(state, &principal);
    let owner = principal.owner().map(str::to_owned);
    // In a cluster the id carries its owner, sealed (docs/scale-out.md).
    let session_id = match &state.cluster {
        Some(cluster) => cluster.mint_session_id(),
        None => uuid::Uuid::new_v4().simple().to_string(),
    };
    let session = Arc::new(McpSession::new(
        session_id.clone(),
        endpoint.path(),
        naming,
        principal,
        declared::capabilities(params.get("capabilities")),
    ));
    let metadata = json!({
        "endpoint": endpoint.path(),
        "protocol_version": version,
        "client_info": declared::client_info(params.get("clientInfo")),
        "client_capabilities": declared::capabilities(params.get("capabilities")),
    });
    let identity = session.principal().identity();
    if let Err(err) = state.sessions.open_mcp(
        &session_id,
        session.clone(),
        metadata,
        owner.as_deref(),
        identity,
    ) {
        return session_refused(id, err);
    }
    if config.mcp.eager {
        for service in session.naming().services.clone() {
            let (manager, session) = (state.sessions.clone(), session.clone());
            // Bounded by the service's startup_timeout; failures show on first use.
            state.sessions.tasks().spawn(async move {
                if let Err(err) = relay::child(&manager, &session, &service).await {
                    tracing::warn!(session = %session.id(), %service, error = %err.message, "eager start failed");
                }
            });
        }
    }
    let result = json!({
        "protocolVersion": version,
        "capabilities": {
            "tools": { "listChanged": true },
            "prompts": { "listChanged": true },
            "resources": { "subscribe": true, "listChanged": true },
            "logging": {},
            "completions": {},
        },
        "serverInfo": { "name": "mcp-gateway", "version": env!("CARGO_PKG_VERSION") },
        "instructions": match endpoint {
            Endpoint::All => "Tools of every service of this gateway; each service runs in a private child process per MCP session.".to_string(),
            Endpoint::One(s) => format!("Service {s} of an mcp-gateway, in a private child process per MCP session."),
        },
    });
    let mut response = axum::Json(rpc::result(id, result)).into_response();
    if let Ok(value) = HeaderValue::from_str(&session_id) {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    response
}

fn handle_get(
    state: AppState,
    principal: Principal,
    endpoint: Endpoint,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = check_version(&headers) {
        return response;
    }
    if !accepts_sse(&headers) {
        return http_error(
            StatusCode::NOT_ACCEPTABLE,
            rpc::INVALID_REQUEST,
            "GET needs Accept: text/event-stream",
        );
    }
    match find_session(&state, &principal, &endpoint, &headers) {
        // An open GET stream keeps its session alive (not idle) until the client closes it.
        Ok(session) => {
            let hold = state.sessions.hold_mcp(session.id());
            sse_response(session.open_stream(), hold)
        }
        Err(response) => response,
    }
}

async fn handle_delete(payer: Payer, endpoint: Endpoint, headers: HeaderMap) -> Response {
    let (state, principal) = (payer.state.clone(), payer.principal.clone());
    if let Err(response) = check_version(&headers) {
        return response;
    }
    let decision = match payer.charge(&Spend::Delete, &Value::Null).await {
        Ok(decision) => decision,
        Err(refused) => return refused,
    };
    let response = match find_session(&state, &principal, &endpoint, &headers) {
        Ok(session) => match state.sessions.close_for(session.id(), principal.owner()) {
            Ok(()) => {
                tracing::info!(session = %session.id(), "mcp session deleted by the client");
                StatusCode::OK.into_response()
            }
            Err(_) => http_error(
                StatusCode::NOT_FOUND,
                rpc::SESSION_NOT_FOUND,
                "session not found",
            ),
        },
        Err(response) => response,
    };
    budget::with_headers(response, decision.as_ref())
}
