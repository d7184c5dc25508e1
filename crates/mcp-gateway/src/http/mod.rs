//! The REST API: router, auth, error mapping. Only this module knows HTTP.
//!
//! Leaves first: `state` (what handlers share), `principal`, `client_addr`, `credentials`,
//! `traffic`; then the layers (`auth`, `limits`, `body`, `origin`), the REST `routes`, and
//! `router`, the one place the REST routes and the MCP front door's are composed.

mod auth;
mod body;
pub(crate) mod client_addr;
mod conn;
mod credentials;
mod error;
mod idle;
pub(crate) mod limits;
mod metrics;
mod origin;
pub(crate) mod principal;
mod router;
mod routes;
mod server;
pub(crate) mod state;
mod traffic;
pub(crate) mod validate;

pub use client_addr::{ClientAddr, client_addr};
pub use credentials::Authenticator;
pub use error::ApiError;
pub use limits::{Refusal, Spend, charge, enter_call, set_headers as rate_headers};
pub use principal::Principal;
pub use router::router;
pub use routes::call_response;
pub use server::{Listening, serve};
pub use state::AppState;
pub use traffic::Traffic;
