//! The protocol revisions the front door speaks.

/// The revisions we speak, newest first; the first is what we answer to an unknown one.
pub const SUPPORTED_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];
/// The header naming a request's revision.
pub const VERSION_HEADER: &str = "mcp-protocol-version";
