//! mcp-gateway: run MCP servers as sandboxed per-session children behind a REST API and an MCP
//! front door.
//!
//! Layers (ARCHITECTURE.md draws them from the imports; `scripts/import-graph.py` checks
//! them): [`config`] (validated configuration) and the leaves `logging`, `metrics`,
//! [`ratelimit`] -> [`sandbox`] (the only place a process is built) -> [`mcp`] (talking to one
//! MCP server: the JSON-RPC wire, the actor per child, stdio or remote) -> `session` (the
//! session table and the launcher of children) -> `http` (serving: edge checks, auth,
//! traffic policy, the REST routes, the router; OAuth access tokens are verified by `oauth`,
//! below it) and `front` (the MCP front door, composed by
//! `http`'s router) -> [`cli`].
//!
//! Public: what the binary, the benches and the fuzz targets use; the rest is crate-private
//! (`unreachable_pub` warns of a `pub` nothing outside can reach).

#![warn(unreachable_pub)]

pub(crate) mod audit;
pub mod cli;
pub(crate) mod cluster;
pub mod config;
pub(crate) mod front;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod http;
pub(crate) mod logging;
pub mod mcp;
pub(crate) mod metrics;
pub(crate) mod oauth;
pub mod ratelimit;
pub mod sandbox;
pub(crate) mod session;
pub(crate) mod telemetry;
