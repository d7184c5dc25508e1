//! The test harness: a real `mcp-gateway` process on 127.0.0.1:0 with real children.

#![allow(dead_code)]

pub mod procs;
pub mod redis;

pub use redis::Redis;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

pub const USER: &str = "admin";
pub const PASSWORD: &str = "12345";
pub const TOKEN: &str = "test-token";

/// Multiplier of every hang guard in this harness (`within`, `wait_until`, `wait_exit`, the
/// gateway's start and the HTTP client's timeout), from `MCP_TEST_TIME_SCALE` (default 1).
/// `scripts/vm-test.sh` runs the sandbox tests in an emulated VM, where starting a process is
/// ~50x slower; the guards only turn a hang into a failure, so stretching them weakens nothing.
pub fn time_scale() -> u64 {
    static SCALE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SCALE.get_or_init(|| {
        std::env::var("MCP_TEST_TIME_SCALE")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|&n| n >= 1)
            .unwrap_or(1)
    })
}

/// `secs` seconds times [`time_scale`].
pub fn scaled(secs: u64) -> Duration {
    Duration::from_secs(secs * time_scale())
}

/// Fail the test (instead of hanging) if `fut` does not finish within `secs` (scaled).
pub async fn within<T>(secs: u64, what: &str, fut: impl std::future::Future<Output = T>) -> T {
    let limit = scaled(secs);
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {}s: {what}", limit.as_secs()))
}

