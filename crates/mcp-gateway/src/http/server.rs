//! Binding, TLS and graceful shutdown of the HTTP server.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use axum_server::Handle;
use axum_server::accept::DefaultAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use hyper_util::rt::TokioTimer;

use super::conn::GuardAcceptor;

use super::credentials::Authenticator;
use super::router::router;
use super::state::AppState;
use super::traffic::Traffic;
use crate::config::TlsConfig;
use crate::session::SessionManager;

/// The address the server is listening on, and how to reach it.
#[derive(Debug, Clone)]
pub struct Listening {
    pub addr: SocketAddr,
    pub scheme: &'static str,
}

/// Bind and serve until `shutdown` resolves; then stop accepting and give in-flight requests
/// `server.shutdown_grace` to finish, or less if `force` resolves meanwhile (then every
/// connection is closed at once). `on_listening` is called once the socket is bound.
pub async fn serve(
    sessions: Arc<SessionManager>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    force: impl Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(&Listening),
) -> io::Result<()> {
    let server_cfg = sessions.config().server.clone();
    let listener =
        TcpListener::bind(SocketAddr::new(server_cfg.host, server_cfg.port)).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot listen on {}:{}: {e}",
                    server_cfg.host, server_cfg.port
                ),
            )
        })?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let config = sessions.config();
    let traffic = Traffic::new(config, Arc::new(crate::ratelimit::SystemClock::default()))
        .map_err(|e| io::Error::other(e.to_string()))?;
    let auth = Authenticator::new(&server_cfg).with_keys(&config.traffic.keys);
    let state = AppState {
        auth: Arc::new(auth),
        traffic: Arc::new(traffic),
        sessions,
    };
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();

    let handle = Handle::new();
    let grace = server_cfg.shutdown_grace;
    let shutdown_handle = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!(
            grace_secs = grace.as_secs_f64(),
            "shutting down: no new connections"
        );
        shutdown_handle.graceful_shutdown(Some(grace));
        force.await;
        tracing::warn!("forced shutdown: closing every connection now");
        shutdown_handle.shutdown();
    });

    match &server_cfg.tls {
        None => {
            on_listening(&Listening {
                addr,
                scheme: "http",
            });
            let mut server = axum_server::from_tcp(listener).acceptor(GuardAcceptor::new(
                DefaultAcceptor::new(),
                server_cfg.max_connections,
                server_cfg.header_read_timeout,
            ));
            harden(server.http_builder(), &server_cfg);
            server.handle(handle).serve(app).await
        }
        Some(tls) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let rustls = match tls {
                TlsConfig::Files { cert, key } => RustlsConfig::from_pem_file(cert, key).await,
                TlsConfig::CombinedPem(pem) => {
                    let bytes = std::fs::read(pem)?;
                    RustlsConfig::from_pem(bytes.clone(), bytes).await
                }
            }
            .map_err(|e| {
                io::Error::new(e.kind(), format!("cannot load TLS certificate/key: {e}"))
            })?;
            on_listening(&Listening {
                addr,
                scheme: "https",
            });
            let tls = RustlsAcceptor::new(rustls).handshake_timeout(server_cfg.header_read_timeout);
            let mut server = axum_server::from_tcp(listener).acceptor(GuardAcceptor::new(
                tls,
                server_cfg.max_connections,
                server_cfg.header_read_timeout,
            ));
            harden(server.http_builder(), &server_cfg);
            server.handle(handle).serve(app).await
        }
    }
}

/// Slow clients: HTTP/1 request headers (and the wait for the next request of an idle
/// keep-alive connection, which hyper times the same way) must arrive within
/// `server.header_read_timeout`. HTTP/2 connections are pinged while idle and dropped when the
/// peer stops answering.
fn harden(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    cfg: &crate::config::ServerConfig,
) {
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(
            cfg.header_read_timeout
                .max(std::time::Duration::from_secs(10)),
        ))
        .keep_alive_timeout(cfg.header_read_timeout);
}
