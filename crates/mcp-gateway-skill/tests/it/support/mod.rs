//! Test harness: a gateway to talk to and an agent served over real HTTP.
//!
//! Tests get a [`TestGateway`] and an [`AgentUnderTest`], an SDK agent with the skill,
//! served by the SDK's own HTTP server on `127.0.0.1`. The gateway is either the real
//! `mcp-gateway` binary with `mcp-fixture` children ([`real`], used by `e2e`), or the
//! in-process fake of `mcp-gateway-client`, for answers a real gateway gives only under
//! load (429, 503) and for execution counts of every failure kind.

pub mod agent;
pub mod gateway;
pub mod real;

pub use agent::{AgentUnderTest, function, function_names};
pub use gateway::TestGateway;

use std::future::Future;
use std::time::Duration;

/// Await `fut`, failing the test with `what` if it takes more than 20 s.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} must not hang"))
}

/// A local port nobody listens on (bound once, then released).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}
