//! Binding, TLS and graceful shutdown of the HTTP server.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;

use super::{AppState, Authenticator, Traffic, router};
use crate::config::TlsConfig;
use crate::session::SessionManager;

/// The address the server is listening on, and how to reach it.
#[derive(Debug, Clone)]
pub struct Listening {
    pub addr: SocketAddr,
    pub scheme: &'static str,
}

/// Bind and serve until `shutdown` resolves; then stop accepting and give in-flight requests
/// `server.shutdown_grace` to finish. `on_listening` is called once the socket is bound.
pub async fn serve(
    sessions: Arc<SessionManager>,
    shutdown: impl Future<Output = ()> + Send + 'static,
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
    });

    match &server_cfg.tls {
        None => {
            on_listening(&Listening {
                addr,
                scheme: "http",
            });
            axum_server::from_tcp(listener)
                .handle(handle)
                .serve(app)
                .await
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
            axum_server::from_tcp_rustls(listener, rustls)
                .handle(handle)
                .serve(app)
                .await
        }
    }
}
