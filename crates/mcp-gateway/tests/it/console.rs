//! The operator console (issue 16) in headless Chromium: a user signs in, calls a tool through
//! its form, sees the session (with its child's pid and memory) and the call (from the audit
//! log), and closes the session. Screenshots are kept in target/tmp/console-screenshots.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn a_user_calls_a_tool_and_closes_its_session_in_the_console() {
    let cfg = config(
        json!({"fx": fixture_service(&[])}),
        json!({"audit": {"file": "./audit.log"}}),
    );
    let gw = TestGateway::start(cfg).await;
    // The page and its assets need no credentials and carry their own policy.
    let page = gw.http.get(gw.url("/console")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(page.text().await.unwrap().contains("/console/app.js"));

    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: install Debian's chromium (.ci/run does)"
    );
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/console/drive.mjs");
    let base = gw.base.clone();
    let shots_arg = shots.display().to_string();
    let out = within(120, "the console driven in Chromium", async move {
        tokio::task::spawn_blocking(move || {
            Command::new("node")
                .arg(script)
                .args([
                    &base,
                    USER,
                    PASSWORD,
                    &shots_arg,
                    &peer("browser/node_modules/playwright-core"),
                ])
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    })
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}\n{}", gw.log());
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(seen["result"], "from the console", "{seen}");
    assert!(
        seen["children"].as_str().unwrap().contains("MiB"),
        "pid and memory shown: {seen}"
    );
    let call = seen["call"].as_str().unwrap();
    assert!(
        call.contains("echo") && call.contains("ok") && call.contains(&format!("basic:{USER}")),
        "{seen}"
    );
    assert_eq!(seen["charts"], 4, "{seen}");
    assert_eq!(seen["status"], "session console-test closed", "{seen}");
    assert_eq!(seen["errors"], json!([]), "no script errors: {seen}");
    for shot in ["1-signed-in.png", "2-called.png", "3-closed.png"] {
        assert!(
            std::fs::metadata(shots.join(shot)).unwrap().len() > 1000,
            "{shot}"
        );
    }

    // What the page did, seen from the API and the audit log.
    let (_, sessions) = gw.get("/sessions").await;
    assert!(sessions.get("console-test").is_none(), "{sessions}");
    let log = std::fs::read_to_string(gw.path().join("audit.log")).unwrap();
    let records: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        records.iter().any(|r| r["event"] == "session_close"
            && r["session"] == "console-test"
            && r["cause"] == "deleted"),
        "{log}"
    );
}
