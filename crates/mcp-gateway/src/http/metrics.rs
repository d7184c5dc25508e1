//! `GET /metrics` and the middleware counting every answered request by route and status.

use axum::Extension;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::principal::Principal;
use super::state::AppState;

/// Count the request under its matched route template (`unmatched` for the fallback), so the
/// label set stays bounded whatever paths clients send.
pub(super) async fn count_requests(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = req.method().clone();
    let response = next.run(req).await;
    crate::metrics::request(
        route.as_deref().unwrap_or("unmatched"),
        method.as_str(),
        response.status().as_u16(),
    );
    response
}

/// The registry in the OpenMetrics text format. It names every service and counts for the
/// whole gateway, so a scoped key without `metrics: true` gets the 404 of an unknown route.
pub(super) async fn metrics(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
) -> Response {
    if let Some(Extension(principal)) = &principal
        && !principal.may_read_metrics()
    {
        return super::routes::not_found().await;
    }
    let body = crate::metrics::encode(&state.sessions.metrics_snapshot());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}
