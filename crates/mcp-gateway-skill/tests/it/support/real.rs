//! The real `mcp-gateway` binary with real `mcp-fixture` children.
//!
//! Both binaries are built by this test (once per test process, `cargo build -p
//! mcp-gateway -p mcp-fixture` in the same target dir and profile), so `cargo test -p
//! mcp-gateway-skill` alone runs against the current gateway source.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

pub const USER: &str = "admin";
pub const PASSWORD: &str = "gateway-secret";

/// The directory holding `mcp-gateway` and `mcp-fixture`, built if needed.
fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // target/<profile>/deps/it-<hash> -> target/<profile>
        let exe = std::env::current_exe().expect("test executable path");
        let mut dir = exe.parent().expect("exe dir").to_path_buf();
        if dir.ends_with("deps") {
            dir.pop();
        }
        build_binaries(&dir);
        dir
    })
}

fn build_binaries(profile_dir: &Path) {
    let target_dir = profile_dir.parent().expect("target dir");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "mcp-gateway",
        "-p",
        "mcp-fixture",
        "--bins",
    ])
    .env("CARGO_TARGET_DIR", target_dir)
    .current_dir(&workspace);
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
        None => {}
    }
    let mut child = cmd
        .spawn()
        .expect("run cargo build for the gateway binaries");
    let deadline = Instant::now() + Duration::from_secs(900);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for cargo build") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("building mcp-gateway and mcp-fixture took more than 15 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "cargo build -p mcp-gateway -p mcp-fixture failed"
    );
}

pub fn gateway_bin() -> PathBuf {
    bin_dir().join("mcp-gateway")
}

pub fn fixture_bin() -> PathBuf {
    bin_dir().join("mcp-fixture")
}

/// A service running the fixture server, as `name` (its serverInfo name).
pub fn fixture_service(name: &str, description: &str) -> Value {
    json!({
        "command": [fixture_bin().display().to_string(), "--name", name],
        "description": description,
    })
}

/// A running `mcp-gateway` process, killed when dropped.
pub struct RealGateway {
    process: Child,
    pub url: String,
    log: Arc<Mutex<String>>,
    _dir: TempDir,
}

impl RealGateway {
    /// Start a gateway with `services` on `port` (0: any free port) and Basic auth
    /// [`USER`]/[`PASSWORD`]; returns once it listens.
    pub fn start(services: Value, port: u16) -> Self {
        let config = json!({
            "server": {"host": "127.0.0.1", "port": port, "auth_user": USER,
                       "auth_password": PASSWORD, "shutdown_grace": 2},
            "services": services,
            "session": {"cleanup_interval": 0.2, "sandbox_dir": "./sandbox"},
            "rate_limiting": {"enabled": false},
            "logging": {"level": "DEBUG"}
        });
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::to_vec_pretty(&config).expect("config json"),
        )
        .expect("write config");
        let mut process = Command::new(gateway_bin())
            .args(["-c", "config.json"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mcp-gateway");
        let stderr = process.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let writer = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.split(" listening on ").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr.trim().to_owned());
                }
                let mut log = writer.lock().expect("log lock");
                log.push_str(&line);
                log.push('\n');
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => RealGateway {
                process,
                url,
                log,
                _dir: dir,
            },
            Err(_) => {
                let _ = process.kill();
                let _ = process.wait();
                panic!(
                    "mcp-gateway did not start; log:\n{}",
                    log.lock().expect("log lock")
                );
            }
        }
    }

    /// Everything the gateway wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }
}

impl Drop for RealGateway {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
