//! Binding, TLS and graceful shutdown of the HTTP server.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum_server::Handle;
use axum_server::accept::DefaultAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use hyper_util::rt::TokioTimer;

use super::conn::GuardAcceptor;
use arc_swap::ArcSwap;

use super::credentials::Authenticator;
use super::reloader::Reloader;
use super::router::router;
use super::state::{AppState, Calls, Shared};
use super::traffic::Traffic;
use crate::cluster::Cluster;
use crate::config::{ServerConfig, TlsConfig};
use crate::front::Sessions;

/// The address the server is listening on, and how to reach it.
#[derive(Debug, Clone)]
pub(crate) struct Listening {
    pub addr: SocketAddr,
    pub scheme: &'static str,
}

/// How the configuration is reloaded: the file's check, and SIGHUP's notifications.
pub(crate) struct Reloading {
    pub reloader: Arc<Reloader>,
    pub hangups: Arc<tokio::sync::Notify>,
}

/// Bind and serve until `shutdown` resolves; then stop accepting and give in-flight requests
/// `server.shutdown_grace` to finish, or less if `force` resolves meanwhile (then every
/// connection is closed at once). Returns once every connection and every call of
/// [`Calls`] has ended. `on_listening` is called once the socket is bound.
pub(crate) async fn serve(
    sessions: Arc<Sessions>,
    cluster: Option<Arc<Cluster>>,
    reloading: Option<Reloading>,
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
    if let Some(cluster) = &cluster {
        cluster.bound(listener.local_addr()?.port());
    }
    let config = sessions.config();
    let traffic = Traffic::new(&config, Arc::new(crate::ratelimit::SystemClock::default()))
        .map_err(|e| io::Error::other(e.to_string()))?;
    let auth = Authenticator::new(&server_cfg)
        .with_keys(&config.traffic.keys)
        .with_oauth(config.traffic.oauth.is_some());
    let origin = local_origin(listener.local_addr()?, server_cfg.tls.is_some());
    let oauth = match &config.traffic.oauth {
        Some(oauth) => {
            let resource = oauth.resource.clone().unwrap_or_else(|| origin.clone());
            let verifier =
                crate::oauth::Verifier::new(oauth, resource).map_err(io::Error::other)?;
            Some(ArcSwap::from_pointee(verifier))
        }
        None => None,
    };
    let calls = Calls::default();
    let draining = Arc::new(AtomicBool::new(false));
    let state = AppState::new(Shared {
        auth: ArcSwap::from_pointee(auth),
        oauth,
        local_origin: origin,
        traffic: Arc::new(traffic),
        sessions,
        calls: calls.clone(),
        hop: cluster.as_ref().map(|_| super::cluster::hop_client()),
        cluster,
        draining: draining.clone(),
        reloader: reloading.as_ref().map(|r| r.reloader.clone()),
    });
    let hangups =
        reloading.map(|r| tokio::spawn(super::reload::on_hangup(state.clone(), r.hangups)));
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();

    let handle = Handle::new();
    let stopping = stop(
        async move {
            shutdown.await;
            draining.store(true, Ordering::Relaxed);
        },
        force,
        handle.clone(),
        server_cfg.shutdown_grace,
        calls.clone(),
    );
    let served = tokio::select! {
        served = listen(listener, app, handle, &server_cfg, on_listening) => served,
        never = stopping => match never {},
    };
    if let Some(hangups) = hangups {
        hangups.abort();
    }
    // Nobody is left to read an answer: the calls still running stop now.
    calls.stop();
    calls.wait().await;
    served
}

/// The origin of a gateway listening on a loopback address, when `auth.oauth.resource` is left
/// out (config allows that only on loopback).
fn local_origin(addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{addr}")
}

/// Once `shutdown` resolves: no new connections, `grace` for the requests in flight; then the
/// calls still running answer that the gateway is stopping and get [`LAST_WORDS`] to write it,
/// and every connection is closed. `force` cuts both waits short.
async fn stop(
    shutdown: impl Future<Output = ()>,
    force: impl Future<Output = ()>,
    handle: Handle,
    grace: Duration,
    calls: Calls,
) -> Infallible {
    shutdown.await;
    tracing::info!(
        grace_secs = grace.as_secs_f64(),
        "shutting down: no new connections"
    );
    handle.graceful_shutdown(None);
    tokio::pin!(force);
    let mut forced = tokio::select! {
        () = tokio::time::sleep(grace) => false,
        () = &mut force => true,
    };
    if !forced {
        calls.stop();
        forced = tokio::select! {
            () = tokio::time::sleep(LAST_WORDS) => false,
            () = &mut force => true,
        };
    }
    if forced {
        tracing::warn!("forced shutdown: closing every connection now");
    }
    handle.shutdown();
    std::future::pending().await
}

/// How long the calls still running at the end of the grace have to write that the gateway is
/// stopping, before their connections are closed.
const LAST_WORDS: Duration = Duration::from_millis(500);

/// Serve on `listener` (TLS if configured) until `handle` shuts the server down.
async fn listen(
    listener: TcpListener,
    app: IntoMakeServiceWithConnectInfo<Router, SocketAddr>,
    handle: Handle,
    server_cfg: &ServerConfig,
    on_listening: impl FnOnce(&Listening),
) -> io::Result<()> {
    let addr = listener.local_addr()?;
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
            harden(server.http_builder(), server_cfg);
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
            harden(server.http_builder(), server_cfg);
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
    cfg: &ServerConfig,
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
