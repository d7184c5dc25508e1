//! The server span of each traced request when `telemetry.otlp_endpoint` is set: the root of
//! its trace, or a child of the client's `traceparent`. Whether a request is traced is decided
//! in `body::edge`, the one middleware every request passes anyway.

use std::future::Future;

use axum::extract::Request;
use axum::response::Response;
use tracing::Instrument;
use tracing::field::Empty;

use crate::telemetry;

/// Run `work` on `request` as a traced request, under its server span.
pub(super) async fn traced<F>(request: Request, work: impl FnOnce(Request) -> F) -> Response
where
    F: Future<Output = Response>,
{
    telemetry::in_trace(true, async move {
        let route = route_of(request.uri().path());
        let span = tracing::info_span!(
            target: telemetry::TARGET,
            "HTTP",
            otel.name = %format!("{} {route}", request.method()),
            otel.kind = "server",
            otel.status_code = Empty,
            "http.request.method" = %request.method(),
            "http.route" = route,
            "url.path" = %request.uri().path(),
            "http.response.status_code" = Empty,
        );
        telemetry::continue_trace(&span, request.headers());
        let response = work(request).instrument(span.clone()).await;
        let status = response.status();
        span.record("http.response.status_code", status.as_u16());
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
        response
    })
    .await
}

/// The route of a path, without the ids that would make every span name unique.
fn route_of(path: &str) -> &str {
    if path.starts_with("/sessions/") {
        "/sessions/{id}"
    } else if path.starts_with("/services/") {
        match path.rsplit('/').next() {
            Some("call") => "/services/{name}/call",
            Some("tools") => "/services/{name}/tools",
            Some("mcp") => "/services/{name}/mcp",
            _ => "/services/{name}",
        }
    } else {
        match path {
            "/mcp" | "/sessions" | "/services" | "/health" | "/metrics" => path,
            _ => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::route_of;

    #[test]
    fn span_names_carry_routes_not_ids() {
        assert_eq!(route_of("/sessions/call-123"), "/sessions/{id}");
        assert_eq!(route_of("/services/fx/call"), "/services/{name}/call");
        assert_eq!(route_of("/services/fx/mcp"), "/services/{name}/mcp");
        assert_eq!(route_of("/mcp"), "/mcp");
        assert_eq!(route_of("/random/thing"), "other");
    }
}
