//! The auth middleware: the client address, a blocked address, then the credentials
//! (`credentials`), whose principal every later layer reads.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use super::admission;
use super::client_addr::{ClientAddr, client_addr, peer_of};
use super::cluster::Forwarded;
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
    if presented && let Some(secs) = state.traffic.failures.blocked(addr) {
        tracing::debug!(target: "security", event_type = "auth_blocked", ip = %addr, "request from a blocked address");
        return admission::blocked(secs);
    }
    match state.auth.check(request.headers()) {
        Some(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        None => {
            tracing::warn!(
                target: "security",
                event_type = "auth_failed",
                ip = %addr,
                peer = %peer,
                reason = if presented { "invalid credentials" } else { "no credentials" },
                method = %request.method(),
                path = %request.uri().path(),
                "authentication failed"
            );
            if presented && state.traffic.failures.record(addr) {
                tracing::warn!(
                    target: "security",
                    event_type = "address_blocked",
                    ip = %addr,
                    block_secs = config.traffic.block_for.as_secs(),
                    "too many failed authentication attempts: address blocked"
                );
            }
            admission::unauthenticated(&state, addr).await
        }
    }
}
