//! Traffic policy at the HTTP edge: the client address (trusted proxies), per-principal rate
//! limits after auth, the per-address budget of unauthenticated requests, blocking of addresses
//! that keep failing auth, and the `RateLimit-*` headers. See docs/traffic.md.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::Principal;
use super::error::ApiError;
use crate::config::{Config, IpNet, RateLimit, canonical};
use crate::ratelimit::{
    Bucket, Clock, Decision, Gates, Limiter, Outcome, Permit, Quota, StoreError,
};

/// Everything the traffic policy keeps between requests.
pub struct Traffic {
    pub limiter: Arc<Limiter>,
    pub failures: FailureGuard,
    pub gates: Arc<Gates>,
}

impl Traffic {
    pub fn new(config: &Config, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        Ok(Self {
            limiter: Limiter::from_config(&config.rate_limiting)?,
            failures: FailureGuard::new(
                config.traffic.failure_limit.as_ref(),
                config.traffic.block_for,
                clock,
            ),
            gates: Arc::new(Gates::default()),
        })
    }
}

/// The address a request comes from, after trusted proxies (inserted by the auth middleware).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client of a request: the peer, unless the peer is a trusted proxy; then the rightmost
/// `X-Forwarded-For` hop that is not a trusted proxy (the leftmost if all are). A hop that is
/// not an address stops the walk: what lies left of it cannot be trusted.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut client = canonical(peer);
    if !is_trusted(client) {
        return client;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1` or `[::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    hop.parse::<SocketAddr>().ok().map(|s| canonical(s.ip()))
}

/// The address a per-address budget is kept for: IPv4 as is, IPv6 by its /64 (one host usually
/// holds a whole /64, so per-address budgets would otherwise be free to multiply).
pub fn budget_addr(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !(u128::MAX >> 64)).into()),
        v4 => v4,
    }
}

pub fn peer_of(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Per-address memory of failed credential checks: past `auth.failure_limit` the address is
/// blocked for `auth.block_seconds`. Kept per process (not in Redis): see docs/traffic.md.
pub struct FailureGuard {
    quota: Option<Quota>,
    block_us: u64,
    clock: Arc<dyn Clock>,
    state: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Default, Clone, Copy)]
struct Failures {
    tat: u64,
    blocked_until: u64,
}

impl FailureGuard {
    pub fn new(limit: Option<&RateLimit>, block_for: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            quota: limit
                .filter(|_| !block_for.is_zero())
                .map(|r| Quota::new(r.count, r.period)),
            block_us: u64::try_from(block_for.as_micros()).unwrap_or(u64::MAX / 4),
            clock,
            state: Mutex::default(),
        }
    }

    /// Seconds left of the block of `ip`, if it is blocked.
    pub fn blocked(&self, ip: IpAddr) -> Option<u64> {
        self.quota?;
        let ip = budget_addr(ip);
        let now = self.clock.now_us();
        let state = self.state.lock().expect("failure guard lock");
        let until = state.get(&ip)?.blocked_until;
        (until > now).then(|| (until - now).div_ceil(1_000_000).max(1))
    }

    /// Count a failure of `ip`; true when this failure starts a block.
    pub fn record(&self, ip: IpAddr) -> bool {
        let Some(quota) = self.quota else {
            return false;
        };
        let ip = budget_addr(ip);
        let now = self.clock.now_us();
        let mut state = self.state.lock().expect("failure guard lock");
        if state.len() > 10_000 {
            state.retain(|_, f| f.tat > now || f.blocked_until > now);
        }
        let entry = state.entry(ip).or_default();
        let verdict = crate::ratelimit::gcra::step(quota, entry.tat, now);
        if verdict.allowed {
            entry.tat = verdict.new_tat;
            false
        } else {
            entry.blocked_until = now.saturating_add(self.block_us);
            true
        }
    }
}

/// The budget name of a principal: its key, its user, or for an open gateway its address.
fn subject(principal: &Principal, addr: IpAddr) -> String {
    match principal {
        Principal::Key(key) => format!("key:{}", key.name),
        Principal::Basic(user) => format!("user:{user}"),
        Principal::Bearer => "token".to_owned(),
        Principal::Anonymous => format!("ip:{}", budget_addr(addr)),
    }
}

