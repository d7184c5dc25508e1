//! One session: its idle clock, metadata and children (one per service).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Local};
use serde_json::Value;
use tokio::sync::OnceCell;

use super::SessionError;
use super::catalog::Tools;
use super::generation::Generation;
use crate::mcp::McpClient;
use crate::metrics::ExitCause;

/// A ready child of a session.
#[derive(Clone)]
pub(super) struct Child {
    pub client: McpClient,
    pub started_at: DateTime<Local>,
    /// Why the gateway stopped this child, set before stopping it (unset: it exited on its
    /// own). Read by the child's watcher for the `child_exits` metric.
    pub stop_cause: Arc<OnceLock<ExitCause>>,
    /// This child's own tool list, once known: listed when it fed the catalog at start, or
    /// when a call named a tool the shared catalog does not list, and refreshed by its watcher
    /// on each of its `tools/list_changed`. `None`: not listed yet (a pooled child, or the
    /// catalog was already filled); the shared catalog then vouches for the tools it lists.
    pub tools: Arc<Mutex<Option<Tools>>>,
}

impl Child {
    pub(super) fn tools(&self) -> Option<Tools> {
        self.tools.lock().expect("child tools lock").clone()
    }
}

/// A child being started or ready: concurrent first calls share one start (single-flight).
pub(super) struct Slot {
    pub id: u64,
    pub cell: OnceCell<Result<Child, SessionError>>,
}

pub(super) struct Session {
    pub id: String,
    created_at: DateTime<Local>,
    /// The scoped key that created the session (`None`: the upstream credentials).
    owner: Option<String>,
    /// The verified claims of the OAuth access token that created it, for the services that
    /// put some in their children's environment (`auth.oauth.identity_env`). Set once, before
    /// any of its children can start; never the token itself.
    identity: OnceLock<Identity>,
    kind: SessionKind,
    /// The configuration generation the session was created in: its children are started
    /// with that generation's spec of their service (a reload does not change them).
    generation: Arc<Generation>,
    state: Mutex<State>,
}

/// A token's verified claims.
pub(crate) type Identity = Arc<serde_json::Map<String, Value>>;

/// Who opened a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionKind {
    /// A REST call (`POST /services/{name}/call`) with a client-chosen id.
    Rest,
    /// The MCP front door (`initialize`, or one stateless request); the id is the
    /// `Mcp-Session-Id`.
    Mcp,
}

impl SessionKind {
    /// As `GET /sessions` shows it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Rest => "rest",
            Self::Mcp => "mcp",
        }
    }
}

struct State {
    last_accessed: Instant,
    last_accessed_wall: DateTime<Local>,
    timeout: Duration,
    /// The timeout as the client gave it, echoed by `GET /sessions` (upstream field).
    timeout_json: Value,
    metadata: Value,
    /// Services in the order they were first used.
    services: Vec<String>,
    children: HashMap<String, Arc<Slot>>,
    calls: u64,
    in_flight: u32,
    /// Set by [`Session::close`]: why the session was closed (a child that finishes starting
    /// afterwards is stopped with this cause).
    closed: Option<ExitCause>,
}

/// What `GET /sessions` shows of a session.
#[derive(Debug, Clone)]
pub(crate) struct SessionSnapshot {
    pub id: String,
    pub created_at: DateTime<Local>,
    pub last_accessed: DateTime<Local>,
    pub metadata: Value,
    pub services: Vec<String>,
    pub time_remaining: f64,
    pub timeout: Value,
    pub calls: u64,
    pub children: BTreeMap<String, ChildSnapshot>,
    pub kind: SessionKind,
}

#[derive(Debug, Clone)]
pub(crate) struct ChildSnapshot {
    pub pid: u32,
    pub calls: u64,
    pub started_at: DateTime<Local>,
}

impl Session {
    pub(super) fn new(
        id: &str,
        kind: SessionKind,
        owner: Option<&str>,
        (timeout, timeout_json): (Duration, Value),
        metadata: Value,
        generation: Arc<Generation>,
    ) -> Self {
        let now = Local::now();
        Self {
            id: id.to_string(),
            created_at: now,
            owner: owner.map(str::to_owned),
            identity: OnceLock::new(),
            kind,
            generation,
            state: Mutex::new(State {
                last_accessed: Instant::now(),
                last_accessed_wall: now,
                timeout,
                timeout_json,
                metadata,
                services: Vec::new(),
                children: HashMap::new(),
                calls: 0,
                in_flight: 0,
                closed: None,
            }),
        }
    }

    /// Record who the session is for (the first caller's claims; later ones are the same
    /// owner's and change nothing).
    pub(super) fn set_identity(&self, identity: Identity) {
        let _ = self.identity.set(identity);
    }

    pub(super) fn identity(&self) -> Option<&Identity> {
        self.identity.get()
    }

    pub(super) fn generation(&self) -> &Arc<Generation> {
        &self.generation
    }

    pub(super) fn kind(&self) -> SessionKind {
        self.kind
    }

    /// Whether a principal owning `owner` may see and use this session: unscoped principals
    /// (`None`) may use every session, a key only those it created.
    /// The scoped key that opened the session (`None`: the upstream credentials).
    pub(super) fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    pub(super) fn visible_to(&self, owner: Option<&str>) -> bool {
        owner.is_none() || self.owner.as_deref() == owner
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("session lock")
    }

    /// Idle past its timeout with no call in flight.
    pub(super) fn is_expired(&self, now: Instant) -> bool {
        let s = self.state();
        s.in_flight == 0 && now.duration_since(s.last_accessed) > s.timeout
    }

