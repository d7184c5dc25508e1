//! Drives the built `mcp-fixture` binary over its stdin/stdout, as the gateway does.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Fixture, text_of};

#[test]
fn handshake_negotiates_the_version_and_exits_0_on_eof() {
    let mut fixture = Fixture::start(&["--name", "alpha"]);
    let result = fixture.initialize("2025-06-18");
    assert_eq!(result["protocolVersion"], "2025-06-18");
    assert_eq!(result["serverInfo"]["name"], "alpha");
    assert_eq!(
        result["capabilities"],
        json!({"tools": {"listChanged": true}})
    );
    assert_eq!(
        fixture.roundtrip(json!("p"), "ping", Value::Null),
        json!({})
    );
    let (status, stderr) = fixture.finish();
    assert_eq!(status.code(), Some(0));
    assert_eq!(stderr, "", "quiet without --chatty");

    let mut fixture = Fixture::start(&[]);
    assert_eq!(
        fixture.initialize("1999-01-01")["protocolVersion"],
        "2025-11-25"
    );
    let mut fixture = Fixture::start(&["--protocol-version", "2024-11-05"]);
    assert_eq!(
        fixture.initialize("2025-11-25")["protocolVersion"],
        "2024-11-05"
    );
}

#[test]
fn simple_tools_answer_and_mistakes_get_jsonrpc_errors() {
    let mut fixture = Fixture::start(&[]);
    fixture.initialize("2025-11-25");
    assert_eq!(fixture.call_text(1, "echo", json!({"text": "hi"})), "hi");
    assert_eq!(fixture.call_text(2, "echo", json!({"message": "yo"})), "yo");
    assert_eq!(
        fixture.call_text(3, "greet", json!({"name": "Ada", "style": "loud"})),
        "HELLO, ADA!"
    );
    let sum = fixture.roundtrip(
        json!(4),
        "tools/call",
        json!({"name": "add", "arguments": {"a": 2, "b": 3}}),
    );
    assert_eq!(text_of(&sum), "5");
    assert_eq!(sum["structuredContent"], json!({"sum": 5}));
    assert_eq!(fixture.call_text(5, "count", json!({})), "1");
    assert_eq!(fixture.call_text(6, "count", json!({})), "2");

    fixture.call(json!(7), "nope", json!({}));
    let error = fixture.response(json!(7));
    assert_eq!(
        error["error"],
        json!({"code": -32602, "message": "Unknown tool: nope"})
    );
    fixture.request(json!(8), "resources/list", json!({}));
    assert_eq!(fixture.response(json!(8))["error"]["code"], -32601);
    fixture.send_raw("this is not json");
    let parse_error = fixture.recv();
    assert_eq!(
        (
            parse_error["id"].clone(),
            parse_error["error"]["code"].clone()
        ),
        (Value::Null, json!(-32700))
    );

    let failed = fixture.roundtrip(
        json!(9),
        "tools/call",
        json!({"name": "tool_error", "arguments": {"message": "bad"}}),
    );
    assert_eq!(
        (failed["isError"].clone(), text_of(&failed)),
        (json!(true), "bad")
    );
    fixture.call(
        json!(10),
        "rpc_error",
        json!({"code": -32000, "message": "refused", "data": {"k": 1}}),
    );
    assert_eq!(
        fixture.response(json!(10))["error"],
        json!({"code": -32000, "message": "refused", "data": {"k": 1}})
    );
    let image = fixture.roundtrip(json!(11), "tools/call", json!({"name": "image"}));
    assert_eq!(image["content"][0]["mimeType"], "image/png");
    let structured = fixture.roundtrip(json!(12), "tools/call", json!({"name": "structured"}));
    assert_eq!(
        (
            structured["content"].clone(),
            structured["structuredContent"].clone()
        ),
        (json!([]), json!({"a": 1}))
    );
    assert_eq!(
        fixture.call_text(13, "work", json!({"iterations": 100_000})),
        "100000"
    );
}

