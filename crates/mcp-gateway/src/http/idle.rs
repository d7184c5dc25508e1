//! Idle connections close on every protocol. hyper closes an idle HTTP/1 keep-alive connection
//! after `server.header_read_timeout`, but an HTTP/2 connection that answers PINGs stays open
//! forever, holding one of `server.max_connections`. [`Counted`] wraps a connection's service
//! to count its requests in flight, from the call until the response body is done or dropped
//! (an SSE stream counts as long as it is open); the connection's stream
//! (`conn::Guarded`) fails its reads once the connection has had no request in flight for the
//! idle timeout.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::Response;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Instant;

/// What one connection is doing: requests in flight, and since when it has been idle.
/// Lock-free: two atomics per request.
#[derive(Debug)]
pub(super) struct Activity {
    in_flight: AtomicUsize,
    /// When the connection opened.
    opened: Instant,
    /// Nanoseconds after `opened` at which the last request ended.
    idle_since: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            in_flight: AtomicUsize::new(0),
            opened: Instant::now(),
            idle_since: AtomicU64::new(0),
        })
    }

    /// When the connection, idle for `idle`, is to be closed: `None` while a request is in
    /// flight.
    pub(super) fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = Duration::from_nanos(self.idle_since.load(Ordering::Acquire));
        Some(self.opened + since + idle)
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }
}

/// One request in flight; the connection's idle clock restarts when the last one ends.
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        // The stamp first, then the count: whoever sees no request in flight also sees when
        // the last one ended (a request starting meanwhile only makes the connection busy).
        let now = u64::try_from(self.0.opened.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.0.idle_since.fetch_max(now, Ordering::AcqRel);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's service, counting its requests in flight.
#[derive(Clone)]
pub(super) struct Counted<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Counted<S> {
    pub(super) fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S, R, B> tower::Service<R> for Counted<S>
where
    S: tower::Service<R, Response = Response<B>>,
    S::Future: Send + 'static,
{
    type Response = Response<CountedBody<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let in_flight = self.activity.begin();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| CountedBody {
                inner: body,
                in_flight: Some(in_flight),
            }))
        })
    }
}

/// A response body that keeps its request counted in flight until it ends or is dropped.
pub(super) struct CountedBody<B> {
    inner: B,
    in_flight: Option<InFlight>,
}

impl<B: Body + Unpin> Body for CountedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            this.in_flight = None;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_clock_runs_only_without_requests() {
        let activity = Activity::new();
        let idle = Duration::from_secs(10);
        let created = activity.idle_deadline(idle).unwrap();
        let a = activity.begin();
        let b = activity.begin();
        assert_eq!(activity.idle_deadline(idle), None);
        std::thread::sleep(Duration::from_millis(5));
        drop(a);
        assert_eq!(activity.idle_deadline(idle), None, "b is still in flight");
        drop(b);
        let restarted = activity.idle_deadline(idle).unwrap();
        assert!(
            restarted > created,
            "the clock restarts when the last request ends"
        );
    }
}