/// Poll `cond` every 20 ms until it holds; panic with `what` after `secs` (scaled).
pub async fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    within(secs, what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Copy the directory tree `from` to `to` (files and directories only).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Path of a binary built in the same target dir as the gateway (e.g. `mcp-fixture`).
pub fn workspace_bin(name: &str) -> PathBuf {
    let gateway = PathBuf::from(env!("CARGO_BIN_EXE_mcp-gateway"));
    let path = gateway.with_file_name(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo build --workspace` (or `cargo test --workspace`)",
        path.display()
    );
    path
}

/// A program or file installed under `.test-peers/` by `scripts/install-test-peers.sh`, as
/// written (not canonicalized: a venv's python is a symlink that must keep its venv path).
pub fn peer(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.test-peers")
        .join(relative);
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-test-peers.sh (scripts/test.sh does it)",
        path.display()
    );
    path.display().to_string()
}

pub fn fixture_bin() -> String {
    workspace_bin("mcp-fixture").display().to_string()
}

/// A service entry running the Rust fixture server with extra flags.
pub fn fixture_service(flags: &[&str]) -> Value {
    let mut command = vec![fixture_bin()];
    command.extend(flags.iter().map(|s| s.to_string()));
    json!({ "command": command, "description": "fixture" })
}

/// A config with auth (Basic admin/12345 and a bearer token), given services and overrides
/// merged into the top-level sections.
pub fn config(services: Value, extra: Value) -> Value {
    let mut cfg = json!({
        "server": { "host": "127.0.0.1", "port": 0, "auth_user": USER, "auth_password": PASSWORD, "auth_token": TOKEN, "shutdown_grace": 5 },
        "services": services,
        "session": { "cleanup_interval": 0.1, "sandbox_dir": "./sandbox" },
        "rate_limiting": { "enabled": false },
        "logging": { "level": "DEBUG" }
    });
    if let Value::Object(extra) = extra {
        for (section, values) in extra {
            match (cfg.get_mut(&section), values) {
                (Some(Value::Object(target)), Value::Object(values)) => target.extend(values),
                (_, values) => {
                    cfg[&section] = values;
                }
            }
        }
    }
    cfg
}

/// `mcp-gateway -c FILE validate` of `config`, written as `file` in a temp dir it runs in: the
/// exit code and stdout (each problem as `error: FILE: key: message`).
pub fn validate(file: &str, config: &Value) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(file), config.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args(["-c", file, "validate"])
        .current_dir(dir.path())
        .output()
        .expect("run mcp-gateway validate");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

pub struct TestGateway {
    pub process: Child,
    pub base: String,
    pub dir: TempDir,
    pub http: reqwest::Client,
    pub log: Arc<Mutex<String>>,
}

impl TestGateway {
    /// Write `config` to a temp dir and start the gateway there; wait until it listens.
    pub async fn start(config: Value) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
        Self::start_in(dir, &[]).await
    }

    /// Start with `config.json` in `dir` and extra environment variables.
    pub async fn start_in(dir: TempDir, env: &[(&str, &str)]) -> Self {
        let cwd = dir.path().to_path_buf();
        Self::launch(dir, &cwd, "config.json", env).await
    }

    /// Start the bundled example (`examples/config.json`) as the README's first command does,
    /// from a checkout: a copy of `examples/` in a temp dir (the repository itself may be
    /// read-only, as in scripts/vm-test.sh; `./sandbox` is made beside the copy), with
    /// `MCP_PORT=0` picking a free port.
    pub async fn start_example() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .unwrap();
        let scratch = tempfile::tempdir().expect("tempdir");
        copy_tree(&root.join("examples"), &scratch.path().join("examples"));
        let cwd = scratch.path().to_path_buf();
        Self::launch(scratch, &cwd, "examples/config.json", &[("MCP_PORT", "0")]).await
    }

    async fn launch(dir: TempDir, cwd: &Path, config: &str, env: &[(&str, &str)]) -> Self {
        // `MCP_TEST_GATEWAY_WRAPPER`: a program that gets the gateway's command line and must
        // exec it (same pid), e.g. to start each gateway in a delegated cgroup of its own as
        // `systemd-run --scope -p Delegate=yes` would (scripts/vm-test.sh, mode delegated).
        let gateway = env!("CARGO_BIN_EXE_mcp-gateway");
        let mut command = match std::env::var_os("MCP_TEST_GATEWAY_WRAPPER") {
            Some(wrapper) => {
                let mut command = Command::new(wrapper);
                command.arg(gateway);
                command
            }
            None => Command::new(gateway),
        };
        let mut process = command
            .args(["-c", config])
            .current_dir(cwd)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mcp-gateway");
        let stderr = process.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let log_writer = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split(" listening on ").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(rest.trim().to_string());
                }
                let mut log = log_writer.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let base = match tokio::time::timeout(scaled(30), rx).await {
            Ok(Ok(url)) => url,
            _ => {
                let _ = process.kill();
                let _ = process.wait();
                panic!("gateway did not start; log:\n{}", log.lock().unwrap());
            }
        };
        // A pooled connection is dropped after 5 s idle, before the gateway closes it (its
        // keep-alive is `server.header_read_timeout`, 10 s by default): reusing one at the
        // moment the gateway closes it fails the request with "connection closed before
        // message completed" (seen under emulation in the VM, where requests are slow).
        let http = reqwest::Client::builder()
            .timeout(scaled(60))
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        Self {
            process,
            base,
            dir,
            http,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = within(60, "HTTP request", req.send())
            .await
            .expect("request failed");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(self.url(path)).bearer_auth(TOKEN))
            .await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.delete(self.url(path)).bearer_auth(TOKEN))
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(self.http.post(self.url(path)).bearer_auth(TOKEN).json(body))
            .await
    }

    pub async fn call(
        &self,
        service: &str,
        session: &str,
        tool: &str,
        arguments: Value,
    ) -> (StatusCode, Value) {
        let body = json!({ "tool": tool, "session_id": session, "arguments": arguments });
        self.post(&format!("/services/{service}/call"), &body).await
    }

    /// A call that must succeed; returns the `result` field.
    pub async fn call_ok(
        &self,
        service: &str,
        session: &str,
        tool: &str,
        arguments: Value,
    ) -> Value {
        let (status, body) = self.call(service, session, tool, arguments).await;
        assert_eq!(status, StatusCode::OK, "{service}.{tool}: {body}");
        body["result"].clone()
    }

    /// The pid of the child serving (session, service), from `GET /sessions`.
    pub async fn child_pid(&self, session: &str, service: &str) -> u32 {
        let (_, sessions) = self.get("/sessions").await;
        sessions[session]["children"][service]["pid"]
            .as_u64()
            .unwrap_or_else(|| panic!("no child for {session}/{service} in {sessions}"))
            as u32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY-free: the `kill` command keeps the tests free of unsafe code.
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Wait for the gateway process to exit; returns its exit code. `secs` is scaled.
    pub async fn wait_exit(&mut self, secs: u64) -> Option<i32> {
        let secs = secs * time_scale();
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.process.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "gateway did not exit within {secs}s; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
