//! The environment a child gets: an allow-list under `restricted_env`, loader variables never.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::ServiceConfig;

/// Variables passed through from the gateway when `restricted_env` is on.
pub(super) const PASSTHROUGH: &[&str] = &[
    "PATH",
    "USER",
    "LOGNAME",
    "TZ",
    "PYTHONPATH",
    "NODE_PATH",
    "JAVA_HOME",
];

/// Variables removed in every sandboxed child, whatever else is configured.
pub(super) const LOADER_VARS: &[&str] = &[
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "DYLD_INSERT_LIBRARIES",
    "DYLD_LIBRARY_PATH",
];

/// The gateway's own environment (variables that are not UTF-8 are skipped).
pub(super) fn gateway_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Build the child's complete environment from the gateway's (`gateway`, injectable so tests
/// never touch the process environment).
pub fn child_env(
    service: &ServiceConfig,
    private_dir: Option<&Path>,
    gateway: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let sandbox = &service.sandbox;
    let mut env = BTreeMap::new();
    if !sandbox.enabled || !sandbox.restricted_env {
        env.extend(gateway.iter().map(|(k, v)| (k.clone(), v.clone())));
    } else {
        for name in PASSTHROUGH {
            if let Some(value) = gateway.get(*name) {
                env.insert((*name).to_string(), value.clone());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SandboxConfig;

    fn service(sandbox: SandboxConfig, env: &[(&str, &str)]) -> ServiceConfig {
        ServiceConfig {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..ServiceConfig::for_tests(sandbox)
        }
    }

    fn gateway() -> BTreeMap<String, String> {
        [
            ("PATH", "/usr/bin"),
            ("TZ", "UTC"),
            ("API_KEY", "s3cret"),
            ("LD_PRELOAD", "/evil.so"),
            ("HOME", "/root"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn keys(env: &BTreeMap<String, String>) -> Vec<&str> {
        env.keys().map(String::as_str).collect()
    }

    #[test]
    fn restricted_env_is_the_allow_list_plus_the_service_env() {
        let svc = service(
            SandboxConfig::default(),
            &[("TOKEN", "t"), ("LD_AUDIT", "x")],
        );
        let env = child_env(&svc, Some(Path::new("/sbx/d")), &gateway());
        assert_eq!(
            keys(&env),
            [
                "HOME", "LANG", "PATH", "TEMP", "TMP", "TMPDIR", "TOKEN", "TZ", "USER"
            ]
        );
        assert_eq!(env["HOME"], "/sbx/d");
        assert_eq!(env["USER"], "nobody");
        assert_eq!(env["TOKEN"], "t");
    }

    #[test]
    fn medium_passes_the_gateway_env_without_loader_variables() {
        let medium = SandboxConfig {
            restricted_env: false,
            ..SandboxConfig::default()
        };
        let env = child_env(
            &service(medium, &[("LD_PRELOAD", "/x.so")]),
            None,
            &gateway(),
        );
        assert_eq!(env["API_KEY"], "s3cret");
        assert!(!env.contains_key("LD_PRELOAD"));
    }

    #[test]
    fn none_passes_everything() {
        let none = SandboxConfig {
            enabled: false,
            ..SandboxConfig::default()
        };
        let env = child_env(&service(none, &[]), None, &gateway());
        assert_eq!(env, gateway());
    }
}
