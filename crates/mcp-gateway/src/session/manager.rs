//! The session table and the lifecycle of every child the gateway starts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use chrono::Local;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::SessionError;
use super::catalog::{Catalog, Tools, lists_tool};
use super::limits::{Caps, Reservation};
use super::pool::{self, Pooled, Pools};
use super::record::{Child, Session, SessionSnapshot};
use crate::config::{Config, ServiceConfig};
use crate::mcp::{ChildEvent, ClientOptions, McpClient};
use crate::metrics::{self, ExitCause};
use crate::sandbox::{self, SpawnRequest};

mod front_door;
pub use front_door::{SessionHold, SessionUse};

/// One `tools/call` through a session.
#[derive(Debug, Clone)]
pub struct CallRequest {
    pub service: String,
    pub session_id: String,
    pub tool: String,
    pub arguments: Value,
    /// New idle timeout of the session, with the JSON value as given (echoed by listings).
    pub timeout: Option<(Duration, Value)>,
    pub metadata: Option<Value>,
}

/// A successful call: the raw MCP `tools/call` result.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    pub result: Value,
}

pub struct SessionManager {
    config: Arc<Config>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    caps: Arc<Caps>,
    catalog: Catalog,
    pools: Pools,
    /// Every background task (child watchers, stops): waited for at shutdown.
    tasks: TaskTracker,
    shutdown: CancellationToken,
    next_slot: AtomicU64,
}

