//! The MCP front door (`/mcp`, `/services/{name}/mcp`): protocol details with a hand-written
//! client, aggregation, progress and cancellation, session lifecycle.

mod budgets;
mod caps;
pub mod client;
mod conformance;
mod keys;
mod modern;
mod nodelay;
mod protocol;
mod relay;
mod remote;
mod sdk_clients;
