//! A deadline for request bodies: once its headers are in, a request must deliver its whole
//! body within `server.body_read_timeout`, or it is answered 408 and its connection closed. A
//! client trickling one byte every few seconds cannot hold a handler (and the connection's
//! place) for ever. (Headers have their own deadline, `server.header_read_timeout`, in hyper.)

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::error::ApiError;
use super::state::AppState;

/// The body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("request body not received within server.body_read_timeout ({0:?})")]
pub(super) struct BodyTimeout(Duration);

/// The checks in front of every route, in ONE middleware (each `from_fn` layer costs a clone
/// of the inner router and a boxed future per request): whether the request is traced (then
/// all that follows runs under its server span, `traces`), the Host/Origin policy
/// (`origin::refuse`), then the body deadline. If the body ran out of time, whatever the
/// handler made of the failed read is replaced by a 408 in the route's shape.
pub(super) async fn edge(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (traces, ratio) = {
        let telemetry = &state.sessions.config().telemetry;
        (telemetry.otlp_endpoint.is_some(), telemetry.sampling_ratio)
    };
    if traces && crate::telemetry::sampled(request.headers(), ratio) {
        return super::traces::traced(request, |request| checks(state, request, next)).await;
    }
    checks(state, request, next).await
}

async fn checks(state: AppState, request: Request, next: Next) -> Response {
    if let Some(refused) = super::origin::refuse(&state, &request) {
        return refused;
    }
    // A request without a body (GET, DELETE, a POST with `Content-Length: 0`) has nothing to
    // wait for.
    if http_body::Body::is_end_stream(request.body()) {
        return next.run(request).await;
    }
    let limit = state.sessions.config().server.body_read_timeout;
    let expired = Arc::new(AtomicBool::new(false));
    let (parts, body) = request.into_parts();
    let body = Body::new(Deadline {
        inner: body,
        until: Some(Instant::now() + limit),
        sleep: None,
        limit,
        expired: expired.clone(),
    });
    let front_door = super::origin::is_front_door(parts.uri.path());
    let response = next.run(Request::from_parts(parts, body)).await;
    if !expired.load(Ordering::Acquire) {
        return response;
    }
    let message = BodyTimeout(limit).to_string();
    let mut response = if front_door {
        crate::front::reply::refusal(StatusCode::REQUEST_TIMEOUT, &message)
    } else {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", message).into_response()
    };
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that fails once its deadline passes before its end.
struct Deadline {
    inner: Body,
    /// The deadline; `None` once the body has ended.
    until: Option<Instant>,
    /// Its timer, made only when the body is not all there at once (the usual small body
    /// arrives with its headers and never needs one).
    sleep: Option<Pin<Box<Sleep>>>,
    limit: Duration,
    expired: Arc<AtomicBool>,
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            this.until = None;
            this.sleep = None;
        }
        let Some(until) = this.until.filter(|_| polled.is_pending()) else {
            return polled;
        };
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
        if sleep.as_mut().poll(cx).is_ready() {
            this.until = None;
            this.sleep = None;
            this.expired.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimeout(this.limit)))));
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
