//! `services.<name>`: argv, environment, working directory, timeouts and sandbox settings.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::types::*;
use super::walk::{DAY, Diags, GIB, HOUR, MIB, MINUTE, Obj, Secs, join, kind};
use crate::sandbox::seccomp;

/// Every service: the enabled ones by name, and the names of the disabled ones.
pub(super) fn services(
    top: &mut Obj<'_>,
    d: &mut Diags<'_>,
) -> (BTreeMap<String, ServiceConfig>, Vec<String>) {
    let mut services = BTreeMap::new();
    let mut disabled = Vec::new();
    let Some(value) = top.get("services") else {
        d.warn("services", "no services configured");
        return (services, disabled);
    };
    let Some(all) = Obj::new(d, "services".to_owned(), value) else {
        return (services, disabled);
    };
    for (name, value) in all.entries() {
        // A disabled service's problems are only warnings: upstream never reads it.
        let mut own = Diags::new(d.file());
        let key = join("services", name);
        if !valid_service_name(name) {
            own.error(
                &key,
                "invalid service name: use 1 to 64 letters, digits, '_' or '-'",
            );
        }
        let (enabled, service) = match Obj::new(&mut own, key, value) {
            Some(o) => service(name, o, &mut own),
            None => (true, None),
        };
        if enabled {
            d.absorb(own, None);
            if let Some(service) = service {
                services.insert(name.clone(), service);
            }
        } else {
            d.absorb(own, Some("service is disabled"));
            disabled.push(name.clone());
        }
    }
    // Sorted: the file's order is not kept when serde_json's preserve_order is off.
    disabled.sort();
    (services, disabled)
}

fn valid_service_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether the service is enabled, and its configuration unless its command is unusable.
fn service(name: &str, mut o: Obj<'_>, d: &mut Diags<'_>) -> (bool, Option<ServiceConfig>) {
    let enabled = o.bool(d, "enabled", true);
    let remote = remote(&mut o, d);
    let command = match &remote {
        Some(_) if o.get("command").is_some() => {
            d.error(&o.key("url"), "give either url or command, not both");
            None
        }
        Some(_) => Some(Vec::new()),
        None => command(&mut o, d),
    };
    let description = o.string(d, "description").unwrap_or_default();
    let (sandbox, working_dir) = sandbox(o.object(d, "sandbox"), d);
    let env = env(&mut o, d);
    let mut cwd = o.path(d, "cwd");
    if let (Some(cwd), Some(working_dir)) = (&cwd, &working_dir)
        && cwd != working_dir
    {
        d.warn(
            &o.key("cwd"),
            "both cwd and sandbox.working_dir are set: using cwd",
        );
    }
    if cwd.is_none() {
        cwd = working_dir;
    }
    let call_timeout = o.secs(
        d,
        "call_timeout",
        Duration::from_secs(30),
        Secs {
            zero_ok: false,
            max: DAY,
        },
    );
    let startup_timeout = o.secs(
        d,
        "startup_timeout",
        Duration::from_secs(30),
        Secs {
            zero_ok: false,
            max: HOUR,
        },
    );
    let max_line_bytes = o.usize(d, "max_line_bytes", (16 * MIB) as usize, 1..=GIB);
    let stop_grace = o.secs(
        d,
        "stop_grace",
        Duration::from_secs(2),
        Secs {
            zero_ok: true,
            max: 10 * MINUTE,
        },
    );
    for key in super::traffic::SERVICE_KEYS {
        o.ignore(key);
    }
    let warm_pool = o.usize(d, "warm_pool", 0, 0..=10_000);
    o.finish(d);

    let service = command.map(|command| ServiceConfig {
        name: name.to_owned(),
        command,
        remote,
        description,
        env,
        cwd,
        call_timeout,
        startup_timeout,
        max_line_bytes,
        stop_grace,
        warm_pool,
        sandbox,
    });
    (enabled, service)
}

/// `url` and `headers`: a remote MCP server (Streamable HTTP).
fn remote(o: &mut Obj<'_>, d: &mut Diags<'_>) -> Option<RemoteConfig> {
    let url = o.string(d, "url")?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        d.error(&o.key("url"), "must be an http:// or https:// URL");
        return None;
    }
    let mut headers = BTreeMap::new();
    if let Some(h) = o.object(d, "headers") {
        for (name, value) in h.entries() {
            match value {
                Value::String(v) => {
                    headers.insert(name.clone(), v.clone());
                }
                other => d.error(
                    &h.key(name),
                    format!("expected a string, got {}", kind(other)),
                ),
            }
        }
    }
    Some(RemoteConfig { url, headers })
}

