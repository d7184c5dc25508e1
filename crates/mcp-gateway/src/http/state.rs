//! What every handler and middleware shares.

use std::future::Future;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

use super::credentials::Authenticator;
use super::traffic::Traffic;
use crate::cluster::Cluster;
use crate::front::session::Sessions;
use crate::oauth::Verifier;

/// Cloned for every request by each layer that takes it (axum's `State`): one reference
/// count, whatever it holds.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

pub(crate) struct Shared {
    pub sessions: Arc<Sessions>,
    /// The credentials and keys: replaced at once by a reload.
    pub auth: ArcSwap<Authenticator>,
    /// `auth.oauth`: verifies OAuth access tokens (none when not configured).
    /// Replaced by a reload that changes `auth.oauth` (adding or removing it needs a restart).
    pub oauth: Option<ArcSwap<Verifier>>,
    /// Where this gateway is reached when `auth.oauth.resource` is left out (loopback only).
    pub local_origin: String,
    pub traffic: Arc<Traffic>,
    pub calls: Calls,
    /// This replica's cluster (`None`: a single gateway) and the client of its internal hop.
    pub cluster: Option<Arc<Cluster>>,
    pub hop: Option<reqwest::Client>,
    /// Set once the server stops taking requests (SIGTERM): `/ready` answers 503.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// Reads and checks the config file again (`None`: reload is not offered, e.g. in tests).
    pub reloader: Option<Arc<super::reloader::Reloader>>,
}

impl AppState {
    pub(crate) fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The calls answered on an SSE stream by a task of their own (the MCP front door's
/// `tools/call`). Shutdown lets them run for `server.shutdown_grace`, then [`Calls::stop`]
/// tells those still running to answer that the gateway is stopping; the server waits for
/// every one before it returns.
#[derive(Clone, Default)]
pub(crate) struct Calls {
    tasks: TaskTracker,
    stopping: CancellationToken,
}

impl Calls {
    pub(crate) fn spawn(&self, call: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(call);
    }

    /// Resolves once the calls are to stop.
    pub(crate) fn stopping(&self) -> WaitForCancellationFutureOwned {
        self.stopping.clone().cancelled_owned()
    }

    pub(crate) fn stop(&self) {
        self.stopping.cancel();
    }

    /// Wait until every call has ended.
    pub(crate) async fn wait(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }
}
