//! Request and response bodies of the gateway's REST API (`docs/wire.md`): the
//! `mcp-gateway-wire` crate's, which the gateway serializes too.
//!
//! Response types are lenient: missing fields take defaults (or unknown ones are kept in
//! `extra`) so a newer gateway with additive fields still decodes.

pub use mcp_gateway_wire::{
    CallRequest, CallResponse, ChildInfo, ErrorBody, Health, RpcError, ServiceInfo, Services,
    SessionClosed, SessionInfo, Sessions, Tool, ToolList, code,
};
