//! The harness of the process-level tests: a scratch directory, the fixture server's
//! service config, spawn/start helpers, and waits that always time out with a message.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::broadcast;

use crate::config::{SandboxConfig, ServiceConfig};
use crate::mcp::{ChildEvent, ClientOptions, McpClient, McpError};
use crate::sandbox::{self, SpawnRequest, Spawned};

const SERVER: &str = include_str!("test_server.py");
/// Nothing in these tests may take this long.
pub(super) const WAIT: Duration = Duration::from_secs(20);
pub(super) const GRACE: Duration = Duration::from_millis(400);

pub(super) async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(value) => value,
        Err(_) => panic!("{what} did not finish within {WAIT:?}"),
    }
}

/// A test's scratch directory and the fixture's log of what it received.
pub(super) struct Scratch {
    dir: TempDir,
}

impl Scratch {
    pub(super) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub(super) fn path(&self) -> &Path {
        self.dir.path()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("received.jsonl")
    }

    /// Every message the fixture received, in order.
    pub(super) fn received(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub(super) fn service(&self, flags: &[&str]) -> ServiceConfig {
        let mut command = vec!["python3".to_string(), "-c".into(), SERVER.into()];
        command.extend(flags.iter().map(|f| f.to_string()));
        command.push(format!("log={}", self.log_path().display()));
        ServiceConfig {
            name: "fixture".into(),
            command,
            remote: None,
            description: String::new(),
            env: BTreeMap::new(),
            cwd: None,
            call_timeout: Duration::from_secs(10),
            startup_timeout: Duration::from_secs(10),
            max_line_bytes: 1 << 20,
            stop_grace: GRACE,
            warm_pool: 0,
            sandbox: SandboxConfig {
                enabled: false,
                ..SandboxConfig::default()
            },
        }
    }

    pub(super) fn spawn(&self, service: &ServiceConfig) -> Spawned {
        let prepared = sandbox::Prepared::new(service);
        let req = SpawnRequest {
            service,
            prepared: &prepared,
            session_id: "test-session",
            sandbox_root: self.dir.path(),
            protected: &[],
        };
        sandbox::spawn(&req).expect("spawn python3")
    }

    pub(super) async fn start_service(
        &self,
        service: &ServiceConfig,
    ) -> (Result<McpClient, McpError>, u32) {
        let spawned = self.spawn(service);
        let pid = spawned.pid;
        let opts = ClientOptions::for_service(service, "test-session", 64 * 1024);
        (within("start", McpClient::start(spawned, opts)).await, pid)
    }

    pub(super) async fn start(&self, flags: &[&str]) -> McpClient {
        self.start_service(&self.service(flags))
            .await
            .0
            .expect("the fixture starts")
    }
}

/// The text of a `tools/call` result's first content block.
pub(super) fn text_of(result: &Value) -> &str {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {result}"))
}

/// Reaped: no /proc entry at all (not even a zombie).
pub(super) fn reaped(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// Reaped within 10 s (a failed start answers first and finishes its stop in the background).
pub(super) async fn reaped_soon(pid: u32) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !reaped(pid) {
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    true
}

/// Dead: gone, or a zombie waiting for a parent that is not us (our PID 1 may not reap).
pub(super) fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

pub(super) async fn next_event(events: &mut broadcast::Receiver<ChildEvent>) -> ChildEvent {
    within("an event", events.recv())
        .await
        .expect("event channel open")
}
