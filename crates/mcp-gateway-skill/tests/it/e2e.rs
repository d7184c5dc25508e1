//! The skill against the real `mcp-gateway` binary with real `mcp-fixture` children,
//! driven the way the platform drives an agent: SWML fetched from the agent's HTTP
//! server, SWAIG functions executed by POSTing to its `/swaig` endpoint.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mcp_gateway_client::CallRequest;
use mcp_gateway_skill::AgentBaseExt;
use serde_json::{Value, json};

use crate::support::agent::new_agent;
use crate::support::real::fixture_service;
use crate::support::{AgentUnderTest, TestGateway, free_port, function, function_names, within};

/// Four services, each its own fixture child per session: `greeter`, `todo`, `slow`
/// (a 0.5 s call timeout) and `crashy` (only used for its `crash` tool).
fn services() -> Value {
    let mut slow = fixture_service("slow", "Times out after half a second");
    slow["call_timeout"] = json!(0.5);
    json!({
        "greeter": fixture_service("greeter", "Greets, counts and fails on purpose"),
        "todo": fixture_service("todo", "A todo list per session"),
        "slow": slow,
        "crashy": fixture_service("crashy", "Dies on request"),
    })
}

fn skill_params(gw: &TestGateway) -> Value {
    gw.skill_params(json!({
        "services": [
            {"name": "greeter", "tools": ["greet", "count", "failing"]},
            {"name": "todo", "tools": ["add_todo", "list_todos"]},
            {"name": "slow", "tools": ["sleep", "cancelled"]}
        ],
        "session_timeout": 120
    }))
}

async fn agent_for(gw: &TestGateway, name: &str) -> AgentUnderTest {
    agent_with(gw, name, skill_params(gw)).await
}

async fn agent_with(gw: &TestGateway, name: &str, params: Value) -> AgentUnderTest {
    let mut agent = new_agent(name);
    agent
        .add_mcp_gateway(params)
        .unwrap_or_else(|e| panic!("skill loads: {e}\ngateway log:\n{}", gw.log()));
    AgentUnderTest::serve(agent).await
}

/// Compare `actual` with the committed snapshot `name`; `UPDATE_SNAPSHOTS=1` rewrites it.
fn check_snapshot(name: &str, actual: &str) {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let new = path.with_extension("json.new");
        std::fs::write(&new, actual).expect("write new snapshot");
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .map(|i| i + 1)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()) + 1);
        panic!(
            "snapshot {} differs from line {line}; the new version is in {} \
             (UPDATE_SNAPSHOTS=1 to accept)",
            path.display(),
            new.display()
        );
    }
}

#[tokio::test]
async fn swml_matches_the_snapshot() {
    let gw = TestGateway::real(services());
    let agent = agent_for(&gw, "e2e-swml").await;
    let swml = agent.swml().await;

    // The parts a reviewer checks first, spelled out; the snapshot holds the rest.
    assert_eq!(
        function_names(&swml),
        [
            "mcp_greeter_greet",
            "mcp_greeter_count",
            "mcp_greeter_failing",
            "mcp_todo_add_todo",
            "mcp_todo_list_todos",
            "mcp_slow_sleep",
            "mcp_slow_cancelled",
            "hangup_hook"
        ]
    );
    let failing = function(&swml, "mcp_greeter_failing");
    assert_eq!(failing["parameters"]["required"], json!(["mode"]));
    assert_eq!(
        failing["parameters"]["properties"]["detail"]["required"],
        json!(["reason"])
    );
    assert_eq!(
        failing["parameters"]["properties"]["detail"]["properties"]["tags"]["items"],
        json!({"type": "string"})
    );

    let text = serde_json::to_string_pretty(&swml)
        .expect("swml json")
        .replace(&gw.url, "http://GATEWAY")
        .replace(agent.host_port(), "AGENT")
        + "\n";
    check_snapshot("real_gateway_swml.json", &text);
}

