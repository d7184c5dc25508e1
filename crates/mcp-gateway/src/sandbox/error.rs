//! Why a child could not be spawned.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot create sandbox dir {path}: {source}")]
    PrivateDir { path: PathBuf, source: io::Error },
    #[error("the sandbox cannot be enforced on this host: {}; set sandbox.allow_weaker to run without it", missing.join("; "))]
    NotEnforceable { missing: Vec<String> },
    #[error("cannot set up the sandbox: {0}")]
    Setup(String),
    #[error("cannot start {program:?}: {source}")]
    Spawn { program: String, source: io::Error },
}
