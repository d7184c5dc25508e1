//! The launcher: every child the gateway starts, from cap to reap.
//!
//! A session's child is started single-flight per (session, service) slot: a cap is reserved
//! (or a warm pool's child, which holds one, is taken), the client is connected
//! ([`McpClient::connect`]: stdio through the sandbox, or remote), the shared catalog is fed
//! from its first list, and a watcher follows it until it exits, then releases the cap. Every
//! task the launcher starts runs on its tracker, which shutdown waits for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use arc_swap::ArcSwap;
use chrono::Local;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::SessionError;
use super::caps::{Caps, Reservation};
use super::catalog::{Catalog, Tools};
use super::generation::{CurrentConfig, Generation, Service};
use super::pool::{self, Pooled, Pools, StartPooled};
use super::record::{Child, Session};
use crate::config::{Config, ServiceChanges, ServiceConfig};
use crate::mcp::{ChildEvent, ClientOptions, Launch, McpClient, Tool};
use crate::metrics::{self, ExitCause};

/// How many sessions wait for a child without holding a cap (MCP sessions between
/// `initialize` and their first child): they count against `max_total_sessions` too.
pub(super) type Waiting = Box<dyn Fn() -> usize + Send + Sync>;

pub(super) struct Launcher {
    /// The generation new sessions start in (see [`Generation`]).
    current: ArcSwap<Generation>,
    /// One reload at a time.
    reloading: Mutex<()>,
    caps: Arc<Caps>,
    waiting: Waiting,
    pub catalog: Catalog,
    pools: ArcSwap<Pools>,
    /// Every background task (child actors and watchers, stops, pools, discovery): waited
    /// for at shutdown.
    tasks: TaskTracker,
    shutdown: CancellationToken,
    next_slot: AtomicU64,
}

impl Launcher {
    pub(super) fn new(config: Arc<Config>, waiting: Waiting) -> Arc<Self> {
        let generation = Generation::new(1, config.clone(), Launch::new(&config));
        let shutdown = CancellationToken::new();
        Arc::new(Self {
            caps: Caps::new(
                config.session.max_sessions_per_service,
                config.session.max_total_sessions,
            ),
            waiting,
            catalog: Catalog::default(),
            pools: ArcSwap::from_pointee(Pools::new(&generation, None, &shutdown)),
            current: ArcSwap::new(generation),
            reloading: Mutex::new(()),
            tasks: TaskTracker::new(),
            shutdown,
            next_slot: AtomicU64::new(1),
        })
    }

