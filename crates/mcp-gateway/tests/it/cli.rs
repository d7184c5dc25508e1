//! The command line: validate, --help, --version.

use std::process::Command;

use serde_json::json;

fn gateway(args: &[&str], dir: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn validate_reports_every_problem_with_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = json!({
        "server": {"port": "abc", "colour": "blue"},
        "services": {"bad": {"command": ["x", 5]}, "nocmd": {"description": "d"}},
        "rate_limiting": {"call_limit": "ten per minute"},
        "logging": {"level": "LOUD"}
    });
    std::fs::write(dir.path().join("cfg.json"), cfg.to_string()).unwrap();
    let (code, stdout, _) = gateway(&["validate", "-c", "cfg.json"], dir.path());
    assert_eq!(code, 1, "{stdout}");
    for needle in [
        "cfg.json: server.port:",
        "cfg.json: services.bad.command[1]:",
        "cfg.json: services.nocmd.command:",
        "cfg.json: rate_limiting.call_limit:",
        "cfg.json: logging.level:",
        "warning: cfg.json: server.colour:",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}

#[test]
fn validate_accepts_the_bundled_example() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (code, stdout, stderr) = gateway(&["validate", "-c", "examples/config.json"], &root);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("todo"), "{stdout}");
    assert!(stdout.contains("OK"), "{stdout}");
}

#[test]
fn help_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = gateway(&["--version"], dir.path());
    assert_eq!(code, 0);
    assert_eq!(
        stdout.trim(),
        format!("mcp-gateway {}", env!("CARGO_PKG_VERSION"))
    );
    let (code, stdout, _) = gateway(&["--help"], dir.path());
    assert_eq!(code, 0);
    assert!(stdout.contains("--config"), "{stdout}");
    assert!(stdout.contains("validate"), "{stdout}");
}

/// The README's first command and curl examples: the bundled config, run from the repository
/// root, under the default High sandbox, with scripts named relative to the working directory.
#[tokio::test]
async fn the_bundled_example_serves_its_tools() {
    use crate::support::TestGateway;
    let mut gw = TestGateway::start_example().await;
    let get = |path: &str| {
        gw.http
            .get(gw.url(path))
            .basic_auth("admin", Some("changeme"))
            .send()
    };
    let services: serde_json::Value = get("/services").await.unwrap().json().await.unwrap();
    for name in ["todo", "greeter", "calculator"] {
        assert_eq!(services[name]["enabled"], true, "{services}");
    }
    let tools: serde_json::Value = get("/services/todo/tools")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        tools["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "add_todo")),
        "{tools}"
    );
    let call = |service: &str, tool: &str, arguments: serde_json::Value| {
        gw.http
            .post(gw.url(&format!("/services/{service}/call")))
            .basic_auth("admin", Some("changeme"))
            .json(&json!({"tool": tool, "arguments": arguments, "session_id": "readme-1"}))
            .send()
    };
    let add: serde_json::Value = call("todo", "add_todo", json!({"text": "milk"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        add["result"], "Added todo #1: milk (priority: medium)",
        "{add}"
    );
    let list: serde_json::Value = call("todo", "list_todos", json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["result"], "Todo List (all):\n○ #1 [medium] milk",
        "{list}"
    );
    let greet: serde_json::Value = call("greeter", "greet", json!({"name": "Ada"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(greet["result"], "Hello, Ada!", "{greet}");
    let div: serde_json::Value = call("calculator", "divide", json!({"a": 1, "b": 0}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(div["isError"], true, "{div}");
    let closed = gw
        .http
        .delete(gw.url("/sessions/readme-1"))
        .basic_auth("admin", Some("changeme"))
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), 200);
    // The example's sandbox dir is the repository's ./sandbox: shut down gracefully, so every
    // child (the session's, discovery's) is reaped and its private dir removed, instead of
    // the harness's SIGKILL leaving dirs behind (a later gateway would sweep them).
    let pid = gw.pid();
    gw.signal(15);
    assert_eq!(gw.wait_exit(30).await, Some(0), "{}", gw.log());
    let sandbox = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sandbox");
    let prefix = format!("{pid}-");
    let left: Vec<_> = std::fs::read_dir(&sandbox)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left in {}: {left:?}", sandbox.display());
}
