//! The auth middleware: the client address, a blocked address, then the credentials
//! (`credentials`, then an OAuth access token: `oauth`), whose principal every later layer
//! reads.

use std::net::IpAddr;
use tracing::Instrument;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use super::admission;
use super::client_addr::{ClientAddr, client_addr, peer_of};
use super::cluster::Forwarded;
use super::oauth::{self, Checked};
use super::principal::Principal;
use super::state::AppState;

/// Middleware: find the client address, then the [`Principal`]. A request that fails auth
/// answers 401 (429 once its address has spent its unauthenticated budget) and, if it
/// presented wrong credentials, counts toward blocking its address.
pub(super) async fn require_auth(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    // A forwarded request whose hop signature held (`cluster::accept_hop`): the edge checked
    // the client's credentials once.
    if let Some(hop) = request.extensions().get::<Forwarded>().cloned() {
        request.extensions_mut().insert(ClientAddr(hop.client));
        request.extensions_mut().insert(hop.principal);
        return next.run(request).await;
    }
    let config = state.sessions.config();
    let peer = peer_of(&request).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let addr = client_addr(peer, request.headers(), &config.traffic.trusted_proxies);
    request.extensions_mut().insert(ClientAddr(addr));
    let presented = request.headers().contains_key(header::AUTHORIZATION);
    if presented && let Some(secs) = state.traffic.failures.load().blocked(addr) {
        tracing::debug!(target: "security", event_type = "auth_blocked", ip = %addr, "request from a blocked address");
        return admission::blocked(secs);
    }
    let span = tracing::info_span!(target: crate::telemetry::TARGET, "auth", "mcp.principal" = tracing::field::Empty);
    let accepted = |span: &tracing::Span, principal: &Principal| {
        if !span.is_disabled() {
            span.record("mcp.principal", principal.audit_name());
        }
    };
    if let Some(principal) = span.in_scope(|| state.auth.load().check(request.headers())) {
        accepted(&span, &principal);
        request.extensions_mut().insert(principal);
        return next.run(request).await;
    }
    let path = request.uri().path().to_owned();
    let mut token_error = None;
    let verifier = state.oauth.as_ref().map(|v| v.load_full());
    if let Some(verifier) = &verifier
        && let Some(token) = oauth::bearer_token(verifier, request.headers())
    {
        match oauth::check(verifier, token, &path)
            .instrument(span.clone())
            .await
        {
            Checked::Accepted(principal) => {
                accepted(&span, &principal);
                request.extensions_mut().insert(principal);
                return next.run(request).await;
            }
            Checked::Refused(response) => return close_after(response),
            Checked::Invalid(err) => token_error = Some(err),
        }
    }
    let reason = match (&token_error, presented) {
        (Some(err), _) => err.to_string(),
        (None, true) => "invalid credentials".to_owned(),
        (None, false) => "no credentials".to_owned(),
    };
    tracing::warn!(
        target: "security",
        event_type = "auth_failed",
        ip = %addr,
        peer = %peer,
        reason = %reason,
        method = %request.method(),
        path = %path,
        "authentication failed"
    );
    if presented && state.traffic.failures.load().record(addr) {
        tracing::warn!(
            target: "security",
            event_type = "address_blocked",
            ip = %addr,
            block_secs = config.traffic.block_for.as_secs(),
            "too many failed authentication attempts: address blocked"
        );
    }
    let mut response = admission::unauthenticated(&state, addr).await;
    if let Some(verifier) = &verifier {
        oauth::add_challenge(&mut response, verifier, &path, token_error.as_ref());
    }
    close_after(response)
}

/// A refusal answered before the request's body was read ends its connection, and says so:
/// the unread body leaves the connection unusable, and a client that reused it (an MCP client
/// following a 401 to the metadata, at once) would see it closed under its next request.
fn close_after(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}
