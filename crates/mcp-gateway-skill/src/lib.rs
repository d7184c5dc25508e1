//! The `mcp_gateway` skill for the official SignalWire Rust SDK (`signalwire-sdk`):
//! every tool of an MCP Gateway becomes a SWAIG function the AI can call during a
//! phone call, with one gateway session per call, closed when the call hangs up.
//!
//! ```no_run
//! use mcp_gateway_skill::AgentBaseExt;
//! use signalwire::agent::{AgentBase, AgentOptions};
//!
//! let mut agent = AgentBase::new(AgentOptions::new("greeter"));
//! agent
//!     .add_mcp_gateway(serde_json::json!({
//!         "gateway_url": "http://127.0.0.1:8080",
//!         "auth_user": "admin",
//!         "auth_password": "changeme",
//!         "services": [{"name": "greeter", "tools": "*"}]
//!     }))
//!     .expect("mcp_gateway skill");
//! agent.run();
//! ```
//!
//! The SDK's `AgentBase::add_skill` only knows a few built-in skills by name and its
//! registry holds a stub `mcp_gateway`; [`AgentBaseExt::add_mcp_gateway`] loads this
//! skill (and [`register`] replaces the stub for code that goes through
//! `SkillManager::load_skill("mcp_gateway", ..)`).
//!
//! Codemap:
//! - [`params`]: skill parameters -> validated [`params::SkillConfig`] (env injectable).
//! - [`catalog`]: discovery: services and tools -> [`catalog::FunctionSpec`]s.
//! - [`schema`]: MCP `inputSchema` -> SWAIG `parameters` (pure, lossless).
//! - [`naming`]: sanitized, bounded, unique function names (pure).
//! - [`policy`]: when a failed call may be retried (pure).
//! - [`speech`]: what the AI is told for each result and error (pure).
//! - `invoke`: session ids, call bodies, the retry loop.
//! - `functions`: the registered SWAIG functions, their handlers, the SWML rewrite.
//! - [`skill`]: the SDK `SkillBase` implementation.
//! - `bridge`: runs the async client for the SDK's synchronous handlers.
//!
//! Invariants: a tool call is sent again only when the gateway provably did not run it
//! ([`policy`]); the AI never sees gateway internals ([`speech`]); the hangup cleanup
//! is the platform's reserved `hangup_hook` function, never an AI-callable tool.

mod bridge;
pub mod catalog;
mod functions;
mod invoke;
pub mod naming;
pub mod params;
pub mod policy;
pub mod schema;
pub mod skill;
pub mod speech;

use serde_json::{Map, Value};
use signalwire::agent::AgentBase;
use signalwire::skills::{SkillManager, SkillRegistry};

pub use functions::HANGUP_HOOK;
pub use skill::{McpGatewaySkill, SKILL_NAME, SetupError};

/// Register this skill as `mcp_gateway` in the SDK's global `SkillRegistry`, replacing
/// the SDK's built-in stub. Idempotent.
pub fn register() {
    SkillRegistry::register_skill(
        SKILL_NAME,
        Box::new(|params| Box::new(McpGatewaySkill::new(params))),
    );
}

/// Loading the skill into an agent in one call.
pub trait AgentBaseExt {
    /// Load the `mcp_gateway` skill with `params` (the seed's parameters: `gateway_url`,
    /// `auth_user`/`auth_password` or `auth_token`, `services`, `session_timeout`,
    /// `tool_prefix`, `retry_attempts`, `request_timeout`, `verify_ssl`).
    ///
    /// Tools are discovered now. If the gateway is down the agent still gets a working
    /// skill (see [`McpGatewaySkill`]); bad parameters, rejected credentials and
    /// function-name collisions are errors.
    ///
    /// The skill installs the agent's dynamic-config callback, which renders the
    /// complete function definitions. Setting another callback afterwards replaces it:
    /// the functions keep working but render without their `required` lists.
    fn add_mcp_gateway(&mut self, params: Value) -> Result<&mut Self, SetupError>;
}

impl AgentBaseExt for AgentBase {
    fn add_mcp_gateway(&mut self, params: Value) -> Result<&mut Self, SetupError> {
        register();
        if self.has_skill(SKILL_NAME) {
            return Err(SetupError::AlreadyLoaded);
        }
        let params: Map<String, Value> = match params {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => {
                return Err(SetupError::Params(params::ParamError::Invalid {
                    key: "params",
                    reason: format!("must be a json object, got {other}"),
                }));
            }
        };
        let mut skill = McpGatewaySkill::new(params);
        skill.try_setup()?;
        // The SDK merges tools, hints, global data and prompt sections; setup already
        // ran, so its second call inside the manager is a no-op.
        let (loaded, reason) = SkillManager::new().load_skill_instance(Box::new(skill), self);
        if !loaded {
            log().error(&format!("mcp_gateway: {reason}"));
            return Err(SetupError::Internal);
        }
        self.add_skill(SKILL_NAME, Value::Object(Map::new()));
        Ok(self)
    }
}

/// The skill's logger: the SDK's, so lines appear with the agent's own output
/// (`SIGNALWIRE_LOG_LEVEL`, `SIGNALWIRE_LOG_MODE=off`).
fn log() -> signalwire::logging::Logger {
    signalwire::logging::Logger::new("mcp_gateway")
}
