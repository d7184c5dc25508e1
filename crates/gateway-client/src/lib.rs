//! A typed async client for the MCP Gateway REST API (`docs/wire.md`).
//!
//! Codemap:
//! - [`client`]: [`GatewayClient`], one pooled `reqwest::Client` per gateway, and the
//!   mapping from HTTP responses to typed results.
//! - [`error`]: [`GatewayError`], one variant per thing a caller branches on, and
//!   [`GatewayError::provably_not_executed`], the only safe basis for a retry.
//! - [`types`]: request and response bodies of the wire contract (the `mcp-gateway-wire`
//!   crate's, shared with the gateway).
//! - `testing` (feature `test-support`): an in-process fake gateway for tests.
//!
//! Invariant: only this crate knows the gateway's HTTP wire format; callers see types.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mcp_gateway_client::GatewayError> {
//! use mcp_gateway_client::{Auth, CallRequest, ClientConfig, GatewayClient};
//! let client = GatewayClient::new(ClientConfig {
//!     auth: Auth::Basic { user: "admin".into(), password: "changeme".into() },
//!     ..ClientConfig::new("http://127.0.0.1:8080")
//! })
//! .expect("valid config");
//! let reply = client
//!     .call("greeter", &CallRequest::new("greet", "call-1").argument("name", "Ada"))
//!     .await?;
//! println!("{}", reply.text());
//! # Ok(()) }
//! ```

pub mod client;
pub mod error;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod types;

pub use client::{Auth, ClientConfig, GatewayClient};
pub use error::{BuildError, GatewayError, TimeoutOrigin};
pub use types::{CallRequest, CallResponse, Health, ServiceInfo, SessionInfo, Tool, ToolList};
