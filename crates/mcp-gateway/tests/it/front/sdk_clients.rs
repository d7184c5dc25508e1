//! Real MCP clients (the official Python and TypeScript SDKs) and a real server
//! (server-everything) through `/mcp`; and the escalation against a server that ignores a
//! cancellation. Needs `.test-peers` (scripts/install-test-peers.sh).

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use super::client::*;
use crate::support::*;

fn script(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/clients")
        .join(name)
        .display()
        .to_string()
}

fn gateway_config() -> Value {
    config(
        json!({
            "everything": {"command": [peer("node/node_modules/.bin/mcp-server-everything")], "startup_timeout": 60},
            "fx": fixture_service(&[]),
        }),
        json!({ "mcp": { "cancel_grace": 1 } }),
    )
}

async fn run(program: String, args: Vec<String>, what: &'static str) -> std::process::Output {
    within(
        180,
        what,
        tokio::task::spawn_blocking(move || {
            Command::new(program)
                .args(args)
                .output()
                .expect("run the client")
        }),
    )
    .await
    .unwrap()
}

fn assert_ok(output: &std::process::Output, gw: &TestGateway, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed\nstdout:\n{}\nstderr:\n{}\ngateway log:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        gw.log()
    );
}

#[tokio::test]
async fn python_and_typescript_sdk_clients() {
    let gw = TestGateway::start(gateway_config()).await;
    let url = gw.url("/mcp");
    let python = run(
        peer("py/bin/python"),
        vec![script("python_client.py"), url.clone(), TOKEN.into()],
        "the Python SDK client",
    )
    .await;
    assert_ok(&python, &gw, "python_client.py");
    let node = run(
        "node".into(),
        vec![
            script("ts_client.cjs"),
            url,
            TOKEN.into(),
            peer("node/node_modules"),
        ],
        "the TypeScript SDK client",
    )
    .await;
    assert_ok(&node, &gw, "ts_client.cjs");
    // Both clients ended their sessions with DELETE: no MCP session and no session child left.
    wait_until(20, "the clients' sessions are gone", || {
        gw.log()
            .matches("mcp session deleted by the client")
            .count()
            >= 3
    })
    .await;
    let (_, sessions) = gw.get("/sessions").await;
    assert_eq!(sessions, json!({}), "{sessions}");
}

#[tokio::test]
async fn a_server_ignoring_a_cancel_is_stopped() {
    let gw = TestGateway::start(gateway_config()).await;
    let mut mcp = Mcp::open(&gw, "/mcp").await;
    // server-everything keeps reporting progress after notifications/cancelled.
    let (id, mut resp) = mcp
        .send(
            "tools/call",
            json!({"name": "everything__trigger-long-running-operation",
                   "arguments": {"duration": 30, "steps": 60}, "_meta": {"progressToken": 1}}),
        )
        .await;
    let mut first = Vec::new();
    while !String::from_utf8_lossy(&first).contains("\n\n") {
        let chunk = within(30, "the first progress", resp.chunk())
            .await
            .unwrap()
            .expect("progress");
        first.extend_from_slice(&chunk);
    }
    let pid = gw
        .child_pid(mcp.session.as_ref().unwrap(), "everything")
        .await;
    mcp.notify("notifications/cancelled", json!({"requestId": id}))
        .await;
    // The stream ends without a result; later progress for the cancelled token is dropped.
    let rest = within(30, "the stream to end", resp.text()).await.unwrap();
    assert!(!rest.contains("\"result\""), "{rest}");
    wait_until(20, "the server that ignored the cancel is stopped", || {
        !crate::support::procs::alive(pid)
    })
    .await;
    assert!(gw.log().contains("ignored a cancellation"), "{}", gw.log());
    // The session goes on with a fresh child.
    let echo = mcp
        .call("everything__echo", json!({"message": "again"}))
        .await;
    assert_eq!(text(&echo), "Echo: again");
    assert_ne!(
        gw.child_pid(mcp.session.as_ref().unwrap(), "everything")
            .await,
        pid
    );
}
