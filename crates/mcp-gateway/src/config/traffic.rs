//! Traffic policy settings beyond upstream's `rate_limiting` section: scoped API keys
//! (`auth`), auth-failure blocking, trusted proxies, per-service call limits and concurrency
//! limits. See docs/traffic.md.
//!
//! These keys live in sections other modules walk (`server`, `session`, `services.<name>`);
//! those walkers only mark them known and this module reads them from the raw tree, so the
//! traffic settings stay in one place.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::types::RateLimit;
use super::walk::{DAY, Diags, Obj, Secs, join, kind, read_str};
use super::{parse_rate, parse_rates};

/// The keys of `services.<name>` read here.
pub(super) const SERVICE_KEYS: [&str; 3] =
    ["call_limit", "max_calls_in_flight", "max_queued_calls"];
/// The keys of `session` read here.
pub(super) const SESSION_KEYS: [&str; 2] = ["max_calls_in_flight", "max_queued_calls"];
/// The keys of `server` read here.
pub(super) const SERVER_KEYS: [&str; 1] = ["trusted_proxies"];

#[derive(Debug, Clone, Default)]
pub struct TrafficConfig {
    /// `server.trusted_proxies`: addresses or CIDR blocks whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// `auth.keys`.
    pub keys: Vec<ApiKey>,
    /// `auth.oauth`: OAuth access tokens (docs/auth.md).
    pub oauth: Option<super::OAuthConfig>,
    /// `auth.failure_limit` (default "10 per minute"): failed credential checks allowed per
    /// client address before it is blocked.
    pub failure_limit: Option<RateLimit>,
    /// `auth.block_seconds` (default 300; 0 = never block).
    pub block_for: Duration,
    /// `session.max_calls_in_flight` (default 16) and `session.max_queued_calls` (default 64).
    pub session_concurrency: Concurrency,
    /// Per-service settings, for enabled services that set any.
    pub services: BTreeMap<String, ServiceTraffic>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency {
    /// Calls running at once; `None` = unlimited.
    pub max_in_flight: Option<usize>,
    /// Calls waiting for a free place; beyond that a call is refused with 429.
    pub max_queued: usize,
}

impl Default for Concurrency {
    fn default() -> Self {
        Self {
            max_in_flight: None,
            max_queued: 64,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceTraffic {
    /// `services.<name>.call_limit`: replaces `rate_limiting.call_limit` for this service.
    pub call_limit: Option<Vec<RateLimit>>,
    /// `services.<name>.max_calls_in_flight` / `max_queued_calls`.
    pub concurrency: Concurrency,
}

/// An address or a CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn parse_net(s: &str) -> Result<IpNet, String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| format!("invalid address {s:?}: expected an IP address or a CIDR block"))?;
    let addr = canonical(addr);
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => p
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|&p| p <= max)
            .ok_or_else(|| format!("invalid prefix length in {s:?}: expected 0 to {max}"))?,
    };
    Ok(IpNet { addr, prefix })
}

/// Which names (services or tools) a key may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Names {
    All,
    Only(BTreeSet<String>),
}

impl Names {
    pub fn allows(&self, name: &str) -> bool {
        match self {
            Names::All => true,
            Names::Only(names) => names.contains(name),
        }
    }
}

/// Own rate limits of a key; each replaces the `rate_limiting` value of the same name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyLimits {
    pub default_limits: Option<Vec<RateLimit>>,
    pub tools_limit: Option<Vec<RateLimit>>,
    pub call_limit: Option<Vec<RateLimit>>,
    pub session_delete_limit: Option<Vec<RateLimit>>,
}

/// One entry of `auth.keys`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub name: String,
    /// SHA-256 of the secret (given as `secret_sha256`, or computed from `secret`).
    pub secret_sha256: [u8; 32],
    pub services: Names,
    /// Tools allowed in every service, unless `service_tools` names the service.
    pub tools: Names,
    pub service_tools: BTreeMap<String, Names>,
    pub limits: KeyLimits,
    /// `metrics` (default false): may read `GET /metrics`, which shows every service's names
    /// and the gateway-wide counts. Without it the key gets 404 there, as for a service it
    /// may not use.
    pub metrics: bool,
}

impl ApiKey {
    pub fn allows_service(&self, service: &str) -> bool {
        self.services.allows(service)
    }