/// What a request spends. REST routes are mapped by their path (the middleware); the front
/// door's routes spend nothing there and are charged per message once it is read, so a
/// `tools/call` spends exactly what a REST call spends and protocol chatter (ping,
/// notifications, responses, the GET stream) spends nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spend {
    /// `default_limits`, kept per route name (`services`, `sessions`, `initialize`, `other`).
    Defaults(&'static str),
    /// `tools_limit`: tool lists, and the front door's other list/read/get methods.
    Tools,
    /// `call_limit` (the key's, else the global one unless the service has its own) plus the
    /// service's `call_limit`.
    Call(String),
    /// `session_delete_limit`.
    Delete,
}

/// What a REST request spends; `None` for the front door's routes (charged per message).
fn spend_of(request: &Request) -> Option<Spend> {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or("");
    Some(match (request.method(), path) {
        (_, "/mcp" | "/services/{service}/mcp") => return None,
        (&Method::GET, "/services") => Spend::Defaults("services"),
        (&Method::GET, "/sessions") => Spend::Defaults("sessions"),
        (&Method::GET, "/services/{service}/tools") => Spend::Tools,
        (&Method::POST, "/services/{service}/call") => Spend::Call(
            request
                .uri()
                .path()
                .split('/')
                .nth(2)
                .unwrap_or("")
                .to_owned(),
        ),
        (&Method::DELETE, "/sessions/{id}") => Spend::Delete,
        _ => Spend::Defaults("other"),
    })
}

/// The buckets `spend` draws from for this principal.
fn buckets(config: &Config, spend: &Spend, principal: &Principal, addr: IpAddr) -> Vec<Bucket> {
    let global = &config.rate_limiting;
    let own = match principal {
        Principal::Key(key) => Some(&key.limits),
        _ => None,
    };
    let who = subject(principal, addr);
    let all = |route: &str, rates: &[RateLimit]| -> Vec<Bucket> {
        rates
            .iter()
            .map(|rate| Bucket::new(&who, route, rate))
            .collect()
    };
    match spend {
        Spend::Defaults(route) => all(
            route,
            own.and_then(|l| l.default_limits.as_ref())
                .unwrap_or(&global.default_limits),
        ),
        Spend::Tools => all(
            "tools",
            own.and_then(|l| l.tools_limit.as_ref())
                .unwrap_or(&global.tools_limit),
        ),
        Spend::Call(service) => {
            let per_service = config
                .traffic
                .services
                .get_key_value(service.as_str())
                .and_then(|(name, s)| Some((name, s.call_limit.as_ref()?)));
            let mut out = Vec::new();
            match (own.and_then(|l| l.call_limit.as_ref()), per_service) {
                (Some(rates), _) => out.extend(all("call", rates)),
                (None, None) => out.extend(all("call", &global.call_limit)),
                (None, Some(_)) => {}
            }
            if let Some((name, rates)) = per_service {
                out.extend(all(&format!("call:{name}"), rates));
            }
            out
        }
        Spend::Delete => all(
            "delete",
            own.and_then(|l| l.session_delete_limit.as_ref())
                .unwrap_or(&global.session_delete_limit),
        ),
    }
}

/// A request its budget or a concurrency gate refused.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// 429 `rate_limited`.
    Limited(Decision),
    /// 503 `rate_limit_unavailable`.
    Unavailable,
    /// 429 `concurrency_limited`: the gate's name and capacity.
    Busy(String, usize),
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::Limited(decision) => format!("rate limit exceeded: {}", decision.text),
            Refusal::Unavailable => "rate limit storage unavailable".to_owned(),
            Refusal::Busy(gate, max) => format!(
                "too many calls in flight for {} (at most {max} at once, and the queue is full)",
                gate.replace(':', " ")
            ),
        }
    }

    pub fn retry_after(&self) -> u64 {
        match self {
            Refusal::Limited(decision) => decision.retry_after_secs,
            _ => 1,
        }
    }

    /// `Retry-After`, and the `RateLimit-*` headers of a rate limit.
    pub fn set_headers(&self, headers: &mut HeaderMap) {
        headers.insert(
            axum::http::header::RETRY_AFTER,
            HeaderValue::from(self.retry_after()),
        );
        if let Refusal::Limited(decision) = self {
            set_headers(headers, decision);
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        let code = match &refusal {
            Refusal::Limited(_) => "rate_limited",
            Refusal::Unavailable => "rate_limit_unavailable",
            Refusal::Busy(..) => "concurrency_limited",
        };
        let mut e = ApiError::new(refusal.status(), code, refusal.message());
        e.retry_after = Some(refusal.retry_after());
        e
    }
}

