//! mcp-gateway: run stdio MCP servers as sandboxed per-session children behind a REST API.
//!
//! Layers, each knowing only the one below: [`config`] (validated configuration) ->
//! [`sandbox`] (the only place a process is built) -> [`mcp`] (the JSON-RPC client actor per
//! child) -> [`session`] (who owns which child) -> [`http`] (the REST API) and [`front`]
//! (the MCP front door, mounted by `http`) -> [`cli`].

pub mod cli;
pub mod config;
pub(crate) mod front;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod http;
pub(crate) mod logging;
pub mod mcp;
pub(crate) mod metrics;
pub mod ratelimit;
pub mod sandbox;
pub(crate) mod session;
