//! SWAIG invocations through the agent's real HTTP endpoint.

use mcp_gateway_skill::AgentBaseExt;
use serde_json::json;

use crate::support::agent::new_agent;
use crate::support::{AgentUnderTest, TestGateway, within};

async fn greeter_and_todo(gw: &TestGateway) -> AgentUnderTest {
    let mut agent = new_agent("calls-agent");
    agent
        .add_mcp_gateway(gw.skill_params(json!({
            "services": [{"name": "greeter"}, {"name": "todo"}],
            "session_timeout": 120
        })))
        .expect("skill loads");
    AgentUnderTest::serve(agent).await
}

#[tokio::test]
async fn one_session_per_call_shared_by_services_and_closed_at_hangup() {
    let gw = TestGateway::fake();
    let agent = greeter_and_todo(&gw).await;

    assert_eq!(
        agent
            .say("mcp_greeter_greet", json!({"name": "Ada"}), Some("call-A"))
            .await,
        "Hello, Ada!"
    );
    assert_eq!(
        agent
            .say("mcp_greeter_count", json!({}), Some("call-A"))
            .await,
        "count=1"
    );
    assert_eq!(
        agent
            .say("mcp_greeter_count", json!({}), Some("call-A"))
            .await,
        "count=2"
    );
    assert_eq!(
        agent
            .say("mcp_greeter_count", json!({}), Some("call-B"))
            .await,
        "count=1",
        "another call has its own session"
    );
    agent
        .say(
            "mcp_todo_add_todo",
            json!({"text": "buy milk"}),
            Some("call-A"),
        )
        .await;
    assert_eq!(
        agent
            .say("mcp_todo_list_todos", json!({}), Some("call-A"))
            .await,
        "#1 buy milk"
    );
    assert_eq!(
        agent
            .say("mcp_todo_list_todos", json!({}), Some("call-B"))
            .await,
        "No todos"
    );

    let session = gw.session("call-A").await.expect("call-A is open");
    assert_eq!(
        session.services,
        ["greeter", "todo"],
        "one session, two services"
    );
    assert_eq!(
        serde_json::Value::Object(session.metadata),
        json!({"agent_id": "calls-agent", "call_id": "call-A"})
    );

    assert_eq!(
        agent.say("hangup_hook", json!({}), Some("call-A")).await,
        "Session cleanup complete"
    );
    assert_eq!(
        gw.session_ids().await,
        ["call-B"],
        "call-A's session is closed"
    );
    // A second hangup (or one for an unknown session) is harmless.
    agent.say("hangup_hook", json!({}), Some("call-A")).await;
}

#[tokio::test]
async fn failing_tools_run_once_and_are_explained() {
    let gw = TestGateway::fake();
    let agent = greeter_and_todo(&gw).await;
    let fake = gw.fake_handle();

    let text = agent.say("mcp_greeter_fail", json!({}), Some("c")).await;
    assert!(
        text.contains("reported a problem: the tool failed on purpose"),
        "{text}"
    );
    assert_eq!(fake.executions("greeter", "fail"), 1);

    let text = agent.say("mcp_greeter_reject", json!({}), Some("c")).await;
    assert!(
        text.contains("refused the request: bad params here."),
        "{text}"
    );
    assert_eq!(fake.executions("greeter", "reject"), 1);

    let text = agent.say("mcp_greeter_crash", json!({}), Some("c")).await;
    assert!(text.contains("may or may not"), "{text}");
    assert!(!text.contains("Traceback"), "no internals: {text}");
    assert_eq!(fake.executions("greeter", "crash"), 1);

    let text = agent.say("mcp_greeter_slow", json!({}), Some("c")).await;
    assert!(text.contains("took too long"), "{text}");
    assert_eq!(fake.executions("greeter", "slow"), 1);
}

#[tokio::test]
async fn what_provably_did_not_run_is_retried_then_explained() {
    let gw = TestGateway::fake();
    let agent = greeter_and_todo(&gw).await;
    let fake = gw.fake_handle();

    // 429 with Retry-After: 1 on every attempt: 3 attempts, then a spoken answer.
    let started = std::time::Instant::now();
    let text = agent.say("mcp_greeter_busy", json!({}), Some("c")).await;
    assert!(
        text.contains("busy") && text.contains("nothing was done"),
        "{text}"
    );
    assert_eq!(
        fake.executions("greeter", "busy"),
        3,
        "retry_attempts is a total"
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "waited Retry-After"
    );

    fake.set_unavailable(true);
    let text = agent
        .say("mcp_greeter_greet", json!({"name": "Ada"}), Some("c"))
        .await;
    assert!(
        text.contains("unavailable") && text.contains("nothing was done"),
        "{text}"
    );
    fake.set_unavailable(false);
    assert_eq!(
        agent
            .say("mcp_greeter_greet", json!({"name": "Ada"}), Some("c"))
            .await,
        "Hello, Ada!"
    );
}

#[tokio::test]
async fn calls_without_a_call_id_never_share_a_session() {
    let gw = TestGateway::fake();
    let agent = greeter_and_todo(&gw).await;
    assert_eq!(
        agent.say("mcp_greeter_count", json!({}), None).await,
        "count=1"
    );
    assert_eq!(
        agent.say("mcp_greeter_count", json!({}), None).await,
        "count=1"
    );
    // One-off sessions are closed right after their call.
    within("one-off sessions to close", async {
        while !gw.session_ids().await.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
}