#[tokio::test]
async fn state_per_call_isolation_between_calls_and_two_services_in_one_call() {
    let gw = TestGateway::real(services());
    let agent = agent_for(&gw, "e2e-state").await;

    for expected in ["1", "2", "3"] {
        assert_eq!(
            agent
                .say("mcp_greeter_count", json!({}), Some("call-A"))
                .await,
            expected,
            "one child per (call, service) keeps its state"
        );
    }
    assert_eq!(
        agent
            .say("mcp_greeter_count", json!({}), Some("call-B"))
            .await,
        "1",
        "another call id gets its own child"
    );
    assert_eq!(
        agent
            .say(
                "mcp_greeter_greet",
                json!({"name": "Ada", "style": "loud"}),
                Some("call-A")
            )
            .await,
        "HELLO, ADA!"
    );
    assert_eq!(
        agent
            .say(
                "mcp_todo_add_todo",
                json!({"text": "buy milk", "priority": "high"}),
                Some("call-A")
            )
            .await,
        "Added todo #1: buy milk (priority: high)"
    );
    let listed = agent
        .say("mcp_todo_list_todos", json!({}), Some("call-A"))
        .await;
    assert!(listed.contains("buy milk"), "{listed}");
    let other = agent
        .say("mcp_todo_list_todos", json!({}), Some("call-B"))
        .await;
    assert!(
        !other.contains("buy milk"),
        "call-B sees its own list: {other}"
    );

    let a = gw.session("call-A").await.expect("call-A is open");
    assert_eq!(a.services, ["greeter", "todo"], "one session, two services");
    let pid =
        |s: &mcp_gateway_client::SessionInfo, svc: &str| s.children[svc].pid.expect("a child pid");
    assert_ne!(pid(&a, "greeter"), pid(&a, "todo"), "one child per service");
    assert_eq!(
        Value::Object(a.metadata.clone()),
        json!({"agent_id": "e2e-state", "call_id": "call-A"})
    );
    assert_eq!(
        a.timeout_seconds(),
        Some(120.0),
        "session_timeout is sent as the idle timeout"
    );
    let b = gw.session("call-B").await.expect("call-B is open");
    assert_ne!(
        pid(&b, "greeter"),
        pid(&gw.session("call-A").await.unwrap(), "greeter")
    );
}

