//! Connection hardening: a cap on open connections (checked when a connection is accepted,
//! before TLS or HTTP) and a deadline for a connection's first bytes.
//!
//! hyper's `header_read_timeout` covers a request's headers once HTTP/1 is detected, and idle
//! keep-alive connections, but not the phase before it: the auto (HTTP/1 + HTTP/2) builder
//! first reads until the bytes are known not to be the HTTP/2 preface, with no timeout. A
//! client that sends nothing (or a prefix of the preface) would hold its connection forever;
//! [`Guarded`] ends it with `TimedOut` once `deadline` passes in that phase.
//!
//! A connection with no request in flight for the same timeout is ended the same way, whatever
//! its protocol (`idle`): an HTTP/2 client answering PINGs no longer keeps it open forever.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

use super::idle::{Activity, Counted};

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Wraps the acceptor `A` (plain or TLS): takes one of `max_connections` permits first (a
/// connection over the cap is dropped, i.e. closed, at once), then runs `A`, then arms the
/// first-bytes deadline.
#[derive(Clone)]
pub(super) struct GuardAcceptor<A> {
    inner: A,
    permits: Arc<Semaphore>,
    first_bytes: Duration,
}

impl<A> GuardAcceptor<A> {
    pub(super) fn new(inner: A, max_connections: usize, first_bytes: Duration) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(max_connections)),
            first_bytes,
        }
    }
}

impl<A, S> Accept<TcpStream, S> for GuardAcceptor<A>
where
    A: Accept<TcpStream, S> + Clone + Send + Sync + 'static,
    A::Future: Send + 'static,
    S: Send + 'static,
{
    type Stream = Guarded<A::Stream>;
    type Service = Counted<A::Service>;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        // No Nagle: an answer written in two parts (the head, then an SSE event) must not wait
        // for the client's delayed ACK of the first (40 ms a call). Plain and TLS, HTTP/1 and 2.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on an accepted connection");
        }
        let permit = Arc::clone(&self.permits).try_acquire_owned();
        let inner = self.inner.clone();
        let first_bytes = self.first_bytes;
        Box::pin(async move {
            let Ok(permit) = permit else {
                tracing::debug!("connection refused: server.max_connections connections are open");
                return Err(io::Error::other("too many open connections"));
            };
            let (stream, service) = inner.accept(stream, service).await?;
            let activity = Activity::new();
            let service = Counted::new(service, activity.clone());
            Ok((Guarded::new(stream, permit, first_bytes, activity), service))
        })
    }
}

/// A connection holding its permit; until its first bytes show it is not the HTTP/2 preface
/// (or are the whole preface), reads fail with `TimedOut` after the deadline.
pub(super) struct Guarded<S> {
    inner: S,
    _permit: OwnedSemaphorePermit,
    /// `Some((deadline, preface bytes matched so far))` while the protocol is undecided.
    undecided: Option<(Pin<Box<Sleep>>, usize)>,
    /// Requests in flight on this connection, and the idle timer.
    activity: Arc<Activity>,
    idle: Duration,
    idle_timer: Pin<Box<Sleep>>,
}

impl<S> Guarded<S> {
    fn new(
        inner: S,
        permit: OwnedSemaphorePermit,
        first_bytes: Duration,
        activity: Arc<Activity>,
    ) -> Self {
        Self {
            inner,
            _permit: permit,
            undecided: Some((Box::pin(tokio::time::sleep(first_bytes)), 0)),
            activity,
            idle: first_bytes,
            idle_timer: Box::pin(tokio::time::sleep(first_bytes)),
        }
    }

    /// Whether the connection has been idle (no request in flight) for too long; otherwise the
    /// timer is armed for when it would be.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.activity.idle_deadline(self.idle) else {
            return false;
        };
        if tokio::time::Instant::now() >= deadline {
            return true;
        }
        self.idle_timer.as_mut().reset(deadline);
        // Registers the waker; the deadline is in the future, so this is pending.
        let _ = self.idle_timer.as_mut().poll(cx);
        false
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if let Some((_, matched)) = &mut this.undecided {
                    let new = &buf.filled()[before..];
                    let rest = &H2_PREFACE[*matched..];
                    let n = new.len().min(rest.len());
                    if new[..n] != rest[..n] || *matched + n == H2_PREFACE.len() {
                        this.undecided = None;
                    } else {
                        *matched += n;
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if let Some((deadline, _)) = &mut this.undecided
                    && deadline.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request within server.header_read_timeout",
                    )));
                }
                if this.idle_expired(cx) {
                    tracing::debug!("closing a connection idle for server.header_read_timeout");
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection idle for server.header_read_timeout",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
