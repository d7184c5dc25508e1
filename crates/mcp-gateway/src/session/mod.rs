//! Sessions: who owns which child.
//!
//! A session id (the skill uses the call id; the MCP front door mints its `Mcp-Session-Id`)
//! owns at most one child per service. The layer has two halves:
//! - `table`: every live session, who may use it, the one way in ([`SessionManager::enter_call`]
//!   and the front door's entries all go through `Table::enter`) and the one in-flight guard
//!   ([`InUse`]);
//! - `launcher`: caps, warm pools (`pool`), starting a child ([`crate::mcp::McpClient::connect`]:
//!   stdio through the sandbox, or remote), feeding the shared `catalog`, watching each child
//!   until it exits, and stopping children.
//!
//! [`SessionManager`] puts them together. A caller's first use creates the session and,
//! single-flight, its child; later uses reuse it. Session children reserve a cap before they
//! are started. Idle sessions are reaped by [`SessionManager::run_reaper`]; a deleted or
//! expired session's children are stopped in the background, so neither DELETE nor a sweep
//! ever waits on a child while holding a lock.

mod caps;
mod catalog;
mod error;
mod front_door;
mod generation;
mod launcher;
mod manager;
mod pool;
mod record;
mod table;

pub(crate) use error::SessionError;
pub(crate) use manager::{CallRequest, SessionManager};
pub(crate) use record::{Identity, SessionSnapshot};
pub(crate) use table::InUse;
