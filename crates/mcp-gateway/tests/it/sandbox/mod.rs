//! Escapes attempted by a hostile server (the fixture's `hostile` tools) against a real gateway:
//! each must fail. `peers.rs` runs the npm and PyPI servers under the default level (High);
//! here they also run under the strictest one. `isolation.rs`: children against the gateway and
//! each other, per kind of host; `layout.rs`: the files around the gateway (scripts beside the
//! config, the sandbox dir's other contents). These run on every kind of host CI has (see
//! docs/sandbox.md#where-it-runs).

mod isolation;
mod layout;
mod seccomp;

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

/// A fixture service with `sandbox` settings.
fn hostile(sandbox: Value) -> Value {
    let mut service = fixture_service(&[]);
    service["sandbox"] = sandbox;
    service
}

/// Call a tool; `Ok(text)` when it succeeded, `Err(text or body)` when it did not (a tool
/// error, or a non-200 status such as 502 when the child was killed).
async fn attempt(
    gw: &TestGateway,
    service: &str,
    session: &str,
    tool: &str,
    args: Value,
) -> Result<String, String> {
    let (status, body) = gw.call(service, session, tool, args).await;
    let text = body["result"].as_str().unwrap_or_default().to_string();
    if status == StatusCode::OK && body["isError"] == false {
        Ok(text)
    } else {
        Err(format!("{status}: {body}"))
    }
}

async fn home(gw: &TestGateway, service: &str, session: &str) -> PathBuf {
    let home = attempt(gw, service, session, "read_env", json!({"name": "HOME"}))
        .await
        .expect("HOME is set");
    PathBuf::from(home)
}

impl TestGateway {
    /// Start the child of (session, service) with a call, and return its pid.
    async fn child_pid_after_call(&self, service: &str, session: &str) -> u32 {
        self.call_ok(service, session, "echo", json!({"text": "up"}))
            .await;
        self.child_pid(session, service).await
    }
}

fn s(path: &Path) -> String {
    path.display().to_string()
}

#[tokio::test]
async fn memory_limit_stops_an_allocation_past_it_but_not_a_smaller_one() {
    let gw = TestGateway::start(config(
        json!({"fx": hostile(json!({"memory_mb": 128}))}),
        json!({}),
    ))
    .await;
    let err = attempt(&gw, "fx", "m", "alloc_mb", json!({"mb": 256}))
        .await
        .expect_err("256 MiB under a 128 MiB limit");
    assert!(err.contains("cannot allocate"), "{err}");
    let ok = attempt(&gw, "fx", "m", "alloc_mb", json!({"mb": 32})).await;
    assert!(ok.is_ok(), "{ok:?}");
}

