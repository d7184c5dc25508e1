//! The seed's `greeter_agent.py` in Rust: a voice agent whose AI greets callers through
//! the `greeter` MCP service of an MCP Gateway.
//!
//! ```sh
//! # 1. the example gateway (repository root): 127.0.0.1:8080, admin/changeme
//! cargo run --release -p mcp-gateway -- -c examples/config.json
//! # 2. this agent on 127.0.0.1:3000, route /greeter
//! cargo run -p mcp-gateway-skill --example greeter_agent
//! # 3. what the platform would see and do (credentials are printed at startup)
//! swaig-test --url http://USER:PASS@127.0.0.1:3000/greeter --dump-swml
//! swaig-test --url http://USER:PASS@127.0.0.1:3000/greeter --exec mcp_greeter_greet --param name=Ada
//! ```
//!
//! Environment: `MCP_GATEWAY_URL` (default `http://127.0.0.1:8080`),
//! `MCP_GATEWAY_AUTH_USER` / `MCP_GATEWAY_AUTH_PASSWORD` (default admin/changeme) or
//! `MCP_GATEWAY_AUTH_TOKEN`, `AGENT_PORT` (default 3000), and the SDK's
//! `SWML_BASIC_AUTH_USER` / `SWML_BASIC_AUTH_PASSWORD` for the agent's own auth.

use mcp_gateway_skill::AgentBaseExt;
use serde_json::json;
use signalwire::agent::{AgentBase, AgentOptions};

fn main() {
    let mut options = AgentOptions::new("greeter-agent");
    options.route = Some("/greeter".into());
    options.host = Some("127.0.0.1".into());
    options.port = Some(
        env_or("AGENT_PORT", "3000")
            .parse()
            .expect("AGENT_PORT is a port"),
    );
    let mut agent = AgentBase::new(options);

    agent.prompt_add_section(
        "Role",
        "You are a friendly receptionist who greets callers by name.",
        vec![
            "Ask the caller for their name if you do not know it",
            "Greet them with the greeter service's greet function",
            "Use the loud style only if the caller asks for enthusiasm",
        ],
    );

    let mut params = json!({
        "gateway_url": env_or("MCP_GATEWAY_URL", "http://127.0.0.1:8080"),
        "services": [{"name": "greeter", "tools": "*"}],
        "session_timeout": 300,
    });
    if std::env::var("MCP_GATEWAY_AUTH_TOKEN").is_err() {
        params["auth_user"] = json!(env_or("MCP_GATEWAY_AUTH_USER", "admin"));
        params["auth_password"] = json!(env_or("MCP_GATEWAY_AUTH_PASSWORD", "changeme"));
    }
    if let Err(err) = agent.add_mcp_gateway(params) {
        eprintln!("{err}");
        std::process::exit(1);
    }

    let (user, password) = agent.get_basic_auth_credentials();
    println!("greeter agent on http://127.0.0.1:{}/greeter", agent.port());
    println!("functions: {:?}", agent.list_tool_names());
    println!(
        "try: swaig-test --url http://{user}:{password}@127.0.0.1:{}/greeter --exec mcp_greeter_greet --param name=Ada",
        agent.port()
    );
    agent.run();
}

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}
