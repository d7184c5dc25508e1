//! Sessions of both kinds keep their child whichever replica a request lands on.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::front::client::{Mcp, text};

/// Sessions through the balancer and calls each: a tenth of the sizes in the suite
/// (under a minute on two busy cores); `MCP_TEST_CLUSTER_FULL=1` runs the 1,000 REST
/// sessions × 10 calls and 200 MCP sessions (official Python client) × 10 calls.
fn sizes() -> Sizes {
    if std::env::var_os("MCP_TEST_CLUSTER_FULL").is_some() {
        Sizes {
            rest: 1000,
            calls: 10,
            mcp: 200,
        }
    } else {
        Sizes {
            rest: 90,
            calls: 4,
            mcp: 20,
        }
    }
}

struct Sizes {
    rest: usize,
    calls: u64,
    mcp: usize,
}

/// The hand-written client's MCP sessions (each request checked at the protocol level).
const MCP_SESSIONS: usize = 18;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_session_keeps_its_child_whichever_replica_a_request_lands_on() {
    let cluster = Cluster::start(3).await;
    let lb = &cluster.lb;
    let Sizes {
        rest: n_rest,
        calls: n_calls,
        ..
    } = sizes();

    // REST: each session's child counts 1, 2, 3, ... whoever serves the request.
    let failures: Vec<String> = futures::stream::iter(0..n_rest)
        .map(|i| async move {
            let session = format!("rest-{i}");
            for k in 1..=n_calls {
                let (status, body) = count(lb, &session).await;
                if status != StatusCode::OK || body["result"] != json!(k.to_string()) {
                    return Some(format!("{session} call {k}: {status} {body}"));
                }
            }
            None
        })
        .buffer_unordered(16)
        .filter_map(|f| async { f })
        .collect()
        .await;
    assert!(
        failures.is_empty(),
        "{} failed calls: {failures:#?}",
        failures.len()
    );

    // Placed over every replica, each session's child on exactly one.
    let (status, listed) = lb.get("/sessions").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let mut per_replica = [0usize; 3];
    let owners = cluster.owners();
    for i in 0..n_rest {
        let session = &listed[format!("rest-{i}")];
        assert_eq!(session["calls"], json!(n_calls), "rest-{i}: {session}");
        let pid = session["children"]["fx"]["pid"].as_u64().unwrap() as u32;
        per_replica[owners[&pid]] += 1;
    }
    assert!(
        per_replica.iter().all(|&n| n >= n_rest / 10),
        "{per_replica:?}"
    );
    // The cluster-wide list is the same from every replica.
    for gw in &cluster.replicas {
        let (_, from_here) = gw.get("/sessions").await;
        let ids: HashSet<&String> = from_here.as_object().unwrap().keys().collect();
        assert_eq!(ids.len(), n_rest, "{ids:?}");
    }

    // MCP sessions: minted by the replica that answered `initialize`, served there afterwards
    // whichever replica each request reaches.
    // (Opened on each replica in turn: through round robin, every `initialize` of a client
    // making three requests per session would land on the same replica.)
    let mut mcps = Vec::new();
    for i in 0..MCP_SESSIONS {
        mcps.push(mcp_via(lb, open_mcp_on(&cluster.replicas[i % 3]).await));
    }
    for round in 1..=3 {
        for mcp in &mut mcps {
            let result = mcp.call("count", json!({})).await;
            assert_eq!(text(&result), round.to_string(), "{:?}", mcp.session);
        }
    }
    let ids: HashSet<String> = mcps.iter().map(|m| m.session.clone().unwrap()).collect();
    assert_eq!(ids.len(), MCP_SESSIONS);
    assert!(ids.iter().all(|id| id.len() == 80), "{ids:?}");

    // DELETE from any replica ends the session where it lives.
    for (i, gw) in cluster.replicas.iter().enumerate() {
        let (status, body) = gw.delete(&format!("/sessions/rest-{i}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = count(lb, &format!("rest-{i}")).await;
        assert_eq!(
            (status, &body["result"]),
            (StatusCode::OK, &json!("1")),
            "a new child: {body}"
        );
    }
    let (status, body) = cluster.replicas[0].delete("/sessions/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    for mcp in &mut mcps[..3] {
        assert_eq!(mcp.delete().await, StatusCode::OK);
        let (_, resp) = mcp.send("tools/list", json!({})).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_or_foreign_session_ids_and_hops_are_unknown_or_refused() {
    let cluster = Cluster::start(3).await;
    let lb = &cluster.lb;
    let mut mcp = Mcp::open(lb, "/mcp").await;
    assert_eq!(text(&mcp.call("count", json!({})).await), "1");
    let genuine = mcp.session.clone().unwrap();

    // The genuine id works from every replica (forwarded to its owner when needed).
    for gw in &cluster.replicas {
        let mut direct = Mcp::new(gw, "/mcp");
        direct.session = Some(genuine.clone());
        let result = direct.call("count", json!({})).await;
        assert!(!text(&result).is_empty(), "{result}");
    }

    // One byte altered anywhere: unknown, from every replica and through the balancer.
    for at in [0, 17, 40, 79] {
        let mut forged = genuine.clone().into_bytes();
        forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        for gw in cluster.replicas.iter().chain([lb]) {
            let mut client = Mcp::new(gw, "/mcp");
            client.session = Some(forged.clone());
            let (_, resp) = client.send("tools/list", json!({})).await;
            assert_eq!(
                resp.status(),
                StatusCode::NOT_FOUND,
                "byte {at} at {}",
                gw.base
            );
        }
    }

    // An id another cluster minted (another key ring, same Redis) is unknown here.
    let other = TestGateway::start(replica_config(&cluster.redis, "other", OTHER_KEY)).await;
    wait_members(&other, 1).await;
    let foreign = Mcp::open(&other, "/mcp").await.session.unwrap();
    let mut client = Mcp::new(lb, "/mcp");
    client.session = Some(foreign);
    let (_, resp) = client.send("tools/list", json!({})).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // A hop whose signature does not hold is refused, and nothing is created.
    let gw = &cluster.replicas[0];
    let forged_hop = |sig: &str| {
        gw.http
            .post(gw.url("/services/fx/call"))
            .header("x-mcp-gateway-hop-from", "00".repeat(16))
            .header("x-mcp-gateway-hop-time", "1")
            .header("x-mcp-gateway-hop-principal", "bearer")
            .header("x-mcp-gateway-hop-client", "127.0.0.1")
            .header("x-mcp-gateway-hop-signature", sig.to_string())
            .json(&json!({"tool": "count", "session_id": "hop-1", "arguments": {}}))
    };
    for sig in ["00".repeat(32), String::new(), "not hex".into()] {
        let resp = within(10, "a forged hop", forged_hop(&sig).send())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized", "{body}");
    }
    let (_, listed) = lb.get("/sessions").await;
    assert!(listed.get("hop-1").is_none(), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_client_keeps_its_sessions_through_the_balancer() {
    let cluster = Cluster::start(3).await;
    let Sizes { mcp, calls, .. } = sizes();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/clients/cluster_client.py")
        .display()
        .to_string();
    let args = vec![
        script,
        cluster.lb.url("/mcp"),
        TOKEN.to_string(),
        mcp.to_string(),
        calls.to_string(),
        "20".to_string(),
    ];
    let out = within(
        600,
        "the Python SDK's sessions through the balancer",
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(peer("py/bin/python"))
                .args(args)
                .output()
                .expect("run the Python client")
        }),
    )
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("ok {mcp} sessions")),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Each client ended its session (DELETE): no session is left on any replica.
    within(20, "every MCP session is gone", async {
        loop {
            let (_, listed) = cluster.lb.get("/sessions").await;
            if listed.as_object().is_some_and(|m| m.is_empty()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn one_gateway_without_a_cluster_is_ready_and_ignores_hop_headers() {
    let gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    let (status, body) = gw.get("/ready").await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({"status": "ready", "config_generation": 1})
        )
    );
    // Hop headers mean nothing to a gateway that is no cluster member: its credentials decide.
    let hop = |req: reqwest::RequestBuilder| {
        req.header("x-mcp-gateway-hop-from", "00".repeat(16))
            .header("x-mcp-gateway-hop-time", "1")
            .header("x-mcp-gateway-hop-principal", "bearer")
            .header("x-mcp-gateway-hop-client", "127.0.0.1")
            .header("x-mcp-gateway-hop-signature", "00".repeat(32))
            .json(&json!({"tool": "count", "session_id": "solo", "arguments": {}}))
    };
    let anonymous = within(
        10,
        "a call without credentials",
        hop(gw.http.post(gw.url("/services/fx/call"))).send(),
    )
    .await
    .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let authed = within(
        10,
        "a call with credentials",
        hop(gw.http.post(gw.url("/services/fx/call")).bearer_auth(TOKEN)).send(),
    )
    .await
    .unwrap();
    assert_eq!(authed.status(), StatusCode::OK);
    let body: Value = authed.json().await.unwrap();
    assert_eq!(body["result"], json!("1"), "{body}");
    // Its MCP session ids are what they always were (32 hex digits), not sealed ones.
    let mcp = Mcp::open(&gw, "/mcp").await;
    let id = mcp.session.clone().unwrap();
    assert!(
        id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
}

/// The next JSON-RPC message of an SSE response.
async fn next_message(resp: &mut reqwest::Response, buf: &mut String) -> Option<Value> {
    loop {
        if let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            if let Some(message) = crate::front::client::parse_sse(&event).pop() {
                return Some(message);
            }
            continue;
        }
        let chunk = within(30, "an SSE chunk", resp.chunk()).await.ok()??;
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_and_the_get_stream_pass_through_the_hop() {
    let cluster = Cluster::start(3).await;
    let opened = open_mcp_on(&cluster.replicas[0]).await;
    // Every request below reaches a replica that does not own the session.
    let mut calls = mcp_via(&cluster.replicas[1], opened.clone());
    let messages = calls
        .exchange(
            "tools/call",
            json!({"name": "progress", "arguments": {"steps": 3}, "_meta": {"progressToken": "tok-1"}}),
        )
        .await;
    assert_eq!(messages.len(), 4, "{messages:?}");
    for (i, m) in messages[..3].iter().enumerate() {
        assert_eq!(m["method"], "notifications/progress", "{m}");
        assert_eq!(m["params"]["progressToken"], "tok-1");
        assert_eq!(m["params"]["progress"], i as u64 + 1);
    }
    assert_eq!(text(&messages[3]["result"]), "done");

    // The standalone GET stream, opened through a third replica, carries the child's
    // notifications.
    let other = mcp_via(&cluster.replicas[2], opened);
    let mut stream = other
        .with_headers(
            cluster.replicas[2]
                .http
                .get(cluster.replicas[2].url("/mcp")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let added = calls.call("add_tool", json!({"name": "fresh"})).await;
    assert_eq!(text(&added), "added fresh");
    let mut buf = String::new();
    let message = next_message(&mut stream, &mut buf)
        .await
        .expect("a notification through the hop");
    assert_eq!(message["method"], "notifications/tools/list_changed");
}
