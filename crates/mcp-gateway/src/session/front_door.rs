//! What the MCP front door needs of the session layer: sessions it opens itself (their id is
//! the `Mcp-Session-Id`) with its protocol state beside them, found without being re-created,
//! and children started through the same single-flight, capped, sandboxed path as REST calls.

use std::sync::Arc;

use serde_json::Value;

use super::SessionError;
use super::manager::SessionManager;
use super::record::Identity;
use super::table::{Enter, InUse};
use crate::mcp::McpClient;

impl<A: Send + Sync + 'static> SessionManager<A> {
    /// Open a new MCP session under `id` carrying the front door's `state`, owned by the
    /// scoped key `owner` (`None`: unscoped), as REST sessions are. It counts against
    /// `max_total_sessions` from now on: as one session while it has no child, then through
    /// its children's cap reservations.
    /// `identity`: the verified claims of the OAuth token that opens it, if any
    /// (`auth.oauth.identity_env` passes some to the session's children).
    pub(crate) fn open_mcp(
        &self,
        id: &str,
        state: Arc<A>,
        metadata: Value,
        owner: Option<&str>,
        identity: Option<Identity>,
    ) -> Result<(), SessionError> {
        if self.launcher.is_shutting_down() {
            return Err(SessionError::ShuttingDown);
        }
        let generation = self.launcher.generation();
        let max = generation.config.session.max_total_sessions;
        let live = self.live_children();
        let admit = |childless: usize| {
            if childless + live >= max {
                return Err(SessionError::SessionLimit(format!(
                    "maximum session limit ({max}) reached"
                )));
            }
            Ok(())
        };
        let how = Enter::Open {
            state,
            metadata,
            timeout: generation.config.session.default_timeout,
            admit: &admit,
            generation: generation.clone(),
        };
        let entered = self.table.enter(id, owner, how)?;
        if let Some(identity) = identity {
            entered.use_.session().set_identity(identity);
        }
        self.stop_replaced(entered.replaced);
        super::manager::audit_session(self.audit.as_ref(), entered.use_.session(), None);
        Ok(())
    }

    /// The state of the live MCP session `id`, renewing its idle clock. `None` when the id is
    /// unknown, expired, closed, a REST session or another key's (`owner` as in
    /// [`Self::close_for`]): the client must re-initialize.
    pub(crate) fn mcp_session(&self, id: &str, owner: Option<&str>) -> Option<Arc<A>> {
        self.table.enter(id, owner, Enter::Mcp).ok()?.state
    }

    /// Hold the live MCP session `id` open (not idle) until the returned guard drops (an open
    /// GET stream).
    pub(crate) fn hold_mcp(&self, id: &str) -> Option<InUse> {
        Some(self.table.enter(id, None, Enter::Mcp).ok()?.use_)
    }

    /// The MCP session's child of `service`, started on first use; the returned guard counts
    /// the use as a call and keeps the session from being reaped while the caller uses the
    /// child.
    pub(crate) async fn mcp_child(
        &self,
        id: &str,
        service: &str,
    ) -> Result<(McpClient, InUse), SessionError> {
        let use_ = self.table.enter(id, None, Enter::Mcp)?.use_;
        let session = use_.session();
        let service = self.launcher.session_service(session, service)?;
        use_.count_call(None, None);
        session.forget_dead(&service.name);
        let child = self.launcher.child(session, &service).await?;
        Ok((child.client, use_))
    }

    /// Whether `service` exists for MCP session `id` (its generation's, or a service added
    /// since), or for a new session when `id` is `None` or not live.
    pub(crate) fn knows_service(&self, id: Option<&str>, service: &str) -> bool {
        match id.and_then(|id| self.table.live_session(id)) {
            Some(session) => self.launcher.session_service(&session, service).is_ok(),
            None => self.launcher.service(service).is_ok(),
        }
    }

    /// `service`'s call timeout for MCP session `id`: as the session's generation specifies
    /// the service (a reload may have changed or removed it since); zero if neither knows it.
    pub(crate) fn call_timeout(&self, id: &str, service: &str) -> std::time::Duration {
        let found = match self.table.live_session(id) {
            Some(session) => self.launcher.session_service(&session, service),
            None => self.launcher.service(service),
        };
        found.map(|s| s.call_timeout).unwrap_or_default()
    }

    /// The MCP session's running child of `service`, if any (never starts one).
    pub(crate) fn mcp_running_child(&self, id: &str, service: &str) -> Option<McpClient> {
        let session = self.table.live_session(id)?;
        session
            .ready_children()
            .into_iter()
            .find(|(name, child)| name == service && child.client.is_alive())
            .map(|(_, child)| child.client)
    }
}