#[tokio::test]
async fn cpu_limit_kills_a_spinning_child() {
    let gw = TestGateway::start(config(
        json!({"fx": hostile(json!({"cpu_seconds": 1}))}),
        json!({}),
    ))
    .await;
    let (status, body) = gw.call("fx", "c", "spin_cpu", json!({"seconds": 30})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    // SIGXCPU (24) at the soft limit.
    assert!(body.to_string().contains("signal"), "{body}");
}

#[tokio::test]
async fn file_size_limit_stops_a_large_write() {
    let gw = TestGateway::start(config(
        json!({"fx": hostile(json!({"max_file_size_mb": 1}))}),
        json!({}),
    ))
    .await;
    let home = home(&gw, "fx", "f").await;
    let small = attempt(
        &gw,
        "fx",
        "f",
        "write_file",
        json!({"path": s(&home.join("small")), "bytes": 100_000}),
    )
    .await;
    assert!(small.is_ok(), "{small:?}");
    let big = attempt(
        &gw,
        "fx",
        "f",
        "write_file",
        json!({"path": s(&home.join("big")), "bytes": 3 << 20}),
    )
    .await;
    assert!(big.is_err(), "3 MiB written under a 1 MiB limit: {big:?}");
}

#[tokio::test]
async fn a_fork_bomb_is_capped_while_other_sessions_keep_serving() {
    let gw = TestGateway::start(config(
        json!({"fx": hostile(json!({"max_processes": 10}))}),
        json!({}),
    ))
    .await;
    // Start the neighbour first so both children exist during the bomb.
    gw.call_ok("fx", "neighbour", "echo", json!({"text": "up"}))
        .await;
    let (bomb, neighbour, health) = tokio::join!(
        attempt(&gw, "fx", "bomb", "fork_many", json!({"count": 1000})),
        async {
            let mut replies = Vec::new();
            for i in 0..5 {
                replies.push(
                    gw.call_ok("fx", "neighbour", "echo", json!({"text": i.to_string()}))
                        .await,
                );
            }
            replies
        },
        gw.get("/health"),
    );
    let report: Value = serde_json::from_str(&bomb.expect("fork_many answers")).unwrap();
    let started = report["started"].as_u64().unwrap();
    assert!(
        (1..10).contains(&started),
        "started {started} processes under max_processes 10: {report}"
    );
    assert_eq!(neighbour.len(), 5);
    assert_eq!(health.0, StatusCode::OK);
    // The capped session itself still answers.
    gw.call_ok("fx", "bomb", "echo", json!({"text": "still here"}))
        .await;
}

#[tokio::test]
async fn gateway_files_and_other_sessions_dirs_are_unreadable() {
    let gw = TestGateway::start(config(json!({"fx": hostile(json!({}))}), json!({}))).await;
    let home_a = home(&gw, "fx", "a").await;
    let secret = s(&home_a.join("secret.txt"));
    attempt(
        &gw,
        "fx",
        "a",
        "write_file",
        json!({"path": secret, "bytes": 10}),
    )
    .await
    .expect("a writes in its own dir");
    attempt(&gw, "fx", "a", "read_file", json!({"path": secret}))
        .await
        .expect("a reads its own file");

    let config_file = s(&gw.path().join("config.json"));
    for (tool, path) in [
        ("read_file", secret.as_str()),
        ("list_dir", &s(&home_a)),
        ("list_dir", &s(&gw.path().join("sandbox"))),
        ("read_file", config_file.as_str()),
        ("list_dir", &s(gw.path())),
        // The child starts in the gateway's working directory (upstream semantics), yet a
        // relative path to the config is as unreadable as an absolute one.
        ("read_file", "config.json"),
        ("list_dir", "."),
        ("read_file", "/etc/shadow"),
    ] {
        let got = attempt(&gw, "fx", "b", tool, json!({"path": path})).await;
        let err = got.expect_err(&format!("{tool} {path} must fail"));
        assert!(err.contains("Permission denied"), "{tool} {path}: {err}");
    }
    // System files stay readable.
    attempt(
        &gw,
        "fx",
        "b",
        "read_file",
        json!({"path": "/etc/hostname"}),
    )
    .await
    .expect("/etc/hostname");
}

#[tokio::test]
async fn writes_outside_the_private_dir_fail() {
    let gw = TestGateway::start(config(json!({"fx": hostile(json!({}))}), json!({}))).await;
    let outside = tempfile::tempdir().unwrap();
    for path in [
        gw.path().join("planted"),
        outside.path().join("planted"),
        PathBuf::from("/tmp/mcp-gateway-sandbox-planted"),
    ] {
        let got = attempt(
            &gw,
            "fx",
            "w",
            "write_file",
            json!({"path": s(&path), "bytes": 1}),
        )
        .await;
        assert!(got.is_err(), "wrote {}", path.display());
        assert!(!path.exists(), "{} exists", path.display());
    }
}

/// `mcp-gateway validate` on the `config.json` in `dir`, on this host: (success, stdout).
fn validate_in(dir: &Path) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args(["-c", "config.json", "validate"])
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// What `mcp-gateway validate` reports for the gateway's config, on this host.
fn validate_report(gw: &TestGateway) -> String {
    validate_in(gw.path()).1
}

/// Why this host cannot give a child `network: "none"` (the MISSING line of `validate`), or
/// `None` when it can: a default container lacks CAP_SYS_ADMIN (see docs/sandbox.md).
fn network_none_missing() -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        json!({"offline": hostile(json!({"network": "none"}))}),
        json!({}),
    );
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    validate_in(dir.path())
        .1
        .lines()
        .find(|l| l.contains("MISSING") && l.contains("network \"none\""))
        .map(str::to_owned)
}

