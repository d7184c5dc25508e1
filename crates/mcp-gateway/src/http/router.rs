//! The one place the REST routes and the MCP front door's are composed, behind the same
//! auth, rate-limit and edge layers.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request, header};
use axum::middleware;
use axum::routing::{delete, get, post};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use super::state::AppState;
use super::{admission, auth, body, cluster, console, metrics, oauth, reload, routes};

/// The whole REST API.
pub(super) fn router(state: AppState) -> Router {
    let config = state.sessions.config();
    let max_body = config.server.max_body_bytes;
    let tls = config.server.tls.is_some();
    let metrics_cfg = config.metrics;
    let mut protected = Router::new()
        .route("/services", get(routes::services))
        .route("/services/{service}/tools", get(routes::tools))
        .route("/services/{service}/call", post(routes::call))
        .route("/sessions", get(routes::sessions))
        .route("/sessions/{id}", delete(routes::close_session))
        .route("/audit/recent", get(routes::audit_recent))
        .route("/reload", post(reload::route))
        .merge(crate::front::routes())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            admission::limit,
        ));
    // The cluster's layers exist only in a cluster: one replica keeps exactly its old stack
    // (each `from_fn` layer costs a clone and a box per request).
    let clustered = state.cluster.is_some();
    if clustered {
        protected = protected.route_layer(middleware::from_fn_with_state(
            state.clone(),
            cluster::route,
        ));
    }
    // /metrics is added after the rate-limit layer: a scraper must never spend API budgets.
    let mut public = Router::new()
        .route("/health", get(routes::health))
        .route("/console", get(console::index))
        .route("/console/app.js", get(console::script))
        .route("/console/app.css", get(console::style))
        .route("/ready", get(routes::ready));
    if state.oauth.is_some() {
        // RFC 9728: each resource's metadata at the well-known prefix + its path; public.
        public = public
            .route(oauth::WELL_KNOWN, get(oauth::metadata_root))
            .route(
                &format!("{}/mcp", oauth::WELL_KNOWN),
                get(oauth::metadata_all),
            )
            .route(
                &format!("{}/services/{{service}}/mcp", oauth::WELL_KNOWN),
                get(oauth::metadata_one),
            );
    }
    if metrics_cfg.enabled && metrics_cfg.require_auth {
        protected = protected.route("/metrics", get(metrics::metrics));
    } else if metrics_cfg.enabled {
        public = public.route("/metrics", get(metrics::metrics));
    }
    let mut protected = protected.route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::require_auth,
    ));
    if clustered {
        protected = protected.route_layer(middleware::from_fn_with_state(
            state.clone(),
            cluster::accept_hop,
        ));
    }
    let x_request_id = HeaderName::from_static("x-request-id");
    let mut app = public
        .merge(protected)
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), body::edge))
        .layer(middleware::from_fn(metrics::count_requests))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(security_header(header::X_XSS_PROTECTION, "1; mode=block"))
        .layer(security_header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none';",
        ));
    if tls {
        app = app.layer(security_header(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ));
    }
    app.layer(
        TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::debug_span!("request", id = %id, method = %req.method(), path = %req.uri().path())
        }),
    )
    .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
    .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
    .with_state(state)
}

fn security_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}
