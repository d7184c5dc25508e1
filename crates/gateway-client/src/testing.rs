//! An in-process fake gateway implementing `docs/wire.md`, for tests (feature
//! `test-support`).
//!
//! It serves on `127.0.0.1` from its own thread and runtime, so sync and async tests
//! can use it alike, and it stops when dropped. Two services are built in:
//!
//! - `greeter`: `greet` (answers `Hello, {name}!`), `fail` (a tool error, `isError`),
//!   `reject` (a JSON-RPC error, 422), `crash` (502), `busy` (429, `Retry-After: 1`),
//!   `slow` (504), `hang` (never answers within 30 s), `count` (how many times this
//!   session called it).
//! - `todo`: `add_todo` and `list_todos`, with a todo list per session.
//!
//! Any other tool given in [`FakeOptions::services`] answers `ok: {tool}`. Every call
//! that reaches a tool is counted ([`FakeGateway::executions`]).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use serde_json::{Map, Value, json};

use crate::types::{
    CallResponse, ErrorBody, Health, RpcError, ServiceInfo, Services, SessionClosed, SessionInfo,
    Sessions, ToolList, code,
};

/// One service of the fake: a name, a description and raw MCP tool objects.
#[derive(Debug, Clone)]
pub struct FakeService {
    pub name: String,
    pub description: String,
    pub tools: Vec<Value>,
}

/// How to build a [`FakeGateway`].
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// Where to listen; `127.0.0.1:0` when `None`.
    pub addr: Option<SocketAddr>,
    pub user: String,
    pub password: String,
    pub token: String,
    pub services: Vec<FakeService>,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            addr: None,
            user: "admin".into(),
            password: "changeme".into(),
            token: "token-1".into(),
            services: vec![greeter_service(), todo_service()],
        }
    }
}

/// The built-in `greeter` service.
pub fn greeter_service() -> FakeService {
    let no_args = json!({"type": "object", "properties": {}});
    let mut tools = vec![json!({
        "name": "greet",
        "description": "Greet someone by name",
        "inputSchema": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "Who to greet"},
                "style": {"type": "string", "description": "Greeting style",
                          "enum": ["plain", "loud"], "default": "plain"}
            },
            "required": ["name"]
        }
    })];
    for (name, description) in [
        ("fail", "Always reports a tool error"),
        ("reject", "Always answers with a JSON-RPC error"),
        ("crash", "The server dies during the call"),
        ("busy", "The gateway rate-limits this call"),
        ("slow", "The call runs past the gateway's call timeout"),
        ("hang", "Never answers in time"),
        ("count", "Counts calls in this session"),
    ] {
        tools.push(json!({"name": name, "description": description, "inputSchema": no_args}));
    }
    FakeService {
        name: "greeter".into(),
        description: "Greets people".into(),
        tools,
    }
}

/// The built-in `todo` service.
pub fn todo_service() -> FakeService {
    FakeService {
        name: "todo".into(),
        description: "A todo list per session".into(),
        tools: vec![
            json!({
                "name": "add_todo",
                "description": "Add a todo item",
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string", "description": "What to do"},
                        "priority": {"type": "string", "enum": ["low", "medium", "high"],
                                     "default": "medium"}
                    },
                    "required": ["text"]
                }
            }),
            json!({
                "name": "list_todos",
                "description": "List todo items",
                "inputSchema": {"type": "object", "properties": {}}
            }),
        ],
    }
}

#[derive(Default)]
struct Session {
    services: Vec<String>,
    metadata: Map<String, Value>,
    timeout: f64,
    calls: u64,
    counts: u64,
    todos: Vec<String>,
}

struct Shared {
    options: FakeOptions,
    sessions: Mutex<BTreeMap<String, Session>>,
    executions: Mutex<HashMap<(String, String), usize>>,
    connections: AtomicUsize,
    unavailable: AtomicBool,
}

