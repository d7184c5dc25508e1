//! The SWAIG functions the skill registers on an agent, their handlers, and the
//! per-request SWML rewrite that gives them their full definitions.
//!
//! Registered functions:
//! - one per discovered MCP tool (`{prefix}{service}_{tool}`);
//! - `{prefix}call` instead, when the gateway could not be reached at setup: a generic
//!   function taking `service`, `tool` and `arguments` that works as soon as the
//!   gateway is back (the SDK cannot add functions to a running agent);
//! - `hangup_hook`, the platform's reserved function called when the call ends, which
//!   closes the call's gateway session. Reserved functions are not offered to the AI.
//!
//! Why a SWML rewrite: the SDK's `define_tool` (the only way to attach a handler)
//! renders `{"purpose", "argument": {"type":"object","properties":{..}}}` and cannot
//! carry the top-level `required` list. The skill installs the agent's dynamic-config
//! callback, which runs on a per-request copy of the agent before the SWML is
//! rendered, and re-registers each function there with its complete definition
//! (`description`, `parameters` with `required`, and the `web_hook_url` the SDK
//! computed). SWAIG dispatch still goes to the original agent's handlers.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use mcp_gateway_client::GatewayClient;
use serde_json::{Map, Value, json};
use signalwire::agent::AgentBase;
use signalwire::swaig::FunctionResult;

use crate::bridge::Bridge;
use crate::catalog::{self, Catalog, DiscoveryError};
use crate::invoke::{self, SessionRef};
use crate::log;
use crate::params::SkillConfig;
use crate::policy::RetryPolicy;
use crate::speech;

/// The platform's reserved function name for "the call ended".
pub const HANGUP_HOOK: &str = "hangup_hook";
pub const HANGUP_DESCRIPTION: &str =
    "Called by the platform when the call ends: closes this call's MCP gateway sessions";

/// Where the discovered catalog lives; `None` until the gateway answered once.
pub type CatalogSlot = Arc<RwLock<Option<Arc<Catalog>>>>;

/// State shared by the skill, its handlers and the SWML callback.
pub struct Shared {
    pub config: SkillConfig,
    pub client: GatewayClient,
    pub bridge: Bridge,
    pub policy: RetryPolicy,
    pub catalog: CatalogSlot,
    /// `{prefix}call`: the generic function's name.
    pub generic_name: String,
    /// Whether setup registered the generic function instead of per-tool ones.
    pub degraded: bool,
    pub agent_name: OnceLock<String>,
}

impl Shared {
    pub fn catalog(&self) -> Option<Arc<Catalog>> {
        self.catalog.read().expect("catalog lock").clone()
    }

    fn agent_name(&self) -> &str {
        self.agent_name.get().map(String::as_str).unwrap_or("")
    }

    /// The catalog, discovering it now if the gateway was not reached yet.
    fn catalog_or_discover(&self) -> Option<Arc<Catalog>> {
        if let Some(c) = self.catalog() {
            return Some(c);
        }
        let (client, config, reserved) = (
            self.client.clone(),
            self.config.clone(),
            self.generic_name.clone(),
        );
        let found = self
            .bridge
            .run(async move { catalog::discover(&client, &config, &[&reserved]).await });
        match found {
            Ok(Ok(c)) => {
                log().info(&format!(
                    "mcp_gateway: gateway reachable again; {} tools discovered",
                    c.functions.len()
                ));
                let c = Arc::new(c);
                *self.catalog.write().expect("catalog lock") = Some(c.clone());
                Some(c)
            }
            Ok(Err(DiscoveryError::Unreachable(e))) => {
                log().warn(&format!("mcp_gateway: gateway still not reachable: {e}"));
                None
            }
            Ok(Err(e)) => {
                log().error(&format!("mcp_gateway: tool discovery failed: {e}"));
                None
            }
            Err(e) => {
                log().error(&format!("mcp_gateway: tool discovery failed: {e}"));
                None
            }
        }
    }

    /// Handle one SWAIG invocation of `service`'s `tool`.
    pub fn invoke(
        &self,
        service: &str,
        tool: &str,
        args: Map<String, Value>,
        raw: &Map<String, Value>,
    ) -> FunctionResult {
        let session = invoke::session_for(raw);
        if let SessionRef::Adhoc(id) = &session {
            log().warn(&format!(
                "mcp_gateway: {service}.{tool} called without a call id; \
                 using a one-off session {id}, closed after the call"
            ));
        }
        let request = invoke::request(
            tool,
            args,
            &session,
            self.config.session_timeout,
            self.agent_name(),
            raw,
        );
        let (client, policy, svc) = (self.client.clone(), self.policy, service.to_owned());
        let outcome = self
            .bridge
            .run(async move { invoke::call_with_retry(&client, policy, &svc, &request).await });
        if let SessionRef::Adhoc(id) = &session {
            // Nobody can use a one-off session again: close it now rather than leave
            // its server running until the idle timeout.
            let (client, id) = (self.client.clone(), id.clone());
            self.bridge.handle().spawn(async move {
                let _ = client.close_session(&id).await;
            });
        }
        let text = match outcome {
            Ok(Ok(response)) => {
                if response.is_error {
                    log().info(&format!(
                        "mcp_gateway: {service}.{tool} reported a tool error (session {})",
                        session.id()
                    ));
                }
                speech::result_text(service, tool, &response)
            }
            Ok(Err(err)) => {
                log().warn(&format!(
                    "mcp_gateway: {service}.{tool} failed (session {}): {err}",
                    session.id()
                ));
                speech::error_text(service, tool, &err)
            }
            Err(lost) => {
                log().error(&format!("mcp_gateway: {service}.{tool}: {lost}"));
                speech::internal_error_text()
            }
        };
        FunctionResult::with_response(&text)
    }