#[test]
fn todo_tools_behave_like_upstream() {
    let mut fixture = Fixture::start(&[]);
    fixture.initialize("2025-11-25");
    assert_eq!(
        fixture.call_text(1, "list_todos", json!({})),
        "No all todos found"
    );
    assert_eq!(
        fixture.call_text(2, "add_todo", json!({"text": "milk"})),
        "Added todo #1: milk (priority: medium)"
    );
    assert_eq!(
        fixture.call_text(3, "add_todo", json!({"text": "eggs", "priority": "high"})),
        "Added todo #2: eggs (priority: high)"
    );
    assert_eq!(
        fixture.call_text(4, "complete_todo", json!({"id": 1})),
        "Completed todo #1: milk"
    );
    assert_eq!(
        fixture.call_text(5, "list_todos", json!({"status": "all"})),
        "Todo List (all):\n✓ #1 [medium] milk\n○ #2 [high] eggs"
    );
    fixture.call(json!(6), "delete_todo", json!({"id": 9}));
    assert_eq!(
        fixture.response(json!(6))["error"],
        json!({"code": -32603, "message": "Todo #9 not found"})
    );
    assert_eq!(
        fixture.call_text(7, "clear_todos", json!({})),
        "Cleared 2 todo(s)"
    );
}

#[test]
fn tools_list_is_paginated_with_opaque_cursors() {
    let mut fixture = Fixture::start(&["--page-size", "4"]);
    fixture.initialize("2025-11-25");
    let mut names = Vec::new();
    let mut cursors = Vec::new();
    let mut params = json!({});
    for id in 0.. {
        assert!(id < 20, "pagination must end");
        let page = fixture.roundtrip(json!(100 + id), "tools/list", params);
        let tools = page["tools"].as_array().expect("tools");
        assert!(tools.len() <= 4);
        names.extend(
            tools
                .iter()
                .map(|t| t["name"].as_str().expect("name").to_owned()),
        );
        match page.get("nextCursor") {
            Some(cursor) => {
                cursors.push(cursor.clone());
                params = json!({"cursor": cursor});
            }
            None => break,
        }
    }
    assert_eq!(cursors.first(), Some(&json!("page-2")));
    assert_eq!(
        names.len(),
        45,
        "the 27 basic tools, the counting one and the 17 hostile ones"
    );
    assert_eq!(
        names.iter().collect::<HashSet<_>>().len(),
        names.len(),
        "no duplicates"
    );
    assert!(names.contains(&"ask_client".to_owned()));

    fixture.request(json!(1), "tools/list", json!({"cursor": "page-99"}));
    assert_eq!(fixture.response(json!(1))["error"]["code"], -32602);

    let mut unpaged = Fixture::start(&[]);
    unpaged.initialize("2025-11-25");
    let all = unpaged.roundtrip(json!(1), "tools/list", json!({}));
    assert_eq!(all["tools"].as_array().map(Vec::len), Some(45));
    assert!(all.get("nextCursor").is_none());
}

#[test]
fn ask_client_routes_the_clients_responses_by_id() {
    let mut fixture = Fixture::start(&[]);
    fixture.initialize("2025-11-25");
    fixture.call(json!(42), "ask_client", json!({}));
    let mut asked = Vec::new();
    for _ in 0..3 {
        let request = fixture.recv();
        asked.push((request["id"].clone(), request["method"].clone()));
    }
    assert_eq!(
        asked,
        vec![
            (json!(42), json!("ping")),
            (json!("r-1"), json!("roots/list")),
            (json!(9999), json!("sampling/createMessage")),
        ]
    );
    // Answer out of order, with one of our own requests in between.
    fixture.send(
        json!({"jsonrpc": "2.0", "id": 9999, "error": {"code": -32601, "message": "no sampling"}}),
    );
    fixture.request(json!(43), "ping", json!({}));
    assert_eq!(fixture.response(json!(43))["result"], json!({}));
    fixture.send(json!({"jsonrpc": "2.0", "id": "r-1", "result": {"roots": []}}));
    fixture.send(json!({"jsonrpc": "2.0", "id": 42, "result": {}}));
    let reply: Value =
        serde_json::from_str(text_of(&fixture.response(json!(42))["result"])).expect("JSON text");
    assert_eq!(
        reply["ping"],
        json!({"jsonrpc": "2.0", "id": 42, "result": {}})
    );
    assert_eq!(reply["roots"]["result"], json!({"roots": []}));
    assert_eq!(reply["sampling"]["error"]["code"], -32601);
}