/// A running fake gateway; stops when dropped.
pub struct FakeGateway {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeGateway {
    /// Start serving; returns once the socket is bound.
    pub fn start(options: FakeOptions) -> FakeGateway {
        let shared = Arc::new(Shared {
            options,
            sessions: Mutex::new(BTreeMap::new()),
            executions: Mutex::new(HashMap::new()),
            connections: AtomicUsize::new(0),
            unavailable: AtomicBool::new(false),
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fake-gateway".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fake gateway runtime");
                rt.block_on(async move {
                    let addr = state
                        .options
                        .addr
                        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
                    let listener = match tokio::net::TcpListener::bind(addr).await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = addr_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = addr_tx.send(Ok(listener.local_addr().expect("local addr")));
                    let counter = state.clone();
                    let listener = listener.tap_io(move |_| {
                        counter.connections.fetch_add(1, Ordering::SeqCst);
                    });
                    let app = router(state);
                    tokio::select! {
                        _ = axum::serve(listener, app) => {}
                        _ = stop_rx => {}
                    }
                });
                // Dropping the runtime cancels in-flight handlers (e.g. `hang`).
            })
            .expect("spawn fake gateway thread");
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("fake gateway must bind within 10 s")
            .expect("fake gateway bind");
        FakeGateway {
            addr,
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many times `service`'s `tool` was executed.
    pub fn executions(&self, service: &str, tool: &str) -> usize {
        self.shared
            .executions
            .lock()
            .expect("executions lock")
            .get(&(service.to_owned(), tool.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Ids of the open sessions.
    pub fn session_ids(&self) -> Vec<String> {
        self.shared
            .sessions
            .lock()
            .expect("sessions lock")
            .keys()
            .cloned()
            .collect()
    }

    /// The metadata the session was created with.
    pub fn session_metadata(&self, id: &str) -> Option<Map<String, Value>> {
        self.shared
            .sessions
            .lock()
            .expect("sessions lock")
            .get(id)
            .map(|s| s.metadata.clone())
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// While set, every authenticated route answers 503 `service_unavailable`.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.shared.unavailable.store(unavailable, Ordering::SeqCst);
    }
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type S = State<Arc<Shared>>;

fn router(state: Arc<Shared>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/services", get(services))
        .route("/services/{name}/tools", get(tools))
        .route("/services/{name}/call", post(call))
        .route("/sessions", get(sessions))
        .route("/sessions/{id}", axum::routing::delete(close_session))
        .fallback(|| async { error(StatusCode::NOT_FOUND, code::NOT_FOUND, "no such route") })
        .with_state(state)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    answer(status, ErrorBody::new(code, message))
}

fn answer(status: StatusCode, body: ErrorBody) -> Response {
    (status, Json(body)).into_response()
}

/// The error answer when the request must be refused.
fn refusal(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    use base64::Engine as _;
    let encode = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let o = &shared.options;
    let basic = format!("Basic {}", encode(&format!("{}:{}", o.user, o.password)));
    let bearer = format!("Bearer {}", o.token);
    if given != basic && given != bearer {
        let mut response = error(StatusCode::UNAUTHORIZED, code::UNAUTHORIZED, "unauthorized");
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"MCP Gateway\""),
        );
        return Some(response);
    }
    if shared.unavailable.load(Ordering::SeqCst) {
        return Some(error(
            StatusCode::SERVICE_UNAVAILABLE,
            code::SERVICE_UNAVAILABLE,
            "service cannot start",
        ));
    }
    None
}

async fn health() -> Json<Health> {
    Json(Health {
        status: "healthy".into(),
        timestamp: Some("2026-01-01T00:00:00".into()),
        version: Some("fake".into()),
    })
}

async fn services(State(shared): S, headers: HeaderMap) -> Response {
    if let Some(r) = refusal(&shared, &headers) {
        return r;
    }
    let services: Services = shared
        .options
        .services
        .iter()
        .map(|s| {
            let info = ServiceInfo {
                description: s.description.clone(),
                enabled: true,
                command: None,
            };
            (s.name.clone(), info)
        })
        .collect();
    Json(services).into_response()
}

fn find<'a>(shared: &'a Shared, name: &str) -> Option<&'a FakeService> {
    shared.options.services.iter().find(|s| s.name == name)
}

async fn tools(State(shared): S, headers: HeaderMap, Path(name): Path<String>) -> Response {
    if let Some(r) = refusal(&shared, &headers) {
        return r;
    }
    match find(&shared, &name) {
        Some(s) => Json(ToolList {
            service: name,
            tools: s.tools.clone(),
        })
        .into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            code::UNKNOWN_SERVICE,
            &format!("unknown service {name}"),
        ),
    }
}

async fn call(
    State(shared): S,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: String,
) -> Response {
    if let Some(r) = refusal(&shared, &headers) {
        return r;
    }
    let Some(service) = find(&shared, &name) else {
        return error(
            StatusCode::NOT_FOUND,
            code::UNKNOWN_SERVICE,
            &format!("unknown service {name}"),
        );
    };
    let Ok(Value::Object(body)) = serde_json::from_str::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            code::INVALID_REQUEST,
            "body must be a json object",
        );
    };
    let tool = body.get("tool").and_then(Value::as_str).unwrap_or("");
    let session_id = body.get("session_id").and_then(Value::as_str).unwrap_or("");
    if tool.is_empty() || session_id.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            code::INVALID_REQUEST,
            "tool and session_id are required",
        );
    }
    let timeout = match body.get("timeout") {
        None => 300.0,
        Some(t) => match t.as_f64() {
            Some(t) if t > 0.0 && t <= 3600.0 => t,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    code::INVALID_REQUEST,
                    "timeout must be a number in (0, 3600]",
                );
            }
        },
    };
    if !service
        .tools
        .iter()
        .any(|t| t.get("name").and_then(Value::as_str) == Some(tool))
    {
        return error(
            StatusCode::NOT_FOUND,
            code::UNKNOWN_TOOL,
            &format!("unknown tool {tool}"),
        );
    }
    let args = body
        .get("arguments")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();

    *shared
        .executions
        .lock()
        .expect("executions lock")
        .entry((name.clone(), tool.to_owned()))
        .or_insert(0) += 1;

    let (count, todos) = {
        let mut sessions = shared.sessions.lock().expect("sessions lock");
        let session = sessions
            .entry(session_id.to_owned())
            .or_insert_with(|| Session {
                timeout,
                metadata: body
                    .get("metadata")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
                ..Session::default()
            });
        if !session.services.contains(&name) {
            session.services.push(name.clone());
        }
        session.calls += 1;
        match tool {
            "count" => session.counts += 1,
            "add_todo" => session.todos.push(
                args.get("text")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            ),
            _ => {}
        }
        (session.counts, session.todos.clone())
    };

    let text = match tool {
        "greet" => format!(
            "Hello, {}!",
            args.get("name")
                .and_then(Value::as_str)
                .unwrap_or("stranger")
        ),
        "fail" => return ok(&name, session_id, tool, "the tool failed on purpose", true),
        "reject" => {
            let rpc_error = RpcError {
                code: -32602,
                message: "bad params here".into(),
                data: None,
            };
            let body = ErrorBody {
                rpc_error: Some(rpc_error),
                ..ErrorBody::new(code::TOOL_CALL_REJECTED, "tool call rejected")
            };
            return answer(StatusCode::UNPROCESSABLE_ENTITY, body);
        }
        "crash" => {
            let body = ErrorBody {
                exit_status: Some(json!(1)),
                stderr_tail: Some("Traceback: boom".into()),
                ..ErrorBody::new(code::CHILD_EXITED, "child exited during the call")
            };
            return answer(StatusCode::BAD_GATEWAY, body);
        }
        "busy" => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                code::RATE_LIMITED,
                "rate limited",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return r;
        }
        "slow" => return error(StatusCode::GATEWAY_TIMEOUT, code::TIMEOUT, "call timed out"),
        "hang" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late".to_owned()
        }
        "count" => format!("count={count}"),
        "add_todo" => format!("Added todo #{}", todos.len()),
        "list_todos" if todos.is_empty() => "No todos".to_owned(),
        "list_todos" => todos
            .iter()
            .enumerate()
            .map(|(i, t)| format!("#{} {t}", i + 1))
            .collect::<Vec<_>>()
            .join("\n"),
        other => format!("ok: {other}"),
    };
    ok(&name, session_id, tool, &text, false)
}

