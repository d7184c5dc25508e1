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

/// `mcp-gateway health`, the Docker image's HEALTHCHECK (no curl in the image): exit 0 while
/// the gateway answers, with the address read from the same config `serve` reads (`-c` or
/// `MCP_GATEWAY_CONFIG`; a host listening on every address is probed on loopback) or given by
/// `--url`; never rate limited, however often it runs; exit 1 when nothing answers.
#[tokio::test]
async fn health_probes_the_configured_gateway() {
    use crate::support::{TestGateway, config, within};
    let gw = TestGateway::start(config(
        json!({}),
        json!({"rate_limiting": {"enabled": true, "default_limits": ["2 per hour"]}}),
    ))
    .await;
    let port = gw.base.rsplit(':').next().unwrap().to_owned();
    let health = gw.path().join("health.json");
    let probe = json!({"server": {"host": "0.0.0.0", "port": port.parse::<u16>().unwrap()}, "services": {}});
    std::fs::write(&health, probe.to_string()).unwrap();
    let run = |args: Vec<String>, env: Option<(&'static str, String)>| {
        let dir = gw.path().to_path_buf();
        within(30, "mcp-gateway health", async move {
            tokio::task::spawn_blocking(move || {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"));
                cmd.args(&args)
                    .current_dir(dir)
                    .env_remove("MCP_GATEWAY_CONFIG");
                if let Some((key, value)) = env {
                    cmd.env(key, value);
                }
                let out = cmd.output().unwrap();
                (
                    out.status.code().unwrap_or(-1),
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                )
            })
            .await
            .unwrap()
        })
    };
    let from_config = || {
        vec![
            "health".to_owned(),
            "-c".to_owned(),
            "health.json".to_owned(),
        ]
    };
    // Five probes under a limit of two per hour for the other routes.
    for _ in 0..5 {
        let (code, stdout, stderr) = run(from_config(), None).await;
        assert_eq!(code, 0, "{stdout}{stderr}");
        assert!(
            stdout.starts_with(&format!("healthy: http://127.0.0.1:{port} (mcp-gateway ")),
            "{stdout}"
        );
    }
    let statuses = [
        gw.get("/services").await.0,
        gw.get("/services").await.0,
        gw.get("/services").await.0,
    ];
    assert_eq!(
        statuses.map(|s| s.as_u16()),
        [200, 200, 429],
        "the limit is on"
    );
    let (code, stdout, stderr) = run(
        vec!["health".into()],
        Some(("MCP_GATEWAY_CONFIG", "health.json".into())),
    )
    .await;
    assert_eq!(
        code, 0,
        "MCP_GATEWAY_CONFIG names the config: {stdout}{stderr}"
    );
    let (code, stdout, stderr) =
        run(vec!["health".into(), "--url".into(), gw.base.clone()], None).await;
    assert_eq!(code, 0, "{stdout}{stderr}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, _, stderr) = run(
        vec!["health".into(), "--url".into(), format!("http://{closed}")],
        None,
    )
    .await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.starts_with("unhealthy: "), "{stderr}");
    let (code, _, stderr) = run(
        vec!["health".into(), "-c".into(), "missing.json".into()],
        None,
    )
    .await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("missing.json") && stderr.contains("--url"),
        "{stderr}"
    );
}

/// `validate` fails on files the config names that are not there: TLS files, a service's
/// program and working directory (issue 17), each named with its key.
#[test]
fn validate_fails_on_missing_tls_files_programs_and_working_directories() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = json!({
        "server": {"auth_token": "t", "tls_cert": "missing-cert.pem", "tls_key": "missing-key.pem"},
        "services": {
            "ghost": {"command": ["no-such-mcp-server-anywhere"]},
            "relative": {"command": ["./servers/missing.py"]},
            "nowhere": {"command": ["python3", "x.py"], "cwd": "no-such-dir"},
            "fine": {"command": ["python3", "-c", "pass"]}
        }
    });
    std::fs::write(dir.path().join("cfg.json"), cfg.to_string()).unwrap();
    let (code, stdout, _) = gateway(&["validate", "-c", "cfg.json"], dir.path());
    assert_eq!(code, 1, "{stdout}");
    for expected in [
        "server.tls_cert: cannot read missing-cert.pem",
        "server.tls_key: cannot read missing-key.pem",
        "services.ghost.command: the program \"no-such-mcp-server-anywhere\" is not found in PATH",
        "services.relative.command: the program",
        "services.nowhere.cwd: the working directory",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in:\n{stdout}");
    }
    assert!(!stdout.contains("services.fine"), "{stdout}");
}
