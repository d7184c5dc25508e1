//! Loading the skill: registration paths, a gateway that is down, setup errors.

use mcp_gateway_client::testing::{FakeGateway, FakeOptions, FakeService};
use mcp_gateway_skill::{AgentBaseExt, SetupError};
use serde_json::{Map, json};
use signalwire::skills::SkillManager;

use crate::support::agent::new_agent;
use crate::support::{AgentUnderTest, TestGateway, free_port, function, function_names};

#[test]
fn the_registry_path_loads_the_real_skill_instead_of_the_stub() {
    let gw = TestGateway::fake();
    mcp_gateway_skill::register();
    let mut agent = new_agent("registry");
    let params = gw.skill_params(json!({"services": [{"name": "greeter", "tools": ["greet"]}]}));
    let (ok, reason) = SkillManager::new().load_skill(
        "mcp_gateway",
        params.as_object().unwrap().clone(),
        &mut agent,
    );
    assert!(ok, "{reason}");
    assert_eq!(
        agent.list_tool_names(),
        ["mcp_greeter_greet", "hangup_hook"]
    );
    let mut args = Map::new();
    args.insert("name".into(), json!("Ada"));
    let raw = json!({"call_id": "reg-1"}).as_object().unwrap().clone();
    let result = agent
        .on_function_call("mcp_greeter_greet", &args, &raw)
        .expect("a handler");
    assert_eq!(result.to_value()["response"], json!("Hello, Ada!"));
}

#[tokio::test]
async fn a_gateway_that_is_down_at_setup_does_not_stop_the_agent() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut agent = new_agent("patient");
    agent
        .add_mcp_gateway(json!({
            "gateway_url": url, "auth_user": "admin", "auth_password": "changeme",
            "retry_attempts": 1
        }))
        .expect("the skill loads while the gateway is down");
    let agent = AgentUnderTest::serve(agent).await;

    let swml = agent.swml().await;
    assert_eq!(function_names(&swml), ["mcp_call", "hangup_hook"]);
    let generic = function(&swml, "mcp_call");
    assert_eq!(
        generic["parameters"]["required"],
        json!(["service", "tool"])
    );

    let call = json!({"service": "greeter", "tool": "greet", "arguments": {"name": "Ada"}});
    let text = agent.say("mcp_call", call.clone(), Some("c1")).await;
    assert!(text.contains("cannot be reached"), "{text}");

    // The gateway comes up: the same function now works, and the SWML lists the tools.
    let _gw = FakeGateway::start(FakeOptions {
        addr: Some(([127, 0, 0, 1], port).into()),
        ..FakeOptions::default()
    });
    assert_eq!(agent.say("mcp_call", call, Some("c1")).await, "Hello, Ada!");
    let text = agent
        .say(
            "mcp_call",
            json!({"service": "greeter", "tool": "nope"}),
            Some("c1"),
        )
        .await;
    assert!(text.contains("no tool called nope"), "{text}");
    let swml = agent.swml().await;
    let generic = function(&swml, "mcp_call");
    assert!(
        generic["description"]
            .as_str()
            .unwrap()
            .contains("tool \"greet\""),
        "{generic}"
    );
    assert_eq!(
        generic["parameters"]["properties"]["service"]["enum"],
        json!(["greeter", "todo"])
    );
}

#[test]
fn wrong_credentials_bad_parameters_and_a_second_instance_fail_setup() {
    let gw = TestGateway::fake();
    let mut agent = new_agent("setup-errors");
    let err = agent
        .add_mcp_gateway(
            json!({"gateway_url": gw.url, "auth_user": "admin", "auth_password": "wrong"}),
        )
        .err()
        .expect("rejected credentials");
    assert!(matches!(err, SetupError::Unauthorized { .. }), "{err}");

    let err = agent
        .add_mcp_gateway(json!({"auth_token": "t"}))
        .err()
        .expect("no url");
    assert!(matches!(err, SetupError::Params(_)), "{err}");

    agent
        .add_mcp_gateway(gw.skill_params(json!({})))
        .expect("good parameters load");
    let err = agent
        .add_mcp_gateway(gw.skill_params(json!({})))
        .err()
        .expect("one instance per agent");
    assert!(matches!(err, SetupError::AlreadyLoaded), "{err}");
}

#[test]
fn a_function_name_collision_fails_setup_naming_both_tools() {
    let schema = json!({"type": "object", "properties": {}});
    let gw = TestGateway::fake_with(FakeOptions {
        services: vec![FakeService {
            name: "files".into(),
            description: String::new(),
            tools: vec![
                json!({"name": "read.file", "inputSchema": schema}),
                json!({"name": "read_file", "inputSchema": schema}),
            ],
        }],
        ..FakeOptions::default()
    });
    let mut agent = new_agent("collide");
    let err = agent
        .add_mcp_gateway(gw.skill_params(json!({})))
        .err()
        .expect("collision");
    let msg = err.to_string();
    assert!(
        msg.contains("files.read.file") && msg.contains("files.read_file"),
        "{msg}"
    );
}
