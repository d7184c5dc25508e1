//! The actor of a remote MCP server (Streamable HTTP): the same [`Command`]s as the stdio
//! actor, each request a POST whose JSON or SSE answer carries the response (and, first, the
//! server's notifications and requests). The upstream session (`Mcp-Session-Id`) is ours
//! alone; stopping ends it with DELETE. A network failure or an expired upstream session ends
//! the "child": its requests fail with a clear error, and the next use connects afresh.
//! Bodies are read as they arrive and never held past `max_line_bytes` (an error body past
//! [`ERROR_BODY_BYTES`]).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};

use super::actor::{Command, Ended, Reply, Shared};
use super::jsonrpc;
use super::{ChildEvent, ExitInfo, McpError};
use crate::config::RemoteConfig;

/// How much of an error response's body is read (its start is quoted in the error).
const ERROR_BODY_BYTES: usize = 1024;

/// What every request task shares.
struct Conn {
    http: reqwest::Client,
    url: String,
    headers: HeaderMap,
    session: Mutex<Option<String>>,
    version: Mutex<Option<String>>,
    shared: Arc<Shared>,
    max_bytes: usize,
}

pub(super) struct RemoteActor {
    conn: Arc<Conn>,
    commands: mpsc::UnboundedReceiver<Command>,
    /// A request task reports the failure that ends the connection.
    dead_tx: mpsc::UnboundedSender<String>,
    dead: mpsc::UnboundedReceiver<String>,
    tasks: HashMap<u64, AbortHandle>,
    /// Notifications and answers on their way (each its own POST).
    fires: JoinSet<()>,
    stop_grace: Duration,
}