#[tokio::test]
async fn hangup_closes_the_session_and_stops_its_children() {
    let gw = TestGateway::real(services());
    let agent = agent_for(&gw, "e2e-hangup").await;

    agent
        .say("mcp_greeter_count", json!({}), Some("call-H"))
        .await;
    agent
        .say("mcp_todo_add_todo", json!({"text": "x"}), Some("call-H"))
        .await;
    agent
        .say("mcp_greeter_count", json!({}), Some("call-K"))
        .await;
    let session = gw.session("call-H").await.expect("call-H is open");
    let pids: Vec<u32> = session
        .children
        .values()
        .map(|c| c.pid.expect("pid"))
        .collect();
    assert_eq!(pids.len(), 2, "{session:?}");
    for pid in &pids {
        assert!(
            Path::new(&format!("/proc/{pid}")).exists(),
            "child {pid} runs"
        );
    }

    // What the platform sends when the call ends.
    assert_eq!(
        agent.say("hangup_hook", json!({}), Some("call-H")).await,
        "Session cleanup complete"
    );
    assert_eq!(gw.session_ids().await, ["call-K"], "only call-H was closed");
    within("the children of the closed session to exit", async {
        while pids
            .iter()
            .any(|pid| Path::new(&format!("/proc/{pid}")).exists())
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    // A later call with the same id starts from scratch.
    assert_eq!(
        agent
            .say("mcp_greeter_count", json!({}), Some("call-H"))
            .await,
        "1"
    );
}

#[tokio::test]
async fn a_failing_tool_is_run_exactly_once() {
    let gw = TestGateway::real(services());
    let mut params = skill_params(&gw);
    params["services"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "crashy", "tools": ["crash"]}));
    let agent = agent_with(&gw, "e2e-failing", params).await;

    // A tool error (isError): spoken, not retried. The fixture numbers its executions.
    let text = agent
        .say(
            "mcp_greeter_failing",
            json!({"mode": "tool_error", "detail": {"reason": "disk full"}}),
            Some("call-F"),
        )
        .await;
    assert_eq!(
        text,
        "The failing tool of the greeter service reported a problem: failing call #1: disk full"
    );
    // A JSON-RPC error: spoken, not retried (this is execution #2, so #1 ran once).
    let text = agent
        .say(
            "mcp_greeter_failing",
            json!({"mode": "rpc_error", "detail": {"reason": "no"}}),
            Some("call-F"),
        )
        .await;
    assert_eq!(
        text,
        "The failing tool refused the request: failing call #2: no."
    );
    // Asked directly, the same child says this is execution #3: #2 ran once too.
    let direct = within(
        "direct call",
        gw.client().call(
            "greeter",
            &CallRequest::new("failing", "call-F").argument("mode", "tool_error"),
        ),
    )
    .await
    .expect("direct call");
    assert!(direct.is_error);
    assert_eq!(direct.text(), "failing call #3: failed on purpose");

    // A timeout (the slow service's call_timeout is 0.5 s): spoken, not retried.
    let text = agent
        .say("mcp_slow_sleep", json!({"ms": 3000}), Some("call-F"))
        .await;
    assert!(
        text.starts_with("The slow service took too long to answer."),
        "{text}"
    );
    let session = gw.session("call-F").await.expect("call-F is open");
    assert_eq!(
        session.calls,
        Some(4),
        "three greeter calls and one sleep reached the gateway: {session:?}"
    );
    // The slow child was sent exactly one request, and told to cancel it.
    let cancelled = agent
        .say("mcp_slow_cancelled", json!({}), Some("call-F"))
        .await;
    let ids: Vec<Value> = serde_json::from_str(&cancelled).expect("a JSON array of ids");
    assert_eq!(ids.len(), 1, "{cancelled}");

    // A server that dies during the call: spoken, not retried (a retry would start a
    // second child for this session).
    let text = agent
        .say(
            "mcp_crashy_crash",
            json!({"message": "boom"}),
            Some("call-F"),
        )
        .await;
    assert!(
        text.starts_with("The crashy service stopped unexpectedly"),
        "{text}"
    );
    assert!(!text.contains("boom"), "no server internals: {text}");
    let started = || {
        gw.log()
            .lines()
            .filter(|l| l.contains("child started service=crashy session=call-F"))
            .count()
    };
    within("the gateway's log of the crashy child", async {
        while started() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let started = started();
    assert_eq!(started, 1, "gateway log:\n{}", gw.log());
}

#[tokio::test]
async fn a_gateway_that_is_down_then_up() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut agent = new_agent("e2e-down");
    agent
        .add_mcp_gateway(json!({
            "gateway_url": url,
            "auth_user": crate::support::real::USER,
            "auth_password": crate::support::real::PASSWORD,
            "retry_attempts": 1
        }))
        .expect("the agent starts while the gateway is down");
    let agent = AgentUnderTest::serve(agent).await;
    let swml = agent.swml().await;
    assert_eq!(function_names(&swml), ["mcp_call", "hangup_hook"]);

    let greet = json!({"service": "greeter", "tool": "greet", "arguments": {"name": "Ada"}});
    assert_eq!(
        agent.say("mcp_call", greet.clone(), Some("call-D")).await,
        "The external tools cannot be reached right now, so nothing was done. \
         Please try again later."
    );

    // The gateway comes up on that port: the same function works at once.
    let gw = TestGateway::real_on(services(), port);
    assert_eq!(gw.url, url);
    assert_eq!(
        agent.say("mcp_call", greet, Some("call-D")).await,
        "Hello, Ada!"
    );
    let count = json!({"service": "greeter", "tool": "count"});
    assert_eq!(
        agent.say("mcp_call", count.clone(), Some("call-D")).await,
        "1"
    );
    assert_eq!(agent.say("mcp_call", count, Some("call-D")).await, "2");
    let generic = function(&agent.swml().await, "mcp_call");
    assert_eq!(
        generic["parameters"]["properties"]["service"]["enum"],
        json!(["crashy", "greeter", "slow", "todo"]),
        "the discovered services are offered"
    );
    assert_eq!(
        agent.say("hangup_hook", json!({}), Some("call-D")).await,
        "Session cleanup complete"
    );
    assert!(gw.session_ids().await.is_empty());
}