    /// The current generation.
    pub(super) fn generation(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// The current generation's configuration.
    pub(super) fn config(&self) -> CurrentConfig {
        CurrentConfig(self.current.load())
    }

    /// `name` as the current generation specifies it (what a new session gets).
    pub(super) fn service(&self, name: &str) -> Result<Service, SessionError> {
        (self.current.load().service(name))
            .ok_or_else(|| SessionError::UnknownService(name.to_string()))
    }

    /// `name` as `session` starts it: by its own generation's spec, else (a service added since
    /// the session began) by the current one's.
    pub(super) fn session_service(
        &self,
        session: &Session,
        name: &str,
    ) -> Result<Service, SessionError> {
        match session.generation().service(name) {
            Some(service) => Ok(service),
            None => self.service(name),
        }
    }

    /// Make `config` the current generation: new sessions start in it, and live sessions keep
    /// theirs. The caps take the new limits; the warm pools of changed or removed services
    /// stop their children (new pools fill); the tool lists of changed or removed services are
    /// forgotten, and those of changed or added ones discovered again. Returns the new
    /// generation's number, or `None` when the gateway is stopping.
    pub(super) fn reload(
        self: &Arc<Self>,
        config: Arc<Config>,
        changes: &ServiceChanges,
    ) -> Option<u64> {
        let _one = self.reloading.lock().expect("reload lock");
        if self.is_shutting_down() {
            return None;
        }
        let number = self.current.load().number + 1;
        let generation = Generation::new(number, config.clone(), Launch::prepare(&config));
        self.caps.set_limits(
            config.session.max_sessions_per_service,
            config.session.max_total_sessions,
        );
        let old_pools = self.pools.load_full();
        let pools = Pools::new(&generation, Some(&old_pools), &self.shutdown);
        self.current.store(generation);
        for name in changes.changed.iter().chain(&changes.removed) {
            self.catalog.forget(name);
        }
        let fresh = old_pools.replace_with(&pools);
        self.pools.store(Arc::new(pools));
        for pool in fresh {
            self.tasks.spawn(pool::refill(pool, Arc::downgrade(self)));
        }
        self.prefetch(
            changes
                .changed
                .iter()
                .chain(&changes.added)
                .cloned()
                .collect(),
        );
        // Waiting pools may have room now (raised caps).
        self.pools.load().wake_all();
        Some(number)
    }

    pub(super) fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Live children (reserved slots, pooled ones included).
    pub(super) fn live_children(&self) -> usize {
        self.caps.live()
    }

    pub(super) fn pooled_counts(&self) -> Vec<(String, usize)> {
        self.pools.load().ready_counts()
    }

    pub(super) fn pools_never_filled(&self) -> Vec<String> {
        self.pools.load().never_filled()
    }

    /// The session's ready child for `service`, started (single-flight) if needed.
    pub(super) async fn child(
        self: &Arc<Self>,
        session: &Arc<Session>,
        service: &Service,
    ) -> Result<Child, SessionError> {
        let slot = session
            .slot(&service.name, || {
                self.next_slot.fetch_add(1, Ordering::Relaxed)
            })
            .ok_or_else(|| closed_error(session))?;
        let result = slot
            .cell
            .get_or_init(|| self.start_child(session, service, slot.id))
            .await
            .clone();
        match &result {
            Err(_) => session.remove_slot(&service.name, slot.id),
            // `start_child` checked `is_closed` before returning, but `get_or_init` stores the
            // child a moment later: a `Session::close` in between drained this slot while its
            // cell was still empty, so nobody else will stop this child. Closing marks the
            // session before draining (one lock), so either the drain saw the child in the
            // cell and stops it, or we see the mark here and stop it (both may: stopping is
            // idempotent and the cause is set once).
            Ok(child) => {
                if let Some(cause) = session.closed_by() {
                    let _ = child.stop_cause.set(cause);
                    self.stop_in_background(child.client.clone());
                    return Err(closed_error(session));
                }
            }
        }
        result
    }

    async fn start_child(
        self: &Arc<Self>,
        session: &Arc<Session>,
        service: &Service,
        slot_id: u64,
    ) -> Result<Child, SessionError> {
        if self.is_shutting_down() {
            return Err(SessionError::ShuttingDown);
        }
        // A service that gets its caller's identity never takes a pooled child (config refuses
        // a pool for it): its child is started for this session's identity.
        let personal = self.with_identity(service, session);
        let pooled = match personal {
            Some(_) => None,
            None => self.pools.load().take(service),
        };
        let (client, reservation, tools) = match pooled {
            Some(Pooled {
                client,
                reservation,
            }) => (client, reservation, None),
            None => {
                let reservation = self.reserve(service)?;
                let spec = personal.as_ref().unwrap_or(&service.spec);
                let client = (self.connect(spec, &service.generation, &session.id)).await?;
                let tools = self.ensure_catalog(service, &client).await;
                (client, reservation, tools)
            }
        };
        let child = Child {
            client: client.clone(),
            started_at: Local::now(),
            stop_cause: Arc::new(OnceLock::new()),
            tools: Arc::new(Mutex::new(tools)),
        };
        self.tasks.spawn(watch_child(
            Arc::downgrade(self),
            Arc::downgrade(session),
            service.name.clone(),
            slot_id,
            child.clone(),
            reservation,
        ));
        let closed = session.closed_by();
        if closed.is_some() || self.is_shutting_down() {
            // Closed while we were starting: nobody else will stop this child.
            let _ = child.stop_cause.set(closed.unwrap_or(ExitCause::Shutdown));
            self.stop_in_background(client);
            return Err(match closed {
                Some(_) => closed_error(session),
                None => SessionError::ShuttingDown,
            });
        }
        Ok(child)
    }

    fn reserve(&self, service: &ServiceConfig) -> Result<Reservation, SessionError> {
        self.caps.reserve(&service.name, (self.waiting)())
    }

    /// Feed the catalog from a fresh child if it has nothing for `service` yet (its first list,
    /// asked before its session used it, is as good as discovery); the child's list if it was
    /// asked. A child of an older generation's spec never feeds it.
    async fn ensure_catalog(&self, service: &Service, client: &McpClient) -> Option<Tools> {
        if self.catalog.cached(&service.name).is_some() {
            return None;
        }
        match client.list_tools().await {
            Ok(tools) => {
                if self
                    .service(&service.name)
                    .is_ok_and(|now| now.same_spec(service))
                {
                    self.catalog.store(&service.name, tools.clone());
                }
                Some(Arc::new(tools))
            }
            Err(err) => {
                tracing::warn!(service = %service.name, error = %err, "tools/list failed");
                None
            }
        }
    }

    /// `service` with the session's identity in its environment, for a service of
    /// `auth.oauth.identity_env` (`None` for the others): each variable gets its claim of the
    /// token that opened the session (a string as is, other JSON as text); a claim the token
    /// lacks, or a session opened without a token, leaves the variable unset.
    fn with_identity(&self, service: &Service, session: &Session) -> Option<ServiceConfig> {
        let vars = (service.generation.config)
            .traffic
            .oauth
            .as_ref()?
            .identity_env
            .get(&service.name)?;
        let mut personal = ServiceConfig::clone(service);
        let claims = session.identity();
        for (var, claim) in vars {
            let value = match claims.and_then(|c| c.get(claim)) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => continue,
            };
            if !value.contains('\0') {
                personal.env.insert(var.clone(), value);
            }
        }
        Some(personal)
    }

