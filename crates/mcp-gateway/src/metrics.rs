//! Process-wide Prometheus metrics: one registry in a `static`, so instrumenting a code path is
//! one call (`metrics::rate_limited("/services/{service}/call")`), and `GET /metrics` encodes it
//! with `prometheus-client` (OpenMetrics text). See docs/metrics.md for every series.
//!
//! Gauges that mirror state the gateway already keeps (sessions, live children, pooled
//! children) are set at scrape time by the HTTP handler, not maintained on every change.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Why a child ended. `Crashed` and `KilledByLimit` are inferred from the exit status when
/// nobody asked the child to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitCause {
    /// `DELETE /sessions/{id}`.
    Deleted,
    /// The session idled past its timeout.
    Idle,
    /// The child exited on its own (any exit code, or a signal other than a limit's).
    Crashed,
    /// Killed by a resource limit: SIGKILL/SIGXCPU (RLIMIT_CPU) or SIGXFSZ (RLIMIT_FSIZE)
    /// that the gateway did not send.
    KilledByLimit,
    /// Gateway shutdown.
    Shutdown,
    /// A short-lived discovery child (`GET /services/{s}/tools` with no live child).
    Discovery,
    /// Stopped by the gateway for another reason (a session closed while its child started).
    Stopped,
}

impl ExitCause {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ExitCause::Deleted => "deleted",
            ExitCause::Idle => "idle",
            ExitCause::Crashed => "crashed",
            ExitCause::KilledByLimit => "killed_by_limit",
            ExitCause::Shutdown => "shutdown",
            ExitCause::Discovery => "discovery",
            ExitCause::Stopped => "stopped",
        }
    }

    /// The cause of an exit nobody asked for, from how the child ended.
    pub(crate) fn unrequested(signal: Option<i32>) -> Self {
        match signal {
            Some(libc::SIGKILL | libc::SIGXCPU | libc::SIGXFSZ) => ExitCause::KilledByLimit,
            _ => ExitCause::Crashed,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Service {
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceOutcome {
    service: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceCause {
    service: String,
    cause: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn call_histogram() -> Histogram {
    // 25 µs .. ~26 s
    Histogram::new(exponential_buckets(0.000_025, 2.0, 21))
}

fn spawn_histogram() -> Histogram {
    // 1 ms .. ~65 s
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

struct Metrics {
    registry: Registry,
    requests: Family<RouteStatus, Counter>,
    tool_calls: HistogramFamily<ServiceOutcome>,
    sessions: Gauge,
    children: Gauge,
    pooled: Family<Service, Gauge>,
    spawns: Family<ServiceOutcome, Counter>,
    spawn_seconds: HistogramFamily<Service>,
    exits: Family<ServiceCause, Counter>,
    rate_limited: Family<Route, Counter>,
    pool: Family<ServiceOutcome, Counter>,
    stderr_bytes: Family<Service, Counter>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("mcp_gateway");
        let m = Metrics {
            requests: Family::default(),
            tool_calls: Family::new_with_constructor(call_histogram),
            sessions: Gauge::default(),
            children: Gauge::default(),
            pooled: Family::default(),
            spawns: Family::default(),
            spawn_seconds: Family::new_with_constructor(spawn_histogram),
            exits: Family::default(),
            rate_limited: Family::default(),
            pool: Family::default(),
            stderr_bytes: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered, by matched route, method and status",
            m.requests.clone(),
        );
        registry.register(
            "tool_call_seconds",
            "Latency of tools/call requests to children, by service and outcome (ok, error)",
            m.tool_calls.clone(),
        );
        registry.register("sessions", "Live sessions", m.sessions.clone());
        registry.register(
            "children",
            "Live children holding a cap reservation (session children, starting and pooled)",
            m.children.clone(),
        );
        registry.register(
            "pool_ready",
            "Initialized children waiting in the warm pool, by service",
            m.pooled.clone(),
        );
        registry.register(
            "spawns",
            "Children spawned and initialized (outcome ok) or failed to start (outcome error)",
            m.spawns.clone(),
        );
        registry.register(
            "spawn_seconds",
            "Spawn-to-ready latency: process start through the initialize handshake",
            m.spawn_seconds.clone(),
        );
        registry.register(
            "child_exits",
            "Children reaped, by cause: deleted, idle, crashed, killed_by_limit, shutdown, discovery, stopped",
            m.exits.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit, by route",
            m.rate_limited.clone(),
        );
        registry.register(
            "pool_requests",
            "Session children taken from the warm pool (outcome hit) or started cold because the pool was empty (outcome miss)",
            m.pool.clone(),
        );
        registry.register(
            "child_stderr_bytes",
            "Bytes children wrote to stderr",
            m.stderr_bytes.clone(),
        );
        Metrics { registry, ..m }
    }
}

/// One HTTP request answered. `route` is the matched route template (e.g.
/// `/services/{service}/call`), so label cardinality stays bounded.
pub(crate) fn request(route: &str, method: &str, status: u16) {
    METRICS
        .requests
        .get_or_create(&RouteStatus {
            route: route.to_owned(),
            method: method.to_owned(),
            status,
        })
        .inc();
}

/// One `tools/call` answered by (or failed in) a child of `service`.
pub(crate) fn tool_call(service: &str, ok: bool, elapsed: Duration) {
    METRICS
        .tool_calls
        .get_or_create(&ServiceOutcome {
            service: service.to_owned(),
            outcome: if ok { "ok" } else { "error" },
        })
        .observe(elapsed.as_secs_f64());
}

/// A child of `service` started (spawn through initialize), or failed to.
pub(crate) fn spawn(service: &str, ok: bool, elapsed: Duration) {
    let outcome = if ok { "ok" } else { "error" };
    METRICS
        .spawns
        .get_or_create(&ServiceOutcome {
            service: service.to_owned(),
            outcome,
        })
        .inc();
    if ok {
        METRICS
            .spawn_seconds
            .get_or_create(&Service {
                service: service.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }
}

/// A child of `service` was reaped.
pub(crate) fn child_exit(service: &str, cause: ExitCause) {
    METRICS
        .exits
        .get_or_create(&ServiceCause {
            service: service.to_owned(),
            cause: cause.as_str(),
        })
        .inc();
}

/// A request to `route` was refused by a rate limit.
pub(crate) fn rate_limited(route: &str) {
    METRICS
        .rate_limited
        .get_or_create(&Route {
            route: route.to_owned(),
        })
        .inc();
}

/// A new session's child of `service` came from the warm pool (`hit`) or had to be started
/// cold although the service has a pool (`miss`).
pub(crate) fn pool(service: &str, hit: bool) {
    METRICS
        .pool
        .get_or_create(&ServiceOutcome {
            service: service.to_owned(),
            outcome: if hit { "hit" } else { "miss" },
        })
        .inc();
}

/// `n` bytes read from the stderr of a child of `service`.
pub(crate) fn stderr_bytes(service: &str, n: usize) {
    METRICS
        .stderr_bytes
        .get_or_create(&Service {
            service: service.to_owned(),
        })
        .inc_by(n as u64);
}

/// The state gauges, set just before encoding.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub sessions: usize,
    pub children: usize,
    pub pooled: Vec<(String, usize)>,
}

/// The whole registry in the OpenMetrics text format (ends with `# EOF`).
pub(crate) fn encode(snapshot: &Snapshot) -> String {
    let m = &*METRICS;
    m.sessions.set(snapshot.sessions as i64);
    m.children.set(snapshot.children as i64);
    for (service, n) in &snapshot.pooled {
        m.pooled
            .get_or_create(&Service {
                service: service.clone(),
            })
            .set(*n as i64);
    }
    let mut out = String::with_capacity(8 * 1024);
    prometheus_client::encoding::text::encode(&mut out, &m.registry)
        .expect("writing to a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_family_with_labels() {
        request("/services/{service}/call", "POST", 200);
        tool_call("unit-svc", true, Duration::from_micros(80));
        spawn("unit-svc", true, Duration::from_millis(3));
        child_exit("unit-svc", ExitCause::Deleted);
        rate_limited("/sessions/{id}");
        pool("unit-svc", true);
        stderr_bytes("unit-svc", 12);
        let text = encode(&Snapshot {
            sessions: 3,
            children: 4,
            pooled: vec![("unit-svc".into(), 2)],
        });
        for needle in [
            "mcp_gateway_http_requests_total{route=\"/services/{service}/call\",method=\"POST\",status=\"200\"}",
            "mcp_gateway_tool_call_seconds_count{service=\"unit-svc\",outcome=\"ok\"} 1",
            "mcp_gateway_spawn_seconds_count{service=\"unit-svc\"} 1",
            "mcp_gateway_child_exits_total{service=\"unit-svc\",cause=\"deleted\"} 1",
            "mcp_gateway_rate_limited_total{route=\"/sessions/{id}\"} 1",
            "mcp_gateway_pool_requests_total{service=\"unit-svc\",outcome=\"hit\"} 1",
            "mcp_gateway_child_stderr_bytes_total{service=\"unit-svc\"} 12",
            "mcp_gateway_sessions 3",
            "mcp_gateway_children 4",
            "mcp_gateway_pool_ready{service=\"unit-svc\"} 2",
            "# EOF",
        ] {
            assert!(text.contains(needle), "missing {needle} in:\n{text}");
        }
    }

    #[test]
    fn unrequested_exits_are_classified() {
        assert_eq!(ExitCause::unrequested(None), ExitCause::Crashed);
        assert_eq!(
            ExitCause::unrequested(Some(libc::SIGSEGV)),
            ExitCause::Crashed
        );
        assert_eq!(
            ExitCause::unrequested(Some(libc::SIGXCPU)),
            ExitCause::KilledByLimit
        );
    }
}
