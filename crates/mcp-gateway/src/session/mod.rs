//! Sessions: who owns which child.
//!
//! A session id (the skill uses the call id) owns at most one child per service. The first call
//! creates the session and, single-flight, the child; later calls reuse it. Caps are reserved
//! before anything is spawned. Idle sessions are reaped by [`SessionManager::run_reaper`]; a
//! deleted or expired session's children are stopped in the background, so neither DELETE nor a
//! sweep ever waits on a child while holding a lock.

mod catalog;
mod error;
mod limits;
mod manager;
mod pool;
mod record;

pub use catalog::Catalog;
pub use error::SessionError;
pub use manager::{CallOutcome, CallRequest, SessionHold, SessionManager, SessionUse};
pub use record::{ChildSnapshot, SessionSnapshot};