/// Spend `spend` from `principal`'s budgets: the decision (for the `RateLimit-*` headers), or
/// why the request is refused. Nothing is spent when rate limiting is off.
pub async fn charge(
    state: &AppState,
    principal: &Principal,
    addr: IpAddr,
    spend: &Spend,
) -> Result<Option<Decision>, Refusal> {
    let config = state.sessions.config();
    if !config.rate_limiting.enabled {
        return Ok(None);
    }
    let buckets = buckets(config, spend, principal, addr);
    match state.traffic.limiter.check(&buckets).await {
        Outcome::Checked(decision) if decision.allowed => Ok(Some(decision)),
        Outcome::Checked(decision) => {
            tracing::info!(
                target: "security",
                event_type = "rate_limited",
                subject = %subject(principal, addr),
                ip = %addr,
                limit = %decision.text,
                spend = ?spend,
                "rate limit exceeded"
            );
            crate::metrics::rate_limited("api");
            Err(Refusal::Limited(decision))
        }
        Outcome::Unchecked => Ok(None),
        Outcome::Unavailable => Err(Refusal::Unavailable),
    }
}

/// Middleware after auth: spend the principal's budget for this REST route.
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(spend) = spend_of(&request) else {
        return next.run(request).await;
    };
    let principal = request
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or(Principal::Anonymous);
    let addr = request
        .extensions()
        .get::<ClientAddr>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.0);
    match charge(&state, &principal, addr, &spend).await {
        Ok(decision) => {
            let mut response = next.run(request).await;
            if let Some(decision) = decision {
                set_headers(response.headers_mut(), &decision);
            }
            response
        }
        Err(refusal) => {
            let mut response = ApiError::from(refusal.clone()).into_response();
            refusal.set_headers(response.headers_mut());
            response
        }
    }
}

/// The answer to a request that failed auth: 401, or 429 once the address has spent its
/// unauthenticated budget. Never touches any principal's budget.
pub async fn unauthenticated(state: &AppState, addr: IpAddr) -> Response {
    let config = state.sessions.config();
    if !config.rate_limiting.enabled {
        return ApiError::unauthorized().into_response();
    }
    let bucket = [Bucket::new(
        &format!("ip:{}", budget_addr(addr)),
        "unauthenticated",
        &config.rate_limiting.unauthenticated_limit,
    )];
    match state.traffic.limiter.check(&bucket).await {
        Outcome::Checked(decision) if decision.allowed => {
            let mut response = ApiError::unauthorized().into_response();
            set_headers(response.headers_mut(), &decision);
            response
        }
        Outcome::Checked(decision) => {
            crate::metrics::rate_limited("unauthenticated");
            refused(&decision)
        }
        Outcome::Unchecked => ApiError::unauthorized().into_response(),
        Outcome::Unavailable => unavailable(),
    }
}

/// 429 for an address blocked after repeated auth failures.
pub fn blocked(secs: u64) -> Response {
    crate::metrics::rate_limited("auth_blocked");
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many failed authentication attempts from this address",
    );
    e.retry_after = Some(secs);
    e.into_response()
}

fn refused(decision: &Decision) -> Response {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("rate limit exceeded: {}", decision.text),
    );
    e.retry_after = Some(decision.retry_after_secs);
    let mut response = e.into_response();
    set_headers(response.headers_mut(), decision);
    response
}

fn unavailable() -> Response {
    let mut e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "rate_limit_unavailable",
        "rate limit storage unavailable",
    );
    e.retry_after = Some(1);
    e.into_response()
}

/// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds) and
/// `RateLimit-Policy` (`10;w=60`), as in draft-ietf-httpapi-ratelimit-headers-07.
pub fn set_headers(headers: &mut HeaderMap, d: &Decision) {
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    put("ratelimit-limit", d.limit.to_string());
    put("ratelimit-remaining", d.remaining.to_string());
    put("ratelimit-reset", d.reset_secs.to_string());
    put(
        "ratelimit-policy",
        format!("{};w={}", d.limit, d.period.as_secs().max(1)),
    );
}