impl RemoteActor {
    pub(super) fn new(
        remote: &RemoteConfig,
        shared: Arc<Shared>,
        commands: mpsc::UnboundedReceiver<Command>,
        max_bytes: usize,
        stop_grace: Duration,
    ) -> Result<Self, McpError> {
        let mut headers = HeaderMap::new();
        for (name, value) in &remote.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| McpError::Spawn(format!("bad header name {name:?}: {e}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| McpError::Spawn(format!("bad value of header {name}: {e}")))?;
            headers.insert(name, value);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // reqwest's default too; said here because a remote service's latency is ours.
            .tcp_nodelay(true)
            .build()
            .map_err(|e| McpError::Spawn(e.to_string()))?;
        let (dead_tx, dead) = mpsc::unbounded_channel();
        Ok(Self {
            conn: Arc::new(Conn {
                http,
                url: remote.url.clone(),
                headers,
                session: Mutex::default(),
                version: Mutex::default(),
                shared,
                max_bytes,
            }),
            commands,
            dead_tx,
            dead,
            tasks: HashMap::new(),
            fires: JoinSet::new(),
            stop_grace,
        })
    }

    pub(super) async fn run(mut self) {
        let (stopped, why) = loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Request { id, method, params, reply }) => self.request(id, method, params, reply),
                    Some(Command::Notify { method, params }) => {
                        self.fire(jsonrpc::notification(&method, params));
                    }
                    Some(Command::Respond { id, outcome }) => self.fire(jsonrpc::answer(&id, outcome)),
                    Some(Command::Cancel { id, reason }) => {
                        if let Some(task) = self.tasks.remove(&id) {
                            task.abort();
                            self.fire(jsonrpc::cancelled(id, &reason));
                        }
                    }
                    Some(Command::Stop) | None => break (true, "stopped".to_string()),
                },
                Some(why) = self.dead.recv() => break (false, why),
            }
            self.tasks.retain(|_, task| !task.is_finished());
            while self.fires.try_join_next().is_some() {}
        };
        // What was fired before the end (a cancel, an answer) still gets its chance.
        let fired = async { while self.fires.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(self.stop_grace, fired).await;
        self.fires.abort_all();
        self.conn.shared.closing.store(true, Ordering::Release);
        let info = ExitInfo {
            code: None,
            signal: None,
            stderr_tail: if stopped { String::new() } else { why.clone() },
        };
        if stopped {
            self.end_session().await;
        } else {
            tracing::warn!(url = %self.conn.url, reason = %why, "remote service connection ended");
        }
        // Published before the tasks go, so their waiters read this end.
        self.conn.shared.exit.send_replace(Some(Ended {
            info: info.clone(),
            stopped,
        }));
        for (_, task) in self.tasks.drain() {
            task.abort();
        }
        let _ = self
            .conn
            .shared
            .events
            .send(ChildEvent::Exited { status: info });
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            if let Command::Request { reply, .. } = command {
                let _ = reply.send(Err(McpError::Closed));
            }
        }
    }

    fn request(&mut self, id: u64, method: String, params: Value, reply: Reply) {
        let conn = self.conn.clone();
        let dead = self.dead_tx.clone();
        let task = tokio::spawn(async move {
            let message = jsonrpc::request(&id.into(), &method, params);
            match conn.exchange(&message, Some(id)).await {
                Ok(Some(outcome)) => {
                    if method == "initialize"
                        && let Ok(result) = &outcome
                        && let Some(v) = result.get("protocolVersion").and_then(Value::as_str)
                    {
                        *conn.version.lock().expect("version lock") = Some(v.to_string());
                    }
                    let _ = reply.send(outcome);
                }
                Ok(None) => {
                    let _ = reply.send(Err(McpError::Protocol(format!(
                        "{method}: the remote service answered without a response"
                    ))));
                }
                Err(why) => {
                    let _ = reply.send(Err(McpError::ProcessExited {
                        status: format!("remote service {} failed", conn.url),
                        stderr_tail: why.clone(),
                    }));
                    let _ = dead.send(why);
                }
            }
        });
        self.tasks.insert(id, task.abort_handle());
    }

    /// Send a notification or a response; failures end the connection.
    fn fire(&mut self, message: Value) {
        let conn = self.conn.clone();
        let dead = self.dead_tx.clone();
        self.fires.spawn(async move {
            if let Err(why) = conn.exchange(&message, None).await {
                let _ = dead.send(why);
            }
        });
    }

    async fn end_session(&self) {
        let session = self.conn.session.lock().expect("session lock").clone();
        if let Some(session) = session {
            let request = self
                .conn
                .http
                .delete(&self.conn.url)
                .headers(self.conn.headers.clone())
                .header("mcp-session-id", session);
            let _ = tokio::time::timeout(self.stop_grace, request.send()).await;
        }
    }
}

