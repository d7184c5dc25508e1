//! The protocol revisions the front door speaks.

/// The revisions we speak, newest first; the first is what we answer to an unknown one.
pub(crate) use crate::mcp::protocol::SERVED_VERSIONS as SUPPORTED_VERSIONS;
/// The header naming a request's revision.
pub(super) const VERSION_HEADER: &str = "mcp-protocol-version";
