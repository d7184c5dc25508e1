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
use super::session::{MAX_RELAYED_REQUESTS, McpSession, Tracked};
use crate::mcp::{ChildEvent, McpClient};
use crate::session::InUse;

use super::session::Sessions;

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// The session's child of `service` (started on first use) with its notifications forwarded.
pub(super) async fn child(
    manager: &Arc<Sessions>,
    session: &Arc<McpSession>,
    service: &str,
) -> Result<(McpClient, InUse), RpcError> {
    let (client, guard) = manager
        .mcp_child(session.id(), service)
        .await
        .map_err(RpcError::from_session)?;
    forward_notifications(manager, session, service, &client);
    Ok((client, guard))
}

/// Follow a child of the session (once per child): list changes, resource updates and log
/// messages not tied to a call go to the session's GET stream. Ends when the child exits or
/// the session is gone.
fn forward_notifications(
    manager: &Sessions,
    session: &Arc<McpSession>,
    service: &str,
    client: &McpClient,
) {
    if !session.start_forwarding(client.id()) {
        return;
    }
    let watcher = client.watcher();
    let weak = Arc::downgrade(session);
    let service = service.to_string();
    let mut events = watcher.subscribe();
    // From here this task answers the child's requests (relayed to the client, or refused).
    client.relay_requests();
    let client = client.clone();
    let level = session.log_level();
    manager.tasks().spawn(async move {
        // A level the client chose before this child started applies to it too.
        if let Some(level) = level
            && client.server_info().capabilities.get("logging").is_some()
        {
            let params = json!({ "level": level });
            if let Err(err) = client
                .request("logging/setLevel", params, Duration::from_secs(5))
                .await
            {
                tracing::debug!(error = %err, "logging/setLevel refused");
            }
        }
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
                            params["uri"] =
                                Value::String(session.naming().expose_uri(&service, uri));
                        }
                        session.push(rpc::notification(&method, params));
                    }
                    "notifications/message" if !session.calls_on(&service) => {
                        session.push(rpc::notification(&method, params));
                    }
                    _ => {}
                },
                Ok(ChildEvent::Request { id, method, params }) => {
                    relay_request(&session, &service, &client, id, method, params).await;
                }
                Ok(ChildEvent::Exited { .. }) | Err(broadcast::error::RecvError::Closed) => break,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(session = %session.id(), %service, n, "notifications lost");
                }
            }
        }
        if let Some(session) = weak.upgrade() {
            session.forget_relayed_of(&client);
            session.stop_forwarding(watcher.id());
        }
    });
}

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// A child's sampling / elicitation / roots request: sent to the client under our own id on
/// the stream of a call in flight on that child (else the GET stream) when the client
/// declared the capability; refused otherwise (`roots/list` gets an empty list).
async fn relay_request(
    session: &McpSession,
    service: &str,
    client: &McpClient,
    id: Value,
    method: String,
    params: Value,
) {
    let capability = match method.as_str() {
        "sampling/createMessage" => "sampling",
        "elicitation/create" => "elicitation",
        _ => "roots",
    };
    if !session.declares(capability) {
        tracing::debug!(session = %session.id(), %service, %method, "client lacks the capability: refused");
        client.respond(id, refusal(&method, capability));
        return;
    }
    let ours = format!("mcpgw-req-{}", NEXT_REQUEST.fetch_add(1, Ordering::Relaxed));
    if !session.relaying(ours.clone(), client.clone(), id.clone()) {
        tracing::debug!(session = %session.id(), %service, %method, "too many requests wait for the client: refused");
        client.respond(
            id,
            Err((
                rpc::GATEWAY_ERROR,
                format!(
                    "{method}: {MAX_RELAYED_REQUESTS} requests already wait for the MCP client"
                ),
            )),
        );
        return;
    }
    let message = json!({ "jsonrpc": "2.0", "id": ours, "method": method, "params": params });
    let sent = match session.call_stream(service) {
        Some(out) => out.send(message).await.is_ok(),
        None => session.push(message),
    };
    if !sent {
        session.relayed(&ours);
        client.respond(
            id,
            Err((
                rpc::INVALID_REQUEST,
                format!("{method}: no open stream to the MCP client, or it is full"),
            )),
        );
    }
}

fn refusal(method: &str, capability: &str) -> Result<Value, (i64, String)> {
    if method == "roots/list" {
        return Ok(json!({ "roots": [] }));
    }
    Err((
        rpc::METHOD_NOT_FOUND,
        format!("the MCP client did not declare the {capability} capability"),
    ))
}

/// The client answered a request we relayed: pass the answer to the child under its id.
pub(super) fn client_response(session: &McpSession, message: &Value) {
    let Some(ours) = message.get("id").and_then(Value::as_str) else {
        return;
    };
    let Some((client, id)) = session.relayed(ours) else {
        tracing::debug!(session = %session.id(), id = ours, "response to no relayed request");
        return;
    };
    let outcome = match (message.get("result"), message.get("error")) {
        (Some(result), _) => Ok(result.clone()),
        (None, Some(error)) => Err((
            error["code"].as_i64().unwrap_or(rpc::INVALID_REQUEST),
            error["message"].as_str().unwrap_or("error").to_string(),
        )),
        (None, None) => Err((rpc::INVALID_REQUEST, "empty response".to_string())),
    };
    client.respond(id, outcome);
}

/// What the client asked for in one `tools/call`.
pub(super) struct ToolCall {
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
pub(super) async fn call_tool(
    manager: &Arc<Sessions>,
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
    let _call_on = session.call_started(&service, out.clone());
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
                    tracing::warn!(session = %session.id(), %service, n, "progress notifications lost");
                }
                Err(broadcast::error::RecvError::Closed) => events_open = false,
            },
            () = tracked.token.cancelled() => {
                    tracing::info!(session = %session.id(), %service, id = %id, "request cancelled by the client");
                    break None;
                }
                () = &mut closed => {
                    tracing::info!(session = %session.id(), %service, id = %id, "client went away: cancelling its request");
                    break None;
                }
            }
        }
    };
    if response.is_some() {
        return response;
    }
    if let Some(token) = our_token {
        manager
            .tasks()
            .spawn(enforce_cancel(client, events, token, cancel_grace));
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

/// Queue a notification on the call's SSE stream without waiting: a client that stops reading
/// must not suspend the call (its `call_timeout`, its cancellation). Progress and log messages
/// it does not read in time are dropped.
async fn send(out: &Option<mpsc::Sender<Value>>, message: Value) {
    if let Some(out) = out
        && let Err(mpsc::error::TrySendError::Full(_)) = out.try_send(message)
    {
        tracing::debug!(
            "SSE stream of a call full (the client is not reading): notification dropped"
        );
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