    pub fn allows_tool(&self, service: &str, tool: &str) -> bool {
        self.allows_service(service)
            && self
                .service_tools
                .get(service)
                .unwrap_or(&self.tools)
                .allows(tool)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("services", &self.services)
            .field("tools", &self.tools)
            .field("service_tools", &self.service_tools)
            .field("limits", &self.limits)
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

/// Read every traffic setting. `auth` is the `auth` section; the others come from `root`.
pub(super) fn traffic(
    root: &Map<String, Value>,
    mut auth: Obj<'_>,
    services: &BTreeMap<String, super::ServiceConfig>,
    d: &mut Diags<'_>,
) -> TrafficConfig {
    let keys = keys(&mut auth, services, d);
    // Read by `oauth.rs` (through `validate::build`).
    auth.ignore("oauth");
    let failure_limit = auth
        .read(d, "failure_limit", |v| read_str(v).and_then(parse_rate))
        .or_else(|| parse_rate("10 per minute").ok());
    let block_for = auth.secs(
        d,
        "block_seconds",
        Duration::from_secs(300),
        Secs {
            zero_ok: true,
            max: DAY,
        },
    );
    auth.finish(d);

    let empty = Map::new();
    let section = |name: &str| match root.get(name) {
        Some(Value::Object(map)) => map,
        _ => &empty,
    };
    let trusted_proxies = trusted_proxies(section("server"), d);
    let session_concurrency = concurrency(section("session"), "session", Some(16), d);
    let mut per_service = BTreeMap::new();
    for (name, value) in section("services") {
        let (Value::Object(map), true) = (value, services.contains_key(name)) else {
            continue;
        };
        let key = join("services", name);
        let call_limit = match map.get("call_limit") {
            None | Some(Value::Null) => None,
            Some(v) => multi(d, &join(&key, "call_limit"), v),
        };
        let concurrency = concurrency(map, &key, None, d);
        if call_limit.is_some() || concurrency != Concurrency::default() {
            per_service.insert(
                name.clone(),
                ServiceTraffic {
                    call_limit,
                    concurrency,
                },
            );
        }
    }
    TrafficConfig {
        trusted_proxies,
        keys,
        oauth: None,
        failure_limit,
        block_for,
        session_concurrency,
        services: per_service,
    }
}

/// One rate string that may hold several limits ("10 per minute; 100 per hour").
fn multi(d: &mut Diags<'_>, key: &str, v: &Value) -> Option<Vec<RateLimit>> {
    read_str(v)
        .and_then(parse_rates)
        .map_err(|message| d.error(key, message))
        .ok()
}

fn rates(d: &mut Diags<'_>, key: &str, v: &Value) -> Option<Vec<RateLimit>> {
    match v {
        Value::String(_) => multi(d, key, v),
        Value::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                out.extend(multi(d, &format!("{key}[{i}]"), item).into_iter().flatten());
            }
            Some(out)
        }
        other => {
            d.error(
                key,
                format!("expected an array of rate strings, got {}", kind(other)),
            );
            None
        }
    }
}

fn trusted_proxies(server: &Map<String, Value>, d: &mut Diags<'_>) -> Vec<IpNet> {
    let key = "server.trusted_proxies";
    match server.get("trusted_proxies") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                read_str(item)
                    .and_then(parse_net)
                    .map_err(|m| d.error(&format!("{key}[{i}]"), m))
                    .ok()
            })
            .collect(),
        Some(other) => {
            let message = format!(
                "expected an array of addresses or CIDR blocks, got {}",
                kind(other)
            );
            d.error(key, message);
            Vec::new()
        }
    }
}

fn concurrency(
    map: &Map<String, Value>,
    path: &str,
    default_in_flight: Option<usize>,
    d: &mut Diags<'_>,
) -> Concurrency {
    let count = |d: &mut Diags<'_>, name: &str, min: u64| -> Option<usize> {
        let v = map.get(name).filter(|v| !v.is_null())?;
        match v.as_u64().filter(|&n| (min..=1_000_000).contains(&n)) {
            Some(n) => usize::try_from(n).ok(),
            None => {
                d.error(
                    &join(path, name),
                    format!("expected a whole number from {min} to 1000000, got {v}"),
                );
                None
            }
        }
    };
    let defaults = Concurrency::default();
    Concurrency {
        max_in_flight: count(d, "max_calls_in_flight", 1).or(default_in_flight),
        max_queued: count(d, "max_queued_calls", 0).unwrap_or(defaults.max_queued),
    }
}

fn keys(
    auth: &mut Obj<'_>,
    services: &BTreeMap<String, super::ServiceConfig>,
    d: &mut Diags<'_>,
) -> Vec<ApiKey> {
    let path = auth.key("keys");
    let Some(value) = auth.get("keys") else {
        return Vec::new();
    };
    let Value::Array(items) = value else {
        d.error(
            &path,
            format!("expected an array of keys, got {}", kind(value)),
        );
        return Vec::new();
    };
    let mut keys: Vec<ApiKey> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(o) = Obj::new(d, format!("{path}[{i}]"), item) else {
            continue;
        };
        if let Some(key) = key(o, services, d) {
            if keys.iter().any(|k| k.name == key.name) {
                d.error(
                    &format!("{path}[{i}].name"),
                    format!("duplicate key name {:?}", key.name),
                );
            } else if keys.iter().any(|k| k.secret_sha256 == key.secret_sha256) {
                d.error(
                    &format!("{path}[{i}]"),
                    "same secret as another key: every key needs its own secret",
                );
            } else {
                keys.push(key);
            }
        }
    }
    keys
}

