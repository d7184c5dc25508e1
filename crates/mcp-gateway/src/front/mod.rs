//! The MCP front door: every service (`/mcp`) or one (`/services/{name}/mcp`) served over
//! Streamable HTTP, legacy shape (protocol revisions 2025-03-26, 2025-06-18, 2025-11-25), and
//! the stateless 2026-07-28 revision for requests that carry its `_meta` (`modern`).
//!
//! An MCP session is a session of the shared table (its id is the `Mcp-Session-Id`), so its
//! children are started, capped, sandboxed and reaped exactly like REST sessions' children.
//! - `rpc`: JSON-RPC classification and responses (pure).
//! - `aggregate`: names (`{service}{sep}{tool}`, shortening), merged and paginated lists.
//! - `session`: per-session protocol state (name maps, in-flight requests, GET stream).
//! - `relay`: `tools/call` with progress and cancellation, child notifications.
//! - `methods`: the MCP methods answered here or forwarded to a child.

mod aggregate;
mod budget;
mod declared;
mod methods;
pub(crate) mod modern;
mod relay;
pub(crate) mod rpc;
mod session;

pub use session::{McpSession, Sessions};

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::http::{AppState, ClientAddr, Principal};
use aggregate::Naming;
use budget::Payer;
use rpc::Inbound;

/// The revisions we speak, newest first; the first is what we answer to an unknown one.
pub use crate::mcp::protocol::SERVED_VERSIONS as SUPPORTED_VERSIONS;
const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The front door's routes, mounted behind the REST API's auth middleware.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/mcp", post(post_all).get(get_all).delete(delete_all))
        .route(
            "/services/{service}/mcp",
            post(post_one).get(get_one).delete(delete_one),
        )
}

/// Which endpoint a request came to.
#[derive(Debug, Clone)]
enum Endpoint {
    All,
    One(String),
}

impl Endpoint {
    fn path(&self) -> String {
        match self {
            Endpoint::All => "/mcp".into(),
            Endpoint::One(s) => format!("/services/{s}/mcp"),
        }
    }

    /// The services this endpoint serves to `principal`: a scoped key sees the gateway as if
    /// only the services it may use were configured (names and prefixes included).
    fn naming(&self, state: &AppState, principal: &Principal) -> Naming {
        let config = state.sessions.config();
        match self {
            Endpoint::All => Naming::all(
                config
                    .services
                    .keys()
                    .filter(|s| principal.allows_service(s))
                    .cloned()
                    .collect(),
                &config.mcp,
            ),
            Endpoint::One(service) => Naming::one(service.clone(), &config.mcp),
        }
    }
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

async fn post_all(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let payer = payer(state, principal, client);
    handle_post(payer, Endpoint::All, headers, body).await
}

async fn post_one(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    client: Option<Extension<ClientAddr>>,
    service: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(Path(service)) = service else {
        return bad_service_path();
    };
    let payer = payer(state, principal, client);
    handle_post(payer, Endpoint::One(service), headers, body).await
}

async fn get_all(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
) -> Response {
    handle_get(state, principal, Endpoint::All, headers)
}

async fn get_one(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    service: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(Path(service)) = service else {
        return bad_service_path();
    };
    handle_get(state, principal, Endpoint::One(service), headers)
}

async fn delete_all(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
) -> Response {
    handle_delete(payer(state, principal, client), Endpoint::All, headers).await
}

async fn delete_one(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    client: Option<Extension<ClientAddr>>,
    service: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(Path(service)) = service else {
        return bad_service_path();
    };
    handle_delete(
        payer(state, principal, client),
        Endpoint::One(service),
        headers,
    )
    .await
}

/// `/services/%FF/mcp`: a service name that is not UTF-8 once percent-decoded.
fn bad_service_path() -> Response {
    http_error(
        StatusCode::BAD_REQUEST,
        rpc::INVALID_REQUEST,
        "invalid service name in path: not valid UTF-8",
    )
}

/// A session that could not be opened: 503 with `Retry-After` when a cap is reached or the
/// gateway is stopping (as REST answers), with a JSON-RPC error answering `id`.
fn session_refused(id: &Value, err: crate::session::SessionError) -> Response {
    use crate::session::SessionError;
    let retry = matches!(
        err,
        SessionError::SessionLimit(_) | SessionError::ShuttingDown
    );
    let body = axum::Json(rpc::RpcError::from_session(err).to_response(id));
    if retry {
        let retry_after = [(header::RETRY_AFTER, HeaderValue::from_static("1"))];
        (StatusCode::SERVICE_UNAVAILABLE, retry_after, body).into_response()
    } else {
        body.into_response()
    }
}

/// A refusal before any message was read (Origin, Host), as the front door answers it.
pub fn refusal(status: StatusCode, message: &str) -> Response {
    http_error(status, rpc::INVALID_REQUEST, message)
}

/// An HTTP-level failure with a JSON-RPC error body (`id: null`).
fn http_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body = rpc::error(&Value::Null, code, message);
    (status, axum::Json(body)).into_response()
}

