//! The schema: walks the substituted tree into a [`Config`], applying upstream's defaults and
//! recording every problem in [`Diags`].

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use super::types::*;
use super::walk::{DAY, Diags, GIB, HOUR, KIB, MIB, MINUTE, Obj, Secs, kind, read_str, show};
use super::{oauth, parse_rate, parse_rates, service, traffic};

/// Build the configuration from the top-level object. `tls_base` is the directory in which
/// `certs/server.pem` is looked for (the working directory outside tests).
pub(super) fn build(root: &Map<String, Value>, tls_base: &Path, d: &mut Diags<'_>) -> Config {
    let empty = Map::new();
    let mut top = Obj::from_map(String::new(), root);

    let server = server(top.section(d, "server", &empty), tls_base, d);
    let (services, disabled_services) = service::services(&mut top, d);
    let session = session(top.section(d, "session", &empty), d);
    let rate_limiting = rate_limiting(top.section(d, "rate_limiting", &empty), d);
    let logging = logging(top.section(d, "logging", &empty), d);
    let mut traffic = traffic::traffic(root, top.section(d, "auth", &empty), &services, d);
    if let Some(Value::Object(auth)) = root.get("auth")
        && let Some(value) = auth.get("oauth").filter(|v| !v.is_null())
    {
        traffic.oauth = Obj::new(d, "auth.oauth".into(), value)
            .and_then(|o| oauth::oauth(o, &services, server.host.is_loopback(), d));
    }
    let mcp = super::mcp::mcp(top.section(d, "mcp", &empty), d);
    check_mcp_names(&mcp, &services, d);
    let metrics = metrics(top.section(d, "metrics", &empty), d);
    let audit = audit(top.section(d, "audit", &empty), d);
    let telemetry = telemetry(top.section(d, "telemetry", &empty), d);
    let cluster = top
        .object(d, "cluster")
        .and_then(|o| super::cluster::cluster(o, &server, d));
    if top.get("security").is_some() {
        d.warn(
            "security",
            "has no effect (upstream ignores it too): use the server.* keys for auth and TLS",
        );
    }
    top.finish(d);

    Config {
        source: d.file().to_path_buf(),
        server,
        services,
        disabled_services,
        session,
        rate_limiting,
        logging,
        metrics,
        traffic,
        mcp,
        cluster,
        audit,
        telemetry,
    }
}

fn telemetry(mut o: Obj<'_>, d: &mut Diags<'_>) -> TelemetryConfig {
    let defaults = TelemetryConfig::default();
    let otlp_endpoint = o.read(d, "otlp_endpoint", |v| {
        let url = read_str(v)?;
        match url.split_once("://") {
            Some(("http", rest)) if !rest.is_empty() => Ok(url.trim_end_matches('/').to_string()),
            Some(("https", _)) => Err("https is not supported yet: point it at a local collector or agent over http://".into()),
            Some(("grpc", _)) => Err("grpc:// is not a scheme of OTLP: for gRPC write http://host:4317 and set telemetry.protocol to \"grpc\"".into()),
            _ => Err(format!("must be an http:// URL, got {}", show(v))),
        }
    });
    let protocol = [OtlpProtocol::HttpProtobuf, OtlpProtocol::Grpc]
        [choice(&mut o, d, "protocol", ["http/protobuf", "grpc"])];
    let sampling_ratio = o
        .read(d, "sampling_ratio", |v| {
            v.as_f64()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| format!("must be a number from 0 to 1, got {}", show(v)))
        })
        .unwrap_or(defaults.sampling_ratio);
    let service_name = o
        .non_empty(d, "service_name")
        .unwrap_or(defaults.service_name);
    let export_timeout = o.secs(
        d,
        "export_timeout",
        defaults.export_timeout,
        Secs {
            zero_ok: false,
            max: MINUTE,
        },
    );
    if otlp_endpoint.is_none() && o.entries().len() > 0 {
        d.warn("telemetry", "has no effect without telemetry.otlp_endpoint");
    }
    o.finish(d);
    TelemetryConfig {
        otlp_endpoint,
        protocol,
        sampling_ratio,
        service_name,
        export_timeout,
    }
}