/// Take a place for a call in its service's gate and its session's gate (waiting in line if
/// needed); 429 when a line is full. The places are released when the permits drop.
pub async fn enter_call(
    state: &AppState,
    service: &str,
    session_id: &str,
) -> Result<Vec<Permit>, Refusal> {
    let config = &state.sessions.config().traffic;
    let mut permits = Vec::new();
    let gates = [
        (
            format!("service:{service}"),
            config
                .services
                .get(service)
                .map(|s| s.concurrency)
                .unwrap_or_default(),
        ),
        (format!("session:{session_id}"), config.session_concurrency),
    ];
    for (name, policy) in gates {
        match state.traffic.gates.enter(name, policy).await {
            Ok(permit) => permits.extend(permit),
            Err(refused) => {
                tracing::info!(gate = %refused.name, max_in_flight = refused.max_in_flight, "concurrency limit: call refused");
                crate::metrics::rate_limited("concurrency");
                return Err(Refusal::Busy(refused.name, refused.max_in_flight));
            }
        }
    }
    Ok(permits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|s| {
                let (a, p) = s.split_once('/').unwrap_or((s, ""));
                let addr: IpAddr = a.parse().unwrap();
                let prefix = p.parse().unwrap_or(if addr.is_ipv4() { 32 } else { 128 });
                IpNet { addr, prefix }
            })
            .collect()
    }

    fn check(peer: &str, xff: &[&str], trusted: &[&str], expected: &str) {
        let mut headers = HeaderMap::new();
        for v in xff {
            headers.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        let got = client_addr(peer.parse().unwrap(), &headers, &nets(trusted));
        assert_eq!(
            got,
            expected.parse::<IpAddr>().unwrap(),
            "peer {peer}, X-Forwarded-For {xff:?}, trusted {trusted:?}"
        );
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        // Not a proxy: the header is ignored (anyone can send it).
        check("203.0.113.9", &["1.1.1.1"], &[], "203.0.113.9");
        check("203.0.113.9", &["1.1.1.1"], &["10.0.0.0/8"], "203.0.113.9");
        // A trusted proxy: the rightmost untrusted hop.
        check("10.0.0.2", &["1.1.1.1"], &["10.0.0.0/8"], "1.1.1.1");
        check(
            "10.0.0.2",
            &["6.6.6.6, 1.1.1.1, 10.0.0.7"],
            &["10.0.0.0/8"],
            "1.1.1.1",
        );
        check(
            "10.0.0.2",
            &["6.6.6.6", "1.1.1.1"],
            &["10.0.0.0/8"],
            "1.1.1.1",
        );
        // Every hop trusted: the leftmost.
        check(
            "10.0.0.2",
            &["10.0.0.9, 10.0.0.7"],
            &["10.0.0.0/8"],
            "10.0.0.9",
        );
        // Garbage stops the walk at the last good hop.
        check("10.0.0.2", &["1.1.1.1, junk"], &["10.0.0.0/8"], "10.0.0.2");
        check("10.0.0.2", &[], &["10.0.0.0/8"], "10.0.0.2");
        // Ports and IPv6, and IPv4-mapped peers.
        check("10.0.0.2", &["1.1.1.1:443"], &["10.0.0.0/8"], "1.1.1.1");
        check("::1", &["[2001:db8::1]:80"], &["::1"], "2001:db8::1");
        check("::ffff:10.0.0.2", &["1.1.1.1"], &["10.0.0.0/8"], "1.1.1.1");
    }

    #[test]
    fn ipv6_budgets_are_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(budget_addr(a), budget_addr(b));
        assert_ne!(budget_addr(a), budget_addr(c));
        assert_eq!(budget_addr(a).to_string(), "2001:db8:1:2::");
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(budget_addr(v4), v4);
        assert_eq!(budget_addr("::ffff:192.0.2.1".parse().unwrap()), v4);
    }

    #[test]
    fn failures_block_for_a_while() {
        use std::sync::atomic::{AtomicU64, Ordering};
        struct Manual(AtomicU64);
        impl Clock for Manual {
            fn now_us(&self) -> u64 {
                1_000_000_000 + self.0.load(Ordering::SeqCst)
            }
        }
        let clock = Arc::new(Manual(AtomicU64::new(0)));
        let rate = crate::config::parse_rate("3 per minute").unwrap();
        let guard = FailureGuard::new(Some(&rate), Duration::from_secs(300), clock.clone());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(
            [guard.record(ip), guard.record(ip), guard.record(ip)],
            [false; 3]
        );
        assert_eq!(guard.blocked(ip), None);
        assert!(guard.record(ip), "the fourth failure in a minute blocks");
        assert_eq!(guard.blocked(ip), Some(300));
        assert_eq!(guard.blocked(other), None, "per address");
        clock.0.store(299_500_000, Ordering::SeqCst);
        assert_eq!(guard.blocked(ip), Some(1));
        clock.0.store(300_000_001, Ordering::SeqCst);
        assert_eq!(guard.blocked(ip), None, "the block ends");
        let off = FailureGuard::new(Some(&rate), Duration::ZERO, clock);
        assert!(
            !(0..10).any(|_| off.record(ip)),
            "block_seconds 0 never blocks"
        );
    }
}
