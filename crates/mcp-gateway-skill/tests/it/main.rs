//! Integration tests of the mcp_gateway skill: an SDK agent with the skill, served
//! over real HTTP, against the in-process fake gateway or the real `mcp-gateway` binary
//! with `mcp-fixture` children (`e2e`; see `support`).

mod calls;
mod e2e;
mod setup;
mod support;
mod swml;
