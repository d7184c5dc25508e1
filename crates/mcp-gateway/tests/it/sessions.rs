//! Session semantics: state kept, several services per id, delete, idle reaping, caps.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::procs;
use crate::support::*;

#[tokio::test]
async fn todo_state_persists_across_calls() {
    let gw = TestGateway::start(config(json!({ "todo": fixture_service(&[]) }), json!({}))).await;
    let r = gw
        .call_ok("todo", "call-a", "add_todo", json!({"text": "milk"}))
        .await;
    assert_eq!(r, "Added todo #1: milk (priority: medium)");
    assert_eq!(
        gw.call_ok("todo", "call-a", "list_todos", json!({})).await,
        "Todo List (all):\n○ #1 [medium] milk"
    );
    gw.call_ok(
        "todo",
        "call-a",
        "add_todo",
        json!({"text": "eggs", "priority": "high"}),
    )
    .await;
    assert_eq!(
        gw.call_ok("todo", "call-a", "list_todos", json!({})).await,
        "Todo List (all):\n○ #1 [medium] milk\n○ #2 [high] eggs"
    );
    // Another session has its own child and its own state.
    assert_eq!(
        gw.call_ok("todo", "call-b", "list_todos", json!({})).await,
        "No all todos found"
    );
    // A refused todo operation (JSON-RPC error) is a 422, not a 500.
    let (status, body) = gw
        .call("todo", "call-a", "complete_todo", json!({"id": 9}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["rpc_error"]["message"], "Todo #9 not found");
}

#[tokio::test]
async fn one_session_id_serves_several_services() {
    let gw = TestGateway::start(config(
        json!({ "todo": fixture_service(&[]), "greeter": fixture_service(&["--name", "greeter"]) }),
        json!({}),
    ))
    .await;
    gw.call_ok("todo", "call-1", "add_todo", json!({"text": "milk"}))
        .await;
    assert_eq!(
        gw.call_ok("greeter", "call-1", "greet", json!({"name": "Ada"}))
            .await,
        "Hello, Ada!"
    );
    assert_eq!(
        gw.call_ok("todo", "call-1", "list_todos", json!({})).await,
        "Todo List (all):\n○ #1 [medium] milk"
    );
    let (_, sessions) = gw.get("/sessions").await;
    let s = &sessions["call-1"];
    assert_eq!(s["services"], json!(["todo", "greeter"]));
    let (a, b) = (
        gw.child_pid("call-1", "todo").await,
        gw.child_pid("call-1", "greeter").await,
    );
    assert_ne!(a, b);
    // DELETE closes both children.
    let (status, _) = gw.delete("/sessions/call-1").await;
    assert_eq!(status, 200);
    wait_until(15, "both children gone after DELETE", || {
        !procs::exists(a) && !procs::exists(b)
    })
    .await;
}

#[tokio::test]
async fn delete_ends_the_child_and_its_process_group() {
    let gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    let grandchild: u32 = gw
        .call_ok("fx", "s1", "spawn_grandchild", json!({}))
        .await
        .as_str()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let child = gw.child_pid("s1", "fx").await;
    assert!(procs::alive(child) && procs::alive(grandchild));
    let started = std::time::Instant::now();
    let (status, _) = gw.delete("/sessions/s1").await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed().as_millis() < 500,
        "DELETE answers at once"
    );
    wait_until(15, "child reaped after DELETE", || !procs::exists(child)).await;
    wait_until(15, "grandchild killed with the group", || {
        !procs::alive(grandchild)
    })
    .await;
    // The private sandbox dir of that child is gone too, once the reaped child's sandbox is
    // cleaned up (after every process of its cgroup / uid is killed).
    let ours = || -> Vec<_> {
        std::fs::read_dir(gw.path().join("sandbox"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.to_string_lossy().contains("-s1-"))
            .collect()
    };
    wait_until(15, "the child's sandbox dir is removed", || {
        ours().is_empty()
    })
    .await;
}

#[tokio::test]
async fn idle_sessions_are_reaped_and_timeout_slides() {
    let gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    let body = json!({"tool": "count", "session_id": "idle-1", "timeout": 1});
    let (status, _) = gw.post("/services/fx/call", &body).await;
    assert_eq!(status, 200);
    let child = gw.child_pid("idle-1", "fx").await;
    wait_until(15, "idle session reaped", || !procs::exists(child)).await;
    let (_, sessions) = gw.get("/sessions").await;
    assert!(sessions.get("idle-1").is_none(), "{sessions}");
    // A later call starts a fresh session: state is new.
    let (_, body) = gw.post("/services/fx/call", &body).await;
    assert_eq!(body["result"], "1");
}

#[tokio::test]
async fn caps_refuse_before_spawning() {
    let gw = TestGateway::start(config(
        json!({ "fx": fixture_service(&[]), "other": fixture_service(&[]) }),
        json!({"session": {"max_sessions_per_service": 2, "max_total_sessions": 3}}),
    ))
    .await;
    // Let the startup discovery children come and go first.
    gw.get("/services/fx/tools").await;
    gw.get("/services/other/tools").await;
    wait_until(15, "discovery children gone", || {
        procs::children_of(gw.pid()).is_empty()
    })
    .await;
    gw.call_ok("fx", "a", "echo", json!({"text": "x"})).await;
    gw.call_ok("fx", "b", "echo", json!({"text": "x"})).await;
    let before = procs::children_of(gw.pid()).len();
    let (status, body) = gw.call("fx", "c", "echo", json!({"text": "x"})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        json!({"error": "max sessions limit (2) reached for service fx", "code": "session_limit"})
    );
    gw.call_ok("other", "a", "echo", json!({"text": "x"})).await;
    let (status, body) = gw.call("other", "b", "echo", json!({"text": "x"})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "maximum session limit (3) reached");
    assert_eq!(
        procs::children_of(gw.pid()).len(),
        before + 1,
        "refused sessions spawned nothing"
    );
    // Freeing one slot lets the next session in.
    gw.delete("/sessions/a").await;
    let (_, sessions) = gw.get("/sessions").await;
    assert!(sessions.get("a").is_none());
    let mut admitted = false;
    for _ in 0..500 {
        let (status, _) = gw.call("fx", "c", "echo", json!({"text": "x"})).await;
        if status == 200 {
            admitted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(admitted, "slot freed after delete");
}

#[tokio::test]
async fn concurrent_first_calls_share_one_child() {
    let gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    let calls = (0..8).map(|_| gw.call("fx", "same", "count", json!({})));
    let results = within(
        60,
        "8 concurrent first calls",
        futures::future::join_all(calls),
    )
    .await;
    let mut counts: Vec<u64> = results
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            body["result"].as_str().unwrap().parse().unwrap()
        })
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        (1..=8).collect::<Vec<u64>>(),
        "one child counted every call"
    );
}