/// Checks every request shares: protocol version (Origin and Host are checked for every route
/// by `http::origin`, before auth).
fn check_common(_state: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    if let Some(version) = headers.get(VERSION_HEADER) {
        let version = version.to_str().unwrap_or("");
        if !SUPPORTED_VERSIONS.contains(&version) && version != modern::VERSION {
            return Err(http_error(
                StatusCode::BAD_REQUEST,
                rpc::INVALID_REQUEST,
                &format!(
                    "unsupported MCP-Protocol-Version {version:?} (supported: {})",
                    SUPPORTED_VERSIONS.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn accepts_sse(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
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
        .filter(|s| s.endpoint == endpoint.path())
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
    if let Err(response) = check_common(&state, &headers) {
        return response;
    }
    // A service the key may not use is an unknown one.
    if let Endpoint::One(service) = &endpoint
        && (!state.sessions.config().services.contains_key(service)
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
            let ctx = methods::Ctx {
                manager: state.sessions.clone(),
                session,
            };
            if method == "tools/call" {
                let sse = accepts_sse(&headers);
                return tools_call(&payer, ctx, id, params, sse, Era::Legacy, None).await;
            }
            let response = methods::dispatch(&ctx, &id, &method, params).await;
            axum::Json(response).into_response()
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
    if let Err(err) =
        state
            .sessions
            .open_mcp(&session_id, session.clone(), metadata, owner.as_deref())
    {
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
        return tools_call(&payer, ctx, id, params, sse, Era::Modern, Some(closer)).await;
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
    let session_id = uuid::Uuid::new_v4().simple().to_string();
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
    if let Err(err) =
        state
            .sessions
            .open_mcp(&session_id, session.clone(), metadata, owner.as_deref())
    {
        return session_refused(id, err);
    }
    if config.mcp.eager {
        for service in session.naming.services.clone() {
            let (manager, session) = (state.sessions.clone(), session.clone());
            // Bounded by the service's startup_timeout; failures show on first use.
            tokio::spawn(async move {
                if let Err(err) = relay::child(&manager, &session, &service).await {
                    tracing::warn!(session = %session.id, %service, error = %err.message, "eager start failed");
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

/// Closes a 2026-07-28 request's one-request session when dropped.
struct Closer {
    manager: Arc<Sessions>,
    id: String,
}

impl Drop for Closer {
    fn drop(&mut self) {
        let _ = self.manager.close(&self.id);
    }
}

/// `tools/call`: an SSE response (progress first, then the result) when the client accepts
/// one, else plain JSON.
/// How a response is finished: legacy as is; modern (2026-07-28) stamped with `resultType`
/// and `serverInfo`, and its one-request session closed afterwards.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Era {
    Legacy,
    Modern,
}

impl Era {
    fn finish(self, ctx: &methods::Ctx, method: &str, mut response: Value) -> Value {
        if self == Era::Modern {
            modern::stamp(method, &mut response);
            let _ = ctx.manager.close(&ctx.session.id);
        }
        response
    }
}

async fn tools_call(
    payer: &Payer,
    ctx: methods::Ctx,
    id: Value,
    params: Value,
    sse: bool,
    era: Era,
    closer: Option<Closer>,
) -> Response {
    let call = match methods::prepare_call(&ctx, &id, params).await {
        Ok(call) => call,
        Err(response) => {
            return axum::Json(era.finish(&ctx, "tools/call", response)).into_response();
        }
    };
    // What a REST call of the same service spends, and the same gates (held by `permits`
    // until the call is answered).
    let (decision, permits) = match payer.admit_call(&call.service, &ctx.session.id, &id).await {
        Ok(admitted) => admitted,
        Err(refused) => {
            if era == Era::Modern {
                let _ = ctx.manager.close(&ctx.session.id);
            }
            return refused;
        }
    };
    let response = answer_call(ctx, call, id, sse, era, permits, closer).await;
    budget::with_headers(response, decision.as_ref())
}

async fn answer_call(
    ctx: methods::Ctx,
    call: relay::ToolCall,
    id: Value,
    sse: bool,
    era: Era,
    permits: Vec<crate::ratelimit::Permit>,
    closer: Option<Closer>,
) -> Response {
    if !sse {
        let response = relay::call_tool(&ctx.manager, &ctx.session, call, None)
            .await
            .unwrap_or_else(|| rpc::error(&id, rpc::REQUEST_CANCELLED, "request cancelled"));
        return axum::Json(era.finish(&ctx, "tools/call", response)).into_response();
    }
    let (tx, rx) = mpsc::channel(64);
    // How long the answer may wait for a client that stopped reading, once the call is done.
    let write_timeout = call.timeout;
    tokio::spawn(async move {
        let (_permits, _closer) = (permits, closer);
        let response = relay::call_tool(&ctx.manager, &ctx.session, call, Some(tx.clone())).await;
        match response {
            Some(response) => {
                let answer = era.finish(&ctx, "tools/call", response);
                if tokio::time::timeout(write_timeout, tx.send(answer))
                    .await
                    .is_err()
                {
                    tracing::warn!(session = %ctx.session.id, "the client read nothing of its SSE answer for call_timeout: answer dropped");
                }
            }
            None if era == Era::Modern => {
                let _ = ctx.manager.close(&ctx.session.id);
            }
            None => {}
        }
    });
    sse_response(rx)
}

fn sse_response(rx: mpsc::Receiver<Value>) -> Response {
    sse_response_holding(rx, None)
}

/// An SSE response of the messages of `rx`, holding `hold` for as long as it is open.
fn sse_response_holding(
    rx: mpsc::Receiver<Value>,
    hold: Option<crate::session::InUse>,
) -> Response {
    let stream = futures_util::stream::unfold((rx, hold), |(mut rx, hold)| async move {
        let message = rx.recv().await?;
        let event = Event::default().event("message").data(message.to_string());
        Some((Ok::<_, Infallible>(event), (rx, hold)))
    });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

fn handle_get(
    state: AppState,
    principal: Principal,
    endpoint: Endpoint,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = check_common(&state, &headers) {
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
            let hold = state.sessions.hold_mcp(&session.id);
            sse_response_holding(session.open_stream(), hold)
        }
        Err(response) => response,
    }
}

async fn handle_delete(payer: Payer, endpoint: Endpoint, headers: HeaderMap) -> Response {
    let (state, principal) = (payer.state.clone(), payer.principal.clone());
    if let Err(response) = check_common(&state, &headers) {
        return response;
    }
    let decision = match payer
        .charge(&crate::http::Spend::Delete, &Value::Null)
        .await
    {
        Ok(decision) => decision,
        Err(refused) => return refused,
    };
    let response = match find_session(&state, &principal, &endpoint, &headers) {
        Ok(session) => match state.sessions.close_for(&session.id, principal.owner()) {
            Ok(()) => {
                tracing::info!(session = %session.id, "mcp session deleted by the client");
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
