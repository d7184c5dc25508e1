//! The front door's HTTP answers: errors with a JSON-RPC body, the checks every request
//! shares, and SSE responses.

use std::convert::Infallible;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::modern;
use super::rpc;
use super::version::{SUPPORTED_VERSIONS, VERSION_HEADER};
use crate::session::{InUse, SessionError};

const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// An HTTP-level failure with a JSON-RPC error body (`id: null`).
pub(crate) fn http_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body =
        json!({ "jsonrpc": "2.0", "id": null, "error": { "code": code, "message": message } });
    (status, axum::Json(body)).into_response()
}

/// A refusal before any message was read (Origin, Host), as the front door answers it.
pub(crate) fn refusal(status: StatusCode, message: &str) -> Response {
    http_error(status, rpc::INVALID_REQUEST, message)
}

/// `/services/%FF/mcp`: a service name that is not UTF-8 once percent-decoded.
pub(crate) fn bad_service_path() -> Response {
    http_error(
        StatusCode::BAD_REQUEST,
        rpc::INVALID_REQUEST,
        "invalid service name in path: not valid UTF-8",
    )
}

/// A session that could not be opened: 503 with `Retry-After` when a cap is reached or the
/// gateway is stopping (as REST answers), with a JSON-RPC error answering `id`.
pub(crate) fn session_refused(id: &Value, err: SessionError) -> Response {
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

/// The check every request shares: its protocol version, if it names one (Origin and Host are
/// checked for every route by `http::origin`, before auth).
pub(crate) fn check_version(headers: &HeaderMap) -> Result<(), Response> {
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

pub(crate) fn accepts_sse(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// An SSE response of the messages of `rx`, holding `hold` for as long as it is open.
pub(crate) fn sse_response(rx: mpsc::Receiver<Value>, hold: Option<InUse>) -> Response {
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
