//! [`SessionManager`]: the session layer's one face. It puts the table (who may use which
//! session) and the launcher (which child runs for it) together: a REST call enters its
//! session, then gets the session's child of the service and calls the tool; deleting,
//! reaping and shutdown remove sessions from the table and have the launcher stop their
//! children.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_util::task::TaskTracker;

use super::SessionError;
use super::catalog::Tools;
use super::generation::CurrentConfig;
use super::launcher::{Launcher, closed_error};
use super::record::{Child, Identity, Session, SessionSnapshot};
use super::table::{Enter, InUse, Table};
use crate::audit::Audit;
use crate::config::{Config, ServiceChanges};
use crate::mcp::lists_tool;
use crate::metrics::{self, ExitCause};

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
pub(crate) struct CallOutcome {
    pub result: Value,
}

/// The session table and the children of its sessions. `A` is the MCP front door's
/// per-session state, kept with each MCP session and dropped with it.
pub(crate) struct SessionManager<A = ()> {
    pub(super) table: Arc<Table<A>>,
    pub(super) launcher: Arc<Launcher>,
    /// The audit log: sessions opened and closed are recorded here; calls by the routes.
    pub(super) audit: Option<Arc<Audit>>,
}

/// A REST call's place in its session (see [`SessionManager::enter_call`]): counted in flight
/// until dropped; a session the call created and that holds nothing when it drops (the call
/// was refused, or its child failed to start) is dropped too.
pub(crate) struct CallTicket<A> {
    use_: InUse,
    created: bool,
    table: Arc<Table<A>>,
    audit: Option<Arc<Audit>>,
}

impl<A> CallTicket<A> {
    /// The caller's verified token claims, for the services that pass some to their children
    /// (`auth.oauth.identity_env`); before the call, so before any child of it starts.
    pub(crate) fn set_identity(&self, identity: Identity) {
        self.use_.session().set_identity(identity);
    }
}

impl<A> Drop for CallTicket<A> {
    fn drop(&mut self) {
        if self.created && self.table.discard_if_unused(self.use_.session()) {
            audit_session(self.audit.as_ref(), self.use_.session(), Some("unused"));
        }
    }
}

/// Record a session opened (`closed`: `None`) or closed, why.
pub(super) fn audit_session(audit: Option<&Arc<Audit>>, session: &Session, closed: Option<&str>) {
    if let Some(audit) = audit {
        // Key names cannot hold `@`; a token's subject is `<sub>@<issuer>`.
        let principal = session.owner().map(|o| {
            let kind = if o.contains('@') { "token" } else { "key" };
            format!("{kind}:{o}")
        });
        audit.session(
            &session.id,
            session.kind().as_str(),
            principal.as_deref(),
            closed,
        );
    }
}

