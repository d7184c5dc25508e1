//! The session table: every live session by id, who may use it, and the one way in.
//!
//! A session of either kind is found or created by [`Table::enter`], which checks ownership,
//! expiry and closing once, under the table lock, and counts the use in flight before the lock
//! is released: whoever removes a session (close, reaper, [`Table::discard_if_unused`]) does so
//! under the same lock, so it either removed it before the lookup or sees the use. The use
//! ends when its [`InUse`] guard drops. The table never touches a child: it hands the sessions
//! it removes to the caller, which stops their children.
//!
//! `A` is the front door's per-session protocol state, kept beside the record of an MCP
//! session and dropped with its entry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::SessionError;
use super::generation::Generation;
use super::record::{Session, SessionKind, SessionSnapshot};
use crate::metrics::ExitCause;

pub(super) struct Table<A> {
    entries: Mutex<HashMap<String, Entry<A>>>,
}

struct Entry<A> {
    session: Arc<Session>,
    /// The front door's state of an MCP session.
    state: Option<Arc<A>>,
}

impl<A> Clone for Entry<A> {
    fn clone(&self) -> Self {
        Self {
            session: self.session.clone(),
            state: self.state.clone(),
        }
    }
}

/// How [`Table::enter`] finds or creates a session.
pub(super) enum Enter<'a, A> {
    /// A REST call: the live session, or a new one (with the call's timeout, else
    /// `default_timeout`, and its metadata, else `{}`). The call is counted, and its
    /// timeout and metadata applied to a live session, once it gets its places
    /// ([`InUse::count_call`]).
    Call {
        timeout: Option<(Duration, Value)>,
        metadata: Option<Value>,
        default_timeout: Duration,
        /// The generation a new session starts in.
        generation: Arc<Generation>,
    },
    /// A new MCP session carrying the front door's `state`; refused if the id is live, or by
    /// `admit` (given the live MCP sessions without a child).
    Open {
        state: Arc<A>,
        metadata: Value,
        timeout: Duration,
        admit: &'a dyn Fn(usize) -> Result<(), SessionError>,
        generation: Arc<Generation>,
    },
    /// The live MCP session.
    Mcp,
}

/// A session found or created by [`Table::enter`].
pub(super) struct Entered<A> {
    pub use_: InUse,
    pub state: Option<Arc<A>>,
    pub created: bool,
    /// The expired session the new one replaced under the same id: its children are the
    /// caller's to stop.
    pub replaced: Option<Arc<Session>>,
}

/// One use of a session in flight (a call, a request, an open GET stream): the idle reaper
/// leaves the session alone until the guard drops.
pub(crate) struct InUse(Arc<Session>);

impl InUse {
    pub(super) fn session(&self) -> &Arc<Session> {
        &self.0
    }

    /// Count this use as a call (see [`Session::count_call`]).
    pub(super) fn count_call(&self, timeout: Option<(Duration, Value)>, metadata: Option<Value>) {
        self.0.count_call(timeout, metadata);
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        self.0.leave();
    }
}

impl<A> Default for Table<A> {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
        }
    }
}

impl<A> Table<A> {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry<A>>> {
        self.entries.lock().expect("session table lock")
    }

    /// Find or create session `id` as `how` says, for the scoped key `owner` (`None`:
    /// unscoped), and count the use in flight. Another key's live session is an unknown
    /// session, as is, for [`Enter::Mcp`], a REST one.
    pub(super) fn enter(
        &self,
        id: &str,
        owner: Option<&str>,
        how: Enter<'_, A>,
    ) -> Result<Entered<A>, SessionError> {
        let unknown = || SessionError::UnknownSession(id.to_string());
        let now = Instant::now();
        let mut table = self.lock();
        let live = table
            .get(id)
            .filter(|e| !e.session.is_expired(now) && !e.session.is_closed())
            .cloned();
        let (entry, created) = match (live, how) {
            (Some(_), Enter::Open { .. }) => {
                return Err(SessionError::SessionExists(id.to_string()));
            }
            (Some(entry), _) if !entry.session.visible_to(owner) => return Err(unknown()),
            (Some(entry), Enter::Call { .. }) => (entry, false),
            (Some(entry), Enter::Mcp) if entry.state.is_some() => (entry, false),
            (_, Enter::Mcp) => return Err(unknown()),
            (
                None,
                Enter::Call {
                    timeout,
                    metadata,
                    default_timeout,
                    generation,
                },
            ) => {
                let timeout =
                    timeout.unwrap_or_else(|| (default_timeout, duration_json(default_timeout)));
                let metadata = metadata.unwrap_or_else(|| Value::Object(Default::default()));
                let session =
                    Session::new(id, SessionKind::Rest, owner, timeout, metadata, generation);
                let entry = Entry {
                    session: Arc::new(session),
                    state: None,
                };
                (entry, true)
            }
            (
                None,
                Enter::Open {
                    state,
                    metadata,
                    timeout,
                    admit,
                    generation,
                },
            ) => {
                admit(childless(table.values(), now))?;
                let timeout = (timeout, duration_json(timeout));
                let session =
                    Session::new(id, SessionKind::Mcp, owner, timeout, metadata, generation);
                let entry = Entry {
                    session: Arc::new(session),
                    state: Some(state),
                };
                (entry, true)
            }
        };
        if !entry.session.enter() {
            return Err(unknown());
        }
        let replaced = if created {
            let old = table.insert(id.to_string(), entry.clone());
            tracing::info!(session = %id, kind = entry.session.kind().as_str(), "session created");
            old.map(|e| e.session).filter(|s| !s.is_closed())
        } else {
            None
        };
        Ok(Entered {
            use_: InUse(entry.session),
            state: entry.state,
            created,
            replaced,
        })
    }

