//! What the platform receives: the rendered SWML.

use mcp_gateway_skill::AgentBaseExt;
use serde_json::json;

use crate::support::agent::{ai, new_agent};
use crate::support::{AgentUnderTest, TestGateway, function, function_names};

#[tokio::test]
async fn swml_lists_each_tool_with_its_full_schema_and_the_hangup_hook() {
    let gw = TestGateway::fake();
    let mut agent = new_agent("greeter-agent");
    agent
        .add_mcp_gateway(gw.skill_params(json!({
            "services": [
                {"name": "greeter", "tools": ["greet", "count"]},
                {"name": "todo", "tools": "*"}
            ]
        })))
        .expect("skill loads");
    let agent = AgentUnderTest::serve(agent).await;
    let swml = agent.swml().await;

    assert_eq!(
        function_names(&swml),
        [
            "mcp_greeter_greet",
            "mcp_greeter_count",
            "mcp_todo_add_todo",
            "mcp_todo_list_todos",
            "hangup_hook"
        ]
    );

    let mut greet = function(&swml, "mcp_greeter_greet");
    let url = greet
        .as_object_mut()
        .unwrap()
        .remove("web_hook_url")
        .expect("a webhook url");
    assert!(
        url.as_str().unwrap().ends_with("/swaig"),
        "handled by this agent: {url}"
    );
    assert_eq!(
        greet,
        json!({
            "function": "mcp_greeter_greet",
            "description": "[greeter] Greet someone by name",
            "parameters": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "Who to greet"},
                    "style": {"type": "string", "enum": ["plain", "loud"], "default": "plain",
                              "description": "Greeting style"}
                },
                "required": ["name"]
            }
        })
    );
    let add = function(&swml, "mcp_todo_add_todo");
    assert_eq!(add["parameters"]["required"], json!(["text"]));
    assert!(add.get("purpose").is_none() && add.get("argument").is_none());

    // The hangup hook is the platform's reserved function, with a handler here.
    let hook = function(&swml, "hangup_hook");
    assert!(hook["description"].as_str().unwrap().contains("call ends"));
    assert!(hook["web_hook_url"].as_str().unwrap().ends_with("/swaig"));
    assert_eq!(
        hook["parameters"],
        json!({"type": "object", "properties": {}})
    );
    assert!(
        !function_names(&swml)
            .iter()
            .any(|n| n.contains("hangup") && n != "hangup_hook"),
        "no AI-callable cleanup function"
    );

    // Hints, global data and the prompt section, as the seed describes them.
    let ai = ai(&swml);
    assert_eq!(ai["hints"], json!(["MCP", "gateway", "greeter", "todo"]));
    assert_eq!(
        ai["global_data"],
        json!({"mcp_gateway_url": gw.url, "mcp_session_id": null,
               "mcp_services": ["greeter", "todo"]})
    );
    let section = ai["prompt"]["pom"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == json!("MCP Gateway Integration"))
        .expect("prompt section");
    assert_eq!(
        section["body"],
        json!(
            "You have access to external MCP (Model Context Protocol) services through a gateway."
        )
    );
    assert_eq!(
        section["bullets"],
        json!([
            format!("Connected to gateway at {}", gw.url),
            "Available services: greeter (2 tools), todo (all tools)",
            "Functions are prefixed with 'mcp_' followed by service name",
            "Each service maintains its own session state throughout the call"
        ])
    );
}

#[tokio::test]
async fn all_services_by_default_and_a_custom_prefix() {
    let gw = TestGateway::fake();
    let mut agent = new_agent("all");
    agent
        .add_mcp_gateway(gw.skill_params(json!({"tool_prefix": "ext-", "skip_prompt": true})))
        .expect("skill loads");
    let agent = AgentUnderTest::serve(agent).await;
    let swml = agent.swml().await;
    let names = function_names(&swml);
    assert!(
        names.contains(&"ext_greeter_greet".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"ext_todo_list_todos".to_string()),
        "{names:?}"
    );
    assert_eq!(
        names.len(),
        8 + 2 + 1,
        "every greeter and todo tool, and the hook"
    );
    let pom = ai(&swml)["prompt"]["pom"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !pom.iter()
            .any(|s| s["title"] == json!("MCP Gateway Integration")),
        "skip_prompt is honoured"
    );
}
