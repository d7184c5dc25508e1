//! What the MCP front door needs of the session table: sessions it opens itself (their id is
//! the `Mcp-Session-Id`), found without being re-created, and children started through the
//! same single-flight, capped, sandboxed path as REST calls.

use std::any::Any;
use std::sync::{Arc, Weak};
use std::time::Instant;

use serde_json::Value;

use super::{SessionManager, duration_json};
use crate::mcp::McpClient;
use crate::session::SessionError;
use crate::session::record::Session;

/// Counts one request in flight on a session (so the idle reaper leaves it alone) until
/// dropped.
pub struct SessionUse(Arc<Session>);

impl Drop for SessionUse {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// Keeps an MCP session from being reaped while its GET stream is open. Weak: the session's
/// own state holds the stream, so a strong reference would keep a closed session (and its
/// stream) alive.
pub struct SessionHold(Weak<Session>);

impl Drop for SessionHold {
    fn drop(&mut self) {
        if let Some(session) = self.0.upgrade() {
            session.leave();
        }
    }
}

impl SessionManager {
    /// Hold the live MCP session `id` open (not idle) until the returned guard drops.
    pub fn hold_mcp(&self, id: &str) -> Option<SessionHold> {
        let session = self.live_mcp(id)?;
        session
            .hold()
            .then(|| SessionHold(Arc::downgrade(&session)))
    }

    /// Open a new MCP session under `id` carrying the front door's `state`, owned by the
    /// scoped key `owner` (`None`: unscoped), as REST sessions are.
    pub fn open_mcp(
        &self,
        id: &str,
        state: Arc<dyn Any + Send + Sync>,
        metadata: Value,
        owner: Option<&str>,
    ) -> Result<(), SessionError> {
        if self.shutdown.is_cancelled() {
            return Err(SessionError::ShuttingDown);
        }
        let timeout = self.config.session.default_timeout;
        let session =
            Arc::new(Session::new(id, timeout, duration_json(timeout), metadata).with_owner(owner));
        session.attach_mcp(state);
        let mut table = self.sessions.lock().expect("session table lock");
        if table.contains_key(id) {
            return Err(SessionError::SessionLimit(format!("session {id} exists")));
        }
        // An MCP session counts against `max_total_sessions` from `initialize` on: as one
        // session while it has no child, then through its children's reservations.
        let childless = childless(table.values());
        let max = self.config.session.max_total_sessions;
        if childless + self.caps.live() >= max {
            return Err(SessionError::SessionLimit(format!(
                "maximum session limit ({max}) reached"
            )));
        }
        table.insert(id.to_string(), session);
        tracing::info!(session = %id, "mcp session created");
        Ok(())
    }

    /// MCP sessions that are live but hold no child (nor a child's start): each counts as one
    /// session against `max_total_sessions`.
    pub(super) fn childless_mcp_sessions(&self) -> usize {
        childless(self.sessions.lock().expect("session table lock").values())
    }

    /// The state of a live MCP session, renewing its idle clock. `None` when the id is
    /// unknown, expired, closed, a REST session or another key's (`owner` as in
    /// [`Self::close_for`]): the client must re-initialize.
    pub fn mcp_session(&self, id: &str, owner: Option<&str>) -> Option<Arc<dyn Any + Send + Sync>> {
        let session = self.live_mcp(id).filter(|s| s.visible_to(owner))?;
        session.touch().then(|| session.mcp_state()).flatten()
    }

    fn live_mcp(&self, id: &str) -> Option<Arc<Session>> {
        let session = self
            .sessions
            .lock()
            .expect("session table lock")
            .get(id)
            .cloned()?;
        let live = !session.is_expired(Instant::now()) && !session.is_closed();
        (live && session.mcp_state().is_some()).then_some(session)
    }

    /// The MCP session's child of `service`, started on first use; the returned guard keeps
    /// the session from being reaped while the caller uses the child.
    pub async fn mcp_child(
        self: &Arc<Self>,
        id: &str,
        service: &str,
    ) -> Result<(McpClient, SessionUse), SessionError> {
        let service = self.service(service)?;
        let session = self
            .live_mcp(id)
            .ok_or_else(|| SessionError::UnknownSession(id.to_string()))?;
        if !session.enter(None, None) {
            return Err(SessionError::UnknownSession(id.to_string()));
        }
        let guard = SessionUse(session.clone());
        session.forget_dead(&service.name);
        let child = self.child(&session, service).await?;
        Ok((child.client, guard))
    }

    /// The MCP session's running child of `service`, if any (never starts one).
    pub fn mcp_running_child(&self, id: &str, service: &str) -> Option<McpClient> {
        let session = self.live_mcp(id)?;
        session
            .ready_children()
            .into_iter()
            .find(|(name, child)| name == service && child.client.is_alive())
            .map(|(_, child)| child.client)
    }
}

fn childless<'a>(sessions: impl Iterator<Item = &'a Arc<Session>>) -> usize {
    let now = Instant::now();
    sessions
        .filter(|s| {
            s.mcp_state().is_some() && !s.is_closed() && !s.is_expired(now) && !s.holds_children()
        })
        .count()
}
