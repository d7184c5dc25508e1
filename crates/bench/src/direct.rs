//! The floor: talking to a child over stdio directly, with no gateway in between.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// One child spoken to directly (newline-delimited JSON-RPC on stdio).
pub struct Direct {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    next_id: u64,
}

impl Direct {
    /// Spawn `argv` and run the MCP handshake.
    pub async fn start(argv: &[String]) -> anyhow::Result<Self> {
        Self::start_with(argv, false).await
    }

    /// As [`Direct::start`]; `fork` installs a no-op `pre_exec` hook, which makes std spawn
    /// with `fork` + `exec` (as the gateway's sandbox does) instead of `posix_spawn`.
    pub async fn start_with(argv: &[String], fork: bool) -> anyhow::Result<Self> {
        let mut cmd = Command::new(&argv[0]);
        if fork {
            force_fork(&mut cmd);
        }
        let mut child = cmd
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn {argv:?}"))?;
        let stdin = child.stdin.take().expect("piped");
        let lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut me = Self {
            child,
            stdin,
            lines,
            next_id: 1,
        };
        me.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "bench", "version": "0"}
            }),
        )
        .await?;
        me.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        Ok(me)
    }

    async fn send(&mut self, msg: &Value) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(msg)?;
        line.push(b'\n');
        self.stdin.write_all(&line).await?;
        self.stdin.flush().await?;
        Ok(())
    }

    pub async fn request(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await?;
        loop {
            let Some(line) = self.lines.next_line().await? else {
                bail!("child closed stdout");
            };
            let msg: Value = serde_json::from_str(&line)?;
            if msg.get("id").and_then(Value::as_u64) == Some(id) {
                if let Some(err) = msg.get("error") {
                    bail!("{method}: {err}");
                }
                return Ok(msg["result"].clone());
            }
        }
    }

    pub async fn call(&mut self, tool: &str, arguments: &Value) -> anyhow::Result<Value> {
        self.request("tools/call", json!({"name": tool, "arguments": arguments}))
            .await
    }

    /// Close stdin and wait for the exit (kill after a second).
    pub async fn stop(mut self) {
        drop(self.stdin);
        if tokio::time::timeout(Duration::from_secs(1), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// A no-op `pre_exec` hook: std then cannot use `posix_spawn` and forks.
#[allow(unsafe_code)]
fn force_fork(cmd: &mut Command) {
    // SAFETY: the closure does nothing, so it is trivially async-signal-safe between fork
    // and exec.
    unsafe {
        cmd.pre_exec(|| Ok(()));
    }
}

/// `n` sequential calls on one child: per-call latency.
pub async fn sequential_calls(
    argv: &[String],
    tool: &str,
    args: &Value,
    warmup: usize,
    n: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut d = Direct::start(argv).await?;
    for _ in 0..warmup {
        d.call(tool, args).await?;
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        d.call(tool, args).await?;
        out.push(t.elapsed());
    }
    d.stop().await;
    Ok(out)
}

/// Calls per second on one child for `dur` (one client: stdio is one pipe).
pub async fn throughput(
    argv: &[String],
    tool: &str,
    args: &Value,
    dur: Duration,
) -> anyhow::Result<f64> {
    let mut d = Direct::start(argv).await?;
    for _ in 0..100 {
        d.call(tool, args).await?;
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < dur {
        d.call(tool, args).await?;
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    d.stop().await;
    Ok(rate)
}

/// Bare spawn rate: spawn + initialize + one call, `n` times with `concurrency` in flight;
/// children are kept alive until the end (as a gateway's sessions are), then stopped.
/// Returns per-spawn latencies and the wall time.
pub async fn spawn_ready(
    argv: &[String],
    tool: &str,
    args: &Value,
    n: usize,
    concurrency: usize,
    fork: bool,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let per = n.div_ceil(concurrency);
    for w in 0..concurrency {
        let argv = argv.to_vec();
        let (tool, args) = (tool.to_string(), args.clone());
        let count = per.min(n.saturating_sub(w * per));
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut kept = Vec::new();
            for _ in 0..count {
                let t = Instant::now();
                let mut d = Direct::start_with(&argv, fork).await?;
                d.call(&tool, &args).await?;
                lat.push(t.elapsed());
                kept.push(d);
            }
            anyhow::Ok((lat, kept))
        });
    }
    let mut lat = Vec::new();
    let mut kept = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (l, k) = r??;
        lat.extend(l);
        kept.extend(k);
    }
    let wall = start.elapsed();
    let stops: Vec<_> = kept.into_iter().map(|d| tokio::spawn(d.stop())).collect();
    for s in stops {
        let _ = s.await;
    }
    Ok((lat, wall))
}
