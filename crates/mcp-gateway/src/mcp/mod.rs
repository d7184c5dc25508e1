//! The MCP stdio client: one actor task per child process.
//!
//! Only this module knows the JSON-RPC wire format. [`McpClient::connect`] reaches a service:
//! it has [`crate::sandbox::spawn`] start a child and [`McpClient::start`] performs the
//! `initialize` handshake (or connects to a remote server), and returns a cheap, cloneable
//! handle. Behind it an actor owns the child: it writes stdin through a writer task,
//! reads stdout with a bounded line reader, answers the child's own requests (`ping`,
//! `roots/list`; everything else is refused), fans notifications out to subscribers, drains
//! stderr continuously into the log and a ring buffer, fails every pending request at once
//! when the child dies, and stops it gracefully then firmly (stdin EOF, SIGTERM, SIGKILL to
//! the process group), always reaping it.
//!
//! - [`jsonrpc`]: message classification, the one builder of messages and the error codes
//!   (pure).
//! - [`framing`]: the bounded line reader and the oversized-line peek.
//! - [`protocol`]: the MCP methods used (handshake, pagination, call results; pure).
//! - [`tool`]: the MCP tool object and whether a list has a tool (pure).
//! - `stderr`: the drain and the ring buffer.
//! - `actor`: the task that owns a child. `client`: the handle. `connect`: stdio or remote.

mod actor;
mod client;
mod connect;
mod error;
pub mod framing;
pub mod jsonrpc;
mod link;
pub mod protocol;
mod remote;
mod stderr;
mod stdin;
pub mod tool;

#[cfg(test)]
mod tests;

pub use client::{ChildEvent, ChildId, ChildWatcher, ClientOptions, McpClient};
pub use connect::Launch;
pub use error::{ExitInfo, McpError};
pub use protocol::InitializeInfo;
pub use tool::{Tool, lists_tool};
