//! Integration tests of the mcp_gateway skill: an SDK agent with the skill, served
//! over real HTTP, against a gateway (see `support`).

mod calls;
mod setup;
mod support;
mod swml;