/// Which of two `options` `key` names (0, the default, when absent or wrong).
fn choice(o: &mut Obj<'_>, d: &mut Diags<'_>, key: &'static str, options: [&str; 2]) -> usize {
    o.read(d, key, |v| {
        let value = read_str(v)?;
        options
            .iter()
            .position(|option| value == *option)
            .ok_or_else(|| {
                format!(
                    "unknown value {}: use \"{}\" or \"{}\"",
                    show(v),
                    options[0],
                    options[1]
                )
            })
    })
    .unwrap_or(0)
}

fn audit(mut o: Obj<'_>, d: &mut Diags<'_>) -> AuditConfig {
    let file = o.path(d, "file");
    let full_arguments = choice(&mut o, d, "arguments", ["digest", "full"]) == 1;
    let fail_closed = choice(&mut o, d, "on_failure", ["fail", "degrade"]) == 0;
    let max_bytes = o.uint(d, "max_bytes", 0, 0..=u64::MAX);
    if max_bytes > 0 && max_bytes < 4 * KIB {
        d.error(
            &o.key("max_bytes"),
            "must be 0 (never rotate) or at least 4096",
        );
    }
    let sync = o.bool(d, "sync", false);
    if file.is_none() && o.entries().len() > 0 {
        d.warn("audit", "has no effect without audit.file");
    }
    o.finish(d);
    AuditConfig {
        file,
        full_arguments,
        fail_closed,
        max_bytes,
        sync,
    }
}

/// Names the front door could not tell apart: a service name containing the separator makes
/// `{service}{sep}{tool}` ambiguous; without prefixes two services may list the same tool.
fn check_mcp_names(
    mcp: &McpConfig,
    services: &std::collections::BTreeMap<String, ServiceConfig>,
    d: &mut Diags<'_>,
) {
    let prefixed = match mcp.prefix {
        PrefixMode::Always => true,
        PrefixMode::Multiple => services.len() > 1,
        PrefixMode::Never => false,
    };
    if prefixed {
        for name in services.keys() {
            if name.contains(&mcp.separator) {
                d.error(
                    &format!("services.{name}"),
                    format!(
                        "contains the mcp.separator {:?}: its tool names on /mcp would be ambiguous",
                        mcp.separator
                    ),
                );
            }
        }
    } else if services.len() > 1 {
        d.warn(
            "mcp.prefix",
            "is \"never\" with several services: a tool name listed by two services is served by the first one only",
        );
    }
}

fn metrics(mut o: Obj<'_>, d: &mut Diags<'_>) -> MetricsConfig {
    let config = MetricsConfig {
        enabled: o.bool(d, "enabled", true),
        require_auth: o.bool(d, "require_auth", true),
    };
    o.finish(d);
    config
}