/// A child's `tools/list_changed` changes its own session's list only: the shared catalog
/// (REST tool lists, fresh sessions, other MCP sessions' `tools/list`) stays what discovery
/// found, so one session can neither add tools to another's view nor take tools away from it
/// (issue 17, defect 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_list_changes_stay_in_their_session() {
    let gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    let (_, before) = gw.get("/services/fx/tools").await;
    let lists = |tools: &Value, name: &str| {
        tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == name)
    };
    assert!(!lists(&before, "dyn_a"));
    let (status, _) = gw.call("fx", "a", "dyn_a", json!({})).await;
    assert_eq!(status, 404, "not listed yet");
    gw.call_ok("fx", "b", "echo", json!({"text": "b has a child"}))
        .await;
    gw.call_ok("fx", "a", "add_tool", json!({"name": "dyn_a"}))
        .await;
    // a's child serves its new tool once its watcher has read its new list.
    let served = |session: &'static str, tool: &'static str| {
        let gw = &gw;
        async move {
            within(30, "the child's own list to include its new tool", async {
                loop {
                    let (status, body) = gw.call("fx", session, tool, json!({})).await;
                    if status == StatusCode::OK {
                        return body["result"].as_str().unwrap().to_owned();
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            })
            .await
        }
    };
    assert_eq!(served("a", "dyn_a").await, "dynamic dyn_a");
    // Nobody else sees it: the catalog, a session with a child, a fresh session.
    let (_, after) = gw.get("/services/fx/tools").await;
    assert_eq!(after, before, "the shared catalog is discovery's list");
    let (status, body) = gw.call("fx", "b", "dyn_a", json!({})).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "b's child's own list: {body}"
    );
    assert_eq!(body["code"], "unknown_tool", "{body}");
    let (status, _) = gw.call("fx", "c", "dyn_a", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, sessions) = gw.get("/sessions").await;
    assert!(sessions.get("c").is_none(), "{sessions}");
    let mut mcp = crate::front::client::Mcp::open(&gw, "/services/fx/mcp").await;
    let names = mcp.tool_names().await;
    assert!(!names.iter().any(|n| n == "dyn_a"), "{names:?}");
    assert_eq!(names.len(), before["tools"].as_array().unwrap().len());
    // And the other way round: b's addition stays in b.
    gw.call_ok("fx", "b", "add_tool", json!({"name": "dyn_b"}))
        .await;
    assert_eq!(served("b", "dyn_b").await, "dynamic dyn_b");
    let (status, _) = gw.call("fx", "a", "dyn_b", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(served("a", "dyn_a").await, "dynamic dyn_a");
    assert_eq!(gw.get("/services/fx/tools").await.1, before);
}

/// A first call racing a DELETE of the same id (issue 17, defect 13). The outcome is defined:
/// - the DELETE is first: it answers 404 (nothing to close) and the call creates the session
///   (200);
/// - the call is first: the DELETE answers 200 and the call either finished (200) or is cut
///   short with 409 `session_closed` — never a 404 for a session it created itself.
///
/// Either way no child outlives its session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_call_racing_a_delete_has_a_defined_outcome() {
    let gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    let mut outcomes = std::collections::BTreeMap::new();
    for i in 0..150 {
        let id = format!("race-{i}");
        let path = format!("/sessions/{id}");
        let ((call, body), (delete, _)) = tokio::join!(
            gw.call("fx", &id, "echo", json!({"text": "x"})),
            gw.delete(&path)
        );
        match (call.as_u16(), delete.as_u16()) {
            (200, 404) | (200, 200) => {}
            (409, 200) => assert_eq!(body["code"], "session_closed", "{body}"),
            other => panic!("call {id}: {other:?} {body}"),
        }
        *outcomes
            .entry((call.as_u16(), delete.as_u16()))
            .or_insert(0) += 1;
    }
    eprintln!("outcomes (call, delete): {outcomes:?}");
    // Sessions left are exactly those whose DELETE came first; each has its one child.
    let (_, sessions) = gw.get("/sessions").await;
    let listed = sessions.as_object().unwrap().len();
    assert_eq!(
        listed,
        outcomes.get(&(200, 404)).copied().unwrap_or(0),
        "{sessions}"
    );
    let gateway = gw.pid();
    wait_until(30, "children of closed sessions to be reaped", || {
        procs::children_of(gateway).len() == listed
    })
    .await;
}
