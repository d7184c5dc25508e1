//! Process-level tests: real `python3` children started through `sandbox::spawn`, driven by
//! the scriptable server in `tests/test_server.py`.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::jsonrpc::{INVALID_PARAMS, METHOD_NOT_FOUND};
use super::{ChildEvent, ClientOptions, McpClient, McpError};
use crate::config::SandboxConfig;
use support::{GRACE, Scratch, WAIT, dead, next_event, reaped, reaped_soon, text_of, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_calls_and_graceful_stop() {
    let scratch = Scratch::new();
    let client = scratch.start(&[]).await;
    let info = client.server_info();
    assert_eq!(info.protocol_version, "2025-11-25");
    assert_eq!(info.server_info["name"], "py-fixture");
    assert_eq!(info.capabilities, json!({"tools": {"listChanged": true}}));
    assert_eq!(info.instructions.as_deref(), Some("test fixture"));
    assert!(client.is_alive());

    let args = json!({"text": "héllo\nworld", "n": [1, 2]});
    let result = within("echo", client.call_tool("echo", args.clone()))
        .await
        .unwrap();
    assert_eq!(result["structuredContent"], args);
    let err = within("fail", client.call_tool("fail", json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, McpError::Rpc { code: INVALID_PARAMS, message, .. } if message == "bad arguments"),
        "{err:?}"
    );
    assert_eq!(client.calls_served(), 2);
    assert_eq!(
        within("ping", client.request("ping", Value::Null, GRACE))
            .await
            .unwrap(),
        json!({})
    );

    let tools = within("tools/list", client.list_tools()).await.unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
    assert_eq!(
        tools[0].extra["x-extra"],
        json!({"kept": true}),
        "tools are kept losslessly"
    );

    let pid = client.pid();
    let exit = within("stop", client.stop()).await;
    assert_eq!(
        (exit.code, exit.signal),
        (Some(0), None),
        "exits on stdin EOF: {exit}"
    );
    assert!(reaped(pid));
    assert!(!client.is_alive());
    assert_eq!(client.exit_status(), Some(exit));

    let received = scratch.received();
    assert_eq!(received[0]["method"], "initialize");
    assert_eq!(received[0]["id"], 1);
    assert_eq!(received[0]["params"]["protocolVersion"], "2025-11-25");
    assert_eq!(received[0]["params"]["capabilities"], json!({}));
    assert_eq!(received[0]["params"]["clientInfo"]["name"], "mcp-gateway");
    assert_eq!(
        received[1],
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
    );
    let ids: Vec<u64> = received.iter().filter_map(|m| m["id"].as_u64()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepts_an_older_version_and_refuses_an_unknown_one() {
    let scratch = Scratch::new();
    let client = scratch.start(&["version=2024-11-05"]).await;
    assert_eq!(client.server_info().protocol_version, "2024-11-05");
    within("stop", client.stop()).await;

    let (result, pid) = scratch
        .start_service(&scratch.service(&["bad_version"]))
        .await;
    let err = result.unwrap_err();
    assert!(
        matches!(&err, McpError::Protocol(m) if m.contains("1999-01-01")),
        "{err:?}"
    );
    assert!(
        reaped_soon(pid).await,
        "a refused child is stopped and reaped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_timeout_stops_the_child_without_cancelling_initialize() {
    let scratch = Scratch::new();
    let mut service = scratch.service(&["slow_init"]);
    service.startup_timeout = Duration::from_millis(500);
    let (result, pid) = scratch.start_service(&service).await;
    let err = result.unwrap_err();
    assert!(
        matches!(&err, McpError::Timeout { method, .. } if method == "initialize"),
        "{err:?}"
    );
    assert!(reaped_soon(pid).await);
    let methods: Vec<_> = scratch
        .received()
        .iter()
        .map(|m| m["method"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(methods, ["initialize"], "initialize is never cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_fails_the_call_at_once_with_status_and_stderr() {
    let scratch = Scratch::new();
    let client = scratch.start(&[]).await;
    let mut events = client.subscribe();
    let started = Instant::now();
    let err = within("crash", client.call_tool("crash", json!({})))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    let McpError::ProcessExited {
        status,
        stderr_tail,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(status, "exit status 3");
    assert!(stderr_tail.contains("fatal: boom"), "{stderr_tail:?}");
    assert!(err.to_string().contains("exit status 3"));

    let started = Instant::now();
    let again = within("call after crash", client.call_tool("echo", json!({})))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(100));
    assert!(
        matches!(&again, McpError::ProcessExited { status, .. } if status == "exit status 3"),
        "{again:?}"
    );
    assert!(!client.is_alive());
    assert_eq!(client.exit_status().and_then(|e| e.code), Some(3));
    assert!(reaped(client.pid()));
    match next_event(&mut events).await {
        ChildEvent::Exited { status } => assert_eq!(status.to_string(), "exit status 3"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        within("stop after crash", client.stop()).await.code,
        Some(3),
        "stop is idempotent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_cancel_and_late_replies_are_dropped() {
    let scratch = Scratch::new();
    let client = scratch.start(&[]).await;
    let timeout = Duration::from_millis(300);
    let err = within(
        "hang",
        client.call_tool_with_timeout("hang", json!({}), timeout),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, McpError::Timeout { method, after } if method == "tools/call" && *after == timeout)
    );

    // The server answers this one after we gave up; the answer must not reach the next call.
    let err = within(
        "sleep",
        client.call_tool_with_timeout("sleep", json!({"seconds": 0.6}), timeout),
    )
    .await;
    assert!(matches!(err, Err(McpError::Timeout { .. })), "{err:?}");
    let result = within("echo", client.call_tool("echo", json!({"after": "late"})))
        .await
        .unwrap();
    assert_eq!(result["structuredContent"], json!({"after": "late"}));
    assert!(client.is_alive());

    // Writes are ordered: the fixture logged the cancellations before it saw the echo.
    let received = scratch.received();
    let id_of = |tool: &str| {
        received
            .iter()
            .find(|m| m["params"]["name"] == tool)
            .map(|m| m["id"].clone())
            .unwrap()
    };
    for tool in ["hang", "sleep"] {
        let id = id_of(tool);
        let cancelled = received
            .iter()
            .find(|m| m["method"] == "notifications/cancelled" && m["params"]["requestId"] == id)
            .unwrap_or_else(|| panic!("no cancellation for {tool} ({id}): {received:?}"));
        assert!(
            cancelled["params"]["reason"]
                .as_str()
                .unwrap()
                .contains("timed out")
        );
    }
    within("stop", client.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stderr_flood_never_stalls_the_child() {
    let scratch = Scratch::new();
    let client = scratch.start(&[]).await;
    let result = within(
        "flood",
        client.call_tool_with_timeout("stderr_flood", json!({"mb": 20}), WAIT),
    )
    .await;
    assert_eq!(text_of(&result.unwrap()), "flooded");
    // The drain may still be a few chunks behind the answer; it reaches the end.
    within("stderr drained", async {
        while !client.stderr_tail(64).ends_with("flood done\n") {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(
        client.stderr_tail(usize::MAX).len(),
        64 * 1024,
        "the tail is bounded"
    );
    within("stop", client.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_oversized_lines_are_skipped() {
    let scratch = Scratch::new();
    let mut service = scratch.service(&[]);
    service.max_line_bytes = 64 * 1024;
    let client = scratch.start_service(&service).await.0.unwrap();
    let result = within("garbage", client.call_tool("garbage", json!({})))
        .await
        .unwrap();
    assert_eq!(text_of(&result), "after garbage");

    let err = within("huge", client.call_tool("huge", json!({"bytes": 200_000})))
        .await
        .unwrap_err();
    assert!(
        matches!(err, McpError::ResponseTooLarge { limit: 65536 }),
        "{err:?}"
    );
    let fits = within(
        "big but fits",
        client.call_tool("huge", json!({"bytes": 60_000})),
    )
    .await
    .unwrap();
    assert_eq!(text_of(&fits).len(), 60_000);
    assert!(client.is_alive());
    within("stop", client.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_requests_are_answered_never_taken_for_responses() {
    let scratch = Scratch::new();
    let client = scratch.start(&[]).await;
    let result = within("ask", client.call_tool("ask", json!({})))
        .await
        .unwrap();
    let answers: Value = serde_json::from_str(text_of(&result)).unwrap();
    let call_id = scratch
        .received()
        .iter()
        .find(|m| m["params"]["name"] == "ask")
        .unwrap()["id"]
        .clone();
    assert_eq!(
        answers["ping"],
        json!({"jsonrpc": "2.0", "id": call_id, "result": {}})
    );
    assert_eq!(
        answers["roots"],
        json!({"jsonrpc": "2.0", "id": "roots-1", "result": {"roots": []}})
    );
    assert_eq!(answers["sampling"]["error"]["code"], METHOD_NOT_FOUND);
    assert_eq!(
        answers["sampling"]["error"]["message"],
        "method not supported by the gateway"
    );
    within("stop", client.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_tolerated_early_and_broadcast() {
    let scratch = Scratch::new();
    let client = scratch.start(&["notify_early"]).await;
    let mut events = client.subscribe();
    within("notify", client.call_tool("notify", json!({})))
        .await
        .unwrap();
    assert!(matches!(
        next_event(&mut events).await,
        ChildEvent::ToolsListChanged
    ));
    match next_event(&mut events).await {
        ChildEvent::Notification { method, params } => {
            assert_eq!(method, "notifications/message");
            assert_eq!(params["data"], "hello");
        }
        other => panic!("{other:?}"),
    }
    within("stop", client.stop()).await;
    assert!(matches!(
        next_event(&mut events).await,
        ChildEvent::Exited { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_list_follows_cursors_and_refuses_loops() {
    let scratch = Scratch::new();
    let client = scratch.start(&["paginate"]).await;
    let tools = within("paginated list", client.list_tools()).await.unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
    within("stop", client.stop()).await;

    let client = scratch.start(&["loop_cursor"]).await;
    let err = within("looping list", client.list_tools())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, McpError::Protocol(m) if m.contains("repeated")),
        "{err:?}"
    );
    within("stop", client.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_escalates_to_sigterm_then_sigkill() {
    for (flags, signal) in [
        (&["ignore_eof"][..], 15),
        (&["ignore_eof", "ignore_term"][..], 9),
    ] {
        let scratch = Scratch::new();
        let client = scratch.start(flags).await;
        let pid = client.pid();
        let started = Instant::now();
        let exit = within("stop", client.stop()).await;
        assert_eq!(
            (exit.code, exit.signal),
            (None, Some(signal)),
            "{flags:?}: {exit}"
        );
        assert_eq!(exit.to_string(), format!("killed by signal {signal}"));
        let grace_periods = if signal == 15 { 1 } else { 2 };
        assert!(
            started.elapsed() >= GRACE * grace_periods,
            "{flags:?} stopped too early"
        );
        assert!(reaped(pid), "{flags:?}: pid {pid} still exists");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grandchild_dies_with_the_group() {
    let scratch = Scratch::new();
    let client = scratch.start(&[]).await;
    let result = within("grandchild", client.call_tool("grandchild", json!({})))
        .await
        .unwrap();
    let grandchild: u32 = text_of(&result).parse().unwrap();
    assert!(!dead(grandchild), "the grandchild runs");
    let exit = within("stop", client.stop()).await;
    assert_eq!(exit.code, Some(0));
    // SIGKILL is delivered asynchronously: wait (bounded) for the grandchild to die.
    within("grandchild dies with the group", async {
        while !dead(grandchild) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_stops_agree_and_pending_calls_are_closed() {
    let scratch = Scratch::new();
    let client = scratch.start(&[]).await;
    let hanging = tokio::spawn({
        let client = client.clone();
        async move { client.call_tool_with_timeout("hang", json!({}), WAIT).await }
    });
    // Make sure the hanging call reached the server before stopping.
    within("echo", client.call_tool("echo", json!({})))
        .await
        .unwrap();
    let other = client.clone();
    let (a, b, c) = within("stops", async {
        tokio::join!(client.stop(), other.stop(), client.exited())
    })
    .await;
    assert_eq!(a, b);
    assert_eq!(a, c);
    let pending = within("hanging call", hanging).await.unwrap();
    assert!(matches!(pending, Err(McpError::Closed)), "{pending:?}");
    let later = within("call after stop", client.call_tool("echo", json!({}))).await;
    assert!(matches!(later, Err(McpError::Closed)), "{later:?}");
    assert_eq!(within("exited", client.exited()).await, a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_are_pipelined() {
    let scratch = Scratch::new();
    let client = scratch.start(&[]).await;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..16 {
        let client = client.clone();
        calls.spawn(async move { (i, client.call_tool("echo", json!({ "i": i })).await) });
    }
    while let Some(joined) = within("calls", calls.join_next()).await {
        let (i, result) = joined.unwrap();
        assert_eq!(result.unwrap()["structuredContent"], json!({ "i": i }));
    }
    assert_eq!(client.calls_served(), 16);
    within("stop", client.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_stops_the_child() {
    let scratch = Scratch::new();
    let client = scratch.start(&[]).await;
    let pid = client.pid();
    let mut events = client.subscribe();
    let watcher = client.watcher();
    let clone = client.clone();
    drop(client);
    assert!(!dead(pid), "a clone keeps it alive");
    drop(clone);
    // The watcher and the subscription do not keep the child alive.
    match next_event(&mut events).await {
        ChildEvent::Exited { status } => assert_eq!(status.code, Some(0)),
        other => panic!("{other:?}"),
    }
    let exit = within("watcher sees the exit", watcher.exited()).await;
    assert_eq!(exit.code, Some(0));
    assert_eq!(watcher.exit_status(), Some(exit));
    assert!(reaped(pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_stops_reading_stdin_is_treated_as_gone() {
    let scratch = Scratch::new();
    let client = scratch.start(&[]).await;
    within("close_stdin", client.call_tool("close_stdin", json!({})))
        .await
        .unwrap();
    let started = Instant::now();
    let err = within(
        "call into a closed stdin",
        client.call_tool("echo", json!({})),
    )
    .await
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(&err, McpError::ProcessExited { .. }), "{err:?}");
    assert!(!client.is_alive());
    let exit = within("exited", client.exited()).await;
    assert_eq!(exit.signal, Some(15), "escalated to SIGTERM: {exit}");
    assert!(reaped(client.pid()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_in_the_default_sandbox() {
    let scratch = Scratch::new();
    let mut service = scratch.service(&[]);
    // The fixture logs what it receives into the scratch dir, outside its private dir. As
    // root the child runs as a uid of its own: the dir must be writable by it.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::Permissions::from_mode(0o777);
        std::fs::set_permissions(scratch.path(), mode).unwrap();
    }
    service.sandbox = SandboxConfig {
        allowed_paths: vec![crate::config::AllowedPath {
            path: scratch.path().to_path_buf(),
            writable: true,
        }],
        ..SandboxConfig::default()
    };
    let spawned = scratch.spawn(&service);
    let private_dir = spawned
        .guard
        .private_dir()
        .expect("a private dir")
        .to_path_buf();
    assert!(private_dir.is_dir());
    let opts = ClientOptions::for_service(&service, "test-session", 4096);
    let client = within("start", McpClient::start(spawned, opts))
        .await
        .unwrap();
    let env = within("env", client.call_tool("env", json!({})))
        .await
        .unwrap();
    let env: Value = serde_json::from_str(text_of(&env)).unwrap();
    assert_eq!(env["HOME"], private_dir.display().to_string());
    let exit = within("stop", client.stop()).await;
    assert_eq!(exit.code, Some(0));
    assert!(
        !private_dir.exists(),
        "the sandbox dir is removed after the stop"
    );
}
