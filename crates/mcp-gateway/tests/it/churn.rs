//! A property (issue 17): any interleaving of calls, deletes, idle expiry, child crashes,
//! grandchildren and a final shutdown leaves no process, private dir or cgroup behind, and
//! every answer is one of the defined ones. Interleavings come from seeded pseudo-random
//! workers running side by side (`MCP_TEST_SEED=<n>` replays one seed).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::procs::alive;
use crate::support::*;

/// xorshift64*: small, seedable, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

#[derive(Default)]
struct Seen {
    pids: BTreeSet<u32>,
    /// Directories holding the children's pids cgroups.
    cgroup_parents: BTreeSet<PathBuf>,
}

/// The directory of `pid`'s pids cgroup (v1 `N:pids:/p`, v2 `0::/p`), if it has one of its own.
fn cgroup_dir(pid: u32) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let root = match controllers {
            c if c.split(',').any(|c| c == "pids") => "/sys/fs/cgroup/pids",
            "" => "/sys/fs/cgroup",
            _ => continue,
        };
        let dir = PathBuf::from(root).join(path.trim_start_matches('/'));
        let named = dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains("-fx-"));
        return named.then_some(dir);
    }
    None
}

async fn remember_children(gw: &TestGateway, seen: &Mutex<Seen>) {
    let (_, sessions) = gw.get("/sessions").await;
    for session in sessions.as_object().into_iter().flat_map(|m| m.values()) {
        if let Some(pid) = session["children"]["fx"]["pid"].as_u64() {
            let pid = pid as u32;
            let parent = cgroup_dir(pid).and_then(|d| d.parent().map(PathBuf::from));
            let mut seen = seen.lock().unwrap();
            seen.pids.insert(pid);
            seen.cgroup_parents.extend(parent);
        }
    }
}

async fn worker(gw: &TestGateway, seed: u64, seen: &Mutex<Seen>) {
    let mut rng = Rng(seed | 1);
    for _ in 0..25 {
        let id = format!("s{}", rng.next(5));
        let op = rng.next(10);
        let (tool, args) = match op {
            0..=3 => ("echo", json!({"text": "x"})),
            4 => ("crash", json!({})),
            5 => ("sleep", json!({"ms": 200})),
            6 => ("spawn_grandchild", json!({})),
            7 => {
                let (status, body) = gw.delete(&format!("/sessions/{id}")).await;
                assert!(
                    [StatusCode::OK, StatusCode::NOT_FOUND].contains(&status),
                    "seed {seed}: DELETE {id}: {status} {body}"
                );
                continue;
            }
            8 => {
                // Long enough for an idle session (default_timeout 1 s) to expire.
                tokio::time::sleep(Duration::from_millis(1_200)).await;
                continue;
            }
            _ => {
                remember_children(gw, seen).await;
                continue;
            }
        };
        let (status, body) = gw.call("fx", &id, tool, args).await;
        let code = body["code"].as_str().unwrap_or("");
        let defined = match status.as_u16() {
            200 => true,
            409 => code == "session_closed",
            // The crash, or a call in flight in the child another worker crashed.
            502 => code == "child_exited",
            _ => false,
        };
        assert!(defined, "seed {seed}: {tool} in {id}: {status} {body}");
        if tool == "spawn_grandchild"
            && let Some(pid) = body["result"].as_str().and_then(|p| p.parse().ok())
        {
            seen.lock().unwrap().pids.insert(pid);
        }
        if status == 200 {
            remember_children(gw, seen).await;
        }
    }
}

async fn one_run(seed: u64) {
    let mut gw = TestGateway::start(config(
        json!({ "fx": fixture_service(&[]) }),
        json!({ "session": { "default_timeout": 1 }, "server": { "shutdown_grace": 2 } }),
    ))
    .await;
    let gateway = gw.pid();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let workers = (0..4).map(|w| worker(&gw, seed.wrapping_mul(31).wrapping_add(w), &seen));
    within(300, "the workers", futures::future::join_all(workers)).await;
    gw.signal(15);
    assert_eq!(gw.wait_exit(60).await, Some(0), "seed {seed}: {}", gw.log());
    let seen = seen.lock().unwrap();
    assert!(!seen.pids.is_empty(), "seed {seed}: no child was seen");
    for &pid in &seen.pids {
        assert!(
            !alive(pid),
            "seed {seed}: process {pid} outlived the gateway"
        );
    }
    let sandbox = gw.path().join("sandbox");
    let left: Vec<_> = std::fs::read_dir(&sandbox)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "seed {seed}: private dirs left: {left:?}");
    if std::env::var("MCP_TEST_EXPECT_BOUND").is_ok_and(|b| b.starts_with("pids cgroup")) {
        assert!(
            !seen.cgroup_parents.is_empty(),
            "seed {seed}: no child cgroup was seen"
        );
    }
    let prefix = format!("{gateway}-");
    for parent in &seen.cgroup_parents {
        let left: Vec<_> = std::fs::read_dir(parent)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(&prefix))
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            left.is_empty(),
            "seed {seed}: cgroups left in {}: {left:?}\n{}",
            parent.display(),
            gw.log()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_interleavings_leave_nothing_behind() {
    let seeds: Vec<u64> = match std::env::var("MCP_TEST_SEED") {
        Ok(seed) => vec![seed.parse().expect("MCP_TEST_SEED is a number")],
        Err(_) => vec![1, 0x5eed, 20261130],
    };
    for seed in seeds {
        one_run(seed).await;
    }
}
