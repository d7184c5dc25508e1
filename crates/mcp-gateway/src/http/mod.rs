//! The REST API: router, auth, error mapping. Only this module knows HTTP.
//!
//! Leaves first: `state` (what handlers share), `principal`, `client_addr`, `credentials`,
//! `traffic`; then the layers (`auth`, `admission`: rate limits and concurrency gates, `body`, `origin`), the REST `routes`, and
//! `router`, the one place the REST routes and the MCP front door's are composed.

pub(crate) mod admission;
mod auth;
mod body;
pub(crate) mod client_addr;
pub(crate) mod cluster;
mod conn;
mod console;
mod credentials;
mod error;
mod idle;
mod metrics;
mod oauth;
mod origin;
pub(crate) mod principal;
mod reload;
mod reloader;
mod router;
mod routes;
mod server;
pub(crate) mod state;
mod traces;
mod traffic;
pub(crate) mod validate;

pub(crate) use reloader::{Checked, Reloader};
pub(crate) use server::{Reloading, serve};
