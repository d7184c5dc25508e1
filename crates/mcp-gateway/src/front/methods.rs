//! The MCP methods: answered here (`ping`, `logging/setLevel`, the merged lists) or forwarded
//! to the session's child of the service that owns the named tool, prompt or resource.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};

use super::aggregate::{self, NameMap};
use super::relay::{self, ToolCall};
use super::rpc::{self, RpcError};
use super::session::McpSession;
use crate::session::SessionError;

/// Most pages read from one child for one list.
const MAX_CHILD_PAGES: usize = 100;

pub(super) struct Ctx {
    pub manager: Arc<super::session::Sessions>,
    pub session: Arc<McpSession>,
}

/// The lists we merge: method, the array's key, the key renamed in each item, the
/// capability a child must have advertised, and the session's map it fills.
struct ListKind {
    method: &'static str,
    items: &'static str,
    key: &'static str,
    capability: &'static str,
}

const TOOLS: ListKind = ListKind {
    method: "tools/list",
    items: "tools",
    key: "name",
    capability: "tools",
};
const PROMPTS: ListKind = ListKind {
    method: "prompts/list",
    items: "prompts",
    key: "name",
    capability: "prompts",
};
const RESOURCES: ListKind = ListKind {
    method: "resources/list",
    items: "resources",
    key: "uri",
    capability: "resources",
};
const TEMPLATES: ListKind = ListKind {
    method: "resources/templates/list",
    items: "resourceTemplates",
    key: "uriTemplate",
    capability: "resources",
};

pub(super) async fn dispatch(ctx: &Ctx, id: &Value, method: &str, params: Value) -> Value {
    let outcome = match method {
        "ping" => Ok(json!({})),
        "tools/list" => list(ctx, &TOOLS, &params).await,
        "prompts/list" => list(ctx, &PROMPTS, &params).await,
        "resources/list" => list(ctx, &RESOURCES, &params).await,
        "resources/templates/list" => list(ctx, &TEMPLATES, &params).await,
        "prompts/get" => by_name(ctx, method, params, "name", ctx.session.prompts()).await,
        "resources/read" => read_resource(ctx, params).await,
        "resources/subscribe" | "resources/unsubscribe" => {
            by_name(ctx, method, params, "uri", ctx.session.resources()).await
        }
        "completion/complete" => complete(ctx, params).await,
        "logging/setLevel" => set_level(ctx, params).await,
        other => Err(RpcError::new(
            rpc::METHOD_NOT_FOUND,
            format!("method not found: {other}"),
        )),
    };
    match outcome {
        Ok(result) => rpc::result(id, result),
        Err(err) => err.to_response(id),
    }
}

/// Resolve a `tools/call` to a service and tool; the error response otherwise.
pub(super) async fn prepare_call(ctx: &Ctx, id: &Value, params: Value) -> Result<ToolCall, Value> {
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return Err(RpcError::invalid_params("tools/call needs a name").to_response(id));
    };
    // A tool the session's key may not use is an unknown one.
    let principal = ctx.session.principal();
    let (service, tool) = resolve_tool(ctx, name)
        .await
        .filter(|(service, tool)| principal.allows_tool(service, tool))
        .ok_or_else(|| RpcError::invalid_params(format!("unknown tool: {name}")).to_response(id))?;
    tracing::info!(
        target: "security",
        event_type = "tool_call",
        %service,
        %tool,
        session_id = %ctx.session.id(),
        via = "mcp",
        "tool call"
    );
    let timeout = ctx.manager.call_timeout(ctx.session.id(), &service);
    let cancel_grace = ctx.manager.config().mcp.cancel_grace;
    Ok(ToolCall {
        id: id.clone(),
        tracked: ctx.session.track(id),
        service,
        tool,
        params,
        timeout,
        cancel_grace,
    })
}

/// Map lookup (names we listed), then the services' tool lists, then the prefix alone.
async fn resolve_tool(ctx: &Ctx, exposed: &str) -> Option<(String, String)> {
    if let Some(found) = ctx.session.tools().lock().expect("names lock").get(exposed) {
        return Some(found);
    }
    let naming = ctx.session.naming();
    for service in &naming.services {
        if let Ok(tools) = ctx.manager.tools(service).await
            && let Some(tool) = tools
                .iter()
                .map(|t| t.name.as_str())
                .find(|t| naming.expose(service, t) == exposed)
        {
            return Some((service.clone(), tool.to_string()));
        }
    }
    naming
        .split(exposed)
        .map(|(service, tool)| (service, tool.to_string()))
}

async fn list(ctx: &Ctx, kind: &ListKind, params: &Value) -> Result<Value, RpcError> {
    let naming = ctx.session.naming();
    let mut seen = HashSet::new();
    let mut names = NameMap::default();
    let mut all = Vec::new();
    for service in &naming.services {
        let items = match service_items(ctx, kind, service).await {
            // A scoped key lists only the tools it may use.
            Ok(items) if kind.items == "tools" => items
                .into_iter()
                .filter(|t| {
                    t.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|name| ctx.session.principal().allows_tool(service, name))
                })
                .collect(),
            Ok(items) => items,
            Err(err) => {
                tracing::warn!(session = %ctx.session.id(), %service, error = %err.message, "{} failed: service skipped", kind.method);
                continue;
            }
        };
        all.extend(aggregate::rename_items(
            naming, service, items, kind.key, &mut seen, &mut names,
        ));
    }
    let map = match kind.items {
        "tools" => ctx.session.tools(),
        "prompts" => ctx.session.prompts(),
        _ => ctx.session.resources(),
    };
    map.lock().expect("names lock").extend(names);
    let cursor = params.get("cursor").and_then(Value::as_str);
    let (page, next) = aggregate::page(all, cursor, ctx.manager.config().mcp.page_size)
        .map_err(RpcError::invalid_params)?;
    let mut result = json!({ kind.items: page });
    if let Some(next) = next {
        result["nextCursor"] = Value::String(next);
    }
    Ok(result)
}

