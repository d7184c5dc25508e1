//! Configuration: raw JSON -> `${VAR|default}` substitution -> validated [`Config`].
//!
//! Loading has two stages. The file is parsed into a [`serde_json::Value`] and every string
//! value in it goes through [`substitute`] (exactly upstream's `${VAR|default}` rule, with no
//! type coercion afterwards). The tree is then walked into the typed [`Config`]; every problem
//! found on the way is collected, so one run of `mcp-gateway validate` reports all of them.
//! Unknown keys are warnings, never errors and never silent.
//!
//! Environment lookups go through an [`EnvSource`] so tests never touch the process
//! environment.

mod cluster;
mod describe;
mod mcp;
mod oauth;
mod rate;
mod reload;
mod service;
mod subst;
mod traffic;
mod types;
mod validate;
mod walk;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub use describe::describe;
pub use oauth::{AuthorizationServer, Grant, Introspection, OAuthConfig};
pub use rate::{parse_rate, parse_rates};
pub use reload::{Reloaded, ServiceChanges, reloadable};
pub use subst::substitute;
pub use traffic::{
    ApiKey, Concurrency, IpNet, KeyLimits, Names, ServiceTraffic, TrafficConfig, canonical,
};
pub use types::*;

/// Where `${VAR|default}` looks variables up.
pub trait EnvSource {
    /// The value of `name`, `None` when unset. A set-but-empty variable is `Some("")`.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        // `std::env::var_os` may panic on these; no such variable can exist anyway.
        if name.is_empty() || name.contains(['=', '\0']) {
            return None;
        }
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }
}

impl EnvSource for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// A validated configuration and the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Diagnostic>,
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// Dotted path of the offending key, e.g. `services.todo.command[1]` or `server.port`;
    /// empty when the problem is the file itself.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}: {}: {}", self.file.display(), self.key, self.message)
        }
    }
}

/// A configuration that cannot be used. Holds every error found, and the warnings too.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", lines(.errors))]
pub struct ConfigError {
    /// Never empty.
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

fn lines(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    fn file(file: &Path, message: String) -> Self {
        let error = Diagnostic {
            file: file.to_path_buf(),
            key: String::new(),
            message,
        };
        Self {
            errors: vec![error],
            warnings: Vec::new(),
        }
    }
}

/// Read, substitute and validate the configuration file at `path`.
///
/// A missing file is an error: unlike upstream, no default configuration is ever written.
/// TLS falls back to `certs/server.pem` relative to the working directory, as upstream.
pub fn load(path: &Path, env: &dyn EnvSource) -> Result<Loaded, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(ConfigError::file(path, "file does not exist".into()));
        }
        Err(err) => return Err(ConfigError::file(path, format!("cannot read file: {err}"))),
    };
    load_str(&text, path, env)
}

/// [`load`] for a configuration already in memory; `source` names it in messages.
pub fn load_str(text: &str, source: &Path, env: &dyn EnvSource) -> Result<Loaded, ConfigError> {
    load_in(text, source, env, Path::new(""))
}

/// [`load_str`] with the directory that holds `certs/server.pem` made explicit.
fn load_in(
    text: &str,
    source: &Path,
    env: &dyn EnvSource,
    base_dir: &Path,
) -> Result<Loaded, ConfigError> {
    let mut raw: serde_json::Value = serde_json::from_str(text)
        .map_err(|err| ConfigError::file(source, json_error_message(&err)))?;
    subst::substitute_tree(&mut raw, env);
    let serde_json::Value::Object(root) = raw else {
        let message = format!("the top level must be an object, got {}", walk::kind(&raw));
        return Err(ConfigError::file(source, message));
    };

    let mut diags = walk::Diags::new(source);
    let config = validate::build(&root, base_dir, &mut diags);
    let (errors, warnings) = diags.into_parts();
    if errors.is_empty() {
        Ok(Loaded { config, warnings })
    } else {
        Err(ConfigError { errors, warnings })
    }
}

fn json_error_message(err: &serde_json::Error) -> String {
    let (line, column) = (err.line(), err.column());
    let full = err.to_string();
    let what = full
        .strip_suffix(&format!(" at line {line} column {column}"))
        .unwrap_or(&full);
    format!("invalid JSON at line {line}, column {column}: {what}")
}