#[test]
fn ask_client_gives_up_on_silent_clients() {
    let mut fixture = Fixture::start(&[]);
    fixture.initialize("2025-11-25");
    fixture.call(json!(1), "ask_client", json!({"timeout_ms": 50}));
    for _ in 0..3 {
        assert!(fixture.recv().get("method").is_some());
    }
    let reply: Value =
        serde_json::from_str(text_of(&fixture.response(json!(1))["result"])).expect("JSON text");
    assert_eq!(
        reply,
        json!({"ping": null, "roots": null, "sampling": null})
    );
}

#[test]
fn sleep_runs_beside_other_calls_and_a_cancelled_sleep_never_answers() {
    let mut fixture = Fixture::start(&[]);
    fixture.initialize("2025-11-25");
    fixture.call(json!(1), "sleep", json!({"ms": 1000}));
    // The echo reply comes first: the sleep does not hold up the loop.
    assert_eq!(
        fixture.call_text(2, "echo", json!({"text": "meanwhile"})),
        "meanwhile"
    );
    fixture.notify(
        "notifications/cancelled",
        json!({"requestId": 1, "reason": "test"}),
    );
    fixture.call(json!(3), "sleep", json!({"ms": 1200}));
    // Had sleep 1 not been cancelled, its reply would arrive before this one.
    assert_eq!(text_of(&fixture.response(json!(3))["result"]), "slept 1200");
    assert_eq!(fixture.call_text(4, "cancelled", json!({})), "[1]");
}

#[test]
fn add_tool_announces_the_change_before_replying() {
    let mut fixture = Fixture::start(&[]);
    fixture.initialize("2025-11-25");
    fixture.call(json!(1), "add_tool", json!({"name": "extra"}));
    assert_eq!(fixture.recv()["method"], "notifications/tools/list_changed");
    assert_eq!(
        text_of(&fixture.response(json!(1))["result"]),
        "added extra"
    );
    let tools = fixture.roundtrip(json!(2), "tools/list", json!({}));
    assert_eq!(
        tools["tools"]
            .as_array()
            .and_then(|t| t.last())
            .map(|t| t["name"].clone()),
        Some(json!("extra"))
    );
    assert_eq!(fixture.call_text(3, "extra", json!({})), "dynamic extra");
}

#[test]
fn progress_notifications_precede_the_reply() {
    let mut fixture = Fixture::start(&[]);
    fixture.initialize("2025-11-25");
    fixture.request(
        json!(1),
        "tools/call",
        json!({"name": "progress", "arguments": {"steps": 2}, "_meta": {"progressToken": "t"}}),
    );
    for step in 1..=2 {
        let note = fixture.recv();
        assert_eq!(note["method"], "notifications/progress");
        assert_eq!(
            note["params"],
            json!({"progressToken": "t", "progress": step, "total": 2})
        );
    }
    assert_eq!(text_of(&fixture.response(json!(1))["result"]), "done");
}