impl Conn {
    /// POST one message; for a request, the outcome of the response with id `ours`. Server
    /// notifications on the way are published; server requests are answered. `Err` = the
    /// connection is unusable (network failure, expired session, server error).
    async fn exchange(
        &self,
        message: &Value,
        ours: Option<u64>,
    ) -> Result<Option<Result<Value, McpError>>, String> {
        let mut request = self
            .http
            .post(&self.url)
            .headers(self.headers.clone())
            .header("accept", "application/json, text/event-stream")
            .json(message);
        if let Some(session) = self.session.lock().expect("session lock").clone() {
            request = request.header("mcp-session-id", session);
        }
        if let Some(version) = self.version.lock().expect("version lock").clone() {
            request = request.header("mcp-protocol-version", version);
        }
        // A traced call's W3C context (`McpClient::request`), as headers too: for the service's
        // HTTP layer (a proxy, a traced server), which does not read MCP's `_meta`. A value no
        // header can carry stays in `_meta` only.
        if let Some(meta) = message.pointer("/params/_meta") {
            for key in ["traceparent", "tracestate"] {
                if let Some(value) = meta.get(key).and_then(Value::as_str)
                    && let Ok(value) = HeaderValue::from_str(value)
                {
                    request = request.header(key, value);
                }
            }
        }
        let mut response = request.send().await.map_err(|e| format!("{e}"))?;
        let status = response.status();
        if let Some(session) = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
        {
            *self.session.lock().expect("session lock") = Some(session.to_string());
        }
        if status == reqwest::StatusCode::ACCEPTED {
            return Ok(None);
        }
        let sse = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !status.is_success() {
            let body = body_start(&mut response, ERROR_BODY_BYTES).await;
            let body: String = String::from_utf8_lossy(&body).chars().take(300).collect();
            return Err(format!("HTTP {status}: {body}"));
        }
        if !sse {
            let Some(bytes) = body_within(&mut response, self.max_bytes).await? else {
                return Ok(Some(Err(McpError::ResponseTooLarge {
                    limit: self.max_bytes,
                })));
            };
            let message: Value = serde_json::from_slice(&bytes)
                .map_err(|e| format!("the remote service sent invalid JSON: {e}"))?;
            return Ok(self.handle(message, ours).await);
        }
        let mut buf = String::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("{e}"))? {
            buf.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
            if buf.len() > self.max_bytes {
                return Ok(Some(Err(McpError::ResponseTooLarge {
                    limit: self.max_bytes,
                })));
            }
            while let Some(end) = buf.find("\n\n") {
                let event: String = buf.drain(..end + 2).collect();
                let data: Vec<&str> = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(|d| d.strip_prefix(' ').unwrap_or(d))
                    .collect();
                if data.is_empty() || data.iter().all(|d| d.is_empty()) {
                    continue;
                }
                let Ok(message) = serde_json::from_str::<Value>(&data.join("\n")) else {
                    continue;
                };
                if let Some(outcome) = self.handle(message, ours).await {
                    return Ok(Some(outcome));
                }
            }
        }
        Ok(None)
    }

    /// One message from the server: the response we wait for, or something to publish/answer.
    async fn handle(&self, message: Value, ours: Option<u64>) -> Option<Result<Value, McpError>> {
        let method = message.get("method").and_then(Value::as_str);
        match (method, message.get("id")) {
            (Some(method), Some(id)) => {
                let (id, method) = (id.clone(), method.to_string());
                let params = message.get("params").cloned().unwrap_or(Value::Null);
                let answer = match self.shared.relays(&method) {
                    Some(true) => None,
                    Some(false) => Some(Err(jsonrpc::BUSY)),
                    None => Some(jsonrpc::answer_child_request(&method)),
                };
                if let Some(answer) = answer {
                    let answer = jsonrpc::answer(&id, answer);
                    let _ = Box::pin(self.exchange(&answer, None)).await;
                } else {
                    let _ = self
                        .shared
                        .events
                        .send(ChildEvent::Request { id, method, params });
                }
                None
            }
            (Some(method), None) => {
                let params = message.get("params").cloned().unwrap_or(Value::Null);
                let event = if method == "notifications/tools/list_changed" {
                    ChildEvent::ToolsListChanged
                } else {
                    ChildEvent::Notification {
                        method: method.to_string(),
                        params,
                    }
                };
                let _ = self.shared.events.send(event);
                None
            }
            (None, Some(id)) if ours.is_some() && id.as_u64() == ours => {
                if let Some(result) = message.get("result") {
                    return Some(Ok(result.clone()));
                }
                let error = message.get("error").cloned().unwrap_or(Value::Null);
                Some(Err(McpError::Rpc {
                    code: error
                        .get("code")
                        .and_then(Value::as_i64)
                        .unwrap_or(jsonrpc::INTERNAL_ERROR),
                    message: error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("error")
                        .to_string(),
                    data: error.get("data").cloned(),
                }))
            }
            _ => None,
        }
    }
}

/// The whole body if it has at most `max` bytes; `None` as soon as it is known to be longer
/// (the rest is never read).
async fn body_within(
    response: &mut reqwest::Response,
    max: usize,
) -> Result<Option<Vec<u8>>, String> {
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{e}"))? {
        if body.len() + chunk.len() > max {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// At most about the first `max` bytes of a body (a read error ends it early).
async fn body_start(response: &mut reqwest::Response, max: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < max {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(max - body.len())]),
            _ => break,
        }
    }
    body
}