/// One service's items. Tools come from the session's own child when it runs (its list may
/// differ from the shared catalog), else from the catalog (no child started). Prompts and
/// resources need the session's child.
async fn service_items(ctx: &Ctx, kind: &ListKind, service: &str) -> Result<Vec<Value>, RpcError> {
    let running = ctx.manager.mcp_running_child(ctx.session.id(), service);
    if kind.items == "tools" && running.is_none() {
        match ctx.manager.tools(service).await {
            Ok(tools) => return Ok(tools.iter().map(crate::mcp::Tool::to_value).collect()),
            // Removed by a reload since the session began: its own child lists it.
            Err(SessionError::UnknownService(_)) => {}
            Err(err) => return Err(RpcError::from_session(err)),
        }
    }
    let (client, _use) = relay::child(&ctx.manager, &ctx.session, service).await?;
    if client
        .server_info()
        .capabilities
        .get(kind.capability)
        .is_none()
    {
        return Ok(Vec::new());
    }
    let timeout = ctx.manager.call_timeout(ctx.session.id(), service);
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_CHILD_PAGES {
        let params = match &cursor {
            Some(c) => json!({ "cursor": c }),
            None => json!({}),
        };
        let result = client
            .request(kind.method, params, timeout)
            .await
            .map_err(|e| RpcError::from_mcp(service, e))?;
        if let Some(page) = result.get(kind.items).and_then(Value::as_array) {
            items.extend(page.iter().cloned());
        }
        match result.get("nextCursor").and_then(Value::as_str) {
            Some(next) if Some(next) != cursor.as_deref() => cursor = Some(next.to_string()),
            _ => return Ok(items),
        }
    }
    Ok(items)
}

/// Resolve `params[key]` (a prompt name or a resource URI) and forward the request.
async fn by_name(
    ctx: &Ctx,
    method: &str,
    mut params: Value,
    key: &str,
    map: &std::sync::Mutex<NameMap>,
) -> Result<Value, RpcError> {
    let Some(exposed) = params.get(key).and_then(Value::as_str).map(str::to_owned) else {
        return Err(RpcError::invalid_params(format!("{method} needs {key}")));
    };
    let (service, original) = resolve(ctx, &exposed, map)?;
    params[key] = Value::String(original);
    forward(ctx, &service, method, params).await
}

fn resolve(
    ctx: &Ctx,
    exposed: &str,
    map: &std::sync::Mutex<NameMap>,
) -> Result<(String, String), RpcError> {
    if let Some(found) = map.lock().expect("names lock").get(exposed) {
        return Ok(found);
    }
    ctx.session
        .naming()
        .split(exposed)
        .map(|(s, rest)| (s, rest.to_string()))
        .ok_or_else(|| RpcError::invalid_params(format!("unknown name: {exposed}")))
}

async fn forward(ctx: &Ctx, service: &str, method: &str, params: Value) -> Result<Value, RpcError> {
    let (client, _use) = relay::child(&ctx.manager, &ctx.session, service).await?;
    let timeout = ctx.manager.call_timeout(ctx.session.id(), service);
    client
        .request(method, params, timeout)
        .await
        .map_err(|e| RpcError::from_mcp(service, e))
}

async fn read_resource(ctx: &Ctx, params: Value) -> Result<Value, RpcError> {
    let uri = params.get("uri").and_then(Value::as_str).unwrap_or("");
    let (service, _) = resolve(ctx, uri, ctx.session.resources())?;
    let mut result = by_name(
        ctx,
        "resources/read",
        params,
        "uri",
        ctx.session.resources(),
    )
    .await?;
    if let Some(contents) = result.get_mut("contents").and_then(Value::as_array_mut) {
        for item in contents {
            if let Some(inner) = item.get("uri").and_then(Value::as_str) {
                item["uri"] = Value::String(ctx.session.naming().expose_uri(&service, inner));
            }
        }
    }
    Ok(result)
}

async fn complete(ctx: &Ctx, mut params: Value) -> Result<Value, RpcError> {
    let reference = params.get("ref").cloned().unwrap_or(Value::Null);
    let (key, map) = match reference.get("type").and_then(Value::as_str) {
        Some("ref/prompt") => ("name", ctx.session.prompts()),
        Some("ref/resource") => ("uri", ctx.session.resources()),
        _ => return Err(RpcError::invalid_params("completion/complete needs a ref")),
    };
    let exposed = reference.get(key).and_then(Value::as_str).unwrap_or("");
    let (service, original) = resolve(ctx, exposed, map)?;
    params["ref"][key] = Value::String(original);
    forward(ctx, &service, "completion/complete", params).await
}

/// Remember the level and pass it to the session's running children.
async fn set_level(ctx: &Ctx, params: Value) -> Result<Value, RpcError> {
    let Some(level) = params.get("level").and_then(Value::as_str) else {
        return Err(RpcError::invalid_params("logging/setLevel needs a level"));
    };
    ctx.session.set_log_level(level);
    for service in &ctx.session.naming().services {
        if let Some(client) = ctx.manager.mcp_running_child(ctx.session.id(), service)
            && client.server_info().capabilities.get("logging").is_some()
        {
            let timeout = std::time::Duration::from_secs(5);
            if let Err(err) = client
                .request("logging/setLevel", params.clone(), timeout)
                .await
            {
                tracing::debug!(%service, error = %err, "logging/setLevel refused");
            }
        }
    }
    Ok(json!({}))
}
