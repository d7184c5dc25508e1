//! [`McpClient`]: the cheap, cloneable handle to one child's actor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::actor::{Actor, ChildIo, Command, Shared};
use super::protocol::{self, InitializeInfo, Pages};
use super::stderr::{self, LogContext};
use super::{ExitInfo, McpError};
use crate::config::ServiceConfig;
use crate::sandbox::{Spawned, signal_group};

/// How a client talks to its child.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// For the log.
    pub service: String,
    /// For the log.
    pub session_id: String,
    /// Default timeout of [`McpClient::call_tool`] and of each `tools/list` page.
    pub call_timeout: Duration,
    /// Bounds the whole handshake in [`McpClient::start`].
    pub startup_timeout: Duration,
    /// The longest stdout line accepted.
    pub max_line_bytes: usize,
    /// Size of the stderr ring buffer.
    pub stderr_buffer_bytes: usize,
    /// Wait after closing stdin, and again after SIGTERM, in [`McpClient::stop`].
    pub stop_grace: Duration,
    /// Where the child's actor, and the stop of a child that failed to start, run (the session
    /// manager's tracker, which shutdown waits for: a child whose start was abandoned is still
    /// reaped before the gateway exits). `None`: plain tasks.
    pub reaper: Option<TaskTracker>,
}

impl ClientOptions {
    pub fn for_service(
        service: &ServiceConfig,
        session_id: &str,
        stderr_buffer_bytes: usize,
    ) -> Self {
        Self {
            service: service.name.clone(),
            session_id: session_id.to_string(),
            call_timeout: service.call_timeout,
            startup_timeout: service.startup_timeout,
            max_line_bytes: service.max_line_bytes,
            stderr_buffer_bytes,
            stop_grace: service.stop_grace,
            reaper: None,
        }
    }
}

/// What a child tells its subscribers.
#[derive(Debug, Clone)]
pub enum ChildEvent {
    /// `notifications/tools/list_changed`: cached tool lists are stale.
    ToolsListChanged,
    /// Any other notification (`notifications/progress`, `notifications/message`, ...).
    Notification { method: String, params: Value },
    /// A request of the child (sampling, elicitation, roots), sent only after
    /// [`McpClient::relay_requests`]; answer it with [`McpClient::respond`].
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    /// The child exited and was reaped.
    Exited { status: ExitInfo },
}

/// A handle to one running MCP server. Clones share the child; when the last clone is
/// dropped the child is stopped (gracefully, as [`McpClient::stop`]).
#[derive(Clone)]
pub struct McpClient {
    inner: Arc<Inner>,
}

/// Which child (or remote connection) a handle is of: unique for the gateway's lifetime,
/// unlike a pid (0 for every remote connection, reused by the kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChildId(u64);