    /// The live session `id`, whoever owns it.
    pub(super) fn live_session(&self, id: &str) -> Option<Arc<Session>> {
        let now = Instant::now();
        self.lock()
            .get(id)
            .filter(|e| !e.session.is_expired(now) && !e.session.is_closed())
            .map(|e| e.session.clone())
    }

    /// Drop a session created by a use that failed before it held anything (its first child
    /// failed to start, its tool is unknown), unless something else uses it meanwhile:
    /// `GET /sessions` must not list an empty session nobody asked to keep.
    pub(super) fn discard_if_unused(&self, session: &Arc<Session>) -> bool {
        let mut table = self.lock();
        let same = table
            .get(&session.id)
            .is_some_and(|current| Arc::ptr_eq(&current.session, session));
        if same && session.close_if_unused(ExitCause::Stopped) {
            table.remove(&session.id);
            tracing::info!(session = %session.id, "session dropped: its first use failed");
            return true;
        }
        false
    }

    /// Remove session `id` if `owner` may see it; the caller stops its children.
    pub(super) fn remove_for(&self, id: &str, owner: Option<&str>) -> Option<Arc<Session>> {
        let mut table = self.lock();
        match table.get(id) {
            Some(e) if e.session.visible_to(owner) => table.remove(id).map(|e| e.session),
            _ => None,
        }
    }

    /// Remove every session idle past its timeout; the caller stops their children.
    pub(super) fn remove_expired(&self) -> Vec<Arc<Session>> {
        let now = Instant::now();
        let mut table = self.lock();
        let mut expired = Vec::new();
        table.retain(|_, e| {
            let keep = !e.session.is_expired(now);
            if !keep {
                expired.push(e.session.clone());
            }
            keep
        });
        expired
    }

    /// Remove every session (shutdown); the caller stops their children.
    pub(super) fn drain(&self) -> Vec<Arc<Session>> {
        self.lock().drain().map(|(_, e)| e.session).collect()
    }

    /// What `GET /sessions` shows: the live sessions `owner` may see (all for `None`).
    pub(super) fn list_for(&self, owner: Option<&str>) -> Vec<SessionSnapshot> {
        let now = Instant::now();
        let sessions: Vec<Arc<Session>> = self
            .lock()
            .values()
            .map(|e| e.session.clone())
            .filter(|s| s.visible_to(owner))
            .collect();
        sessions
            .iter()
            .filter(|s| !s.is_expired(now))
            .map(|s| s.snapshot(now))
            .collect()
    }

    /// The ids of the sessions of `kind`, live or not yet reaped.
    pub(super) fn ids_of(&self, kind: SessionKind) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, e)| e.session.kind() == kind && !e.session.is_closed())
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    /// MCP sessions that are live but hold no child (nor a child's start): each counts as one
    /// session against `max_total_sessions`.
    pub(super) fn childless_mcp_sessions(&self) -> usize {
        childless(self.lock().values(), Instant::now())
    }
}

fn childless<'a, A: 'a>(entries: impl Iterator<Item = &'a Entry<A>>, now: Instant) -> usize {
    entries
        .filter(|e| {
            let s = &e.session;
            s.kind() == SessionKind::Mcp
                && !s.is_closed()
                && !s.is_expired(now)
                && !s.holds_children()
        })
        .count()
}

/// A timeout as `GET /sessions` echoes it when the client gave none: whole seconds as an
/// integer.
pub(super) fn duration_json(d: Duration) -> Value {
    if d.subsec_nanos() == 0 {
        Value::from(d.as_secs())
    } else {
        Value::from(d.as_secs_f64())
    }
}