fn ok(service: &str, session_id: &str, tool: &str, text: &str, is_error: bool) -> Response {
    Json(CallResponse {
        result: json!(text),
        content: json!([{"type": "text", "text": text}]),
        is_error,
        structured_content: None,
        meta: None,
        service: service.into(),
        session_id: session_id.into(),
        tool: tool.into(),
    })
    .into_response()
}

async fn sessions(State(shared): S, headers: HeaderMap) -> Response {
    if let Some(r) = refusal(&shared, &headers) {
        return r;
    }
    let sessions = shared.sessions.lock().expect("sessions lock");
    let out: Sessions = sessions
        .iter()
        .map(|(id, s)| {
            let info = SessionInfo {
                created_at: Some("2026-01-01T00:00:00".into()),
                last_accessed: Some("2026-01-01T00:00:00".into()),
                metadata: s.metadata.clone(),
                service_name: s.services.first().cloned(),
                services: s.services.clone(),
                time_remaining: Some(s.timeout),
                timeout: serde_json::Number::from_f64(s.timeout),
                calls: Some(s.calls),
                children: BTreeMap::new(),
                kind: None,
            };
            (id.clone(), info)
        })
        .collect();
    Json(out).into_response()
}

async fn close_session(State(shared): S, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(r) = refusal(&shared, &headers) {
        return r;
    }
    let removed = shared
        .sessions
        .lock()
        .expect("sessions lock")
        .remove(&id)
        .is_some();
    if removed {
        Json(SessionClosed {
            message: format!("Session {id} closed"),
        })
        .into_response()
    } else {
        error(
            StatusCode::NOT_FOUND,
            code::UNKNOWN_SESSION,
            &format!("unknown session {id}"),
        )
    }
}