impl ChildId {
    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl std::fmt::Display for ChildId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

struct Inner {
    link: Link,
    info: InitializeInfo,
    id: ChildId,
    pid: u32,
    call_timeout: Duration,
    calls_served: AtomicU64,
}

impl std::fmt::Debug for McpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpClient")
            .field("pid", &self.inner.pid)
            .field("protocol_version", &self.inner.info.protocol_version)
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl McpClient {
    /// Take ownership of a spawned child and run the handshake: `initialize` (we ask for
    /// [`protocol::PROTOCOL_VERSION`], offer no capabilities, accept any of
    /// [`protocol::SUPPORTED_VERSIONS`]), then `notifications/initialized`. Bounded by
    /// `startup_timeout`; on any failure the error is returned at once and the child is stopped
    /// and reaped in the background (see [`stop_in_background`]).
    pub async fn start(spawned: Spawned, opts: ClientOptions) -> Result<McpClient, McpError> {
        let Spawned {
            mut child,
            pid,
            pgid,
            guard,
        } = spawned;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            signal_group(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = child.start_kill();
            let _ = tokio::time::timeout(opts.stop_grace, child.wait()).await;
            drop(guard);
            return Err(McpError::Spawn("the child's stdio is not piped".into()));
        };
        // No parent: the actor outlives the request that started it (and must not keep its
        // spans open).
        let span = tracing::info_span!(parent: None, "mcp_child", service = %opts.service, session = %opts.session_id, pid);
        let shared = Arc::new(Shared::new(opts.stderr_buffer_bytes));
        let log = LogContext {
            service: opts.service.clone(),
            session: opts.session_id.clone(),
            pid,
        };
        let stderr_task = tokio::spawn({
            let shared = shared.clone();
            async move { stderr::drain(stderr, &shared.stderr, log).await }
        });
        let (commands, rx) = mpsc::unbounded_channel();
        let io = ChildIo {
            child,
            pgid,
            guard,
            stdin,
            stdout,
            stderr_task,
        };
        let actor = Actor::new(io, shared.clone(), rx, opts.max_line_bytes, opts.stop_grace);
        spawn_on(actor.run().instrument(span.clone()), opts.reaper.as_ref());

        let link = Link {
            commands,
            shared,
            next_id: AtomicU64::new(1),
        };
        Self::initialize(link, pid, &opts, span).await
    }

    /// Connect to a remote MCP server (Streamable HTTP) and run the same handshake as
    /// [`McpClient::start`]. The handle behaves like a child's: requests, notifications,
    /// events, `stop` (DELETE of the upstream session). Its pid is 0.
    pub async fn connect_remote(
        remote: &crate::config::RemoteConfig,
        opts: ClientOptions,
    ) -> Result<McpClient, McpError> {
        let span = tracing::info_span!(parent: None, "mcp_remote", service = %opts.service, session = %opts.session_id, url = %remote.url);
        let shared = Arc::new(Shared::new(opts.stderr_buffer_bytes));
        let (commands, rx) = mpsc::unbounded_channel();
        let actor = super::remote::RemoteActor::new(
            remote,
            shared.clone(),
            rx,
            opts.max_line_bytes,
            opts.stop_grace,
        )?;
        spawn_on(actor.run().instrument(span.clone()), opts.reaper.as_ref());
        let link = Link {
            commands,
            shared,
            next_id: AtomicU64::new(1),
        };
        Self::initialize(link, 0, &opts, span).await
    }

    /// Run the handshake over a freshly started actor, bounded by `startup_timeout`. On
    /// failure the error is returned at once and the actor is stopped (and its child reaped)
    /// in the background.
    async fn initialize(
        link: Link,
        pid: u32,
        opts: &ClientOptions,
        span: tracing::Span,
    ) -> Result<McpClient, McpError> {
        let handshake =
            tokio::time::timeout(opts.startup_timeout, handshake(&link, opts.startup_timeout));
        let result = match handshake.instrument(span.clone()).await {
            Ok(result) => result,
            Err(_) => Err(McpError::Timeout {
                method: "initialize".into(),
                after: opts.startup_timeout,
            }),
        };
        match result {
            Ok(info) => {
                span.in_scope(|| {
                    tracing::debug!(version = %info.protocol_version, server = %info.server_info, "server initialized");
                });
                Ok(McpClient {
                    inner: Arc::new(Inner {
                        link,
                        info,
                        id: ChildId::next(),
                        pid,
                        call_timeout: opts.call_timeout,
                        calls_served: AtomicU64::new(0),
                    }),
                })
            }
            Err(err) => {
                span.in_scope(|| tracing::warn!(error = %err, "server failed to start"));
                stop_in_background(link, opts.reaper.as_ref(), span);
                Err(err)
            }
        }
    }

    /// The child's pid; 0 for a remote server.
    pub fn pid(&self) -> u32 {
        self.inner.pid
    }

    /// This child's identity (see [`ChildId`]).
    pub fn id(&self) -> ChildId {
        self.inner.id
    }

    /// Whether both handles are of the same child.
    pub fn is_same(&self, other: &McpClient) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub fn server_info(&self) -> &InitializeInfo {
        &self.inner.info
    }

    /// Every tool, following `nextCursor` to the end; each tool exactly as the server sent it.
    pub async fn list_tools(&self) -> Result<Vec<super::Tool>, McpError> {
        let mut tools = Vec::new();
        let mut pages = Pages::default();
        let mut cursor = None;
        loop {
            let params = protocol::tools_list_params(cursor.as_deref());
            let result = self
                .request("tools/list", params, self.inner.call_timeout)
                .await?;
            let (page, next) = protocol::parse_tools_page(result)?;
            tools.extend(page);
            cursor = pages.advance("tools/list", next)?;
            if cursor.is_none() {
                return Ok(tools);
            }
        }
    }

    /// `tools/call` with the service's `call_timeout`; the raw result object.
    pub async fn call_tool(&self, name: &str, arguments: Value) -> Result<Value, McpError> {
        self.call_tool_with_timeout(name, arguments, self.inner.call_timeout)
            .await
    }

    pub async fn call_tool_with_timeout(
        &self,
        name: &str,
        arguments: Value,
        timeout: Duration,
    ) -> Result<Value, McpError> {
        let result = self
            .request(
                "tools/call",
                protocol::call_params(name, arguments),
                timeout,
            )
            .await;
        if matches!(result, Ok(_) | Err(McpError::Rpc { .. })) {
            self.inner.calls_served.fetch_add(1, Ordering::Relaxed);
        }
        protocol::check_call_result(result?)
    }

    /// Any request; the raw `result`. On timeout the child gets `notifications/cancelled`.
    pub async fn request(
        &self,
        method: &str,
        mut params: Value,
        timeout: Duration,
    ) -> Result<Value, McpError> {
        if method != "tools/call" {
            return self.inner.link.request(method, params, timeout).await;
        }
        let span = tracing::info_span!(
            target: crate::telemetry::TARGET,
            "tools/call",
            otel.name = %format!("tools/call {}", params["name"].as_str().unwrap_or("")),
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            "mcp.method.name" = "tools/call",
            "gen_ai.operation.name" = "execute_tool",
            "gen_ai.tool.name" = params["name"].as_str().unwrap_or(""),
            "process.pid" = self.inner.pid,
            "error.type" = tracing::field::Empty,
        );
        if span.is_disabled() {
            return self.inner.link.request(method, params, timeout).await;
        }
        // The child continues this trace (SEP-414): its context in `_meta.traceparent` (and
        // `tracestate`); a remote service gets the same as HTTP headers too (remote.rs).
        let context = crate::telemetry::trace_context(&span);
        if !context.is_empty()
            && let Some(params) = params.as_object_mut()
        {
            let meta = params
                .entry("_meta")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(meta) = meta.as_object_mut() {
                for (key, value) in context {
                    meta.insert(key.into(), Value::String(value));
                }
            }
        }
        let answer = self
            .inner
            .link
            .request(method, params, timeout)
            .instrument(span.clone())
            .await;
        match &answer {
            Err(e) => {
                span.record("otel.status_code", "ERROR");
                span.record("error.type", e.to_string());
            }
            Ok(result) if result.get("isError") == Some(&Value::Bool(true)) => {
                span.record("otel.status_code", "ERROR");
                span.record("error.type", "tool_error");
            }
            Ok(_) => {}
        }
        answer
    }

    /// Any notification to the child.
    pub fn notify(&self, method: &str, params: Value) -> Result<(), McpError> {
        self.inner.link.notify(method, params)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ChildEvent> {
        self.inner.link.shared.events.subscribe()
    }

    /// From now on the child's sampling / elicitation / roots requests are published as
    /// [`ChildEvent::Request`] (while anyone subscribes) instead of being answered here; the
    /// subscriber must answer each with [`McpClient::respond`].
    pub fn relay_requests(&self) {
        self.inner
            .link
            .shared
            .relay_requests
            .store(true, Ordering::Release);
    }

    /// Answer the child's request `id` (its own id space) with a result or an error.
    pub fn respond(&self, id: Value, outcome: Result<Value, (i64, String)>) {
        let _ = self
            .inner
            .link
            .commands
            .send(Command::Respond { id, outcome });
    }

    /// False once a stop was asked for or the child was seen dying.
    pub fn is_alive(&self) -> bool {
        let shared = &self.inner.link.shared;
        !shared.closing.load(Ordering::Acquire) && shared.exit.borrow().is_none()
    }

    /// How the child ended, once it has been reaped.
    pub fn exit_status(&self) -> Option<ExitInfo> {
        self.inner
            .link
            .shared
            .exit
            .borrow()
            .as_ref()
            .map(|ended| ended.info.clone())
    }

    /// At most the last `max_bytes` of the child's stderr (bounded by `stderr_buffer_bytes`).
    pub fn stderr_tail(&self, max_bytes: usize) -> String {
        self.inner.link.shared.stderr.tail(max_bytes)
    }

    /// `tools/call` requests answered by the server (results and JSON-RPC errors).
    pub fn calls_served(&self) -> u64 {
        self.inner.calls_served.load(Ordering::Relaxed)
    }

    /// Stop the child: close stdin, wait `stop_grace`, SIGTERM the process group, wait
    /// `stop_grace`, SIGKILL it; reap; remove the sandbox dir. Pending requests fail with
    /// [`McpError::Closed`]. Idempotent; concurrent calls all get the same answer.
    pub async fn stop(&self) -> ExitInfo {
        self.inner.link.stop().await
    }

    /// Resolves once the child has exited and been reaped.
    pub async fn exited(&self) -> ExitInfo {
        self.inner.link.exited().await
    }

    /// A handle that observes the child without keeping it alive (dropping every
    /// [`McpClient`] still stops the child while watchers exist).
    pub fn watcher(&self) -> ChildWatcher {
        ChildWatcher {
            shared: self.inner.link.shared.clone(),
            id: self.inner.id,
            pid: self.inner.pid,
        }
    }
}

/// Observes one child (events, exit) without keeping it alive. See [`McpClient::watcher`].
#[derive(Clone)]
pub struct ChildWatcher {
    shared: Arc<Shared>,
    id: ChildId,
    pid: u32,
}

impl std::fmt::Debug for ChildWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildWatcher")
            .field("pid", &self.pid)
            .finish()
    }
}