    /// Handle the generic `{prefix}call(service, tool, arguments)` function.
    pub fn invoke_generic(
        &self,
        args: &Map<String, Value>,
        raw: &Map<String, Value>,
    ) -> FunctionResult {
        let service = args.get("service").and_then(Value::as_str).unwrap_or("");
        let tool = args.get("tool").and_then(Value::as_str).unwrap_or("");
        let arguments = match args.get("arguments") {
            Some(Value::Object(m)) => m.clone(),
            // Models sometimes pass the object as a JSON string.
            Some(Value::String(s)) => match serde_json::from_str(s) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            },
            _ => Map::new(),
        };
        let Some(catalog) = self.catalog_or_discover() else {
            return FunctionResult::with_response(&speech::not_discovered_text());
        };
        if catalog.find(service, tool).is_none() {
            return FunctionResult::with_response(&speech::unknown_tool_text(service, tool));
        }
        self.invoke(service, tool, arguments, raw)
    }

    /// Close the call's session at hangup. Returns whether there was one to close.
    pub fn close_call_session(&self, raw: &Map<String, Value>) {
        let session = invoke::session_for(raw);
        if let SessionRef::Adhoc(_) = session {
            log().warn("mcp_gateway: hangup hook called without a call id; nothing to close");
            return;
        }
        let (client, policy, id) = (self.client.clone(), self.policy, session.id().to_owned());
        let outcome = self
            .bridge
            .run(async move { invoke::close_with_retry(&client, policy, &id).await });
        match outcome {
            Ok(Ok(())) => log().info(&format!(
                "mcp_gateway: closed gateway session {}",
                session.id()
            )),
            Ok(Err(e)) => log().warn(&format!(
                "mcp_gateway: could not close gateway session {} (it will expire after \
                 {} s idle): {e}",
                session.id(),
                self.config.session_timeout
            )),
            Err(e) => log().error(&format!("mcp_gateway: closing session: {e}")),
        }
    }

    /// The generic function's SWAIG parameters (`properties`, `required`).
    pub fn generic_parameters(&self, catalog: Option<&Catalog>) -> Value {
        let mut service = json!({"type": "string", "description": "The service name"});
        if let Some(c) = catalog {
            let names: Vec<&str> = c.services.iter().map(|s| s.name.as_str()).collect();
            if !names.is_empty() {
                service["enum"] = json!(names);
            }
        }
        json!({
            "type": "object",
            "properties": {
                "service": service,
                "tool": {"type": "string", "description": "The tool name, as listed in this function's description"},
                "arguments": {"type": "object", "description": "The tool's arguments, as described by its parameter schema"}
            },
            "required": ["service", "tool"]
        })
    }

    /// The generic function's description, listing the tools once they are known.
    pub fn generic_description(&self, catalog: Option<&Catalog>) -> String {
        let mut d = String::from(
            "Use a tool of an external MCP service through the gateway. \
             Give the service name, the tool name and the tool's arguments.",
        );
        match catalog {
            None => d.push_str(" The list of tools is not available yet."),
            Some(c) => {
                d.push_str(" Available tools:");
                for f in &c.functions {
                    d.push_str(&format!(
                        "\n- service {:?}, tool {:?}: {} Parameters: {}",
                        f.service, f.tool, f.description, f.parameters
                    ));
                }
            }
        }
        d
    }

    /// Re-register the skill's functions on a per-request copy of the agent with their
    /// complete definitions (see the module docs).
    pub fn patch_swml(&self, agent: &mut AgentBase, headers: &HashMap<String, String>) {
        let urls = webhook_urls(&agent.render_swml(headers));
        let catalog = self.catalog();
        let mut defs: Vec<Value> = Vec::new();
        if self.degraded {
            defs.push(json!({
                "function": self.generic_name,
                "description": self.generic_description(catalog.as_deref()),
                "parameters": self.generic_parameters(catalog.as_deref()),
            }));
        } else if let Some(c) = &catalog {
            for f in &c.functions {
                defs.push(json!({
                    "function": f.name,
                    "description": f.description,
                    "parameters": f.parameters,
                }));
            }
        }
        for mut def in defs {
            let name = def["function"].as_str().unwrap_or_default().to_owned();
            let Some(url) = urls.get(&name) else {
                continue; // not (or no longer) one of ours on this agent
            };
            if let Value::Object(obj) = &mut def {
                for (k, v) in &self.config.swaig_fields {
                    if !matches!(k.as_str(), "function" | "web_hook_url") {
                        obj.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
                obj.insert("web_hook_url".into(), json!(url));
            }
            agent.register_swaig_function(def);
        }
        if let Some(url) = urls.get(HANGUP_HOOK) {
            let description = agent
                .tool_definition(HANGUP_HOOK)
                .and_then(|d| d.get("purpose").or(d.get("description")).cloned())
                .unwrap_or_else(|| json!(HANGUP_DESCRIPTION));
            agent.register_swaig_function(json!({
                "function": HANGUP_HOOK,
                "description": description,
                "parameters": {"type": "object", "properties": {}},
                "web_hook_url": url,
            }));
        }
    }
}

/// `function name -> web_hook_url` of every SWAIG function in rendered SWML.
fn webhook_urls(swml: &Value) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let main = swml
        .pointer("/sections/main")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for verb in main {
        let functions = verb
            .pointer("/ai/SWAIG/functions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for f in functions {
            if let (Some(name), Some(url)) = (
                f.get("function").and_then(Value::as_str),
                f.get("web_hook_url").and_then(Value::as_str),
            ) {
                out.insert(name.to_owned(), url.to_owned());
            }
        }
    }
    out
}