fn server(mut o: Obj<'_>, tls_base: &Path, d: &mut Diags<'_>) -> ServerConfig {
    let host = o.read(d, "host", |v| read_str(v).and_then(parse_host));
    let port = o.uint(d, "port", 8080, 0..=u64::from(u16::MAX));

    let user = o.non_empty(d, "auth_user");
    if user.as_deref().is_some_and(|u| u.contains(':')) {
        d.error(
            &o.key("auth_user"),
            "must not contain ':' (Basic auth could never match)",
        );
    }
    let password = o.non_empty(d, "auth_password");
    let basic = match (user, password) {
        (Some(user), Some(password)) => {
            if password == "changeme" {
                d.warn(
                    &o.key("auth_password"),
                    "is upstream's sample default: change it",
                );
            }
            Some(BasicCredentials { user, password })
        }
        (Some(_), None) => {
            let message = "empty or missing although auth_user is set: Basic auth is disabled";
            d.warn(&o.key("auth_password"), message);
            None
        }
        (None, Some(_)) => {
            let message = "empty or missing although auth_password is set: Basic auth is disabled";
            d.warn(&o.key("auth_user"), message);
            None
        }
        (None, None) => None,
    };
    let bearer_token = o.non_empty(d, "auth_token");
    let allow_unauthenticated = o.bool(d, "allow_unauthenticated", false);
    let tls = tls(&mut o, tls_base, d);
    let expose_commands = o.bool(d, "expose_commands", false);
    let max_body_bytes = o.usize(d, "max_body_bytes", (10 * MIB) as usize, 1..=4 * GIB);
    let shutdown_grace = o.secs(
        d,
        "shutdown_grace",
        Duration::from_secs(10),
        Secs {
            zero_ok: true,
            max: HOUR,
        },
    );
    let header_read_timeout = o.secs(
        d,
        "header_read_timeout",
        Duration::from_secs(10),
        Secs {
            zero_ok: false,
            max: HOUR,
        },
    );
    let body_read_timeout = o.secs(
        d,
        "body_read_timeout",
        Duration::from_secs(30),
        Secs {
            zero_ok: false,
            max: HOUR,
        },
    );
    let max_connections = o.usize(d, "max_connections", 10_000, 1..=1_000_000);
    for key in traffic::SERVER_KEYS {
        o.ignore(key);
    }
    let allowed_origins = o
        .read(d, "allowed_origins", |v| match v {
            Value::Array(items) => items
                .iter()
                .map(|i| read_str(i).map(|s| s.trim_end_matches('/').to_owned()))
                .collect(),
            other => Err(format!("expected an array of origins, got {}", kind(other))),
        })
        .unwrap_or_default();
    let allowed_hosts = o
        .read(d, "allowed_hosts", |v| match v {
            Value::Array(items) => items
                .iter()
                .map(|i| read_str(i).map(|s| s.to_ascii_lowercase()))
                .collect(),
            other => Err(format!(
                "expected an array of host names, got {}",
                kind(other)
            )),
        })
        .unwrap_or_default();
    o.finish(d);

    ServerConfig {
        host: host.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        port: u16::try_from(port).unwrap_or(8080),
        basic,
        bearer_token,
        allow_unauthenticated,
        tls,
        expose_commands,
        max_body_bytes,
        shutdown_grace,
        header_read_timeout,
        body_read_timeout,
        max_connections,
        allowed_origins,
        allowed_hosts,
    }
}

/// `""` and `"0.0.0.0"` are every interface, `"localhost"` is 127.0.0.1; otherwise an IP
/// address (host names are not resolved).
fn parse_host(host: &str) -> Result<IpAddr, String> {
    match host {
        "" => Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        h if h.eq_ignore_ascii_case("localhost") => Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        h => {
            let bare = h
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(h);
            bare.parse().map_err(|_| {
                format!(
                    "expected an IP address, \"localhost\" or \"\" (all interfaces), got {h:?} \
                     (host names are not resolved)"
                )
            })
        }
    }
}

fn tls(o: &mut Obj<'_>, tls_base: &Path, d: &mut Diags<'_>) -> Option<TlsConfig> {
    let cert = o.path(d, "tls_cert");
    let key = o.path(d, "tls_key");
    match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsConfig::Files { cert, key }),
        (Some(_), None) => {
            d.error(
                &o.key("tls_key"),
                "missing: tls_cert and tls_key must be given together",
            );
            None
        }
        (None, Some(_)) => {
            d.error(
                &o.key("tls_cert"),
                "missing: tls_cert and tls_key must be given together",
            );
            None
        }
        (None, None) => {
            let pem = tls_base.join("certs").join("server.pem");
            pem.exists().then_some(TlsConfig::CombinedPem(pem))
        }
    }
}