impl ChildWatcher {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The child's identity (see [`ChildId`]).
    pub fn id(&self) -> ChildId {
        self.id
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ChildEvent> {
        self.shared.events.subscribe()
    }

    pub fn exit_status(&self) -> Option<ExitInfo> {
        self.shared
            .exit
            .borrow()
            .as_ref()
            .map(|ended| ended.info.clone())
    }

    /// Resolves once the child has exited and been reaped.
    pub async fn exited(&self) -> ExitInfo {
        exited(&self.shared).await
    }
}

/// Wait for the actor to publish the end. The watch sender lives in `shared`, which the caller
/// holds, so this cannot fail; the actor (or its drop guard) always publishes.
async fn exited(shared: &Shared) -> ExitInfo {
    let mut exit = shared.exit.subscribe();
    let ended = exit
        .wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|ended| ended.clone());
    ended.map_or_else(
        || ExitInfo {
            code: None,
            signal: None,
            stderr_tail: String::new(),
        },
        |ended| ended.info,
    )
}

/// Run `run` (an actor, a stop) on `reaper` (the session layer's tracker, which shutdown waits
/// for) when there is one.
fn spawn_on(
    run: impl std::future::Future<Output = ()> + Send + 'static,
    reaper: Option<&TaskTracker>,
) {
    match reaper {
        Some(tracker) => drop(tracker.spawn(run)),
        None => drop(tokio::spawn(run)),
    }
}