    pub(super) fn is_closed(&self) -> bool {
        self.state().closed.is_some()
    }

    /// Why the session was closed, if it was.
    pub(super) fn closed_by(&self) -> Option<ExitCause> {
        self.state().closed
    }

    /// Begin a use (a call, an MCP request, an open GET stream): renew the idle clock and
    /// count it in flight, so the reaper leaves the session alone. Fails if the session was
    /// closed meanwhile. Only [`super::table::InUse`] pairs it with [`Session::leave`].
    pub(super) fn enter(&self) -> bool {
        let mut s = self.state();
        if s.closed.is_some() {
            return false;
        }
        s.last_accessed = Instant::now();
        s.last_accessed_wall = Local::now();
        s.in_flight += 1;
        true
    }

    /// Count a call that got its places (past the traffic gates), applying a REST call's new
    /// idle timeout (with the JSON value as given) and metadata.
    pub(super) fn count_call(&self, timeout: Option<(Duration, Value)>, metadata: Option<Value>) {
        let mut s = self.state();
        if let Some((timeout, json)) = timeout {
            s.timeout = timeout;
            s.timeout_json = json;
        }
        if let Some(metadata) = metadata {
            s.metadata = metadata;
        }
        s.calls += 1;
    }

    /// End a use begun with [`Session::enter`]: the idle clock starts from now.
    pub(super) fn leave(&self) {
        let mut s = self.state();
        s.in_flight = s.in_flight.saturating_sub(1);
        s.last_accessed = Instant::now();
        s.last_accessed_wall = Local::now();
    }

    /// The slot of `service`, created empty (to be started by the caller) if absent.
    pub(super) fn slot(&self, service: &str, next_id: impl FnOnce() -> u64) -> Option<Arc<Slot>> {
        let mut s = self.state();
        if s.closed.is_some() {
            return None;
        }
        if let Some(slot) = s.children.get(service) {
            return Some(slot.clone());
        }
        let slot = Arc::new(Slot {
            id: next_id(),
            cell: OnceCell::new(),
        });
        s.children.insert(service.to_string(), slot.clone());
        if !s.services.iter().any(|x| x == service) {
            s.services.push(service.to_string());
        }
        Some(slot)
    }

    /// Forget the slot of `service` if it is still the one with `slot_id` (the child exited,
    /// or failed to start): the next call starts a fresh child.
    pub(super) fn remove_slot(&self, service: &str, slot_id: u64) {
        let mut s = self.state();
        if s.children
            .get(service)
            .is_some_and(|slot| slot.id == slot_id)
        {
            s.children.remove(service);
        }
    }

    /// Forget the slot of `service` if its child is ready but stopping or dead (its watcher
    /// may not have removed it yet), so the next use starts a fresh one.
    pub(super) fn forget_dead(&self, service: &str) {
        let mut s = self.state();
        let dead = s.children.get(service).is_some_and(
            |slot| matches!(slot.cell.get(), Some(Ok(child)) if !child.client.is_alive()),
        );
        if dead {
            s.children.remove(service);
        }
    }

    /// Mark closed and hand over every slot; the caller stops the ready children. A child
    /// still starting sees `is_closed` when it is ready and stops itself.
    pub(super) fn close(&self, cause: ExitCause) -> Vec<Arc<Slot>> {
        let mut s = self.state();
        s.closed.get_or_insert(cause);
        s.children.drain().map(|(_, slot)| slot).collect()
    }

    /// Whether the session holds a child or a child's start (a cap reservation).
    pub(super) fn holds_children(&self) -> bool {
        !self.state().children.is_empty()
    }

    /// Whether the session has a ready, live child of `service`.
    pub(super) fn has_live_child(&self, service: &str) -> bool {
        let s = self.state();
        s.children.get(service).is_some_and(
            |slot| matches!(slot.cell.get(), Some(Ok(child)) if child.client.is_alive()),
        )
    }

    /// Close the session if nothing uses it: no slot (no child, none starting) and no call in
    /// flight but the caller's. True if it was closed (the caller drops it from the table).
    pub(super) fn close_if_unused(&self, cause: ExitCause) -> bool {
        let mut s = self.state();
        if s.closed.is_some() || !s.children.is_empty() || s.in_flight > 1 {
            return false;
        }
        s.closed = Some(cause);
        true
    }

    pub(super) fn ready_children(&self) -> Vec<(String, Child)> {
        let s = self.state();
        s.children
            .iter()
            .filter_map(|(name, slot)| match slot.cell.get() {
                Some(Ok(child)) => Some((name.clone(), child.clone())),
                _ => None,
            })
            .collect()
    }

    pub(super) fn snapshot(&self, now: Instant) -> SessionSnapshot {
        let s = self.state();
        let elapsed = now.saturating_duration_since(s.last_accessed);
        let children = s
            .children
            .iter()
            .filter_map(|(name, slot)| match slot.cell.get() {
                Some(Ok(child)) => Some((
                    name.clone(),
                    ChildSnapshot {
                        pid: child.client.pid(),
                        calls: child.client.calls_served(),
                        started_at: child.started_at,
                    },
                )),
                _ => None,
            })
            .collect();
        SessionSnapshot {
            id: self.id.clone(),
            created_at: self.created_at,
            last_accessed: s.last_accessed_wall,
            metadata: s.metadata.clone(),
            services: s.services.clone(),
            time_remaining: s.timeout.saturating_sub(elapsed).as_secs_f64(),
            timeout: s.timeout_json.clone(),
            calls: s.calls,
            children,
            kind: self.kind,
        }
    }
}
