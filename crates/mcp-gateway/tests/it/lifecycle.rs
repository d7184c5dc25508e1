//! Startup and shutdown: graceful SIGTERM, SIGKILL of the gateway, refusals at startup.

use std::time::Duration;

use serde_json::json;

use crate::support::procs;
use crate::support::*;

#[tokio::test]
async fn sigterm_lets_in_flight_calls_finish_then_stops_every_child() {
    let mut gw = TestGateway::start(config(
        json!({ "fx": fixture_service(&[]), "todo": fixture_service(&[]) }),
        json!({}),
    ))
    .await;
    for s in ["a", "b", "c"] {
        gw.call_ok("fx", s, "echo", json!({"text": "x"})).await;
        gw.call_ok("todo", s, "count", json!({})).await;
    }
    let children = procs::descendants_of(gw.pid());
    assert!(children.len() >= 6, "{children:?}");
    let slow = {
        let http = gw.http.clone();
        let url = gw.url("/services/fx/call");
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(TOKEN)
                .json(&json!({"tool": "sleep", "session_id": "slow", "arguments": {"ms": 700}}))
                .send()
                .await
        })
    };
    // The slow call's session exists once its request is being served.
    let mut in_flight = false;
    for _ in 0..500 {
        if gw.get("/sessions").await.1.get("slow").is_some() {
            in_flight = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(in_flight, "slow call never arrived");
    gw.signal(15);
    let resp = within(30, "in-flight call during shutdown", slow)
        .await
        .unwrap()
        .expect("in-flight call answered");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["result"],
        "slept 700"
    );
    assert_eq!(gw.wait_exit(30).await, Some(0), "log:\n{}", gw.log());
    for pid in children {
        assert!(!procs::alive(pid), "child {pid} survived shutdown");
    }
}

#[tokio::test]
async fn sigkill_of_the_gateway_leaves_no_child_alive() {
    let mut gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    for s in ["a", "b"] {
        gw.call_ok("fx", s, "echo", json!({"text": "x"})).await;
    }
    let children = procs::children_of(gw.pid());
    assert!(children.len() >= 2);
    gw.signal(9);
    gw.wait_exit(10).await;
    wait_until(15, "children die with the gateway", || {
        children.iter().all(|&p| !procs::alive(p))
    })
    .await;
}

#[tokio::test]
async fn missing_config_is_an_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args(["-c", "nope.json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nope.json"), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(
        !dir.path().join("nope.json").exists(),
        "no default config written"
    );
}

#[tokio::test]
async fn no_credentials_on_a_public_address_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = json!({"server": {"host": "0.0.0.0", "port": 0}, "services": {}});
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args(["-c", "config.json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("allow_unauthenticated"), "{stderr}");
    // On loopback it serves, open.
    let cfg = json!({"server": {"host": "127.0.0.1", "port": 0}, "services": {"fx": fixture_service(&[])}});
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    let gw = TestGateway::start_in(dir, &[]).await;
    let resp = gw.http.get(gw.url("/services")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn numeric_password_from_env_stays_a_string() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = json!({
        "server": {"host": "127.0.0.1", "port": "${TEST_PORT|0}", "auth_user": "admin", "auth_password": "${TEST_PW|x}"},
        "services": {"fx": fixture_service(&[])}
    });
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    let gw = TestGateway::start_in(dir, &[("TEST_PW", "12345")]).await;
    let resp = gw
        .http
        .get(gw.url("/services"))
        .basic_auth("admin", Some("12345"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