/// Finish the stop of a child that failed to start without making its caller wait for it
/// (close stdin, `stop_grace`, SIGTERM, `stop_grace`, SIGKILL can take 2 x `stop_grace`).
///
/// The stop still reaps: the actor runs the whole sequence in its own task once told to stop,
/// and this task only waits for it. On `reaper` (the session manager's tracker) gateway
/// shutdown waits for that wait, hence for the reap. Without one (a plain task) nothing waits:
/// if the runtime ends first, the actor's drop guard SIGKILLs the child's process group, and
/// the child's `PR_SET_PDEATHSIG(SIGKILL)` kills it when the gateway exits.
fn stop_in_background(link: Link, reaper: Option<&TaskTracker>, span: tracing::Span) {
    // Mark and send the stop now, so it is under way even before the task first runs.
    link.shared.closing.store(true, Ordering::Release);
    let _ = link.commands.send(Command::Stop);
    let stop = async move {
        link.stop().await;
    }
    .instrument(span);
    spawn_on(stop, reaper);
}

/// The handle side of the actor's channel; used for the handshake before a client exists.
struct Link {
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
    next_id: AtomicU64,
}

impl Link {
    async fn request(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, McpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, response) = oneshot::channel();
        let command = Command::Request {
            id,
            method: method.to_string(),
            params,
            reply,
        };
        if self.commands.send(command).is_err() {
            return Err(self.ended_error());
        }
        let mut cancel = CancelOnDrop {
            commands: &self.commands,
            id,
            reason: Some("the caller gave up".into()),
        };
        match tokio::time::timeout(timeout, response).await {
            Ok(Ok(result)) => {
                cancel.reason = None;
                result
            }
            Ok(Err(_)) => {
                cancel.reason = None;
                Err(self.ended_error())
            }
            Err(_) => {
                cancel.reason = Some(format!("timed out after {timeout:?}"));
                Err(McpError::Timeout {
                    method: method.to_string(),
                    after: timeout,
                })
            }
        }
    }

    fn notify(&self, method: &str, params: Value) -> Result<(), McpError> {
        self.commands
            .send(Command::Notify {
                method: method.to_string(),
                params,
            })
            .map_err(|_| self.ended_error())
    }

    async fn stop(&self) -> ExitInfo {
        self.shared.closing.store(true, Ordering::Release);
        let _ = self.commands.send(Command::Stop);
        self.exited().await
    }

    async fn exited(&self) -> ExitInfo {
        exited(&self.shared).await
    }

    /// The error for a request the actor can no longer take.
    fn ended_error(&self) -> McpError {
        self.shared
            .exit
            .borrow()
            .as_ref()
            .map_or(McpError::Closed, |ended| ended.error())
    }
}

/// Tells the actor to forget a request whose caller stopped waiting (timeout or drop).
struct CancelOnDrop<'a> {
    commands: &'a mpsc::UnboundedSender<Command>,
    id: u64,
    reason: Option<String>,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(reason) = self.reason.take() {
            let _ = self.commands.send(Command::Cancel {
                id: self.id,
                reason,
            });
        }
    }
}

async fn handshake(link: &Link, timeout: Duration) -> Result<InitializeInfo, McpError> {
    let result = link
        .request("initialize", protocol::initialize_params(), timeout)
        .await?;
    let info = protocol::parse_initialize(result)?;
    link.notify("notifications/initialized", Value::Null)?;
    Ok(info)
}
