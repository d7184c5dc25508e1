//! Relaying between one MCP client and the children of its session: `tools/call` with
//! progress-token rewriting and cancellation, notifications from children to the GET
//! stream, and the escalation against a child that ignores a cancel.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use super::rpc::{self, RpcError};
use super::session::{McpSession, Tracked};
use crate::mcp::{ChildEvent, McpClient};
use crate::session::{SessionManager, SessionUse};

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// The session's child of `service` (started on first use) with its notifications forwarded.
pub async fn child(
    manager: &Arc<SessionManager>,
    session: &Arc<McpSession>,
    service: &str,
) -> Result<(McpClient, SessionUse), RpcError> {
    let (client, guard) = manager
        .mcp_child(&session.id, service)
        .await
        .map_err(RpcError::from_session)?;
    forward_notifications(session, service, &client);
    Ok((client, guard))
}

/// Follow a child of the session (once per child): list changes, resource updates and log
/// messages not tied to a call go to the session's GET stream. Ends when the child exits or
/// the session is gone.
fn forward_notifications(session: &Arc<McpSession>, service: &str, client: &McpClient) {
    if !session
        .forwarded
        .lock()
        .expect("forwarded lock")
        .insert(client.pid())
    {
        return;
    }
    let watcher = client.watcher();
    let weak = Arc::downgrade(session);
    let service = service.to_string();
    let mut events = watcher.subscribe();
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                _ = watcher.exited() => break,
            };
            let Some(session) = weak.upgrade() else { break };
            match event {
                Ok(ChildEvent::ToolsListChanged) => {
                    session.push(rpc::notification(
                        "notifications/tools/list_changed",
                        Value::Null,
                    ));
                }
                Ok(ChildEvent::Notification { method, mut params }) => match method.as_str() {
                    "notifications/prompts/list_changed"
                    | "notifications/resources/list_changed" => {
                        session.push(rpc::notification(&method, params));
                    }
                    "notifications/resources/updated" => {
                        if let Some(uri) = params.get("uri").and_then(Value::as_str) {
                            params["uri"] = Value::String(session.naming.expose_uri(&service, uri));
                        }
                        session.push(rpc::notification(&method, params));
                    }
                    "notifications/message" if session.calls_on(&service) == 0 => {
                        session.push(rpc::notification(&method, params));
                    }
                    _ => {}
                },
                Ok(ChildEvent::Exited { .. }) | Err(broadcast::error::RecvError::Closed) => break,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(session = %session.id, %service, n, "notifications lost");
                }
            }
        }
        if let Some(session) = weak.upgrade() {
            session
                .forwarded
                .lock()
                .expect("forwarded lock")
                .remove(&watcher.pid());
        }
    });
}

/// What the client asked for in one `tools/call`.
pub struct ToolCall {
    pub id: Value,
    /// Registered before the response starts, so an early cancel is not lost.
    pub tracked: Tracked,
    pub service: String,
    pub tool: String,
    pub params: Value,
    pub timeout: Duration,
    pub cancel_grace: Duration,
}

/// Serve one `tools/call`: the response to send, or `None` when the client cancelled it (or
/// went away). `out` receives the notifications that precede the response (progress with the
/// client's own token, log messages); without it (JSON response mode) they are dropped.
pub async fn call_tool(
    manager: &Arc<SessionManager>,
    session: &Arc<McpSession>,
    call: ToolCall,
    out: Option<mpsc::Sender<Value>>,
) -> Option<Value> {
    let ToolCall {
        id,
        tracked,
        service,
        tool,
        mut params,
        timeout,
        cancel_grace,
    } = call;
    let (client, _use) = match child(manager, session, &service).await {
        Ok(child) => child,
        Err(err) => return Some(err.to_response(&id)),
    };
    params["name"] = Value::String(tool);
    let client_token = rpc::progress_token(&params);
    let our_token = client_token.as_ref().map(|_| {
        let token = json!(format!(
            "mcpgw-{}",
            NEXT_TOKEN.fetch_add(1, Ordering::Relaxed)
        ));
        params["_meta"]["progressToken"] = token.clone();
        token
    });
    // Subscribed before the request is sent: no progress can be missed.
    let mut events = client.subscribe();
    let mut events_open = true;
    let _call_on = session.call_started(&service);
    // The request future lives in this block: leaving it early drops the future, which tells
    // the child `notifications/cancelled` with its own id.
    let response = {
        let request = client.request("tools/call", params, timeout);
        tokio::pin!(request);
        let closed = async {
            match &out {
                Some(out) => out.closed().await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(closed);
        loop {
            tokio::select! {
                result = &mut request => {
                    // Progress the child sent before its result is already queued: first.
                    while let Ok(event) = events.try_recv() {
                        if let Some(message) = relayed(event, our_token.as_ref(), client_token.as_ref()) {
                            send(&out, message).await;
                        }
                    }
                    break Some(match result {
                        Ok(result) => rpc::result(&id, result),
                        Err(err) => RpcError::from_mcp(&service, err).to_response(&id),
                    });
                }
                event = events.recv(), if events_open => match event {
                Ok(event) => {
                    if let Some(message) = relayed(event, our_token.as_ref(), client_token.as_ref()) {
                        send(&out, message).await;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(session = %session.id, %service, n, "progress notifications lost");
                }
                Err(broadcast::error::RecvError::Closed) => events_open = false,
            },
            () = tracked.token.cancelled() => {
                    tracing::info!(session = %session.id, %service, id = %id, "request cancelled by the client");
                    break None;
                }
                () = &mut closed => {
                    tracing::info!(session = %session.id, %service, id = %id, "client went away: cancelling its request");
                    break None;
                }
            }
        }
    };
    if response.is_some() {
        return response;
    }
    if let Some(token) = our_token {
        tokio::spawn(enforce_cancel(client, events, token, cancel_grace));
    }
    None
}

/// The message to relay on a call's stream for a child event: its progress (under the
/// client's token) and log messages.
fn relayed(event: ChildEvent, ours: Option<&Value>, theirs: Option<&Value>) -> Option<Value> {
    let ChildEvent::Notification { method, mut params } = event else {
        return None;
    };
    match method.as_str() {
        "notifications/progress" => {
            let (ours, theirs) = (ours?, theirs?);
            if params.get("progressToken") != Some(ours) {
                return None;
            }
            params["progressToken"] = theirs.clone();
        }
        "notifications/message" => {}
        _ => return None,
    }
    Some(rpc::notification(&method, params))
}

async fn send(out: &Option<mpsc::Sender<Value>>, message: Value) {
    if let Some(out) = out {
        let _ = out.send(message).await;
    }
}

/// A cancelled request's progress notifications are dropped; a child still sending them
/// `grace` after the cancel ignored it, and is stopped (the session starts a new one on its
/// next use).
async fn enforce_cancel(
    client: McpClient,
    mut events: broadcast::Receiver<ChildEvent>,
    token: Value,
    grace: Duration,
) {
    let deadline = Instant::now() + grace;
    let give_up = deadline + grace;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(ChildEvent::Notification { method, params })
                    if method == "notifications/progress"
                        && params.get("progressToken") == Some(&token)
                        && Instant::now() >= deadline =>
                {
                    tracing::warn!(pid = client.pid(), ?grace, "the server ignored a cancellation: stopping it");
                    client.stop().await;
                    return;
                }
                Ok(ChildEvent::Exited { .. }) | Err(broadcast::error::RecvError::Closed) => return,
                _ => {}
            },
            () = tokio::time::sleep_until(give_up) => return,
        }
    }
}