    /// Start one refill task per warm pool (services with `warm_pool` > 0).
    pub(super) fn start_pools(self: &Arc<Self>) {
        for pool in self.pools.load().all() {
            self.tasks
                .spawn(pool::refill(pool.clone(), Arc::downgrade(self)));
        }
    }

    /// Connect a client of `service` (no cap: the caller reserved, or it is a discovery
    /// child). A shutdown does not wait out `startup_timeout`: the start is abandoned (its
    /// actor, on our tracker, stops and reaps the child).
    async fn connect(
        &self,
        service: &ServiceConfig,
        generation: &Generation,
        session_id: &str,
    ) -> Result<McpClient, SessionError> {
        let mut opts = ClientOptions::for_service(
            service,
            session_id,
            generation.config.session.stderr_buffer_bytes,
        );
        opts.reaper = Some(self.tasks.clone());
        tokio::select! {
            client = McpClient::connect(service, &generation.launch, opts) => {
                client.map_err(|e| SessionError::from_start(&service.name, e))
            }
            _ = self.shutdown.cancelled() => Err(SessionError::ShuttingDown),
        }
    }

    /// The tool list of `service`: cached, or discovered from a short-lived child.
    pub(super) async fn tools(&self, service: &str) -> Result<Tools, SessionError> {
        let service = self.service(service)?;
        self.catalog
            .get_or_discover(&service.name, self.discover(&service))
            .await
    }

    /// A short-lived child of our own: never a session's child, whose list may have changed
    /// for its session alone (`tools/list_changed`). It holds no cap: discovery is
    /// single-flight per service (the catalog's), so at most one per service lives.
    async fn discover(&self, service: &Service) -> Result<Vec<Tool>, SessionError> {
        if self.is_shutting_down() {
            return Err(SessionError::ShuttingDown);
        }
        let client = (self.connect(service, &service.generation, "discovery")).await?;
        let tools = client.list_tools().await;
        let name = service.name.clone();
        self.tasks.spawn(async move {
            client.stop().await;
            metrics::child_exit(&name, ExitCause::Discovery);
        });
        tools.map_err(|e| SessionError::from_start(&service.name, e))
    }

    /// Discover every service's tools in the background (startup warm-up; failures are logged).
    pub(super) fn prefetch_tools(self: &Arc<Self>) {
        self.prefetch(
            self.current
                .load()
                .config
                .services
                .keys()
                .cloned()
                .collect(),
        );
    }

