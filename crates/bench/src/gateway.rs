//! A gateway under test: ours (the release binary) or upstream's (Python), started with a
//! generated config on 127.0.0.1, and a keep-alive HTTP client for it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use serde_json::{Value, json};
use tempfile::TempDir;

pub const USER: &str = "bench";
pub const PASSWORD: &str = "bench-password";

pub struct Gateway {
    pub process: Child,
    pub base: String,
    pub http: reqwest::Client,
    auth: String,
    _dir: TempDir,
}

impl Gateway {
    /// Our gateway: `binary -c config.json` in a temp dir; the address is read from its
    /// "listening on" line.
    pub async fn start_ours(binary: &Path, config: &Value) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::to_vec_pretty(config)?,
        )?;
        let mut process = Command::new(binary)
            .args(["-c", "config.json"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let stderr = process.stderr.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split(" listening on ").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(rest.trim().to_string());
                }
                // Keep draining so the gateway never blocks on a full pipe.
            }
        });
        let base = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
            .await?
            .context("gateway did not report its address")?;
        Self::finish(process, base, dir).await
    }

    /// Upstream's Python gateway from a venv (`<venv>/bin/mcp-gateway`), on a free port.
    pub async fn start_upstream(binary: &Path, config: &Value) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let mut config = config.clone();
        config["server"]["port"] = json!(port);
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::to_vec_pretty(&config)?,
        )?;
        let process = Command::new(binary)
            .args(["-c", "config.json"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        Self::finish(process, format!("http://127.0.0.1:{port}"), dir).await
    }

    async fn finish(process: Child, base: String, dir: TempDir) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(1024)
            .build()?;
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
        );
        let gw = Self {
            process,
            base,
            http,
            auth,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = gw.http.get(gw.url("/health")).send().await
                && r.status().is_success()
            {
                return Ok(gw);
            }
            if Instant::now() > deadline {
                bail!("gateway at {} never became healthy", gw.base);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `tools/call` through the gateway; fails unless 200.
    pub async fn call(
        &self,
        service: &str,
        session: &str,
        tool: &str,
        arguments: &Value,
        timeout: Option<u64>,
    ) -> anyhow::Result<Value> {
        let mut body = json!({"tool": tool, "session_id": session, "arguments": arguments});
        if let Some(t) = timeout {
            body["timeout"] = json!(t);
        }
        let resp = self
            .http
            .post(self.url(&format!("/services/{service}/call")))
            .header("authorization", &self.auth)
            .json(&body)
            .send()
            .await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        if !status.is_success() {
            bail!(
                "call {service}/{tool}: {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(serde_json::from_slice(&body)?)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<String> {
        let resp = self
            .http
            .get(self.url(path))
            .header("authorization", &self.auth)
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("GET {path}: {status}: {text}");
        }
        Ok(text)
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<()> {
        let resp = self
            .http
            .delete(self.url(path))
            .header("authorization", &self.auth)
            .send()
            .await?;
        let status = resp.status();
        if !status.is_success() {
            bail!("DELETE {path}: {status}: {}", resp.text().await?);
        }
        Ok(())
    }

    /// A gauge or counter value from `GET /metrics` (first series whose line starts with
    /// `prefix`).
    pub async fn metric(&self, prefix: &str) -> anyhow::Result<f64> {
        let text = self.get("/metrics").await?;
        Ok(text
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0))
    }

    /// Gateway RSS in bytes (children are separate processes, never counted).
    pub fn rss(&self) -> u64 {
        rss(self.pid())
    }

    /// Live descendants of the gateway (zombies excluded).
    pub fn descendants(&self) -> usize {
        descendants(self.pid())
    }

    pub async fn wait_no_descendants(&self, max: Duration) -> usize {
        let deadline = Instant::now() + max;
        loop {
            let n = self.descendants();
            if n == 0 || Instant::now() > deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then wait (SIGKILL after 30 s).
    pub async fn stop(mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.process.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Ok(None) = self.process.try_wait() {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// VmRSS of `pid` in bytes.
pub fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn stat_fields(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let mut it = after.split_whitespace();
    let state = it.next()?.chars().next()?;
    let ppid = it.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Live (non-zombie) descendants of `root`.
pub fn descendants(root: u32) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let procs: Vec<(u32, char, u32)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| stat_fields(pid).map(|(s, pp)| (pid, s, pp)))
        .collect();
    let mut frontier = vec![root];
    let mut count = 0;
    while let Some(p) = frontier.pop() {
        for &(pid, state, ppid) in &procs {
            if ppid == p {
                if state != 'Z' {
                    count += 1;
                }
                frontier.push(pid);
            }
        }
    }
    count
}

/// Where the release binaries are: next to this `bench` binary, unless told otherwise.
pub fn sibling_bin(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}
