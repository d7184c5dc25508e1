//! A short human summary of a validated configuration, printed by `mcp-gateway validate`.
//! Secrets (passwords, tokens, env values) are never shown.

use std::fmt::Write;
use std::net::SocketAddr;
use std::time::Duration;

use super::types::*;

/// Summarise `config`: listen address, auth, services with their argv, limits.
pub fn describe(config: &Config) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_summary(&mut out, config);
    out
}

fn write_summary(out: &mut String, config: &Config) -> std::fmt::Result {
    let server = &config.server;
    let scheme = if server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    writeln!(out, "config: {}", config.source.display())?;
    writeln!(
        out,
        "listen: {scheme}://{}",
        SocketAddr::new(server.host, server.port)
    )?;
    match &server.tls {
        None => {}
        Some(TlsConfig::Files { cert, key }) => {
            writeln!(out, "tls: cert {}, key {}", cert.display(), key.display())?;
        }
        Some(TlsConfig::CombinedPem(pem)) => {
            writeln!(out, "tls: cert and key in {}", pem.display())?;
        }
    }
    let mut auth = Vec::new();
    if let Some(basic) = &server.basic {
        auth.push(format!("basic (user {:?})", basic.user));
    }
    if server.bearer_token.is_some() {
        auth.push("bearer token".to_owned());
    }
    if !config.traffic.keys.is_empty() {
        let names: Vec<&str> = config
            .traffic
            .keys
            .iter()
            .map(|k| k.name.as_str())
            .collect();
        auth.push(format!("scoped keys ({})", names.join(", ")));
    }
    if let Some(oauth) = &config.traffic.oauth {
        let issuers: Vec<&str> = oauth
            .authorization_servers
            .iter()
            .map(|s| s.issuer.as_str())
            .collect();
        let resource = oauth
            .resource
            .as_deref()
            .unwrap_or("the address it listens on");
        auth.push(format!(
            "OAuth access tokens for {resource} from {} ({} grants)",
            issuers.join(", "),
            oauth.grants.len()
        ));
    }
    if auth.is_empty() {
        let allowed = if server.allow_unauthenticated {
            "allowed"
        } else {
            "not allowed"
        };
        writeln!(out, "auth: none (unauthenticated serving {allowed})")?;
    } else {
        writeln!(out, "auth: {}", auth.join(", "))?;
    }

    writeln!(out, "services: {} enabled", config.services.len())?;
    for service in config.services.values() {
        write_service(out, service)?;
    }
    if !config.disabled_services.is_empty() {
        writeln!(out, "  disabled: {}", config.disabled_services.join(", "))?;
    }

    let session = &config.session;
    writeln!(
        out,
        "session: idle timeout {}, at most {} per service and {} in all, cleanup every {}, \
         sandbox dir {}, child uids {}-{} (as root)",
        secs(session.default_timeout),
        session.max_sessions_per_service,
        session.max_total_sessions,
        secs(session.cleanup_interval),
        session.sandbox_dir.display(),
        session.child_uids.start(),
        session.child_uids.end(),
    )?;

    let rates = &config.rate_limiting;
    if rates.enabled {
        let defaults: Vec<&str> = rates
            .default_limits
            .iter()
            .map(|r| r.text.as_str())
            .collect();
        let defaults = if defaults.is_empty() {
            "none".to_owned()
        } else {
            defaults.join(", ")
        };
        writeln!(
            out,
            "rate limits: default {defaults}; tools {}; call {}; session delete {}; storage {}",
            texts(&rates.tools_limit),
            texts(&rates.call_limit),
            texts(&rates.session_delete_limit),
            rates.storage_uri,
        )?;
        writeln!(
            out,
            "  unauthenticated: {} per address; storage down: {}",
            rates.unauthenticated_limit.text,
            if rates.fail_open {
                "allow (fail_open)"
            } else {
                "refuse with 503"
            },
        )?;
    } else {
        writeln!(out, "rate limits: off")?;
    }

    match &config.cluster {
        None => writeln!(out, "cluster: none (one replica)")?,
        Some(c) => {
            let advertise = match &c.advertise {
                Advertise::Fixed(a) => a.clone(),
                Advertise::Bound(ip) => format!("{ip}:<bound port>"),
            };
            writeln!(
                out,
                "cluster: {} via {}; this replica at {advertise}; membership lease {}s; {} session key(s); \
                 caps are per replica",
                c.name,
                c.redis_uri,
                c.member_ttl.as_secs_f64(),
                c.session_keys.len(),
            )?;
        }
    }

    let logging = &config.logging;
    let format = match logging.format {
        LogFormat::Text => "text",
        LogFormat::Json => "json",
    };
    write!(out, "logging: {}, {format}", logging.filter)?;
    if let Some(file) = &logging.file {
        write!(out, ", also to {}", file.display())?;
    }
    writeln!(out)
}

fn write_service(out: &mut String, service: &ServiceConfig) -> std::fmt::Result {
    if let Some(remote) = &service.remote {
        // Header values may be secrets: names only.
        let headers: Vec<&str> = remote.headers.keys().map(String::as_str).collect();
        writeln!(
            out,
            "  {}: remote {} (headers: {})",
            service.name,
            remote.url,
            headers.join(", ")
        )?;
        return Ok(());
    }
    let argv: Vec<String> = service.command.iter().map(|arg| quote(arg)).collect();
    writeln!(out, "  {}: {}", service.name, argv.join(" "))?;
    let sandbox = &service.sandbox;
    let mut details = Vec::new();
    if sandbox.enabled {
        let env = if sandbox.restricted_env {
            "restricted env"
        } else {
            "full env"
        };
        details.push(format!("sandbox ({env})"));
        if sandbox.resource_limits {
            let limits = &sandbox.limits;
            details.push(format!(
                "limits cpu {}s, memory {} MiB, {} processes, files {} MiB",
                limits.cpu_seconds, limits.memory_mb, limits.max_processes, limits.max_file_size_mb
            ));
        }
        if sandbox.drop_privileges {
            details.push("drops privileges".to_owned());
        } else if sandbox.user == ChildUser::Gateway {
            details.push("children as the gateway's uid".to_owned());
        }
    } else {
        details.push("no sandbox".to_owned());
    }
    if let Some(cwd) = &service.cwd {
        details.push(format!("cwd {}", cwd.display()));
    }
    if !service.env.is_empty() {
        let names: Vec<&str> = service.env.keys().map(String::as_str).collect();
        details.push(format!("env {}", names.join(" ")));
    }
    details.push(format!(
        "call timeout {}, startup timeout {}",
        secs(service.call_timeout),
        secs(service.startup_timeout)
    ));
    if service.warm_pool > 0 {
        details.push(format!("warm pool {}", service.warm_pool));
    }
    writeln!(out, "    {}", details.join("; "))
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// An argv element as it would be typed in a shell, quoted only when needed.
fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("{arg:?}")
    }
}

/// Several limits of one key, as written: "10 per minute; 100 per hour".
fn texts(rates: &[crate::config::RateLimit]) -> String {
    rates
        .iter()
        .map(|r| r.text.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}
