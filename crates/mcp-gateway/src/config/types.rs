//! The validated configuration: real types, defaults applied, nothing left to parse.
//!
//! Produced only by [`super::load`]; every other module reads these types and never sees JSON.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A whole gateway configuration, as validated from one file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this configuration was read from (for messages).
    pub source: PathBuf,
    pub server: ServerConfig,
    /// Enabled services only, by name. Disabled services are dropped at load, as upstream does.
    pub services: BTreeMap<String, ServiceConfig>,
    /// Names of services present in the file but disabled (`enabled: false`).
    pub disabled_services: Vec<String>,
    pub session: SessionConfig,
    pub rate_limiting: RateLimitConfig,
    pub logging: LoggingConfig,
    /// Scoped keys, trusted proxies, per-service limits, concurrency (see `traffic.rs`).
    pub traffic: super::TrafficConfig,
    /// The MCP front door (`/mcp`).
    pub mcp: McpConfig,
    pub metrics: MetricsConfig,
    pub audit: AuditConfig,
    pub telemetry: TelemetryConfig,
    /// `cluster`: several replicas sharing a Redis (docs/scale-out.md); `None`: one replica.
    pub cluster: Option<ClusterConfig>,
}

/// `cluster`: this replica's place among several behind a balancer.
#[derive(Clone, PartialEq)]
pub struct ClusterConfig {
    /// `cluster.redis_uri`: membership leases and session pins.
    pub redis_uri: String,
    /// `cluster.advertise`: where the other replicas reach this one.
    pub advertise: Advertise,
    /// `cluster.secret`: the HMAC key of the internal hop (32 bytes or more).
    pub secret: Vec<u8>,
    /// `cluster.session_keys`: the key ring sealing MCP session ids; the first seals, every
    /// one opens (rotation: prepend the new key, drop the old one a session timeout later).
    pub session_keys: Vec<[u8; 32]>,
    /// `cluster.member_ttl` (default 3 s): a replica's membership lease, renewed every third.
    pub member_ttl: Duration,
    /// `cluster.name` (default `default`): prefixes the Redis keys, so clusters can share one.
    pub name: String,
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("redis_uri", &self.redis_uri)
            .field("advertise", &self.advertise)
            .field("secret", &"<redacted>")
            .field("session_keys", &self.session_keys.len())
            .field("member_ttl", &self.member_ttl)
            .field("name", &self.name)
            .finish()
    }
}

/// Where the other replicas reach this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advertise {
    /// `cluster.advertise` as given: `host:port`.
    Fixed(String),
    /// Not given: `server.host` (a specific address) and the port bound at startup.
    Bound(IpAddr),
}