fn session(mut o: Obj<'_>, d: &mut Diags<'_>) -> SessionConfig {
    let default_timeout = o.secs(
        d,
        "default_timeout",
        Duration::from_secs(300),
        Secs {
            zero_ok: false,
            max: 30 * DAY,
        },
    );
    let config = SessionConfig {
        default_timeout,
        max_sessions_per_service: o.usize(d, "max_sessions_per_service", 100, 1..=1_000_000),
        max_total_sessions: o.usize(d, "max_total_sessions", 500, 1..=1_000_000),
        cleanup_interval: o.secs(
            d,
            "cleanup_interval",
            Duration::from_secs(60),
            Secs {
                zero_ok: false,
                max: DAY,
            },
        ),
        sandbox_dir: o
            .path(d, "sandbox_dir")
            .unwrap_or_else(|| PathBuf::from("./sandbox")),
        stderr_buffer_bytes: o.usize(d, "stderr_buffer_bytes", (64 * KIB) as usize, 0..=GIB),
        child_uids: child_uids(&mut o, d),
    };
    for key in traffic::SESSION_KEYS {
        o.ignore(key);
    }
    o.finish(d);
    config
}

/// The uid range of `session.child_uids` ("60000-60999"), checked.
pub(super) fn parse_uid_range(text: &str) -> Result<std::ops::RangeInclusive<u32>, String> {
    let (lo, hi) = text
        .split_once('-')
        .ok_or_else(|| format!("expected \"FIRST-LAST\" (e.g. \"60000-60999\"), got {text:?}"))?;
    let num = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|e| format!("{s:?} is not a uid: {e}"))
    };
    let (lo, hi) = (num(lo)?, num(hi)?);
    if lo == 0 {
        return Err("uid 0 is root: the range must start above 0".into());
    }
    if hi < lo {
        return Err(format!("the range {lo}-{hi} is empty"));
    }
    if hi == u32::MAX {
        return Err("uid 4294967295 is (uid_t)-1, not a uid".into());
    }
    Ok(lo..=hi)
}

/// `session.child_uids`: "FIRST-LAST", above 0.
fn child_uids(o: &mut Obj<'_>, d: &mut Diags<'_>) -> std::ops::RangeInclusive<u32> {
    let key = o.key("child_uids");
    let default = DEFAULT_CHILD_UIDS;
    match o.string(d, "child_uids") {
        None => default,
        Some(text) => parse_uid_range(&text).unwrap_or_else(|why| {
            d.error(&key, why);
            default
        }),
    }
}

fn fixed_rate(count: u64, secs: u64, text: &str) -> RateLimit {
    RateLimit {
        count,
        period: Duration::from_secs(secs),
        text: text.to_owned(),
    }
}

pub(super) fn default_rates() -> [RateLimit; 5] {
    [
        fixed_rate(200, 86_400, "200 per day"),
        fixed_rate(50, 3_600, "50 per hour"),
        fixed_rate(30, 60, "30 per minute"),
        fixed_rate(10, 60, "10 per minute"),
        fixed_rate(20, 60, "20 per minute"),
    ]
}

fn rate_limiting(mut o: Obj<'_>, d: &mut Diags<'_>) -> RateLimitConfig {
    let [day, hour, tools, call, delete] = default_rates();
    let enabled = o.bool(d, "enabled", true);

    let default_limits = match o.get("default_limits") {
        None => vec![day, hour],
        Some(Value::String(s)) => rates(d, &o.key("default_limits"), s),
        Some(Value::Array(items)) => {
            let key = o.key("default_limits");
            let mut limits = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let item_key = format!("{key}[{i}]");
                match item {
                    Value::String(s) => limits.extend(rates(d, &item_key, s)),
                    other => d.error(
                        &item_key,
                        format!("expected a rate string, got {}", kind(other)),
                    ),
                }
            }
            limits
        }
        Some(other) => {
            let message = format!("expected an array of rate strings, got {}", kind(other));
            d.error(&o.key("default_limits"), message);
            vec![day, hour]
        }
    };
    let tools_limit = many_rates(&mut o, d, "tools_limit", tools);
    let call_limit = many_rates(&mut o, d, "call_limit", call);
    let session_delete_limit = many_rates(&mut o, d, "session_delete_limit", delete);

    let storage_uri = o
        .read(d, "storage_uri", |v| storage_uri(read_str(v)?))
        .unwrap_or_else(|| "memory://".to_owned());
    let unauthenticated_limit = one_rate(
        &mut o,
        d,
        "unauthenticated_limit",
        fixed_rate(60, 60, "60 per minute"),
    );
    let fail_open = o.bool(d, "fail_open", false);
    let storage_timeout = o.secs(
        d,
        "storage_timeout",
        Duration::from_millis(500),
        Secs {
            zero_ok: false,
            max: MINUTE,
        },
    );
    o.finish(d);

    RateLimitConfig {
        enabled,
        default_limits,
        tools_limit,
        call_limit,
        session_delete_limit,
        storage_uri,
        unauthenticated_limit,
        fail_open,
        storage_timeout,
    }
}

