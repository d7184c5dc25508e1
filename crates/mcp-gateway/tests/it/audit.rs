//! The audit log (`audit.file`, issue 16): what a real gateway records for REST and MCP calls
//! and for sessions, `mcp-gateway audit verify` on it, a flipped byte caught, and calls refused
//! while the log cannot be written.

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::front::client::Mcp;
use crate::support::*;

fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn verify(files: &[&Path]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .arg("audit")
        .arg("verify")
        .args(files)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn calls_and_sessions_are_recorded_in_a_chain_that_verify_checks() {
    let cfg = config(
        json!({"fx": fixture_service(&[])}),
        json!({"audit": {"file": "./audit.log"}}),
    );
    let gw = TestGateway::start(cfg).await;
    let log = gw.path().join("audit.log");
    gw.call_ok("fx", "s1", "echo", json!({"text": "secret-argument"}))
        .await;
    let (status, _) = gw.call("fx", "s1", "tool_error", json!({})).await;
    assert_eq!(status, StatusCode::OK, "a tool error is still an answer");
    let mut mcp = Mcp::open(&gw, "/services/fx/mcp").await;
    mcp.call("echo", json!({"text": "over mcp"})).await;
    assert_eq!(gw.delete("/sessions/s1").await.0, StatusCode::OK);

    let recs = records(&log);
    let calls: Vec<&Value> = recs.iter().filter(|r| r["event"] == "tool_call").collect();
    assert_eq!(calls.len(), 3, "{recs:#?}");
    let rest = calls[0];
    assert_eq!(rest["via"], "rest");
    assert_eq!(rest["principal"], "bearer");
    assert_eq!(rest["client"], "127.0.0.1");
    assert_eq!(
        (&rest["service"], &rest["tool"], &rest["session"]),
        (&json!("fx"), &json!("echo"), &json!("s1"))
    );
    assert_eq!(rest["outcome"], "ok");
    assert_eq!(rest["arguments_sha256"].as_str().unwrap().len(), 64);
    assert!(rest["duration_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(calls[1]["outcome"], "tool_error");
    assert_eq!(calls[2]["via"], "mcp");
    assert_eq!(calls[2]["principal"], "bearer");
    assert!(calls[2]["client"].is_string());
    assert_eq!(calls[2]["outcome"], "ok");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains("secret-argument"),
        "arguments are digested by default"
    );
    let opened = recs.iter().filter(|r| r["event"] == "session_open").count();
    assert_eq!(opened, 2, "s1 and the MCP session: {recs:#?}");
    assert!(
        recs.iter().any(|r| r["event"] == "session_close"
            && r["session"] == "s1"
            && r["cause"] == "deleted")
    );

    let (ok, out) = verify(&[&log]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("OK: {} records", recs.len())),
        "{out}"
    );

    // The console's view of it: the newest first, bounded; a bad query is a JSON 400.
    let (status, recent) = gw.get("/audit/recent?limit=2").await;
    assert_eq!(status, StatusCode::OK, "{recent}");
    let recent = recent["records"].as_array().unwrap().clone();
    assert_eq!(recent.len(), 2, "{recent:?}");
    assert_eq!(recent[0]["event"], "session_close", "{recent:?}");
    assert_eq!(recent[1]["via"], "mcp", "{recent:?}");
    for bad in ["/audit/recent?limit=abc", "/sessions?memory=maybe"] {
        let (status, body) = gw.get(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["code"], "invalid_request", "{bad}: {body}");
    }

    // One flipped byte in the middle of the file: verify names the line.
    let mut bytes = std::fs::read(&log).unwrap();
    let second_line = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let at = second_line + 20;
    bytes[at] ^= 0x01;
    let flipped = gw.path().join("flipped.log");
    std::fs::write(&flipped, &bytes).unwrap();
    let (ok, out) = verify(&[&flipped]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("BROKEN") && out.contains("flipped.log:2:"),
        "{out}"
    );
}

/// `chattr +i` on the log: every write through the gateway's open file fails (EPERM), as on
/// a full or failing disk. Needs root and a filesystem with the attribute (CI's ext4).
fn set_immutable(path: &Path, on: bool) -> bool {
    Command::new("chattr")
        .arg(if on { "+i" } else { "-i" })
        .arg(path)
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn calls_are_refused_while_the_log_cannot_be_written_and_go_on_after() {
    let cfg = config(
        json!({"fx": fixture_service(&[])}),
        json!({"audit": {"file": "./audit.log"}}),
    );
    let gw = TestGateway::start(cfg).await;
    let log = gw.path().join("audit.log");
    gw.call_ok("fx", "s1", "echo", json!({"text": "a"})).await;
    if !set_immutable(&log, true) {
        eprintln!("skipped: chattr +i is not possible here (not root, or no such attribute)");
        return;
    }
    let (status, body) = gw.call("fx", "s1", "echo", json!({"text": "b"})).await;
    let recovered = set_immutable(&log, false);
    assert!(recovered);
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the call ran, its record is lost: {body}"
    );
    assert_eq!(body["code"], "audit_unavailable", "{body}");
    wait_until(10, "the lost record logged", || {
        gw.log().contains("cannot write the audit log")
    })
    .await;

    set_immutable(&log, true);
    // While it stays unwritable, a call is refused before it runs: the counter of a fresh
    // session is still at 0 afterwards.
    let (status, body) = gw.call("fx", "s2", "count", json!({})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let mut mcp = Mcp::open(&gw, "/services/fx/mcp").await;
    let refused = mcp
        .exchange(
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "c"}}),
        )
        .await;
    set_immutable(&log, false);
    let error = &refused.last().unwrap()["error"];
    assert!(
        error["message"].as_str().unwrap().contains("audit log"),
        "{refused:?}"
    );

    // Writable again: calls go on, and the chain goes on in the same file.
    let (status, body) = gw.call("fx", "s2", "count", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "1", "the refused call never ran: {body}");
    let (ok, out) = verify(&[&log]);
    assert!(ok, "{out}");
}

#[test]
fn validate_names_bad_audit_keys() {
    let cfg = config(
        json!({"fx": fixture_service(&[])}),
        json!({"audit": {"file": "./a.log", "arguments": "some", "on_failure": "ignore", "max_bytes": 10}}),
    );
    let (code, text) = validate("config.json", &cfg);
    assert_eq!(code, Some(1), "{text}");
    for expected in [
        "audit.arguments: unknown value \"some\": use \"digest\" or \"full\"",
        "audit.on_failure: unknown value \"ignore\": use \"fail\" or \"degrade\"",
        "audit.max_bytes: must be 0 (never rotate) or at least 4096",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
}
