//! Entry points for the fuzz targets in `fuzz/` (see docs/fuzzing.md). Not an API: hidden from
//! the docs, and it changes whenever the targets need it to.
//!
//! The pure parsers that are public already (`mcp::framing`, `mcp::jsonrpc`, `config`,
//! `ratelimit::gcra`) are fuzzed through their own paths; only those of private modules are
//! re-exported here.

/// The front door's classification of a POSTed JSON-RPC message, and the 2026-07-28 checks.
pub mod front {
    pub use crate::front::modern::{is_modern, validate as validate_modern};
    pub use crate::front::rpc::{Inbound, classify, progress_token};
}

/// The REST API's validation of bodies and path parameters.
pub mod http {
    pub use crate::http::validate::{
        MAX_METADATA_BYTES, call_body, service_name, session_id, tool_name,
    };
}