#[test]
fn wire_abuse_tools_produce_what_they_promise() {
    let mut fixture = Fixture::start(&[]);
    fixture.initialize("2025-11-25");
    fixture.call(json!(1), "garbage", json!({}));
    assert_eq!(fixture.recv(), json!("this is not json"));
    fixture.response(json!(1));
    assert_eq!(
        fixture
            .call_text(2, "oversized", json!({"bytes": 100_000}))
            .len(),
        100_000
    );
    fixture.call(json!(3), "noise_then_reply", json!({"bytes": 50_000}));
    let noise = fixture.recv();
    assert_eq!(
        (noise["method"].clone(), noise.to_string().len()),
        (json!("notifications/message"), 50_000)
    );
    assert_eq!(text_of(&fixture.response(json!(3))["result"]), "ok");
    assert_eq!(
        fixture.call_text(4, "stderr_flood", json!({"bytes": 200_000})),
        "flooded 200000"
    );
    let (status, stderr) = fixture.finish();
    assert_eq!((status.code(), stderr.len()), (Some(0), 200_000));
}

#[test]
fn whoami_describes_the_process() {
    let mut fixture = Fixture::start(&[]);
    fixture.initialize("2025-11-25");
    let report: Value =
        serde_json::from_str(&fixture.call_text(1, "whoami", json!({}))).expect("JSON text");
    assert_eq!(report["pid"], json!(fixture.pid()));
    assert_eq!(report["ppid"], json!(std::process::id()));
    assert!(report["env"].get("PATH").is_some());
}

#[test]
fn spawn_grandchild_leaves_a_process_behind() {
    let mut fixture = Fixture::start(&[]);
    fixture.initialize("2025-11-25");
    let pid = fixture.call_text(1, "spawn_grandchild", json!({"seconds": 30}));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the grandchild runs");
    let pgid = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(2))
        .expect("pgid field");
    let fixture_pgid =
        std::fs::read_to_string(format!("/proc/{}/stat", fixture.pid())).expect("fixture stat");
    assert!(
        fixture_pgid.contains(&format!(" {pgid} ")),
        "same process group"
    );
    let killed = std::process::Command::new("kill")
        .arg(&pid)
        .status()
        .expect("run kill");
    assert!(killed.success());
}

#[test]
fn crash_exits_with_the_code_and_says_why_on_stderr() {
    let mut fixture = Fixture::start(&[]);
    fixture.initialize("2025-11-25");
    fixture.call(json!(1), "crash", json!({"code": 5, "message": "boom"}));
    assert_eq!(fixture.wait().code(), Some(5));
    assert_eq!(
        fixture.recv_within(Duration::from_millis(100)),
        None,
        "no reply"
    );
    assert_eq!(fixture.stderr_text(), "boom\n");
}

#[test]
fn startup_flags_script_misbehaving_servers() {
    let mut fixture = Fixture::start(&["--notify-before-init"]);
    fixture.request(
        json!(0),
        "initialize",
        json!({"protocolVersion": "2025-11-25"}),
    );
    assert_eq!(fixture.recv()["method"], "notifications/tools/list_changed");
    assert_eq!(fixture.recv()["method"], "notifications/message");
    fixture.response(json!(0));

    let mut fixture = Fixture::start(&["--no-init-reply"]);
    fixture.request(
        json!(0),
        "initialize",
        json!({"protocolVersion": "2025-11-25"}),
    );
    fixture.request(json!(1), "ping", json!({}));
    fixture.response(json!(1));

    let mut fixture = Fixture::start(&["--exit-on-init", "7"]);
    fixture.request(
        json!(0),
        "initialize",
        json!({"protocolVersion": "2025-11-25"}),
    );
    assert_eq!(fixture.wait().code(), Some(7));
    assert!(fixture.stderr_text().contains("--exit-on-init"));

    // 200 KB is more than a pipe holds: the harness must drain stderr for the reply to come.
    let mut fixture = Fixture::start(&["--stderr-at-start", "200000", "--chatty"]);
    fixture.initialize("2025-11-25");
    let (status, stderr) = fixture.finish();
    assert_eq!(status.code(), Some(0));
    assert!(stderr.starts_with("stderr-at-start 000001 "));
    assert!(
        stderr.contains("<- request initialize id=0"),
        "chatty logs each message"
    );
}