/// `memory://`, or `redis://host[:port][/db]` (checked by the Redis client's own parser).
fn storage_uri(uri: &str) -> Result<String, String> {
    if uri == "memory://" || uri == "memory" {
        return Ok("memory://".to_owned());
    }
    if uri.starts_with("rediss://") {
        return Err("rediss:// (TLS) is not supported: use redis:// on a private network".into());
    }
    if uri.starts_with("redis://") {
        return redis::Client::open(uri)
            .map(|_| uri.to_owned())
            .map_err(|e| format!("invalid Redis URI {uri:?}: {e}"));
    }
    Err(format!(
        "unsupported storage {uri:?}: use \"memory://\" or \"redis://host:port[/db]\""
    ))
}

fn one_rate(
    o: &mut Obj<'_>,
    d: &mut Diags<'_>,
    key: &'static str,
    default: RateLimit,
) -> RateLimit {
    o.read(d, key, |v| read_str(v).and_then(parse_rate))
        .unwrap_or(default)
}

/// A rate key that may hold several limits ("10 per minute; 100 per hour").
fn many_rates(
    o: &mut Obj<'_>,
    d: &mut Diags<'_>,
    key: &'static str,
    default: RateLimit,
) -> Vec<RateLimit> {
    o.read(d, key, |v| read_str(v).and_then(parse_rates))
        .unwrap_or_else(|| vec![default])
}

fn rates(d: &mut Diags<'_>, key: &str, text: &str) -> Vec<RateLimit> {
    parse_rates(text)
        .map_err(|message| d.error(key, message))
        .unwrap_or_default()
}

fn logging(mut o: Obj<'_>, d: &mut Diags<'_>) -> LoggingConfig {
    let filter = o
        .read(d, "level", |v| {
            let level = read_str(v)?;
            let filter = match level.trim().to_ascii_uppercase().as_str() {
                "DEBUG" => "debug",
                "INFO" => "info",
                "WARNING" | "WARN" => "warn",
                "ERROR" | "CRITICAL" | "FATAL" => "error",
                _ => {
                    return Err(format!(
                        "unknown level {}: use DEBUG, INFO, WARNING, ERROR or CRITICAL",
                        show(v)
                    ));
                }
            };
            Ok(filter.to_owned())
        })
        .unwrap_or_else(|| "info".to_owned());
    let file = o.path(d, "file");
    let format = o
        .read(d, "format", |v| {
            let format = read_str(v)?;
            if format.eq_ignore_ascii_case("text") {
                Ok(LogFormat::Text)
            } else if format.eq_ignore_ascii_case("json") {
                Ok(LogFormat::Json)
            } else {
                Err(format!(
                    "unknown format {}: use \"text\" or \"json\"",
                    show(v)
                ))
            }
        })
        .unwrap_or(LogFormat::Text);
    o.finish(d);
    LoggingConfig {
        filter,
        file,
        format,
    }
}

#[cfg(test)]
mod uid_range_tests {
    use super::parse_uid_range as parse_range;

    #[test]
    fn ranges_parse_and_refuse_root_and_empty_ones() {
        assert_eq!(parse_range("60000-60999"), Ok(60000..=60999));
        assert_eq!(parse_range(" 5 - 5 "), Ok(5..=5));
        assert!(parse_range("0-10").unwrap_err().contains("root"));
        assert!(parse_range("10-5").unwrap_err().contains("empty"));
        assert!(parse_range("60000").unwrap_err().contains("FIRST-LAST"));
        assert!(parse_range("a-5").unwrap_err().contains("not a uid"));
    }
}