impl<A: Send + Sync + 'static> SessionManager<A> {
    pub(crate) fn new(config: Arc<Config>, audit: Option<Arc<Audit>>) -> Arc<Self> {
        let table = Arc::new(Table::default());
        let waiting = {
            let table = table.clone();
            Box::new(move || table.childless_mcp_sessions())
        };
        Arc::new(Self {
            launcher: Launcher::new(config, waiting),
            table,
            audit,
        })
    }

    /// The audit log, when `audit.file` is set.
    pub(crate) fn audit(&self) -> Option<&Arc<Audit>> {
        self.audit.as_ref()
    }

    /// Stop a session removed from the table, and record why it closed.
    fn stop(&self, session: &Arc<Session>, cause: ExitCause) {
        audit_session(self.audit.as_ref(), session, Some(cause.as_str()));
        self.launcher.stop_session(session, cause);
    }

    /// The current configuration (a reload may make another one current meanwhile).
    pub(crate) fn config(&self) -> CurrentConfig {
        self.launcher.config()
    }

    /// Make `config` current: new sessions start in it; live sessions keep the spec of every
    /// service they started with until they end (see [`Launcher::reload`]). Returns the new
    /// generation's number (`None`: the gateway is stopping).
    pub(crate) fn reload(&self, config: Arc<Config>, changes: &ServiceChanges) -> Option<u64> {
        self.launcher.reload(config, changes)
    }

    /// The current generation's number (1 at startup, one more per reload).
    pub(crate) fn generation(&self) -> u64 {
        self.launcher.generation().number
    }

    /// Enter the session of a REST call for the scoped key `owner` (`None`: unscoped): the
    /// live session, or a new one. Ownership, expiry and creation are decided once, under the
    /// table lock; another key's session is an unknown session. The call counts in flight
    /// until the ticket drops.
    pub(crate) fn enter_call(
        &self,
        req: &CallRequest,
        owner: Option<&str>,
    ) -> Result<CallTicket<A>, SessionError> {
        let generation = self.launcher.generation();
        // A service a reload removed still serves the sessions that knew it.
        if generation.service(&req.service).is_none()
            && (self.table.live_session(&req.session_id))
                .is_none_or(|s| s.generation().service(&req.service).is_none())
        {
            return Err(SessionError::UnknownService(req.service.clone()));
        }
        if self.launcher.is_shutting_down() {
            return Err(SessionError::ShuttingDown);
        }
        let how = Enter::Call {
            timeout: req.timeout.clone(),
            metadata: req.metadata.clone(),
            default_timeout: generation.config.session.default_timeout,
            generation,
        };
        let entered = self.table.enter(&req.session_id, owner, how)?;
        self.stop_replaced(entered.replaced);
        if entered.created {
            audit_session(self.audit.as_ref(), entered.use_.session(), None);
        }
        Ok(CallTicket {
            use_: entered.use_,
            created: entered.created,
            table: self.table.clone(),
            audit: self.audit.clone(),
        })
    }

    /// Call a tool in the session `ticket` entered, starting the session's child of the
    /// service on first use.
    pub(crate) async fn call(
        &self,
        ticket: CallTicket<A>,
        req: CallRequest,
    ) -> Result<CallOutcome, SessionError> {
        let session = ticket.use_.session().clone();
        let service = self.launcher.session_service(&session, &req.service)?;
        // The shared catalog (the list of discovery) refuses a tool only while the session has
        // no live child of the service: once it has one, that child's own list, or the child
        // itself, decides (sessions' children may serve different tools, e.g. after
        // `tools/list_changed`).
        if !session.has_live_child(&service.name) && !self.catalog_allows(&service.name, &req.tool)
        {
            return Err(unknown_tool(&req));
        }
        ticket
            .use_
            .count_call(req.timeout.clone(), req.metadata.clone());
        session.forget_dead(&service.name);
        let child = self.launcher.child(&session, &service).await?;
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
        drop(ticket);
        Ok(CallOutcome { result })
    }

    /// Whether the shared catalog lets `tool` of `service` through: it lists it, or it does
    /// not know the service's tools yet.
    fn catalog_allows(&self, service: &str, tool: &str) -> bool {
        (self.launcher.catalog.cached(service)).is_none_or(|tools| lists_tool(&tools, tool))
    }

    /// Whether `child` serves `tool`, by its own list: kept from its start or its last
    /// `tools/list_changed`, else asked for now (once: kept) when the shared catalog does not
    /// list the tool. If the child cannot tell, it decides when called.
    async fn child_lists(&self, child: &Child, service: &str, tool: &str) -> bool {
        if let Some(own) = child.tools() {
            return lists_tool(&own, tool);
        }
        if self.catalog_allows(service, tool) {
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

    /// The tool list of `service`: cached, or discovered from a short-lived child.
    pub(crate) async fn tools(&self, service: &str) -> Result<Tools, SessionError> {
        self.launcher.tools(service).await
    }

    /// Discover every service's tools in the background (startup warm-up; failures are logged).
    pub(crate) fn prefetch_tools(&self) {
        self.launcher.prefetch_tools();
    }

    /// Start one refill task per warm pool (services with `warm_pool` > 0).
    pub(crate) fn start_pools(&self) {
        self.launcher.start_pools();
    }

    /// Whether session `id` (of either kind) is live here.
    pub(crate) fn is_live(&self, id: &str) -> bool {
        self.table.live_session(id).is_some()
    }

    /// The ids of the live REST sessions (a cluster member renews their pins).
    pub(crate) fn rest_ids(&self) -> Vec<String> {
        self.table.ids_of(super::record::SessionKind::Rest)
    }

    /// The live sessions the scoped key `owner` may see (all of them for `None`).
    pub(crate) fn list_for(&self, owner: Option<&str>) -> Vec<SessionSnapshot> {
        self.table.list_for(owner)
    }

    /// Close a session: answer at once, stop its children in the background.
    pub(crate) fn close(&self, id: &str) -> Result<(), SessionError> {
        self.close_for(id, None)
    }

    /// [`Self::close`] on behalf of `owner`: another key's session is an unknown session.
    pub(crate) fn close_for(&self, id: &str, owner: Option<&str>) -> Result<(), SessionError> {
        let session = self
            .table
            .remove_for(id, owner)
            .ok_or_else(|| SessionError::UnknownSession(id.to_string()))?;
        self.stop(&session, ExitCause::Deleted);
        Ok(())
    }

    /// Close every session idle past its timeout.
    pub(crate) fn reap_idle(&self) -> usize {
        let expired = self.table.remove_expired();
        for session in &expired {
            self.stop(session, ExitCause::Idle);
        }
        expired.len()
    }

    /// Reap idle sessions every `session.cleanup_interval` until shutdown.
    pub(crate) async fn run_reaper(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.config().session.cleanup_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let shutdown = self.launcher.shutdown_token();
        loop {
            tokio::select! {
                _ = tick.tick() => { self.reap_idle(); }
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// Live children (reserved slots, pooled ones included), for metrics and tests.
    pub(crate) fn live_children(&self) -> usize {
        self.launcher.live_children()
    }

    /// The state gauges of `GET /metrics`.
    /// Services whose warm pool has not been full once since start (readiness).
    pub(crate) fn pools_never_filled(&self) -> Vec<String> {
        self.launcher.pools_never_filled()
    }

    pub(crate) fn metrics_snapshot(&self) -> metrics::Snapshot {
        metrics::Snapshot {
            sessions: self.table.len(),
            children: self.launcher.live_children(),
            pooled: self.launcher.pooled_counts(),
        }
    }

    /// The tracker of tasks that end with a child or a session (the front door's relays and
    /// the idle reaper too): [`Self::shutdown`] waits for it once every child is stopped.
    pub(crate) fn tasks(&self) -> &TaskTracker {
        self.launcher.tasks()
    }

    /// Stop every child concurrently and wait until all are reaped.
    pub(crate) async fn shutdown(&self) {
        self.launcher.begin_shutdown();
        for session in &self.table.drain() {
            self.stop(session, ExitCause::Shutdown);
        }
        self.launcher.wait_all().await;
    }

    /// Stop `session`'s children (it was replaced under its id after expiring).
    pub(super) fn stop_replaced(&self, session: Option<Arc<Session>>) {
        if let Some(old) = session {
            self.stop(&old, ExitCause::Idle);
        }
    }
}

fn unknown_tool(req: &CallRequest) -> SessionError {
    SessionError::UnknownTool {
        service: req.service.clone(),
        tool: req.tool.clone(),
    }
}