/// `command`: a non-empty argv of strings, never coerced.
fn command(o: &mut Obj<'_>, d: &mut Diags<'_>) -> Option<Vec<String>> {
    let key = o.key("command");
    let Some(value) = o.get("command") else {
        let message = "required: the program and its arguments, e.g. [\"python3\", \"server.py\"]";
        d.error(&key, message);
        return None;
    };
    let Value::Array(items) = value else {
        let message = format!(
            "expected an array of strings (program and arguments), got {}",
            kind(value)
        );
        d.error(&key, message);
        return None;
    };
    if items.is_empty() {
        d.error(&key, "must not be empty: give at least the program");
        return None;
    }
    let mut argv = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let item_key = format!("{key}[{i}]");
        match item {
            Value::String(s) if i == 0 && s.is_empty() => {
                d.error(&item_key, "the program must not be empty");
                ok = false;
            }
            Value::String(s) if s.contains('\0') => {
                d.error(&item_key, "must not contain a NUL character");
                ok = false;
            }
            Value::String(s) => argv.push(s.clone()),
            Value::Number(_) | Value::Bool(_) => {
                d.error(
                    &item_key,
                    format!("expected a string, got {} (write \"{item}\")", kind(item)),
                );
                ok = false;
            }
            other => {
                d.error(&item_key, format!("expected a string, got {}", kind(other)));
                ok = false;
            }
        }
    }
    ok.then_some(argv)
}

/// `sandbox`, and its `working_dir` (the upstream spelling of `cwd`).
fn sandbox(o: Option<Obj<'_>>, d: &mut Diags<'_>) -> (SandboxConfig, Option<PathBuf>) {
    let defaults = SandboxConfig::default();
    let Some(mut o) = o else {
        return (defaults, None);
    };
    let limits = ResourceLimits::default();
    let sandbox = SandboxConfig {
        enabled: o.bool(d, "enabled", defaults.enabled),
        resource_limits: o.bool(d, "resource_limits", defaults.resource_limits),
        restricted_env: o.bool(d, "restricted_env", defaults.restricted_env),
        drop_privileges: o.bool(d, "drop_privileges", defaults.drop_privileges),
        user: choice(
            &mut o,
            d,
            "user",
            &[("own", ChildUser::Own), ("gateway", ChildUser::Gateway)],
            defaults.user,
        ),
        allowed_paths: allowed_paths(&mut o, d),
        filesystem: choice(
            &mut o,
            d,
            "filesystem",
            &[
                ("isolated", Filesystem::Isolated),
                ("host", Filesystem::Host),
            ],
            defaults.filesystem,
        ),
        network: choice(
            &mut o,
            d,
            "network",
            &[("host", Network::Host), ("none", Network::None)],
            defaults.network,
        ),
        allow_weaker: o.bool(d, "allow_weaker", defaults.allow_weaker),
        seccomp: o.get("seccomp").is_some().then(|| {
            choice(
                &mut o,
                d,
                "seccomp",
                &[("default", Seccomp::Default), ("off", Seccomp::Off)],
                Seccomp::Default,
            )
        }),
        seccomp_allow: seccomp_allow(&mut o, d),
        limits: ResourceLimits {
            cpu_seconds: o.uint(d, "cpu_seconds", limits.cpu_seconds, 1..=1 << 40),
            memory_mb: o.uint(d, "memory_mb", limits.memory_mb, 1..=1 << 24),
            max_processes: o.uint(d, "max_processes", limits.max_processes, 1..=1 << 22),
            max_file_size_mb: o.uint(d, "max_file_size_mb", limits.max_file_size_mb, 1..=1 << 24),
        },
    };
    let working_dir = o.path(d, "working_dir");
    // Free text in upstream's sample config.
    o.ignore("note");
    o.finish(d);
    (sandbox, working_dir)
}

