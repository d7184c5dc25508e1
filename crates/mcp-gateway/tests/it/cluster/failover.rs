//! A replica that dies or drains: its sessions are unknown at once everywhere else (never a
//! hang), and every other session keeps working.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::json;

use super::*;
use crate::front::client::{Mcp, text};

/// Open `n` REST sessions through the balancer (one `count` each); the replica owning each.
async fn open_rest(cluster: &Cluster, prefix: &str, n: usize) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for i in 0..n {
        let session = format!("{prefix}-{i}");
        let (status, body) = count(&cluster.lb, &session).await;
        assert_eq!(
            (status, &body["result"]),
            (StatusCode::OK, &json!("1")),
            "{body}"
        );
        let pid = cluster.lb.child_pid(&session, "fx").await;
        out.push((session, cluster.owner_of_child(pid)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_replicas_sessions_are_unknown_at_once_and_the_others_keep_working() {
    let mut cluster = Cluster::start(3).await;
    let rest = open_rest(&cluster, "k", 24).await;
    // Two MCP sessions owned by each replica, used through the balancer.
    let mut opened = Vec::new();
    for i in 0..6 {
        opened.push(open_mcp_on(&cluster.replicas[i % 3]).await);
    }
    let mut mcps: Vec<Mcp<'_>> = opened
        .into_iter()
        .map(|o| mcp_via(&cluster.lb, o))
        .collect();
    for mcp in &mut mcps {
        assert_eq!(text(&mcp.call("count", json!({})).await), "1");
    }
    let (_, listed) = cluster.lb.get("/sessions").await;
    let mcp_owner = |mcp: &Mcp<'_>| {
        let id = mcp.session.as_ref().unwrap();
        let pid = listed[id]["children"]["fx"]["pid"].as_u64().unwrap() as u32;
        cluster.owner_of_child(pid)
    };
    let mcp_owners: Vec<usize> = mcps.iter().map(mcp_owner).collect();
    // The victim owns REST sessions and MCP sessions (initialize is round robin).
    let victim = (0..3)
        .find(|v| rest.iter().any(|(_, o)| o == v) && mcp_owners.contains(v))
        .expect("a replica owning sessions of both kinds");
    let victim_children = procs::descendants_of(cluster.replicas[victim].pid());
    assert!(!victim_children.is_empty());

    // Under load: clients keep calling sessions the survivors own while the victim dies.
    let load: Vec<String> = open_rest(&cluster, "load", 12)
        .await
        .into_iter()
        .filter(|(_, o)| *o != victim)
        .map(|(s, _)| s)
        .collect();
    assert!(!load.is_empty());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for session in load.clone() {
        let (http, url, stop, calls) = (
            cluster.lb.http.clone(),
            cluster.lb.url("/services/fx/call"),
            stop.clone(),
            calls.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let body = json!({"tool": "count", "session_id": session, "arguments": {}});
                let sent = http.post(&url).bearer_auth(TOKEN).json(&body).send();
                let answer = match within(20, "a call under load", sent).await {
                    Ok(resp) => {
                        let status = resp.status();
                        let body: serde_json::Value = resp.json().await.unwrap_or_default();
                        (status.as_u16(), body)
                    }
                    Err(e) => (0, json!(e.to_string())),
                };
                answers.push(answer);
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            (session, answers)
        }));
    }
    let running = |n: usize| {
        let calls = calls.clone();
        move || calls.load(std::sync::atomic::Ordering::Relaxed) >= n
    };
    wait_until(10, "the load is running", running(3 * load.len())).await;

    cluster.replicas[victim].process.kill().unwrap();
    let killed = Instant::now();
    cluster.replicas[victim].process.wait().unwrap();

    // Its sessions answer 404 unknown_session at once through the balancer.
    let lb = &cluster.lb;
    let answers = futures::stream::iter(rest.iter().filter(|(_, o)| *o == victim))
        .map(|(session, _)| async move { (session, count(lb, session).await) })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    for (session, (status, body)) in &answers {
        assert_eq!(*status, StatusCode::NOT_FOUND, "{session}: {body}");
        assert_eq!(body["code"], "unknown_session", "{session}: {body}");
    }
    for (mcp, owner) in mcps.iter_mut().zip(&mcp_owners) {
        if *owner == victim {
            let (_, resp) = mcp
                .send("tools/call", json!({"name": "count", "arguments": {}}))
                .await;
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{:?}", mcp.session);
        }
    }
    let elapsed = killed.elapsed();
    assert!(
        elapsed < Duration::from_secs(2 * time_scale()),
        "the dead owner's sessions took {elapsed:?} to answer 404"
    );

    // Every other session keeps its child and its count.
    for (session, owner) in rest.iter().filter(|(_, o)| *o != victim) {
        let (status, body) = count(lb, session).await;
        assert_eq!(
            (status, &body["result"]),
            (StatusCode::OK, &json!("2")),
            "{session} on {owner}: {body}"
        );
    }
    for (mcp, owner) in mcps.iter_mut().zip(&mcp_owners) {
        if *owner != victim {
            assert_eq!(text(&mcp.call("count", json!({})).await), "2");
        }
    }
    // The load on the survivors' sessions never failed: every call answered, the counter
    // went up each time (a call the balancer retried after the victim, as edge, died under
    // it may have run twice: a skipped number, never a failure).
    let so_far = calls.load(std::sync::atomic::Ordering::Relaxed);
    wait_until(
        10,
        "the load goes on after the kill",
        running(so_far + 3 * load.len()),
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for worker in workers {
        let (session, answers) = within(30, "the load stops", worker).await.unwrap();
        let mut last = 1u64;
        for (status, body) in &answers {
            assert_eq!(*status, 200, "{session} under load: {body}");
            let n: u64 = body["result"].as_str().unwrap().parse().unwrap();
            assert!(n > last, "{session}: {n} after {last}");
            last = n;
        }
        assert!(!answers.is_empty(), "{session} was called");
    }
    // The killed replica's children died with it.
    wait_until(10, "the killed replica's children are gone", || {
        victim_children.iter().all(|&pid| !procs::alive(pid))
    })
    .await;
    // Once its lease is over, a dead session's id starts over elsewhere.
    let (session, _) = rest.iter().find(|(_, o)| *o == victim).unwrap();
    within(15, "the id is placed again once the lease expired", async {
        loop {
            let (status, body) = count(lb, session).await;
            if status == StatusCode::OK {
                assert_eq!(body["result"], json!("1"), "a fresh child");
                return;
            }
            assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_a_replica_its_sessions_answer_404_and_new_ones_never_fail() {
    let mut cluster = Cluster::start(3).await;
    let rest = open_rest(&cluster, "d", 18).await;
    let victim = rest[0].1;
    let (slow_session, _) = rest[0].clone();

    // A call in flight on the victim when SIGTERM arrives finishes.
    let lb_url = cluster.lb.url("/services/fx/call");
    let http = cluster.lb.http.clone();
    let slow = tokio::spawn(async move {
        let body = json!({"tool": "sleep", "session_id": slow_session, "arguments": {"ms": 1500}});
        let resp = http
            .post(lb_url)
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        (
            resp.status(),
            resp.json::<serde_json::Value>().await.unwrap(),
        )
    });
    let gw = &cluster.replicas[victim];
    wait_until(20, "the slow call runs on the victim", || {
        gw.log()
            .contains(&format!("tool=sleep session_id={}", rest[0].0))
    })
    .await;
    gw.signal(15);

    // Not ready any more (503, or refused once the listener closed).
    let (ready_url, probe) = (gw.url("/ready"), gw.http.clone());
    within(10, "the victim stops being ready", async {
        loop {
            match probe.get(&ready_url).send().await {
                Ok(r) if r.status() == StatusCode::OK => {}
                _ => return,
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    // Its other sessions answer 404 (never a hang); the in-flight call completes.
    let lb = &cluster.lb;
    for (session, _) in rest.iter().skip(1).filter(|(_, o)| *o == victim) {
        let (status, body) = within(5, "a drained session answers", count(lb, session)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{session}: {body}");
    }
    let (status, body) = within(20, "the in-flight call", slow).await.unwrap();
    assert_eq!(
        (status, &body["result"]),
        (StatusCode::OK, &json!("slept 1500")),
        "{body}"
    );

    // Sessions created after the drain began never fail, and the others keep their state.
    for i in 0..24 {
        let session = format!("after-{i}");
        for k in 1..=2 {
            let (status, body) = count(lb, &session).await;
            assert_eq!(
                (status, &body["result"]),
                (StatusCode::OK, &json!(k.to_string())),
                "{session}: {body}"
            );
        }
    }
    for (session, _) in rest.iter().filter(|(_, o)| *o != victim) {
        let (status, body) = count(lb, session).await;
        assert_eq!(
            (status, &body["result"]),
            (StatusCode::OK, &json!("2")),
            "{session}: {body}"
        );
    }
    let code = cluster.replicas[victim].wait_exit(20).await;
    assert_eq!(code, Some(0), "{}", cluster.replicas[victim].log());
}

/// One short session of the rolling restart: when it began, and each call's answer.
struct Short {
    began: Instant,
    answers: Vec<(Instant, StatusCode, serde_json::Value)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_fails_no_session_that_no_drain_overlapped() {
    let mut cluster = Cluster::start(3).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // Four clients, each opening short sessions one after another (three calls each).
    let mut drivers = Vec::new();
    for w in 0..4 {
        let (lb_http, url, stop, done) = (
            cluster.lb.http.clone(),
            cluster.lb.url("/services/fx/call"),
            stop.clone(),
            done.clone(),
        );
        drivers.push(tokio::spawn(async move {
            let mut shorts = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let session = format!("roll-{w}-{n}");
                let mut short = Short {
                    began: Instant::now(),
                    answers: Vec::new(),
                };
                for _ in 0..3 {
                    let body = json!({"tool": "count", "session_id": session, "arguments": {}});
                    let sent = lb_http.post(&url).bearer_auth(TOKEN).json(&body).send();
                    let resp = within(20, "a call during the rolling restart", sent)
                        .await
                        .unwrap();
                    let status = resp.status();
                    let body: serde_json::Value = resp.json().await.unwrap_or_default();
                    short.answers.push((Instant::now(), status, body));
                    if status != StatusCode::OK {
                        break;
                    }
                }
                shorts.push(short);
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            shorts
        }));
    }
    // Restart each replica in turn, on its own port (the balancer's server list stays).
    let mut drains = Vec::new();
    for i in 0..3 {
        let port = cluster.replicas[i]
            .base
            .rsplit(':')
            .next()
            .unwrap()
            .parse::<u16>()
            .unwrap();
        // Sessions complete on the cluster as it is now before the next drain.
        let before = done.load(std::sync::atomic::Ordering::Relaxed);
        wait_until(30, "sessions complete between drains", || {
            done.load(std::sync::atomic::Ordering::Relaxed) >= before + 12
        })
        .await;
        drains.push(Instant::now());
        cluster.replicas[i].signal(15);
        let code = cluster.replicas[i].wait_exit(30).await;
        assert_eq!(code, Some(0), "{}", cluster.replicas[i].log());
        let mut config = replica_config(&cluster.redis, "it", KEY);
        config["server"]["port"] = json!(port);
        cluster.replicas[i] = TestGateway::start(config).await;
        for gw in &cluster.replicas {
            wait_members(gw, 3).await;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut shorts = Vec::new();
    for d in drivers {
        shorts.extend(within(60, "the clients stop", d).await.unwrap());
    }
    // A session whose life no SIGTERM overlapped answered every call; one that a drain
    // overlapped may have been told its session is gone (404), never anything else.
    let (mut whole, mut cut) = (0, 0);
    for s in &shorts {
        let end = s.answers.last().map_or(s.began, |a| a.0);
        let overlapped = drains.iter().any(|&t| t >= s.began && t <= end);
        for (k, (_, status, body)) in s.answers.iter().enumerate() {
            if *status == StatusCode::OK {
                assert_eq!(body["result"], json!((k + 1).to_string()), "{body}");
            } else {
                assert!(
                    overlapped,
                    "a session no drain overlapped failed: {status} {body}"
                );
                assert_eq!(
                    (*status, &body["code"]),
                    (StatusCode::NOT_FOUND, &json!("unknown_session")),
                    "{body}"
                );
            }
        }
        if s.answers.len() == 3 && s.answers.iter().all(|a| a.1 == StatusCode::OK) {
            whole += 1;
        } else {
            cut += 1;
        }
    }
    eprintln!("rolling restart: {whole} sessions whole, {cut} cut by a drain");
    assert!(whole >= 30, "{whole} whole sessions, {cut} cut by a drain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_keeps_held_sessions_and_refuses_new_ones_with_a_retry() {
    let mut redis = Redis::start().await;
    let gw = TestGateway::start(replica_config(&redis, "it", KEY)).await;
    wait_members(&gw, 1).await;
    let (status, body) = count(&gw, "kept").await;
    assert_eq!(
        (status, &body["result"]),
        (StatusCode::OK, &json!("1")),
        "{body}"
    );

    redis.kill();
    within(10, "the lease lapses", async {
        loop {
            let (_, body) = gw.get("/ready").await;
            if body["lease"] == json!(false) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    // Still ready (every replica would be unready at once otherwise); a session it holds needs
    // no Redis; one it cannot place is refused at once, with a retry.
    let (status, body) = gw.get("/ready").await;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::OK, &json!("ready")),
        "{body}"
    );
    let (status, body) = count(&gw, "kept").await;
    assert_eq!(
        (status, &body["result"]),
        (StatusCode::OK, &json!("2")),
        "{body}"
    );
    let (status, body) = within(10, "a new session without Redis", count(&gw, "new")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "service_unavailable", "{body}");

    redis.restart().await;
    within(10, "the lease is held again", async {
        loop {
            let (_, body) = gw.get("/ready").await;
            if body["lease"] == json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let (status, body) = count(&gw, "new").await;
    assert_eq!(
        (status, &body["result"]),
        (StatusCode::OK, &json!("1")),
        "{body}"
    );
    assert_eq!(count(&gw, "kept").await.1["result"], json!("3"));
}