    /// Discover the tools of `names` in the background.
    fn prefetch(self: &Arc<Self>, names: Vec<String>) {
        for name in names {
            let this = self.clone();
            self.tasks.spawn(async move {
                match this.tools(&name).await {
                    Ok(tools) => {
                        tracing::info!(service = %name, tools = tools.len(), "service ready")
                    }
                    Err(err) => {
                        tracing::warn!(service = %name, error = %err, "service check failed")
                    }
                }
            });
        }
    }

    /// Close `session` and stop its ready children in the background (a child still starting
    /// sees the close when it is ready and stops itself).
    pub(super) fn stop_session(&self, session: &Session, cause: ExitCause) {
        tracing::info!(session = %session.id, reason = cause.as_str(), "session closed");
        for slot in session.close(cause) {
            if let Some(Ok(child)) = slot.cell.get() {
                let _ = child.stop_cause.set(cause);
                self.stop_in_background(child.client.clone());
            }
        }
    }

    fn stop_in_background(&self, client: McpClient) {
        self.tasks.spawn(async move {
            client.stop().await;
        });
    }

    pub(super) fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Refuse new starts, abandon those under way, and wait until every task (so every
    /// child's reap) is done. The caller stops the sessions' children first.
    pub(super) fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    pub(super) fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub(super) async fn wait_all(&self) {
        self.tasks.close();
        self.tasks.wait().await;
        self.current.load().launch.settle().await;
    }
}

impl StartPooled for Launcher {
    /// A child for a warm pool: cap reserved, started and initialized like a session's child,
    /// under the synthetic session id `id`.
    async fn start_pooled(&self, service: &Service, id: &str) -> Result<Pooled, SessionError> {
        let reservation = self.reserve(service)?;
        let client = self.connect(service, &service.generation, id).await?;
        let _ = self.ensure_catalog(service, &client).await;
        Ok(Pooled {
            client,
            reservation,
        })
    }
}

/// The error of a use whose session was closed under it: 503 when the gateway is stopping,
/// else 409 `session_closed` (DELETE, idle reaping).
pub(super) fn closed_error(session: &Session) -> SessionError {
    match session.closed_by() {
        Some(ExitCause::Shutdown) => SessionError::ShuttingDown,
        _ => SessionError::SessionClosed(session.id.clone()),
    }
}

/// Follows one child until it exits: refreshes its own tool list on `tools/list_changed`, then
/// forgets the child's slot and releases its cap reservation.
async fn watch_child(
    launcher: Weak<Launcher>,
    session: Weak<Session>,
    service: String,
    slot_id: u64,
    child: Child,
    reservation: Reservation,
) {
    let Child {
        client,
        stop_cause,
        tools: own_tools,
        ..
    } = child;
    let mut events = client.subscribe();
    let status = loop {
        tokio::select! {
            status = client.exited() => {
                tracing::info!(service = %service, pid = client.pid(), %status, "child exited");
                break status;
            }
            event = events.recv() => match event {
                Ok(ChildEvent::ToolsListChanged) => match client.list_tools().await {
                    Ok(tools) => {
                        tracing::info!(service = %service, tools = tools.len(), "tool list changed");
                        // This child's (so this session's) list only: the shared catalog is
                        // never rewritten by a session's child.
                        *own_tools.lock().expect("child tools lock") = Some(Arc::new(tools));
                    }
                    Err(err) => tracing::warn!(service = %service, error = %err, "tools/list after list_changed failed"),
                },
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    let status = client.exited().await;
                    tracing::info!(service = %service, pid = client.pid(), %status, "child exited");
                    break status;
                }
            }
        }
    };
    let cause = stop_cause
        .get()
        .copied()
        .unwrap_or_else(|| ExitCause::unrequested(status.signal));
    metrics::child_exit(&service, cause);
    if let Some(session) = session.upgrade() {
        session.remove_slot(&service, slot_id);
    }
    drop(reservation);
    if let Some(launcher) = launcher.upgrade() {
        launcher.pools.load().wake_all();
    }
}
