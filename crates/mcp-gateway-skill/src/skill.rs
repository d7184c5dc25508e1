//! [`McpGatewaySkill`]: the SDK's `SkillBase` for the `mcp_gateway` skill.

use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use mcp_gateway_client::{BuildError, ClientConfig, GatewayClient};
use serde_json::{Map, Value, json};
use signalwire::agent::AgentBase;
use signalwire::skills::SkillBase;
use signalwire::swaig::FunctionResult;

use crate::bridge::Bridge;
use crate::catalog::{self, DiscoveryError};
use crate::functions::{CatalogSlot, HANGUP_DESCRIPTION, HANGUP_HOOK, Shared};
use crate::log;
use crate::naming::{self, Collision};
use crate::params::{EnvSource, ParamError, ProcessEnv, SkillConfig, ToolFilter};
use crate::policy::RetryPolicy;

/// The registry name of the skill.
pub const SKILL_NAME: &str = "mcp_gateway";

/// Longest wait between two background discovery attempts.
const MAX_REDISCOVERY_WAIT: Duration = Duration::from_secs(60);

/// Why the skill cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("mcp_gateway: {0}")]
    Params(#[from] ParamError),
    #[error("mcp_gateway: cannot create the gateway client: {0}")]
    Client(#[from] BuildError),
    #[error("mcp_gateway: cannot start the skill's runtime: {0}")]
    Runtime(#[from] std::io::Error),
    #[error("mcp_gateway: the gateway at {url} rejected the credentials")]
    Unauthorized { url: String },
    #[error("mcp_gateway: {0}")]
    Collision(#[from] Collision),
    #[error("mcp_gateway: the skill is already loaded on this agent (one instance per agent)")]
    AlreadyLoaded,
    #[error("mcp_gateway: tool discovery ended unexpectedly")]
    Internal,
}

/// The `mcp_gateway` skill: every tool of an MCP Gateway as a SWAIG function.
///
/// Setup discovers the tools; if the gateway cannot be reached, the skill still loads,
/// offers one generic function (`{tool_prefix}call`) and keeps looking for the
/// gateway in the background. Wrong credentials, bad parameters and function-name
/// collisions fail setup.
pub struct McpGatewaySkill {
    params: Map<String, Value>,
    env: Arc<dyn EnvSource>,
    shared: Option<Arc<Shared>>,
}

impl McpGatewaySkill {
    /// A skill reading credentials from the process environment when the params have
    /// none.
    pub fn new(params: Map<String, Value>) -> Self {
        Self::with_env(params, Arc::new(ProcessEnv))
    }

    pub fn with_env(params: Map<String, Value>, env: Arc<dyn EnvSource>) -> Self {
        McpGatewaySkill {
            params,
            env,
            shared: None,
        }
    }

    /// Names of the SWAIG functions this skill registers (after setup).
    pub fn function_names(&self) -> Vec<String> {
        let Some(shared) = &self.shared else {
            return Vec::new();
        };
        let mut names = if shared.degraded {
            vec![shared.generic_name.clone()]
        } else {
            shared
                .catalog()
                .map(|c| c.functions.iter().map(|f| f.name.clone()).collect())
                .unwrap_or_default()
        };
        names.push(HANGUP_HOOK.to_owned());
        names
    }

    /// Validate the parameters and discover the tools; idempotent.
    pub fn try_setup(&mut self) -> Result<(), SetupError> {
        if self.shared.is_some() {
            return Ok(());
        }
        let config = SkillConfig::from_params(&self.params, self.env.as_ref())?;
        if !config.ignored_keys.is_empty() {
            log().warn(&format!(
                "mcp_gateway: ignoring unknown parameters {:?}",
                config.ignored_keys
            ));
        }
        let client = GatewayClient::new(ClientConfig {
            base_url: config.gateway_url.clone(),
            auth: config.auth.clone(),
            request_timeout: config.request_timeout,
            verify_ssl: config.verify_ssl,
        })?;
        let bridge = Bridge::new()?;
        let generic_name = format!("{}call", naming::sanitize(&config.tool_prefix));

        let found = {
            let (client, config, reserved) = (client.clone(), config.clone(), generic_name.clone());
            bridge
                .run(async move { catalog::discover(&client, &config, &[&reserved]).await })
                .map_err(|_| SetupError::Internal)?
        };
        let slot: CatalogSlot = Arc::new(RwLock::new(None));
        let degraded = match found {
            Ok(found) => {
                log().info(&format!(
                    "mcp_gateway: connected to {}; {} tools from services {:?}",
                    config.gateway_url,
                    found.functions.len(),
                    found.services.iter().map(|s| &s.name).collect::<Vec<_>>()
                ));
                *slot.write().expect("catalog lock") = Some(Arc::new(found));
                false
            }
            Err(DiscoveryError::Unreachable(err)) => {
                log().error(&format!(
                    "mcp_gateway: cannot discover tools at {}: {err}. The agent starts \
                     anyway and offers the generic function {generic_name} instead of one \
                     function per tool; discovery is retried in the background and on \
                     first use. Restart the agent once the gateway is up to get one \
                     function per tool.",
                    config.gateway_url
                ));
                true
            }
            Err(DiscoveryError::Unauthorized(_)) => {
                return Err(SetupError::Unauthorized {
                    url: config.gateway_url,
                });
            }
            Err(DiscoveryError::Collision(c)) => return Err(SetupError::Collision(c)),
        };

        if degraded {
            bridge.handle().spawn(rediscover(
                client.clone(),
                config.clone(),
                generic_name.clone(),
                slot.clone(),
            ));
        }
        self.shared = Some(Arc::new(Shared {
            policy: RetryPolicy::new(config.retry_attempts),
            config,
            client,
            bridge,
            catalog: slot,
            generic_name,
            degraded,
            agent_name: OnceLock::new(),
        }));
        Ok(())
    }

    /// `(name, tools)` of each service, from discovery when it succeeded, else from the
    /// parameters.
    fn services(&self) -> Vec<(String, Option<usize>)> {
        if let Some(c) = self.shared.as_ref().and_then(|s| s.catalog()) {
            return c
                .services
                .iter()
                .map(|s| (s.name.clone(), (!s.all_tools).then_some(s.tool_count)))
                .collect();
        }
        let configured = match &self.shared {
            Some(s) => s.config.services.clone(),
            None => SkillConfig::from_params(&self.params, self.env.as_ref())
                .map(|c| c.services)
                .unwrap_or_default(),
        };
        configured
            .into_iter()
            .map(|s| {
                let count = match &s.tools {
                    ToolFilter::All => None,
                    ToolFilter::Only(names) => Some(names.len()),
                };
                (s.name, count)
            })
            .collect()
    }
}

/// Keep trying to discover the tools until the gateway answers.
async fn rediscover(
    client: GatewayClient,
    config: SkillConfig,
    reserved: String,
    slot: CatalogSlot,
) {
    let mut wait = Duration::from_secs(1);
    loop {
        tokio::time::sleep(wait).await;
        if slot.read().expect("catalog lock").is_some() {
            return; // found on first use meanwhile
        }
        match catalog::discover(&client, &config, &[&reserved]).await {
            Ok(found) => {
                log().info(&format!(
                    "mcp_gateway: gateway at {} reachable again; {} tools discovered and \
                     offered through the generic function {reserved} (restart the agent \
                     for one function per tool)",
                    config.gateway_url,
                    found.functions.len()
                ));
                *slot.write().expect("catalog lock") = Some(Arc::new(found));
                return;
            }
            Err(DiscoveryError::Unreachable(err)) => {
                wait = (wait * 2).min(MAX_REDISCOVERY_WAIT);
                log().warn(&format!(
                    "mcp_gateway: gateway at {} still not reachable ({err}); next try in {} s",
                    config.gateway_url,
                    wait.as_secs()
                ));
            }
            Err(err) => {
                log().error(&format!("mcp_gateway: tool discovery stopped: {err}"));
                return;
            }
        }
    }
}

impl SkillBase for McpGatewaySkill {
    fn name(&self) -> &str {
        SKILL_NAME
    }

    fn description(&self) -> &str {
        "Bridge MCP servers with SWAIG functions"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn setup(&mut self) -> bool {
        match self.try_setup() {
            Ok(()) => true,
            Err(err) => {
                log().error(&err.to_string());
                false
            }
        }
    }

    fn register_tools(&self, agent: &mut AgentBase) {
        let Some(shared) = &self.shared else {
            log().error("mcp_gateway: register_tools called before a successful setup");
            return;
        };
        let _ = shared.agent_name.set(agent.name().to_owned());

        if shared.degraded {
            let s = shared.clone();
            agent.define_tool(
                &shared.generic_name,
                &shared.generic_description(None),
                shared.generic_parameters(None)["properties"].clone(),
                Box::new(move |args, raw| s.invoke_generic(args, raw)),
                false,
            );
        } else if let Some(catalog) = shared.catalog() {
            for f in &catalog.functions {
                if agent.has_function(&f.name) {
                    log().warn(&format!(
                        "mcp_gateway: replacing the agent's existing function {}",
                        f.name
                    ));
                }
                let (s, service, tool) = (shared.clone(), f.service.clone(), f.tool.clone());
                agent.define_tool(
                    &f.name,
                    &f.description,
                    f.parameters["properties"].clone(),
                    Box::new(move |args, raw| s.invoke(&service, &tool, args.clone(), raw)),
                    false,
                );
            }
        }

        // Cleanup at hangup, chained after an existing hangup_hook handler if any.
        let previous = agent
            .get_function(HANGUP_HOOK)
            .map(|t| (t.handler.clone(), t.definition.clone()));
        let s = shared.clone();
        match previous {
            Some((None, _)) => log().warn(
                "mcp_gateway: the agent's hangup_hook has no local handler; gateway \
                 sessions will close by idle timeout only",
            ),
            Some((Some(prev), def)) => {
                let description = def
                    .get("purpose")
                    .or(def.get("description"))
                    .and_then(Value::as_str)
                    .unwrap_or(HANGUP_DESCRIPTION)
                    .to_owned();
                agent.define_tool(
                    HANGUP_HOOK,
                    &description,
                    json!({}),
                    Box::new(move |args, raw| {
                        s.close_call_session(raw);
                        prev(args, raw)
                    }),
                    false,
                );
            }
            None => {
                agent.define_tool(
                    HANGUP_HOOK,
                    HANGUP_DESCRIPTION,
                    json!({}),
                    Box::new(move |_args, raw| {
                        s.close_call_session(raw);
                        FunctionResult::with_response("Session cleanup complete")
                    }),
                    false,
                );
            }
        }

        let s = shared.clone();
        agent.set_dynamic_config_callback(Box::new(move |_query, _body, headers, copy| {
            s.patch_swml(copy, headers)
        }));
    }

    fn get_hints(&self) -> Vec<String> {
        let mut hints = vec!["MCP".to_owned(), "gateway".to_owned()];
        for (name, _) in self.services() {
            if !hints.contains(&name) {
                hints.push(name);
            }
        }
        hints
    }

    fn get_global_data(&self) -> Map<String, Value> {
        let url = self
            .shared
            .as_ref()
            .map(|s| s.config.gateway_url.clone())
            .unwrap_or_default();
        let names: Vec<String> = self.services().into_iter().map(|(n, _)| n).collect();
        let mut data = Map::new();
        data.insert("mcp_gateway_url".into(), json!(url));
        data.insert("mcp_session_id".into(), Value::Null);
        data.insert("mcp_services".into(), json!(names));
        data
    }

    fn get_prompt_sections(&self) -> Vec<Value> {
        let Some(shared) = &self.shared else {
            return Vec::new();
        };
        if shared.config.skip_prompt {
            return Vec::new();
        }
        let services: Vec<String> = self
            .services()
            .into_iter()
            .map(|(name, count)| match count {
                None => format!("{name} (all tools)"),
                Some(n) => format!("{name} ({n} tools)"),
            })
            .collect();
        if services.is_empty() && !shared.degraded {
            return Vec::new();
        }
        let listed = if services.is_empty() {
            "listed once the gateway is reachable".to_owned()
        } else {
            services.join(", ")
        };
        let how = if shared.degraded {
            format!(
                "Use the function '{}' with a service name, a tool name and the tool's \
                 arguments",
                shared.generic_name
            )
        } else {
            format!(
                "Functions are prefixed with '{}' followed by service name",
                shared.config.tool_prefix
            )
        };
        vec![json!({
            "title": "MCP Gateway Integration",
            "body": "You have access to external MCP (Model Context Protocol) services through a gateway.",
            "bullets": [
                format!("Connected to gateway at {}", shared.config.gateway_url),
                format!("Available services: {listed}"),
                how,
                "Each service maintains its own session state throughout the call",
            ],
        })]
    }

    fn get_parameter_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "gateway_url": {"type": "string", "description": "URL of the MCP Gateway service"},
                "auth_token": {"type": "string", "description": "Bearer token (alternative to basic auth); env MCP_GATEWAY_AUTH_TOKEN"},
                "auth_user": {"type": "string", "description": "Basic auth user; env MCP_GATEWAY_AUTH_USER"},
                "auth_password": {"type": "string", "description": "Basic auth password; env MCP_GATEWAY_AUTH_PASSWORD"},
                "services": {"type": "array", "default": [], "description": "Services to expose (empty: all), each {name, tools: \"*\" | [names]}"},
                "session_timeout": {"type": "number", "default": 300, "description": "Session idle timeout in seconds, sent with every call"},
                "tool_prefix": {"type": "string", "default": "mcp_", "description": "Prefix of the SWAIG function names"},
                "retry_attempts": {"type": "integer", "default": 3, "description": "Total attempts for a call that provably did not run"},
                "request_timeout": {"type": "number", "default": 30, "description": "HTTP request timeout in seconds"},
                "verify_ssl": {"type": "boolean", "default": true, "description": "Verify the gateway's TLS certificate"},
                "swaig_fields": {"type": "object", "description": "Extra SWAIG fields merged into every generated function"},
                "skip_prompt": {"type": "boolean", "default": false, "description": "Do not add the prompt section"}
            },
            "required": ["gateway_url"]
        })
    }

    fn params(&self) -> &Map<String, Value> {
        &self.params
    }
}