#[tokio::test]
async fn network_none_cannot_reach_a_loopback_listener() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let gw = TestGateway::start(config(
        json!({
            "offline": hostile(json!({"network": "none"})),
            "online": hostile(json!({"network": "host"})),
        }),
        json!({}),
    ))
    .await;
    match network_none_missing() {
        None => {
            let err = attempt(&gw, "offline", "n", "connect", json!({"addr": addr}))
                .await
                .expect_err("network none must not connect");
            assert!(err.contains("unreachable"), "{err}");
        }
        Some(why) => {
            // Fail closed, naming what is missing, never a silent run with the network.
            assert!(
                why.contains("CAP_SYS_ADMIN") || why.contains("user namespace"),
                "{why}"
            );
            let (status, body) = gw
                .call("offline", "n", "connect", json!({"addr": addr}))
                .await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            assert!(
                body["error"].as_str().unwrap().contains("network \"none\""),
                "{body}"
            );
        }
    }
    let ok = attempt(&gw, "online", "n", "connect", json!({"addr": addr})).await;
    assert_eq!(ok.as_deref(), Ok("connected"));
}

#[tokio::test]
async fn gateway_secrets_reach_only_the_levels_that_pass_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        json!({
            "high": hostile(json!({})),
            "medium": hostile(json!({"restricted_env": false})),
            "none": hostile(json!({"enabled": false})),
        }),
        json!({}),
    );
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    let gw = TestGateway::start_in(dir, &[("MCP_TEST_SECRET", "s3cret")]).await;
    let read = |service: &'static str| {
        attempt(
            &gw,
            service,
            "env",
            "read_env",
            json!({"name": "MCP_TEST_SECRET"}),
        )
    };
    assert!(read("high").await.is_err(), "High leaks the secret");
    assert_eq!(read("medium").await.as_deref(), Ok("s3cret"));
    assert_eq!(read("none").await.as_deref(), Ok("s3cret"));
}

fn alive(pid: u32) -> bool {
    // A zombie has exited; only its parent (init here) has not collected it yet.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn a_daemon_does_not_survive_its_session() {
    let gw = TestGateway::start(config(json!({"fx": hostile(json!({}))}), json!({}))).await;
    let pid: u32 = attempt(&gw, "fx", "d", "spawn_daemon", json!({}))
        .await
        .expect("spawn_daemon")
        .parse()
        .unwrap();
    assert!(alive(pid), "the daemon {pid} is not running");
    let (status, body) = gw.delete("/sessions/d").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_until(10, "the daemon dies with its session", || !alive(pid)).await;
}

#[tokio::test]
async fn node_and_python_servers_work_without_privileges_or_network() {
    // The Python venv is made from the system's Python (scripts/install-test-peers.sh): an
    // interpreter under /root (pyenv) could not be run by a child with a uid of its own.
    // Without network where this host can (not in a default container: see the test above).
    let network = if network_none_missing().is_none() {
        "none"
    } else {
        "host"
    };
    let strict = json!({"drop_privileges": true, "network": network});
    let gw = TestGateway::start(config(
        json!({
            "everything": {
                "command": [peer("node/node_modules/.bin/mcp-server-everything")],
                "startup_timeout": 60, "sandbox": strict,
            },
            "time": {
                "command": [peer("py/bin/mcp-server-time"), "--local-timezone", "UTC"],
                "startup_timeout": 60, "sandbox": strict,
            },
        }),
        json!({}),
    ))
    .await;
    let echo = gw
        .call_ok("everything", "p", "echo", json!({"message": "hi"}))
        .await;
    assert_eq!(echo, "Echo: hi", "{}", gw.log());
    let time = gw
        .call_ok("time", "p", "get_current_time", json!({"timezone": "UTC"}))
        .await;
    assert!(time.to_string().contains("UTC"), "{time}");
}

#[test]
fn validate_reports_what_the_sandbox_enforces() {
    let dir = tempfile::tempdir().unwrap();
    // Without network where this host can give it (a default container cannot).
    let offline = network_none_missing().is_none();
    let network = if offline { "none" } else { "host" };
    let cfg = config(
        json!({"fx": hostile(json!({"network": network})), "open": hostile(json!({"enabled": false}))}),
        json!({}),
    );
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    let (ok, stdout) = validate_in(dir.path());
    assert!(ok, "{stdout}");
    for expected in [
        "sandbox of fx: level High",
        "enforced: filesystem: landlock",
        "enforced: max_processes: 64 tasks",
        if offline {
            "enforced: network: none"
        } else {
            "enforced: network: the host's"
        },
        "sandbox of open: level None",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in:\n{stdout}");
    }
}