fn key(
    mut o: Obj<'_>,
    services: &BTreeMap<String, super::ServiceConfig>,
    d: &mut Diags<'_>,
) -> Option<ApiKey> {
    let name = o.non_empty(d, "name");
    if name.is_none() {
        d.error(
            &o.key("name"),
            "required: a name for logs and session ownership",
        );
    }
    if let Some(n) = &name
        && !n
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        d.error(&o.key("name"), "use letters, digits, '_', '.' or '-'");
    }
    let digest_given = o.get("secret_sha256").is_some();
    let secret = o.non_empty(d, "secret");
    let digest = o.read(d, "secret_sha256", |v| read_str(v).and_then(parse_hex32));
    let secret_sha256 = match (secret, digest) {
        (Some(s), None) => {
            if s.len() < 16 {
                d.warn(
                    &o.key("secret"),
                    "shorter than 16 characters: easy to guess",
                );
            }
            Some(Sha256::digest(s.as_bytes()).into())
        }
        (None, Some(h)) => Some(h),
        (Some(_), Some(_)) => {
            d.error(&o.key("secret"), "give secret or secret_sha256, not both");
            None
        }
        (None, None) if digest_given => None,
        (None, None) => {
            d.error(
                &o.key("secret"),
                "required: secret, or secret_sha256 (64 hex digits)",
            );
            None
        }
    };
    let access = access(&mut o, services, d);
    o.finish(d);
    Some(ApiKey {
        name: name?,
        secret_sha256: secret_sha256?,
        services: access.services,
        tools: access.tools,
        service_tools: access.service_tools,
        limits: access.limits,
        metrics: access.metrics,
    })
}

/// What a scoped key, or an OAuth scope (`auth.oauth.grants`), lets its holder use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Access {
    pub services: Names,
    pub tools: Names,
    pub service_tools: BTreeMap<String, Names>,
    pub limits: KeyLimits,
    pub metrics: bool,
}

/// Read `services`, `tools`, `rate_limits` and `metrics` of a key or a grant.
pub(super) fn access(
    o: &mut Obj<'_>,
    services: &BTreeMap<String, super::ServiceConfig>,
    d: &mut Diags<'_>,
) -> Access {
    let services_scope = o.read(d, "services", names).unwrap_or(Names::All);
    if let Names::Only(list) = &services_scope {
        for s in list.iter().filter(|s| !services.contains_key(*s)) {
            d.warn(
                &o.key("services"),
                format!("{s:?} is not an enabled service"),
            );
        }
    }
    let (tools, service_tools) = match o.get("tools") {
        None => (Names::All, BTreeMap::new()),
        Some(Value::Object(map)) => {
            let mut per = BTreeMap::new();
            for (service, v) in map {
                match names(v) {
                    Ok(n) => {
                        per.insert(service.clone(), n);
                    }
                    Err(m) => d.error(&join(&o.key("tools"), service), m),
                }
            }
            (Names::All, per)
        }
        Some(v) => match names(v) {
            Ok(n) => (n, BTreeMap::new()),
            Err(m) => {
                d.error(
                    &o.key("tools"),
                    format!("{m}, or an object of service -> tools"),
                );
                (Names::Only(BTreeSet::new()), BTreeMap::new())
            }
        },
    };
    let limits = match o.object(d, "rate_limits") {
        None => KeyLimits::default(),
        Some(mut l) => {
            let limits = KeyLimits {
                default_limits: l
                    .get("default_limits")
                    .and_then(|v| rates(d, &l.key("default_limits"), v)),
                tools_limit: l
                    .get("tools_limit")
                    .and_then(|v| multi(d, &l.key("tools_limit"), v)),
                call_limit: l
                    .get("call_limit")
                    .and_then(|v| multi(d, &l.key("call_limit"), v)),
                session_delete_limit: l
                    .get("session_delete_limit")
                    .and_then(|v| multi(d, &l.key("session_delete_limit"), v)),
            };
            l.finish(d);
            limits
        }
    };
    let metrics = o.bool(d, "metrics", false);
    Access {
        services: services_scope,
        tools,
        service_tools,
        limits,
        metrics,
    }
}

/// `"*"` or an array of names.
fn names(v: &Value) -> Result<Names, String> {
    match v {
        Value::String(s) if s == "*" => Ok(Names::All),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) if !s.is_empty() && s != "*" => Ok(s.clone()),
                other => Err(format!("expected names (strings), got {other}")),
            })
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Names::Only),
        other => Err(format!(
            "expected \"*\" or an array of names, got {}",
            kind(other)
        )),
    }
}

fn parse_hex32(s: &str) -> Result<[u8; 32], String> {
    let bad = || format!("expected 64 hexadecimal digits (a SHA-256 digest), got {s:?}");
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nets() {
        let net = parse_net("10.0.0.0/8").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        let one = parse_net("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        assert!(
            parse_net("::1/128")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
        assert!(
            parse_net("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("proxy.local").is_err());
    }

    #[test]
    fn hex() {
        let h = "ab".repeat(32);
        assert_eq!(parse_hex32(&h).unwrap(), [0xab; 32]);
        assert!(parse_hex32("abc").is_err());
        assert!(parse_hex32(&"zz".repeat(32)).is_err());
    }
}
