//! The seed's `MCPAgent` in Rust: an assistant with a todo list and a calculator, both
//! MCP services behind an MCP Gateway. One gateway session per phone call keeps the
//! caller's todo list for the whole call; it is closed when the call hangs up.
//!
//! ```sh
//! # 1. the example gateway (repository root): 127.0.0.1:8080, admin/changeme
//! cargo run --release -p mcp-gateway -- -c examples/config.json
//! # 2. this agent on 127.0.0.1:3000, route /mcp
//! cargo run -p mcp-gateway-skill --example mcp_agent
//! # 3. a call, by hand (credentials are printed at startup); the same call_id is the
//! #    same session, and hangup_hook closes it
//! curl -s -u USER:PASS 127.0.0.1:3000/mcp/swaig -H 'Content-Type: application/json' \
//!   -d '{"function":"mcp_todo_add_todo","call_id":"demo","argument":{"parsed":[{"text":"buy milk"}]}}'
//! curl -s -u USER:PASS 127.0.0.1:3000/mcp/swaig -H 'Content-Type: application/json' \
//!   -d '{"function":"mcp_todo_list_todos","call_id":"demo","argument":{"parsed":[{}]}}'
//! curl -s -u USER:PASS 127.0.0.1:3000/mcp/swaig -H 'Content-Type: application/json' \
//!   -d '{"function":"mcp_calculator_divide","call_id":"demo","argument":{"parsed":[{"a":1,"b":0}]}}'
//! curl -s -u USER:PASS 127.0.0.1:3000/mcp/swaig -H 'Content-Type: application/json' \
//!   -d '{"function":"hangup_hook","call_id":"demo","argument":{"parsed":[{}]}}'
//! ```
//!
//! Environment: as in `greeter_agent`.

use mcp_gateway_skill::AgentBaseExt;
use serde_json::json;
use signalwire::agent::{AgentBase, AgentOptions};

fn main() {
    let mut options = AgentOptions::new("mcp-agent");
    options.route = Some("/mcp".into());
    options.host = Some("127.0.0.1".into());
    options.port = Some(
        env_or("AGENT_PORT", "3000")
            .parse()
            .expect("AGENT_PORT is a port"),
    );
    let mut agent = AgentBase::new(options);

    agent.prompt_add_section(
        "Personality",
        "You are a helpful assistant that keeps the caller's todo list and does quick sums.",
        vec![],
    );
    agent.prompt_add_section(
        "Instructions",
        "",
        vec![
            "Add, list, complete and delete todos with the todo service",
            "Use the calculator service for arithmetic instead of doing it yourself",
            "Read results back briefly; say numbers plainly",
        ],
    );

    let mut params = json!({
        "gateway_url": env_or("MCP_GATEWAY_URL", "http://127.0.0.1:8080"),
        "services": [
            {"name": "todo", "tools": "*"},
            {"name": "calculator", "tools": ["add", "subtract", "multiply", "divide"]}
        ],
        "session_timeout": 600,
        "retry_attempts": 3,
        "request_timeout": 30,
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
    println!(
        "mcp agent on http://127.0.0.1:{}/mcp (user {user}, password {password})",
        agent.port()
    );
    println!("functions: {:?}", agent.list_tool_names());
    agent.run();
}

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}
