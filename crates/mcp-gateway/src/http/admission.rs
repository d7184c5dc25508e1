//! Traffic policy at the HTTP edge: per-principal rate limits after auth, the per-address
//! budget of unauthenticated requests, the answer to a blocked address, the concurrency gates
//! of a call, and the `RateLimit-*` headers. See docs/traffic.md.

use std::net::IpAddr;
use tracing::Instrument;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::client_addr::{ClientAddr, budget_addr};
use super::error::ApiError;
use super::principal::Principal;
use super::state::AppState;
use crate::config::{Config, RateLimit};
use crate::ratelimit::{Bucket, Decision, Outcome, Permit};

/// The budget name of a principal: its key, its user, or for an open gateway its address.
fn subject(principal: &Principal, addr: IpAddr) -> String {
    match principal {
        Principal::Key(key) => format!("key:{}", key.name),
        Principal::Token(t) => format!("oauth:{}", t.owner),
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
pub(crate) enum Spend {
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
    let own = principal.limits();
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
pub(crate) async fn charge(
    state: &AppState,
    principal: &Principal,
    addr: IpAddr,
    spend: &Spend,
) -> Result<Option<Decision>, Refusal> {
    let config = state.sessions.config();
    if !config.rate_limiting.enabled {
        return Ok(None);
    }
    let buckets = buckets(&config, spend, principal, addr);
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
pub(crate) async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(spend) = spend_of(&request) else {
        return next.run(request).await;
    };
    // Another replica gathering `GET /sessions`: the edge spent the budget.
    if request
        .extensions()
        .get::<super::cluster::Forwarded>()
        .is_some_and(|f| f.listing)
    {
        return next.run(request).await;
    }
    let principal = request
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or(Principal::Anonymous);
    let addr = request
        .extensions()
        .get::<ClientAddr>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.0);
    let span = tracing::info_span!(target: crate::telemetry::TARGET, "rate_limits", outcome = tracing::field::Empty);
    let charged = charge(&state, &principal, addr, &spend)
        .instrument(span.clone())
        .await;
    span.record(
        "outcome",
        if charged.is_ok() {
            "admitted"
        } else {
            "refused"
        },
    );
    match charged {
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
pub(crate) async fn unauthenticated(state: &AppState, addr: IpAddr) -> Response {
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
pub(crate) fn blocked(secs: u64) -> Response {
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
pub(crate) fn set_headers(headers: &mut HeaderMap, d: &Decision) {
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
pub(crate) async fn enter_call(
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
