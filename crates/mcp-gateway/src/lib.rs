//! mcp-gateway: run stdio MCP servers as sandboxed per-session children behind a REST API.

pub mod config;
pub mod sandbox;
