//! The environment a child gets: an allow-list under `restricted_env`, loader variables never.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::ServiceConfig;

/// Variables passed through from the gateway when `restricted_env` is on.
pub const PASSTHROUGH: &[&str] = &[
    "PATH",
    "USER",
    "LOGNAME",
    "TZ",
    "PYTHONPATH",
    "NODE_PATH",
    "JAVA_HOME",
];

/// Variables removed in every sandboxed child, whatever else is configured.
pub const LOADER_VARS: &[&str] = &[
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "DYLD_INSERT_LIBRARIES",
    "DYLD_LIBRARY_PATH",
];

/// Build the child's complete environment. `gateway_env` looks up the gateway's own variables
/// (injectable so tests never touch the process environment).
pub fn child_env(
    service: &ServiceConfig,
    private_dir: Option<&Path>,
    gateway_env: &dyn Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    let sandbox = &service.sandbox;
    let mut env = BTreeMap::new();
    if !sandbox.enabled || !sandbox.restricted_env {
        env.extend(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        );
    } else {
        for name in PASSTHROUGH {
            if let Some(value) = gateway_env(name) {
                env.insert((*name).to_string(), value);
            }
        }
        env.entry("PATH".into())
            .or_insert_with(|| "/usr/local/bin:/usr/bin:/bin".into());
        env.entry("USER".into()).or_insert_with(|| "nobody".into());
        env.insert("LANG".into(), "C.UTF-8".into());
    }
    if let Some(dir) = private_dir {
        let dir = dir.display().to_string();
        for name in ["HOME", "TMPDIR", "TEMP", "TMP"] {
            env.insert(name.into(), dir.clone());
        }
    }
    env.extend(service.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    if sandbox.enabled {
        for name in LOADER_VARS {
            env.remove(*name);
        }
    }
    env
}
