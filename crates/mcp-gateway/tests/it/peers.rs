//! Real third-party MCP servers (npm and PyPI) through the gateway.
//!
//! Installed by `scripts/install-test-peers.sh` (run by `scripts/test.sh`) into `.test-peers/`.

use serde_json::{Value, json};

use crate::support::*;

/// A peer's path with symbolic links resolved (the npm `.bin` entries are links).
fn peer(relative: &str) -> String {
    let path = crate::support::peer(relative);
    std::fs::canonicalize(&path).unwrap().display().to_string()
}

fn tool_names(tools: &Value) -> Vec<String> {
    tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn server_everything_from_npm() {
    let gw = TestGateway::start(config(
        json!({"everything": {"command": [peer("node/node_modules/.bin/mcp-server-everything")], "startup_timeout": 60}}),
        json!({}),
    ))
    .await;
    let (status, tools) = gw.get("/services/everything/tools").await;
    assert_eq!(status, 200, "{tools}\n{}", gw.log());
    let names = tool_names(&tools);
    for expected in ["echo", "get-sum", "get-structured-content"] {
        assert!(
            names.contains(&expected.to_string()),
            "{expected} not in {names:?}"
        );
    }
    assert_eq!(
        gw.call_ok("everything", "e1", "echo", json!({"message": "hi"}))
            .await,
        "Echo: hi"
    );
    let sum = gw
        .call_ok("everything", "e1", "get-sum", json!({"a": 2, "b": 40}))
        .await;
    assert!(sum.as_str().unwrap().contains("42"), "{sum}");
    let (status, body) = gw
        .call(
            "everything",
            "e1",
            "get-structured-content",
            json!({"location": "New York"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["structuredContent"].is_object(),
        "structuredContent kept: {body}"
    );
}

#[tokio::test]
async fn server_memory_from_npm_keeps_state_per_session() {
    let dir = tempfile::tempdir().unwrap();
    // As root, the child runs as a uid of its own: a writable allowed path must be writable
    // by it (validate says so for a path that is not).
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::Permissions::from_mode(0o777);
        std::fs::set_permissions(dir.path(), mode).unwrap();
    }
    let memory_file = dir.path().join("memory.jsonl").display().to_string();
    let gw = TestGateway::start(config(
        json!({"memory": {
            "command": [peer("node/node_modules/.bin/mcp-server-memory")],
            "env": {"MEMORY_FILE_PATH": memory_file},
            // The file is outside the child's private dir: the sandbox must be told.
            "sandbox": {"allowed_paths": [{"path": dir.path(), "writable": true}]},
            "startup_timeout": 60
        }}),
        json!({}),
    ))
    .await;
    let (status, tools) = gw.get("/services/memory/tools").await;
    assert_eq!(status, 200, "{tools}");
    let names = tool_names(&tools);
    assert!(
        names.contains(&"create_entities".to_string()) && names.contains(&"read_graph".to_string()),
        "{names:?}"
    );
    let (status, body) = gw
        .call(
            "memory",
            "m1",
            "create_entities",
            json!({"entities": [{"name": "Ada", "entityType": "person", "observations": ["wrote the first program"]}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let graph = gw.call_ok("memory", "m1", "read_graph", json!({})).await;
    assert!(
        graph.to_string().contains("wrote the first program"),
        "{graph}"
    );
}

#[tokio::test]
async fn mcp_server_time_from_pypi() {
    let gw = TestGateway::start(config(
        json!({"time": {"command": [peer("py/bin/mcp-server-time"), "--local-timezone", "UTC"], "startup_timeout": 60}}),
        json!({}),
    ))
    .await;
    let (status, tools) = gw.get("/services/time/tools").await;
    assert_eq!(status, 200, "{tools}\n{}", gw.log());
    let names = tool_names(&tools);
    assert!(
        names.contains(&"get_current_time".to_string())
            && names.contains(&"convert_time".to_string()),
        "{names:?}"
    );
    let now = gw
        .call_ok(
            "time",
            "t1",
            "get_current_time",
            json!({"timezone": "Europe/Paris"}),
        )
        .await;
    assert!(now.to_string().contains("Europe/Paris"), "{now}");
    let converted = gw
        .call_ok(
            "time",
            "t1",
            "convert_time",
            json!({"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}),
        )
        .await;
    assert!(converted.to_string().contains("21:00"), "{converted}");
}

/// `node path/to/package/dist/index.js` (Node 22 from npm, as the README suggests for servers
/// that need it): the script lives in a package whose imports are in the `node_modules` above
/// it, which the default sandbox must let it read — not only the script's own directory.
#[tokio::test]
async fn a_script_inside_node_modules_runs_under_a_separate_node() {
    let node = peer("node22/node_modules/.bin/node");
    let script = peer("node/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    let gw = TestGateway::start(config(
        json!({"everything": {"command": [node, script], "startup_timeout": 60}}),
        json!({}),
    ))
    .await;
    assert_eq!(
        gw.call_ok("everything", "n22", "echo", json!({"message": "hi"}))
            .await,
        "Echo: hi",
        "{}",
        gw.log()
    );
}