/// `telemetry`: OpenTelemetry traces to an OTLP collector (docs/telemetry.md).
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// `telemetry.otlp_endpoint`: the collector's base URL (`http://host:4318` for OTLP/HTTP,
    /// where spans are POSTed to `<it>/v1/traces`; `http://host:4317` for gRPC); unset (the
    /// default) = no traces.
    pub otlp_endpoint: Option<String>,
    /// `telemetry.protocol` (default `http/protobuf`): how spans reach the collector, named as
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` names it.
    pub protocol: OtlpProtocol,
    /// `telemetry.sampling_ratio` (default 1.0): the share of new traces recorded; a request
    /// whose `traceparent` says sampled (or not) follows its caller.
    pub sampling_ratio: f64,
    /// `telemetry.service_name` (default `mcp-gateway`): the `service.name` resource attribute.
    pub service_name: String,
    /// `telemetry.export_timeout` (default 10 s): one export's deadline.
    pub export_timeout: Duration,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            protocol: OtlpProtocol::HttpProtobuf,
            sampling_ratio: 1.0,
            service_name: "mcp-gateway".into(),
            export_timeout: Duration::from_secs(10),
        }
    }
}

/// `telemetry.protocol`: the OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// `"http/protobuf"`: protobuf bodies POSTed over HTTP (port 4318).
    HttpProtobuf,
    /// `"grpc"`: the OTLP gRPC service (port 4317).
    Grpc,
}

/// `audit`: the tamper-evident log of tool calls and sessions (docs/audit.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditConfig {
    /// `audit.file`: the log; unset (the default) = no audit log.
    pub file: Option<PathBuf>,
    /// `audit.arguments`: `"digest"` (default: their SHA-256 only) or `"full"`.
    pub full_arguments: bool,
    /// `audit.on_failure`: `"fail"` (default: refuse calls while the log cannot be written) or
    /// `"degrade"` (go on, log each lost record at ERROR level).
    pub fail_closed: bool,
    /// `audit.max_bytes` (default 0: never): rotate to `<file>.<n>` before a record would
    /// take the file past this size; the chain goes on in the new file.
    pub max_bytes: u64,
    /// `audit.sync` (default false): `fdatasync` after every record.
    pub sync: bool,
}

/// `metrics`: the Prometheus endpoint `GET /metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsConfig {
    /// `metrics.enabled` (default true): serve `GET /metrics`.
    pub enabled: bool,
    /// `metrics.require_auth` (default true): `GET /metrics` needs the same credentials as the
    /// API. False = open to anyone who can reach the port (for a scraper on a private network).
    pub require_auth: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// `server.host`, default `"0.0.0.0"`; `""` means all interfaces (as upstream).
    pub host: IpAddr,
    /// `server.port`, default 8080.
    pub port: u16,
    /// `server.auth_user` / `server.auth_password`: Basic auth, enabled only when both are non-empty.
    pub basic: Option<BasicCredentials>,
    /// `server.auth_token`: Bearer auth, enabled only when non-empty.
    pub bearer_token: Option<String>,
    /// `server.allow_unauthenticated` (default false): allow serving with no credentials on a
    /// non-loopback address.
    pub allow_unauthenticated: bool,
    /// `server.tls_cert` + `server.tls_key`, or else `certs/server.pem` (cert and key in one
    /// file, relative to the working directory) when that file exists, as upstream.
    pub tls: Option<TlsConfig>,
    /// `server.expose_commands` (default false): include each service's argv in `GET /services`.
    pub expose_commands: bool,
    /// `server.max_body_bytes` (default 10 MiB, as upstream's `MAX_CONTENT_LENGTH`).
    pub max_body_bytes: usize,
    /// `server.shutdown_grace` seconds (default 10): how long in-flight requests may run after
    /// SIGTERM/SIGINT before children are stopped.
    pub shutdown_grace: Duration,
    /// `server.header_read_timeout` seconds (default 10): how long a connection may take to send
    /// its first bytes and each request's headers; also how long an idle keep-alive
    /// connection is kept. Slow or silent clients are disconnected.
    pub header_read_timeout: Duration,
    /// `server.body_read_timeout` seconds (default 30): how long a request may take to deliver
    /// its whole body once its headers are in; past it the answer is 408.
    pub body_read_timeout: Duration,
    /// `server.max_connections` (default 10,000): open connections beyond this are closed as
    /// soon as they are accepted (before TLS or HTTP).
    pub max_connections: usize,
    /// `server.allowed_origins` (default empty): browser origins accepted besides loopback
    /// ones (`http://localhost:*`, `http://127.0.0.1:*`, `http://[::1]:*`); `"*"`: all.
    pub allowed_origins: Vec<String>,
    /// `server.allowed_hosts` (default empty): `Host` names accepted besides loopback ones
    /// while the gateway listens on a loopback address (e.g. the public name a local reverse
    /// proxy forwards); `"*"`: all.
    pub allowed_hosts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BasicCredentials {
    pub user: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsConfig {
    /// `tls_cert` and `tls_key` given explicitly.
    Files { cert: PathBuf, key: PathBuf },
    /// The upstream convention: one PEM holding the certificate chain and the private key.
    CombinedPem(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    pub name: String,
    /// argv, no shell. Never empty, except for a remote service (then empty).
    pub command: Vec<String>,
    /// `url` (+ `headers`) instead of `command`: a remote MCP server over Streamable HTTP.
    pub remote: Option<RemoteConfig>,
    pub description: String,
    /// `env`: extra variables given to the child (on top of whatever the sandbox passes).
    pub env: BTreeMap<String, String>,
    /// `cwd`: working directory of the child. `sandbox.working_dir` is the upstream spelling and
    /// is used when `cwd` is absent. `None` = the gateway's working directory.
    pub cwd: Option<PathBuf>,
    /// `call_timeout` seconds (default 30): a `tools/call` past this fails with a timeout.
    pub call_timeout: Duration,
    /// `startup_timeout` seconds (default 30): spawn + initialize + first tools/list.
    pub startup_timeout: Duration,
    /// `max_line_bytes` (default 16 MiB): the longest stdout line accepted from the child.
    pub max_line_bytes: usize,
    /// `stop_grace` seconds (default 2): wait after closing stdin, and again after SIGTERM.
    pub stop_grace: Duration,
    /// `warm_pool` (default 0): children kept spawned and initialized, each handed to one new
    /// session (never reused across sessions), refilled in the background, counted against
    /// the session caps.
    pub warm_pool: usize,
    pub sandbox: SandboxConfig,
}

#[cfg(test)]
impl ServiceConfig {
    /// A service `svc` running `srv` with 1 s timeouts and 1 KiB lines, for unit tests.
    pub(crate) fn for_tests(sandbox: SandboxConfig) -> Self {
        Self {
            name: "svc".into(),
            command: vec!["srv".into()],
            description: String::new(),
            env: Default::default(),
            cwd: None,
            call_timeout: std::time::Duration::from_secs(1),
            startup_timeout: std::time::Duration::from_secs(1),
            max_line_bytes: 1024,
            stop_grace: std::time::Duration::from_secs(1),
            remote: None,
            warm_pool: 0,
            sandbox,
        }
    }
}

/// A remote MCP server: `url` (http or https) and extra request `headers` (e.g. an
/// Authorization token for the upstream; never the gateway's own credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteConfig {
    pub url: String,
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// `sandbox.enabled` (default true). False = level "None": full env, no limits.
    pub enabled: bool,
    /// `sandbox.resource_limits` (default true).
    pub resource_limits: bool,
    /// `sandbox.restricted_env` (default true).
    pub restricted_env: bool,
    /// `sandbox.drop_privileges` (default false): never run the child as root. As root the
    /// child then runs as a uid of its own whatever `user` says.
    pub drop_privileges: bool,
    /// `sandbox.user`: `"own"` (default) = as root, a uid of its own per child
    /// (`session.child_uids`); `"gateway"` = the gateway's uid.
    pub user: ChildUser,
    /// `sandbox.allowed_paths` (default empty): extra trees the child may read (or write).
    pub allowed_paths: Vec<AllowedPath>,
    /// `sandbox.filesystem`: `"isolated"` (default) = landlock, or `"host"` = no filesystem rules.
    pub filesystem: Filesystem,
    /// `sandbox.network`: `"host"` (default) or `"none"` (a new, empty network namespace).
    pub network: Network,
    /// `sandbox.allow_weaker` (default false): start even when part of the requested isolation
    /// cannot be enforced on this host (the startup log says what is missing).
    pub allow_weaker: bool,
    /// `sandbox.seccomp`: `"default"` (the deny-list of docs/sandbox.md) or `"off"`; unset,
    /// the filter is installed at level High only.
    pub seccomp: Option<Seccomp>,
    /// `sandbox.seccomp_allow` (default empty): calls of the deny-list to let through.
    pub seccomp_allow: Vec<String>,
    pub limits: ResourceLimits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seccomp {
    /// The deny-list (less `seccomp_allow`).
    Default,
    /// No system-call filter.
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildUser {
    /// A uid and gid of its own per child, when the gateway is root.
    Own,
    /// The gateway's uid.
    Gateway,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filesystem {
    /// Landlock: read system paths and the server's own install tree, write only the private
    /// dir and writable `allowed_paths`.
    Isolated,
    /// No filesystem rules (beyond what the uid allows).
    Host,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// The gateway's network.
    Host,
    /// A new network namespace with only a loopback interface that is down: no route at all.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedPath {
    pub path: PathBuf,
    pub writable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceLimits {
    /// `sandbox.cpu_seconds` (default 300).
    pub cpu_seconds: u64,
    /// `sandbox.memory_mb` (default 512).
    pub memory_mb: u64,
    /// `sandbox.max_processes` (default 64): tasks (processes and threads) in the child's tree.
    /// Upstream's 10 was never enforced (root) and counted threads: Node 20 alone runs 11.
    pub max_processes: u64,
    /// `sandbox.max_file_size_mb` (default 10).
    pub max_file_size_mb: u64,
}

impl Default for ResourceLimits {
    fn default() -> Self {
        Self {
            cpu_seconds: 300,
            memory_mb: 512,
            max_processes: 64,
            max_file_size_mb: 10,
        }
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            resource_limits: true,
            restricted_env: true,
            drop_privileges: false,
            user: ChildUser::Own,
            allowed_paths: Vec::new(),
            filesystem: Filesystem::Isolated,
            network: Network::Host,
            allow_weaker: false,
            seccomp: None,
            seccomp_allow: Vec::new(),
            limits: ResourceLimits::default(),
        }
    }
}

/// Default `session.child_uids`: inside the 65,536 uids a user-namespaced container maps,
/// outside the ranges distributions hand to people (1000–59999) and to systemd's dynamic
/// users (61184–65519).
pub const DEFAULT_CHILD_UIDS: std::ops::RangeInclusive<u32> = 60000..=60999;

#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    /// `session.default_timeout` seconds (default 300): idle timeout of a session.
    pub default_timeout: Duration,
    /// `session.max_sessions_per_service` (default 100): live children per service.
    pub max_sessions_per_service: usize,
    /// `session.max_total_sessions` (default 500): live children in all.
    pub max_total_sessions: usize,
    /// `session.cleanup_interval` seconds (default 60): how often idle sessions are reaped.
    /// Fractions allowed.
    pub cleanup_interval: Duration,
    /// `session.sandbox_dir` (default `./sandbox`): parent of the per-session private dirs.
    pub sandbox_dir: PathBuf,
    /// `session.stderr_buffer_bytes` (default 64 KiB): the per-child stderr ring buffer.
    pub stderr_buffer_bytes: usize,
    /// `session.child_uids` (default "60000-60999"): the uids (and gids) children run as, one
    /// per live child, when the gateway is root.
    pub child_uids: std::ops::RangeInclusive<u32>,
}

#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// `rate_limiting.enabled` (default true).
    pub enabled: bool,
    pub default_limits: Vec<RateLimit>,
    /// Each of these may hold several limits ("10 per minute; 100 per hour"): all apply.
    pub tools_limit: Vec<RateLimit>,
    pub call_limit: Vec<RateLimit>,
    pub session_delete_limit: Vec<RateLimit>,
    /// `rate_limiting.storage_uri` (default `memory://`).
    pub storage_uri: String,
    /// `rate_limiting.unauthenticated_limit` (default "60 per minute"): requests that fail
    /// authentication, per client address, counted apart from every principal's budget.
    pub unauthenticated_limit: RateLimit,
    /// `rate_limiting.fail_open` (default false): allow requests when the storage is
    /// unreachable instead of answering 503.
    pub fail_open: bool,
    /// `rate_limiting.storage_timeout` seconds (default 0.5): the longest a check may wait for
    /// the storage before it counts as unreachable.
    pub storage_timeout: Duration,
}

/// One `limits`-syntax rate: "10 per minute", "200 per day", "5/second", "100 per 2 hours".
/// Parsed by [`super::parse_rate`]; a month is 30 days and a year 360, as in `limits`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u64,
    pub period: Duration,
    /// The text as written, for messages and headers.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoggingConfig {
    /// A tracing filter directive derived from `logging.level` (default INFO): DEBUG -> "debug",
    /// INFO -> "info", WARNING/WARN -> "warn", ERROR/CRITICAL/FATAL -> "error", any case.
    /// Any other level is a configuration error.
    pub filter: String,
    /// `logging.file`: also write the log to this file.
    pub file: Option<PathBuf>,
    /// `logging.format`: `"text"` (default) or `"json"`.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// `mcp`: how the MCP front door names and relays what it aggregates.
#[derive(Debug, Clone, PartialEq)]
pub struct McpConfig {
    /// `mcp.separator` (default `"__"`): between service and tool name in `/mcp`.
    pub separator: String,
    /// `mcp.prefix` (default `"multiple"`): when tool and prompt names get the service prefix.
    pub prefix: PrefixMode,
    /// `mcp.cancel_grace` seconds (default 10): a child still reporting progress for a request
    /// cancelled this long ago is stopped.
    pub cancel_grace: Duration,
    /// `mcp.page_size` (default 200): items per page of the merged lists.
    pub page_size: usize,
    /// `mcp.eager` (default false): start a new MCP session's children at `initialize`
    /// instead of on first use.
    pub eager: bool,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            separator: "__".into(),
            prefix: PrefixMode::Multiple,
            cancel_grace: Duration::from_secs(10),
            page_size: 200,
            eager: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixMode {
    Always,
    /// Only when more than one service is enabled.
    Multiple,
    Never,
}