/// A string naming one of `choices`; anything else is an error naming the choices.
fn choice<T: Copy>(
    o: &mut Obj<'_>,
    d: &mut Diags<'_>,
    key: &'static str,
    choices: &[(&str, T)],
    default: T,
) -> T {
    let full = o.key(key);
    let Some(text) = o.string(d, key) else {
        return default;
    };
    if let Some((_, value)) = choices.iter().find(|(name, _)| *name == text) {
        return *value;
    }
    let names: Vec<String> = choices.iter().map(|(n, _)| format!("{n:?}")).collect();
    d.error(
        &full,
        format!("expected one of {}, got {text:?}", names.join(", ")),
    );
    default
}

/// `seccomp_allow`: names of calls the seccomp filter refuses, to let through.
fn seccomp_allow(o: &mut Obj<'_>, d: &mut Diags<'_>) -> Vec<String> {
    let key = o.key("seccomp_allow");
    let Some(value) = o.get("seccomp_allow") else {
        return Vec::new();
    };
    let Value::Array(items) = value else {
        let message = format!(
            "expected an array of system call names, got {}",
            kind(value)
        );
        d.error(&key, message);
        return Vec::new();
    };
    let mut names = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_key = format!("{key}[{i}]");
        match item {
            Value::String(name) if seccomp::is_refused(name) => names.push(name.clone()),
            Value::String(name) => d.error(
                &item_key,
                format!(
                    "{name:?} is not a system call the seccomp filter refuses (see \
                     docs/sandbox.md): nothing to allow"
                ),
            ),
            other => d.error(
                &item_key,
                format!("expected a system call name, got {}", kind(other)),
            ),
        }
    }
    names
}

/// `allowed_paths`: strings (read-only) or `{"path": ..., "writable": bool}`.
fn allowed_paths(o: &mut Obj<'_>, d: &mut Diags<'_>) -> Vec<AllowedPath> {
    let key = o.key("allowed_paths");
    let Some(value) = o.get("allowed_paths") else {
        return Vec::new();
    };
    let Value::Array(items) = value else {
        d.error(
            &key,
            format!("expected an array of paths, got {}", kind(value)),
        );
        return Vec::new();
    };
    let mut paths = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_key = format!("{key}[{i}]");
        match item {
            Value::String(s) if s.is_empty() => d.error(&item_key, "must not be empty"),
            Value::String(s) => {
                // Upstream ignored this key; here a plain path is enforced read-only, which a
                // server that wrote there under upstream would trip over.
                d.warn(
                    &item_key,
                    format!(
                        "{s:?} is readable but not writable by the child (upstream ignored \
                         allowed_paths); write {{\"path\": {s:?}, \"writable\": true}} to allow writes"
                    ),
                );
                paths.push(AllowedPath {
                    path: s.into(),
                    writable: false,
                })
            }
            Value::Object(map) => {
                let mut entry = Obj::from_map(item_key, map);
                let path = entry.path(d, "path");
                let writable = entry.bool(d, "writable", false);
                if path.is_none() {
                    d.error(&entry.key("path"), "required: a non-empty path");
                }
                entry.finish(d);
                paths.extend(path.map(|path| AllowedPath { path, writable }));
            }
            other => d.error(
                &item_key,
                format!(
                    "expected a path or {{\"path\": ..., \"writable\": ...}}, got {}",
                    kind(other)
                ),
            ),
        }
    }
    paths
}

/// `env`: names to string values; numbers and booleans are refused, not coerced.
fn env(o: &mut Obj<'_>, d: &mut Diags<'_>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let Some(vars) = o.object(d, "env") else {
        return env;
    };
    for (name, value) in vars.entries() {
        let key = vars.key(name);
        if name.is_empty() || name.contains(['=', '\0']) {
            d.error(&key, "invalid environment variable name");
            continue;
        }
        match value {
            Value::Null => {}
            Value::String(s) if s.contains('\0') => {
                d.error(&key, "must not contain a NUL character");
            }
            Value::String(s) => {
                env.insert(name.clone(), s.clone());
            }
            Value::Number(_) | Value::Bool(_) => d.error(
                &key,
                format!(
                    "expected a string, got {} (environment values are strings: write \"{value}\")",
                    kind(value)
                ),
            ),
            other => d.error(&key, format!("expected a string, got {}", kind(other))),
        }
    }
    env
}
