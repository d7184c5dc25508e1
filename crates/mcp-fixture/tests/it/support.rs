//! A running `mcp-fixture` driven over its pipes. Every wait has a deadline and a message
//! saying what must not hang.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const WAIT: Duration = Duration::from_secs(10);

pub struct Fixture {
    child: Child,
    stdin: Option<ChildStdin>,
    /// stdout lines: parsed JSON, or `Value::String(line)` for a line that is not JSON.
    lines: Receiver<Value>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: Option<thread::JoinHandle<()>>,
}

impl Fixture {
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-fixture"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mcp-fixture");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let mut stderr_pipe = child.stderr.take().expect("piped stderr");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&stderr);
        let stderr_reader = thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = stderr_pipe.read(&mut buf) {
                sink.lock()
                    .expect("stderr buffer")
                    .extend_from_slice(&buf[..n]);
            }
        });
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            lines,
            stderr,
            stderr_reader: Some(stderr_reader),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn send_raw(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .expect("write to the fixture's stdin");
    }

    pub fn send(&mut self, message: Value) {
        self.send_raw(&message.to_string());
    }

    pub fn request(&mut self, id: Value, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    pub fn call(&mut self, id: Value, tool: &str, arguments: Value) {
        self.request(
            id,
            "tools/call",
            json!({"name": tool, "arguments": arguments}),
        );
    }

    /// The next stdout line.
    pub fn recv(&self) -> Value {
        self.recv_within(WAIT)
            .unwrap_or_else(|| panic!("the fixture must send a line within {WAIT:?}"))
    }

    pub fn recv_within(&self, wait: Duration) -> Option<Value> {
        self.lines.recv_timeout(wait).ok()
    }

    /// The next line, which must be the response to `id`.
    pub fn response(&self, id: Value) -> Value {
        let message = self.recv();
        assert_eq!(
            message["id"], id,
            "expected the response to {id}, got {message}"
        );
        assert!(
            message.get("method").is_none(),
            "expected a response, got {message}"
        );
        message
    }

    /// Send a request and return its `result` (panics on an error response).
    pub fn roundtrip(&mut self, id: Value, method: &str, params: Value) -> Value {
        self.request(id.clone(), method, params);
        let response = self.response(id);
        assert!(
            response.get("error").is_none(),
            "unexpected error: {response}"
        );
        response["result"].clone()
    }

    /// Call a tool and return the first text content of its result.
    pub fn call_text(&mut self, id: i64, tool: &str, arguments: Value) -> String {
        let result = self.roundtrip(
            json!(id),
            "tools/call",
            json!({"name": tool, "arguments": arguments}),
        );
        text_of(&result).to_owned()
    }

    pub fn initialize(&mut self, version: &str) -> Value {
        let result = self.roundtrip(
            json!(0),
            "initialize",
            json!({"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "it", "version": "0"}}),
        );
        self.notify("notifications/initialized", json!({}));
        result
    }

    /// Close stdin and wait for the exit. Returns the status and everything written to stderr.
    pub fn finish(mut self) -> (ExitStatus, String) {
        self.stdin.take();
        let status = self.wait();
        (status, self.stderr_text())
    }

    /// Wait for an exit that is already under way (crash, exit-on-init).
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                if let Some(reader) = self.stderr_reader.take() {
                    reader.join().expect("stderr reader");
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the fixture must exit within {WAIT:?}"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr buffer")).into_owned()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn text_of(result: &Value) -> &str {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("a text content in {result}"))
}
