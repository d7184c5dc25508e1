//! The operator subcommands (`services`, `tools`, `call`, `sessions`, `close`) run as a
//! separate process against a real gateway with fixture children.

use serde_json::{Value, json};

use crate::support::{
    PASSWORD, TOKEN, TestGateway, USER, config, fixture_service, wait_until, within,
};

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `mcp-gateway ARGS` with only the environment given (no MCP_GATEWAY_* leaks in).
async fn run_env(args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-gateway"));
    cmd.args(args)
        .env_remove("MCP_GATEWAY_URL")
        .env_remove("MCP_GATEWAY_AUTH_TOKEN")
        .env_remove("MCP_GATEWAY_AUTH_USER")
        .env_remove("MCP_GATEWAY_AUTH_PASSWORD")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = within(60, &format!("mcp-gateway {args:?}"), cmd.output())
        .await
        .expect("run mcp-gateway");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// `mcp-gateway SUBCOMMAND --url <gw> --user admin --password 12345 ARGS`.
async fn run(gw: &TestGateway, args: &[&str]) -> Out {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--url", &gw.base, "--user", USER, "--password", PASSWORD]);
    run_env(&all, &[]).await
}

async fn fixture_gateway() -> TestGateway {
    let mut slow = fixture_service(&[]);
    slow["call_timeout"] = json!(0.5);
    slow["description"] = json!("fixture with a short call timeout");
    TestGateway::start(config(
        json!({ "fixture": fixture_service(&[]), "slow": slow }),
        json!({}),
    ))
    .await
}

#[tokio::test]
async fn services_and_tools_in_text_and_json() {
    let gw = fixture_gateway().await;

    let out = run(&gw, &["services"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "SERVICE  STATE    DESCRIPTION",
            "fixture  enabled  fixture",
            "slow     enabled  fixture with a short call timeout",
        ],
        "{out:?}"
    );
    let out = run(&gw, &["services", "--json"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.json()["fixture"],
        json!({"description": "fixture", "enabled": true})
    );

    let out = run(&gw, &["tools", "fixture"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    for needle in [
        "greet  Greet someone by name\n",
        "    --arg name=<string>  required  Who to greet\n",
        "    --arg style=<string>  one of plain|loud  default plain  ",
        "add_todo  Add a new todo item\n",
    ] {
        assert!(out.stdout.contains(needle), "{needle:?} in {out:?}");
    }
    let out = run(&gw, &["tools", "fixture", "--json"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let tools = out.json();
    assert_eq!(tools["service"], "fixture");
    let greet = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "greet")
        .expect("greet listed");
    assert_eq!(greet["inputSchema"]["required"], json!(["name"]));
}

#[tokio::test]
async fn call_keeps_a_named_session_until_close() {
    let gw = fixture_gateway().await;

    // --arg values: strings stay strings, numbers become numbers.
    let out = run(&gw, &["call", "fixture", "greet", "--arg", "name=Ada"]).await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "Hello, Ada!\n"),
        "{out:?}"
    );
    let out = run(
        &gw,
        &["call", "fixture", "add", "--arg", "a=2", "--arg", "b=3"],
    )
    .await;
    assert_eq!((out.code, out.stdout.as_str()), (0, "5\n"), "{out:?}");
    let out = run(
        &gw,
        &[
            "call",
            "fixture",
            "greet",
            "--arguments",
            r#"{"name":"Bob","style":"loud"}"#,
            "--arg",
            "name=Ada",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let reply = out.json();
    assert_eq!(reply["result"], "HELLO, ADA!");
    assert_eq!(reply["isError"], false);
    assert!(
        reply["session_id"].as_str().unwrap().starts_with("cli-"),
        "{reply}"
    );

    // One-off sessions are closed after their call; a named one stays.
    for expected in ["1\n", "2\n"] {
        let out = run(&gw, &["call", "fixture", "count", "--session", "ops-1"]).await;
        assert_eq!((out.code, out.stdout.as_str()), (0, expected), "{out:?}");
    }
    let pid = gw.child_pid("ops-1", "fixture").await;
    let out = run(&gw, &["sessions", "--json"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let sessions = out.json();
    assert_eq!(
        sessions.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["ops-1"],
        "{sessions}"
    );
    assert_eq!(sessions["ops-1"]["calls"], 2);

    let out = run(&gw, &["sessions"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert!(
        lines[0].starts_with("SESSION  SERVICES  CALLS  IDLE LEFT  PIDS"),
        "{out:?}"
    );
    assert!(
        lines[1].starts_with("ops-1    fixture   2      ")
            && lines[1].ends_with(&format!("fixture={pid}")),
        "{out:?}"
    );

    let out = run(&gw, &["close", "ops-1"]).await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "Session ops-1 closed\n"),
        "{out:?}"
    );
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    wait_until(10, "the closed session's child to exit", || {
        !proc_dir.exists()
    })
    .await;
    let out = run(&gw, &["sessions"]).await;
    assert_eq!(out.stdout, "no sessions\n", "{out:?}");

    let out = run(&gw, &["close", "ops-1"]).await;
    assert_eq!(out.code, 5, "{out:?}");
    assert!(out.stderr.contains("unknown_session"), "{out:?}");
}

#[tokio::test]
async fn exit_codes_tell_failures_apart() {
    let gw = fixture_gateway().await;

    let check = |out: &Out, code: i32, needle: &str| {
        assert_eq!(out.code, code, "{out:?}");
        assert!(
            out.stderr.contains(needle) || out.stdout.contains(needle),
            "{needle:?} in {out:?}"
        );
    };

    // 1: the tool ran and failed (isError result, or a JSON-RPC rejection).
    let out = run(
        &gw,
        &["call", "fixture", "tool_error", "--arg", "message=boom"],
    )
    .await;
    check(&out, 1, "tool error: boom");
    let out = run(
        &gw,
        &[
            "call",
            "fixture",
            "tool_error",
            "--arg",
            "message=boom",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.json()["isError"], true);
    let out = run(
        &gw,
        &["call", "fixture", "rpc_error", "--arg", "message=nope"],
    )
    .await;
    check(&out, 1, "nope");

    // 2: usage.
    let out = run(&gw, &["call", "fixture", "greet", "--arg", "name"]).await;
    check(&out, 2, "expected KEY=VALUE");
    let out = run(&gw, &["call", "fixture", "greet", "--arguments", "[1]"]).await;
    check(&out, 2, "must be a JSON object");
    let out = run_env(&["services", "--url", "ftp://x"], &[]).await;
    check(&out, 2, "invalid gateway url");
    let out = run_env(&["services", "--url", &gw.base, "--user", USER], &[]).await;
    check(&out, 2, "--user needs --password");

    // 3: nobody listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = format!("http://127.0.0.1:{port}");
    let out = run_env(&["services", "--url", &down], &[]).await;
    check(&out, 3, "cannot connect to the gateway");

    // 4: credentials; the JSON form of an error.
    let out = run_env(
        &[
            "services",
            "--url",
            &gw.base,
            "--user",
            USER,
            "--password",
            "wrong",
        ],
        &[],
    )
    .await;
    check(&out, 4, "rejected the credentials");
    let out = run_env(&["services", "--url", &gw.base, "--json"], &[]).await;
    assert_eq!(out.code, 4, "{out:?}");
    assert_eq!(out.json()["code"], "unauthorized");

    // 5: unknown service, tool.
    let out = run(&gw, &["tools", "nope"]).await;
    check(&out, 5, "unknown_service");
    let out = run(&gw, &["call", "fixture", "no_such_tool"]).await;
    check(&out, 5, "unknown_tool");

    // 6: refused by validation.
    let out = run(
        &gw,
        &["call", "fixture", "greet", "--session-timeout", "99999"],
    )
    .await;
    check(&out, 6, "invalid_request");

    // 7: timeout (the service's call_timeout is 0.5 s).
    let out = run(&gw, &["call", "slow", "sleep", "--arg", "ms=5000"]).await;
    check(&out, 7, "timed out");

    // 9: the server died during the call; its last words are shown.
    let out = run(
        &gw,
        &["call", "fixture", "crash", "--arg", "message=last words"],
    )
    .await;
    check(&out, 9, "last words");
}

#[tokio::test]
async fn a_full_gateway_is_exit_code_8() {
    let gw = TestGateway::start(config(
        json!({ "fixture": fixture_service(&[]) }),
        json!({ "session": { "max_total_sessions": 1 } }),
    ))
    .await;
    let out = run(&gw, &["call", "fixture", "count", "--session", "one"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let out = run(
        &gw,
        &["call", "fixture", "count", "--session", "two", "--json"],
    )
    .await;
    assert_eq!(out.code, 8, "{out:?}");
    assert_eq!(out.json()["code"], "session_limit");
}

#[tokio::test]
async fn help_lists_the_exit_codes() {
    let out = run_env(&["call", "--help"], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    for needle in [
        "--arg <KEY=VALUE>",
        "--arguments <JSON>",
        "MCP_GATEWAY_URL",
        "Exit codes:",
        "  9  ",
    ] {
        assert!(out.stdout.contains(needle), "{needle:?} in {out:?}");
    }
}

#[tokio::test]
async fn url_and_credentials_come_from_the_environment() {
    let gw = fixture_gateway().await;
    let out = run_env(
        &["call", "fixture", "echo", "--arg", "text=from env"],
        &[
            ("MCP_GATEWAY_URL", &gw.base),
            ("MCP_GATEWAY_AUTH_TOKEN", TOKEN),
        ],
    )
    .await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "from env\n"),
        "{out:?}"
    );
    let out = run_env(
        &["services"],
        &[
            ("MCP_GATEWAY_URL", &gw.base),
            ("MCP_GATEWAY_AUTH_USER", USER),
            ("MCP_GATEWAY_AUTH_PASSWORD", PASSWORD),
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    // The flag wins over the environment.
    let out = run_env(
        &["services", "--password", "wrong"],
        &[
            ("MCP_GATEWAY_URL", &gw.base),
            ("MCP_GATEWAY_AUTH_USER", USER),
            ("MCP_GATEWAY_AUTH_PASSWORD", PASSWORD),
        ],
    )
    .await;
    assert_eq!(out.code, 4, "{out:?}");
}