impl SessionManager {
    pub fn new(config: Arc<Config>) -> Arc<Self> {
        // The gateway-wide settings, the gateway's own hardening, and the private dirs of
        // children of a gateway that was killed (it could not remove them).
        sandbox::init(&config);
        let caps = Caps::new(
            config.session.max_sessions_per_service,
            config.session.max_total_sessions,
        );
        Arc::new(Self {
            pools: Pools::new(&config),
            config,
            sessions: Mutex::default(),
            caps,
            catalog: Catalog::default(),
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            next_slot: AtomicU64::new(1),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The tracker of tasks that end with a child or a session (the front door's relays and
    /// the idle reaper too): shutdown waits for it once every child is stopped.
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    fn service(&self, name: &str) -> Result<&ServiceConfig, SessionError> {
        self.config
            .services
            .get(name)
            .ok_or_else(|| SessionError::UnknownService(name.to_string()))
    }

    /// Call a tool in a session, creating the session and its child for that service on first
    /// use.
    pub async fn call(self: &Arc<Self>, req: CallRequest) -> Result<CallOutcome, SessionError> {
        self.call_as(req, None).await
    }

    /// [`Self::call`] on behalf of the scoped key `owner`: a new session records it, and a live
    /// session of another key is an unknown session.
    pub async fn call_as(
        self: &Arc<Self>,
        req: CallRequest,
        owner: Option<&str>,
    ) -> Result<CallOutcome, SessionError> {
        let service = self.service(&req.service)?;
        // The shared catalog (the list of discovery) refuses a tool only while the session has
        // no live child of the service: once it has one, that child's own list, or the child
        // itself, decides (sessions' children may serve different tools, e.g. after
        // `tools/list_changed`).
        if !self.has_live_child(&req.session_id, &service.name, owner)
            && let Some(tools) = self.catalog.cached(&service.name)
            && !lists_tool(&tools, &req.tool)
        {
            return Err(unknown_tool(&req));
        }
        let (session, created) = self.enter(&req, owner)?;
        let _in_flight = InFlight(&session);
        session.forget_dead(&service.name);
        let child = match self.child(&session, service).await {
            Ok(child) => child,
            Err(err) => {
                if created {
                    self.discard_if_unused(&session);
                }
                return Err(err);
            }
        };
        if !self.child_lists(&child, &service.name, &req.tool).await {
            return Err(unknown_tool(&req));
        }
        let started = Instant::now();
        let result = child.client.call_tool(&req.tool, req.arguments).await;
        metrics::tool_call(&service.name, result.is_ok(), started.elapsed());
        // A child stopped because its session was closed (DELETE, idle, shutdown) under this
        // call: say so, rather than "the child exited".
        let result = result.map_err(|e| match session.closed_by() {
            Some(_) => closed_error(&session),
            None => SessionError::from_call(&service.name, e),
        })?;
        Ok(CallOutcome { result })
    }

    /// Whether `child` serves `tool`, by its own list: kept from its start or its last
    /// `tools/list_changed`, else asked for now (once: kept) when the shared catalog does not
    /// list the tool. If the child cannot tell, it decides when called.
    async fn child_lists(&self, child: &Child, service: &str, tool: &str) -> bool {
        if let Some(own) = child.tools() {
            return lists_tool(&own, tool);
        }
        if self
            .catalog
            .cached(service)
            .is_none_or(|tools| lists_tool(&tools, tool))
        {
            return true;
        }
        match child.client.list_tools().await {
            Ok(tools) => {
                let tools = Arc::new(tools);
                // Unless its watcher stored a newer list meanwhile.
                child
                    .tools
                    .lock()
                    .expect("child tools lock")
                    .get_or_insert_with(|| tools.clone());
                lists_tool(&tools, tool)
            }
            Err(_) => true,
        }
    }

    /// Whether session `id` is live, `owner`'s to use, and has a live child of `service` (no
    /// call counted). Another key's session answers false, as an unknown one would.
    fn has_live_child(&self, id: &str, service: &str, owner: Option<&str>) -> bool {
        let session = self
            .sessions
            .lock()
            .expect("session table lock")
            .get(id)
            .cloned();
        session.is_some_and(|s| {
            !s.is_expired(Instant::now())
                && !s.is_closed()
                && s.visible_to(owner)
                && s.has_live_child(service)
        })
    }

    /// Drop a session created by a call whose child failed to start, unless something else
    /// uses it meanwhile (another child, another call): `GET /sessions` must not list an empty
    /// session nobody asked to keep.
    fn discard_if_unused(&self, session: &Arc<Session>) {
        let mut table = self.sessions.lock().expect("session table lock");
        let same = table
            .get(&session.id)
            .is_some_and(|current| Arc::ptr_eq(current, session));
        if same && session.close_if_unused(ExitCause::Stopped) {
            table.remove(&session.id);
            tracing::info!(session = %session.id, "session dropped: its first child failed to start");
        }
    }

    /// Find or create the session and count a call in flight on it; true if created.
    fn enter(
        &self,
        req: &CallRequest,
        owner: Option<&str>,
    ) -> Result<(Arc<Session>, bool), SessionError> {
        if self.shutdown.is_cancelled() {
            return Err(SessionError::ShuttingDown);
        }
        let now = Instant::now();
        let mut expired = None;
        let mut created = false;
        let session = {
            let mut table = self.sessions.lock().expect("session table lock");
            let session = match table.get(&req.session_id).cloned() {
                Some(s) if !s.is_expired(now) && !s.is_closed() => {
                    if !s.visible_to(owner) {
                        return Err(SessionError::UnknownSession(req.session_id.clone()));
                    }
                    s
                }
                existing => {
                    if existing.is_some() {
                        expired = table.remove(&req.session_id).filter(|old| !old.is_closed());
                    }
                    let default = self.config.session.default_timeout;
                    let (timeout, json) = req
                        .timeout
                        .clone()
                        .unwrap_or_else(|| (default, duration_json(default)));
                    let metadata = req
                        .metadata
                        .clone()
                        .unwrap_or_else(|| Value::Object(Default::default()));
                    let session = Arc::new(
                        Session::new(&req.session_id, timeout, json, metadata).with_owner(owner),
                    );
                    table.insert(req.session_id.clone(), session.clone());
                    tracing::info!(session = %req.session_id, "session created");
                    created = true;
                    session
                }
            };
            // Counted in flight under the table lock: whoever removes a session from the table
            // (close, reaper, `discard_if_unused`) does so under this lock too, so it either
            // removed it before our lookup or sees our call.
            if !session.enter(req.timeout.clone(), req.metadata.clone()) {
                return Err(SessionError::UnknownSession(req.session_id.clone()));
            }
            session
        };
        if let Some(old) = expired {
            self.stop_session(&old, ExitCause::Idle);
        }
        Ok((session, created))
    }

    /// The session's ready child for `service`, started (single-flight) if needed.
    async fn child(
        self: &Arc<Self>,
        session: &Arc<Session>,
        service: &ServiceConfig,
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
        service: &ServiceConfig,
        slot_id: u64,
    ) -> Result<Child, SessionError> {
        if self.shutdown.is_cancelled() {
            return Err(SessionError::ShuttingDown);
        }
        let (client, reservation, tools) = match self.pools.take(&service.name) {
            Some(Pooled {
                client,
                reservation,
            }) => (client, reservation, None),
            None => {
                let reservation = self
                    .caps
                    .reserve(&service.name, self.childless_mcp_sessions())?;
                let client = self.spawn_client(service, &session.id).await?;
                let tools = self.ensure_catalog(&service.name, &client).await;
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
        if closed.is_some() || self.shutdown.is_cancelled() {
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

    fn catalog_has(&self, service: &str) -> bool {
        self.catalog.cached(service).is_some()
    }

    /// Feed the catalog from a fresh child if it has nothing for `service` yet (its first list,
    /// asked before its session used it, is as good as discovery); the child's list if it was
    /// asked.
    async fn ensure_catalog(&self, service: &str, client: &McpClient) -> Option<Tools> {
        if self.catalog_has(service) {
            return None;
        }
        match client.list_tools().await {
            Ok(tools) => {
                self.catalog.store(service, tools.clone());
                Some(Arc::new(tools))
            }
            Err(err) => {
                tracing::warn!(service = %service, error = %err, "tools/list failed");
                None
            }
        }
    }

    /// Start one refill task per warm pool (services with `warm_pool` > 0).
    pub fn start_pools(self: &Arc<Self>) {
        for pool in self.pools.all() {
            self.tasks.spawn(pool::refill(
                pool.clone(),
                Arc::downgrade(self),
                self.shutdown.clone(),
            ));
        }
    }

    /// A child for a warm pool: cap reserved, spawned and initialized like a session's child,
    /// under the synthetic session id `id`.
    pub(super) async fn spawn_pooled(
        &self,
        service: &str,
        id: &str,
    ) -> Result<Pooled, SessionError> {
        let service = self.service(service)?;
        let reservation = self
            .caps
            .reserve(&service.name, self.childless_mcp_sessions())?;
        let client = self.spawn_client(service, id).await?;
        let _ = self.ensure_catalog(&service.name, &client).await;
        Ok(Pooled {
            client,
            reservation,
        })
    }

    /// Options of a child of `service`; a failed start is stopped on our tracker, so shutdown
    /// waits for its reap.
    fn client_options(&self, service: &ServiceConfig, session_id: &str) -> ClientOptions {
        let mut opts = ClientOptions::for_service(
            service,
            session_id,
            self.config.session.stderr_buffer_bytes,
        );
        opts.reaper = Some(self.tasks.clone());
        opts
    }

    /// Spawn and initialize a child of `service` (no caps: the caller reserved).
    async fn spawn_client(
        &self,
        service: &ServiceConfig,
        session_id: &str,
    ) -> Result<McpClient, SessionError> {
        if let Some(remote) = &service.remote {
            let opts = self.client_options(service, session_id);
            let client = McpClient::connect_remote(remote, opts)
                .await
                .map_err(|e| SessionError::from_start(&service.name, e))?;
            tracing::info!(service = %service.name, session = %session_id, url = %remote.url, "remote service connected");
            return Ok(client);
        }
        let spawned = sandbox::spawn(&SpawnRequest {
            service,
            session_id,
            sandbox_root: &self.config.session.sandbox_dir,
            protected: &sandbox::protected_paths(&self.config),
        })
        .map_err(|e| SessionError::ServiceUnavailable {
            service: service.name.clone(),
            reason: e.to_string(),
        })?;
        let pid = spawned.pid;
        let opts = self.client_options(service, session_id);
        let started = Instant::now();
        // A shutdown does not wait out `startup_timeout`: the start is abandoned (its actor,
        // on our tracker, stops and reaps the child).
        let client = tokio::select! {
            client = McpClient::start(spawned, opts) => client,
            _ = self.shutdown.cancelled() => return Err(SessionError::ShuttingDown),
        };
        metrics::spawn(&service.name, client.is_ok(), started.elapsed());
        let client = client.map_err(|e| SessionError::from_start(&service.name, e))?;
        tracing::info!(service = %service.name, session = %session_id, pid, "child started");
        Ok(client)
    }

    /// The tool list of `service`: cached, or discovered from a live child, or from a
    /// short-lived discovery child.
    pub async fn tools(self: &Arc<Self>, service: &str) -> Result<Tools, SessionError> {
        let service = self.service(service)?;
        self.catalog
            .get_or_discover(&service.name, self.discover(service))
            .await
    }

    /// A short-lived child of our own: never a session's child, whose list may have changed
    /// for its session alone (`tools/list_changed`).
    async fn discover(&self, service: &ServiceConfig) -> Result<Vec<Value>, SessionError> {
        if self.shutdown.is_cancelled() {
            return Err(SessionError::ShuttingDown);
        }
        let client = self.spawn_client(service, "discovery").await?;
        let tools = client.list_tools().await;
        let name = service.name.clone();
        self.tasks.spawn(async move {
            client.stop().await;
            metrics::child_exit(&name, ExitCause::Discovery);
        });
        tools.map_err(|e| SessionError::from_start(&service.name, e))
    }

    /// Discover every service's tools in the background (startup warm-up; failures are logged).
    pub fn prefetch_tools(self: &Arc<Self>) {
        for name in self.config.services.keys() {
            let this = self.clone();
            let name = name.clone();
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

    pub fn list(&self) -> Vec<SessionSnapshot> {
        self.list_for(None)
    }

    /// Whether `owner` may call into session `id`: absent, expired and own sessions yes.
    pub fn may_use(&self, id: &str, owner: Option<&str>) -> bool {
        let now = Instant::now();
        let table = self.sessions.lock().expect("session table lock");
        table
            .get(id)
            .is_none_or(|s| s.is_expired(now) || s.is_closed() || s.visible_to(owner))
    }

    /// The live sessions the scoped key `owner` may see (all of them for `None`).
    pub fn list_for(&self, owner: Option<&str>) -> Vec<SessionSnapshot> {
        let now = Instant::now();
        let sessions: Vec<Arc<Session>> = self
            .sessions
            .lock()
            .expect("session table lock")
            .values()
            .cloned()
            .collect();
        sessions
            .iter()
            .filter(|s| !s.is_expired(now) && s.visible_to(owner))
            .map(|s| s.snapshot(now))
            .collect()
    }

    /// Close a session: answer at once, stop its children in the background.
    pub fn close(&self, id: &str) -> Result<(), SessionError> {
        self.close_for(id, None)
    }

    /// [`Self::close`] on behalf of `owner`: another key's session is an unknown session.
    pub fn close_for(&self, id: &str, owner: Option<&str>) -> Result<(), SessionError> {
        let session = {
            let mut table = self.sessions.lock().expect("session table lock");
            match table.get(id) {
                Some(s) if s.visible_to(owner) => table.remove(id),
                _ => None,
            }
        };
        match session {
            Some(s) => {
                self.stop_session(&s, ExitCause::Deleted);
                Ok(())
            }
            None => Err(SessionError::UnknownSession(id.to_string())),
        }
    }

    fn stop_session(&self, session: &Session, cause: ExitCause) {
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

    /// Close every session idle past its timeout.
    pub fn reap_idle(&self) -> usize {
        let now = Instant::now();
        let expired: Vec<Arc<Session>> = {
            let mut table = self.sessions.lock().expect("session table lock");
            let ids: Vec<String> = table
                .iter()
                .filter(|(_, s)| s.is_expired(now))
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| table.remove(id)).collect()
        };
        for session in &expired {
            self.stop_session(session, ExitCause::Idle);
        }
        expired.len()
    }

    /// Reap idle sessions every `session.cleanup_interval` until shutdown.
    pub async fn run_reaper(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.config.session.cleanup_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => { self.reap_idle(); }
                _ = self.shutdown.cancelled() => return,
            }
        }
    }

    /// Live children (reserved slots, pooled ones included), for metrics and tests.
    pub fn live_children(&self) -> usize {
        self.caps.live()
    }

    /// The state gauges of `GET /metrics`.
    pub fn metrics_snapshot(&self) -> metrics::Snapshot {
        metrics::Snapshot {
            sessions: self.sessions.lock().expect("session table lock").len(),
            children: self.caps.live(),
            pooled: self.pools.ready_counts(),
        }
    }

    /// Stop every child concurrently and wait until all are reaped.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        let sessions: Vec<Arc<Session>> = self
            .sessions
            .lock()
            .expect("session table lock")
            .drain()
            .map(|(_, s)| s)
            .collect();
        for session in &sessions {
            self.stop_session(session, ExitCause::Shutdown);
        }
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// The error of a call whose session was closed under it: 503 when the gateway is stopping,
/// else 409 `session_closed` (DELETE, idle reaping).
fn closed_error(session: &Session) -> SessionError {
    match session.closed_by() {
        Some(ExitCause::Shutdown) => SessionError::ShuttingDown,
        _ => SessionError::SessionClosed(session.id.clone()),
    }
}

fn unknown_tool(req: &CallRequest) -> SessionError {
    SessionError::UnknownTool {
        service: req.service.clone(),
        tool: req.tool.clone(),
    }
}

fn duration_json(d: Duration) -> Value {
    if d.subsec_nanos() == 0 {
        Value::from(d.as_secs())
    } else {
        Value::from(d.as_secs_f64())
    }
}

/// Counts a call in flight on a session for as long as it lives.
struct InFlight<'a>(&'a Session);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// Follows one child until it exits: refreshes its own tool list on `tools/list_changed`, then
/// forgets the child's slot and releases its cap reservation.
async fn watch_child(
    manager: Weak<SessionManager>,
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
    if let Some(manager) = manager.upgrade() {
        manager.pools.wake_all();
    }
}
