//! Tools that try to escape a sandbox: the gateway's sandbox tests call them and expect each
//! escape to fail. Each reports what actually happened, as text (JSON for counts), and an
//! operation the sandbox refused is an `isError` result naming the OS error.
//!
//! And tools that break the wire on purpose (`raw_reply`, `endless_line`, `flood_requests`,
//! `stdout_noise`) or ask the client more than it answers (`sample_many`): the gateway's tests
//! expect each to fail cleanly and fast, within bounds.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Call, Outcome, args, text};
use crate::output;

pub const NAMES: &[&str] = &[
    "alloc_mb",
    "spin_cpu",
    "write_file",
    "fork_many",
    "read_file",
    "list_dir",
    "connect",
    "read_env",
    "spawn_daemon",
    "signal",
    "ptrace",
    "syscall",
    "raw_reply",
    "endless_line",
    "flood_requests",
    "stdout_noise",
    "sample_many",
];

/// The tool definitions, in [`NAMES`] order.
pub fn definitions() -> Vec<Value> {
    let int = |d: &str| json!({"type": "integer", "minimum": 0, "description": d});
    let string = |d: &str| json!({"type": "string", "description": d});
    let tool = |name: &str, description: &str, properties: Value, required: &[&str]| {
        json!({"name": name, "description": description,
               "inputSchema": {"type": "object", "properties": properties, "required": required}})
    };
    vec![
        tool(
            "alloc_mb",
            "Allocate and touch N MiB of heap; reply how many were allocated",
            json!({"mb": int("MiB to allocate")}),
            &["mb"],
        ),
        tool(
            "spin_cpu",
            "Burn CPU for N seconds of wall time; reply the seconds spun",
            json!({"seconds": int("Seconds to spin")}),
            &["seconds"],
        ),
        tool(
            "write_file",
            "Write N bytes to a file at a path; reply the bytes written",
            json!({"path": string("File to write"), "bytes": int("How many bytes")}),
            &["path", "bytes"],
        ),
        tool(
            "fork_many",
            "Start N `sleep` processes, reply {\"started\": k, \"error\": first error}, then kill them",
            json!({"count": int("How many processes to try")}),
            &["count"],
        ),
        tool(
            "read_file",
            "Reply the content of a file (lossy UTF-8)",
            json!({"path": string("File to read")}),
            &["path"],
        ),
        tool(
            "list_dir",
            "Reply the sorted entry names of a directory, one per line",
            json!({"path": string("Directory to list")}),
            &["path"],
        ),
        tool(
            "connect",
            "Open a TCP connection to host:port (2 s timeout); reply \"connected\"",
            json!({"addr": string("host:port, an IP address")}),
            &["addr"],
        ),
        tool(
            "read_env",
            "Reply the value of an environment variable, or an error when unset",
            json!({"name": string("Variable name")}),
            &["name"],
        ),
        tool(
            "spawn_daemon",
            "Start a `sleep 300` in a new session (setsid, detached); reply its pid",
            json!({}),
            &[],
        ),
        tool(
            "signal",
            "Send a signal (default 0: only the permission check) to a pid with kill(1)",
            json!({"pid": int("Target process"), "signal": int("Signal number (default 0)")}),
            &["pid"],
        ),
        tool(
            "ptrace",
            "Attach to a pid with ptrace(PTRACE_SEIZE) and detach again; reply \"attached\"",
            json!({"pid": int("Target process")}),
            &["pid"],
        ),
        tool(
            "syscall",
            "Make one raw system call the seccomp filter denies (bpf, perf_event_open, keyctl, userfaultfd, io_uring_setup, unshare_user, clone_user, mount), with arguments the kernel itself answers without EPERM; reply \"ok N\" or the OS error",
            json!({"call": string("Which system call")}),
            &["call"],
        ),
        tool(
            "raw_reply",
            "Write `line` (with every `$ID` replaced by this call's id as JSON) and a newline to stdout as the reply, unchecked",
            json!({"line": string("The raw reply line")}),
            &["line"],
        ),
        tool(
            "endless_line",
            "Write `x` to stdout forever, never a newline, never reading stdin again",
            json!({}),
            &[],
        ),
        tool(
            "flood_requests",
            "Send N requests of an unknown method, each with an id of `id_bytes` bytes, then never read stdin again (and never reply)",
            json!({"count": int("How many requests"), "id_bytes": int("Length of each string id (default 16)")}),
            &["count"],
        ),
        tool(
            "stdout_noise",
            "Write N lines that are not JSON to stdout, then reply \"noisy N\"",
            json!({"lines": int("How many lines")}),
            &["lines"],
        ),
        tool(
            "sample_many",
            "Send the client N sampling/createMessage requests at once, wait `timeout_ms` (default 2000) for the answers, reply {\"results\": r, \"errors\": e} counting them",
            json!({"count": int("How many requests"), "timeout_ms": int("How long to wait")}),
            &["count"],
        ),
    ]
}

pub fn call(call: &Call<'_>, name: &str) -> Result<Outcome, String> {
    let args = call.args;
    match name {
        "raw_reply" => {
            let line = args::required_string(args, "line")?.replace("$ID", &call.id.to_string());
            output::send_raw(format!("{line}\n").as_bytes());
            Ok(Outcome::Silent)
        }
        "endless_line" => endless_line(),
        "flood_requests" => flood_requests(
            args::size(args, "count", None)?,
            args::size(args, "id_bytes", Some(16))?,
        ),
        "sample_many" => Ok(sample_many(
            call,
            args::size(args, "count", None)?,
            args::size(args, "timeout_ms", Some(2000))?,
        )),
        "stdout_noise" => {
            let lines = args::size(args, "lines", None)?;
            let noise =
                b"this is not json\n".repeat(usize::try_from(lines).map_err(|e| e.to_string())?);
            output::send_raw(&noise);
            Ok(text(format!("noisy {lines}")))
        }
        "alloc_mb" => alloc_mb(args::size(args, "mb", None)?),
        "spin_cpu" => Ok(spin_cpu(args::size(args, "seconds", None)?)),
        "write_file" => write_file(
            args::required_string(args, "path")?,
            args::size(args, "bytes", None)?,
        ),
        "fork_many" => Ok(fork_many(args::size(args, "count", None)?)),
        "read_file" => read_file(args::required_string(args, "path")?),
        "list_dir" => list_dir(args::required_string(args, "path")?),
        "connect" => connect(args::required_string(args, "addr")?),
        "read_env" => {
            let name = args::required_string(args, "name")?;
            std::env::var(name)
                .map(text)
                .map_err(|e| format!("{name}: {e}"))
        }
        "spawn_daemon" => spawn_daemon(),
        "signal" => signal(
            args::size(args, "pid", None)?,
            args::size(args, "signal", Some(0))?,
        ),
        "ptrace" => ptrace::seize(args::size(args, "pid", None)?),
        "syscall" => super::syscalls::call(args::required_string(args, "call")?),
        other => Err(format!("no hostile tool {other}")),
    }
}

fn sample_many(call: &Call<'_>, count: u64, timeout_ms: u64) -> Outcome {
    let state = &call.server.state;
    let token = state.next_token();
    let (tx, rx) = std::sync::mpsc::channel();
    let params = json!({
        "messages": [{"role": "user", "content": {"type": "text", "text": "Say hello"}}],
        "maxTokens": 16,
    });
    for i in 0..count {
        let id = json!(format!("many-{i}"));
        state.inbox.expect(&id, token, tx.clone());
        let request = json!({"jsonrpc": "2.0", "id": id, "method": "sampling/createMessage", "params": params});
        output::send(&request);
    }
    drop(tx);
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    let (mut results, mut errors) = (0u64, 0u64);
    while results + errors < count {
        let Ok(response) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        else {
            break;
        };
        if response.get("error").is_some() {
            errors += 1;
        } else {
            results += 1;
        }
    }
    state.inbox.forget(token);
    text(json!({"results": results, "errors": errors}).to_string())
}

fn endless_line() -> Result<Outcome, String> {
    let chunk = vec![b'x'; 1 << 16];
    loop {
        output::send_raw(&chunk); // exits once the reader is gone
    }
}

fn flood_requests(count: u64, id_bytes: u64) -> Result<Outcome, String> {
    let pad = "r".repeat(usize::try_from(id_bytes).map_err(|e| e.to_string())?);
    for i in 0..count {
        let request =
            json!({"jsonrpc": "2.0", "id": format!("{pad}-{i}"), "method": "fixture/unknown"});
        output::send(&request);
    }
    // Never read stdin again: the answers to those requests pile up on the other side.
    loop {
        std::thread::park();
    }
}

fn alloc_mb(mb: u64) -> Result<Outcome, String> {
    let bytes = usize::try_from(mb.saturating_mul(1 << 20)).map_err(|e| e.to_string())?;
    let mut buf: Vec<u8> = Vec::new();
    buf.try_reserve_exact(bytes)
        .map_err(|e| format!("cannot allocate {mb} MiB: {e}"))?;
    // Touch every page so the memory is really used.
    buf.resize(bytes, 1);
    let sum: u64 = buf.iter().step_by(4096).map(|b| u64::from(*b)).sum();
    Ok(text(format!("allocated {mb} MiB ({sum} pages touched)")))
}

fn spin_cpu(seconds: u64) -> Outcome {
    let start = Instant::now();
    let mut x: u64 = 1;
    while start.elapsed() < Duration::from_secs(seconds) {
        for _ in 0..100_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
    }
    text(format!("spun {seconds} s"))
}

fn write_file(path: &str, bytes: u64) -> Result<Outcome, String> {
    let mut file = std::fs::File::create(path).map_err(|e| format!("cannot create {path}: {e}"))?;
    let chunk = vec![b'x'; 1 << 16];
    let mut written = 0u64;
    while written < bytes {
        let n = (bytes - written).min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n])
            .map_err(|e| format!("write to {path} failed after {written} bytes: {e}"))?;
        written += n as u64;
    }
    Ok(text(format!("wrote {written} bytes")))
}

fn fork_many(count: u64) -> Outcome {
    let mut children: Vec<Child> = Vec::new();
    let mut error = None;
    for _ in 0..count {
        match Command::new("sleep")
            .arg("60")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => children.push(child),
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let started = children.len();
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    text(json!({"started": started, "error": error}).to_string())
}

fn read_file(path: &str) -> Result<Outcome, String> {
    std::fs::read(path)
        .map(|bytes| text(String::from_utf8_lossy(&bytes)))
        .map_err(|e| format!("cannot read {path}: {e}"))
}

fn list_dir(path: &str) -> Result<Outcome, String> {
    let mut names: Vec<String> = std::fs::read_dir(path)
        .map_err(|e| format!("cannot list {path}: {e}"))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(text(names.join("\n")))
}

fn connect(addr: &str) -> Result<Outcome, String> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| format!("bad address {addr}: {e}"))?;
    TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map(|_| text("connected"))
        .map_err(|e| format!("cannot connect to {addr}: {e}"))
}

fn spawn_daemon() -> Result<Outcome, String> {
    // `setsid` in a background job of a non-interactive shell is not a group leader, so it
    // calls setsid(2) itself and execs sleep under the same pid, which `$!` prints.
    let out = Command::new("sh")
        .args([
            "-c",
            "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start sh: {e}"))?;
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if pid.is_empty() {
        return Err(format!(
            "no pid from sh: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(text(pid))
}

fn signal(pid: u64, signal: u64) -> Result<Outcome, String> {
    let out = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    if out.status.success() {
        Ok(text(format!("signalled {pid}")))
    } else {
        Err(format!(
            "kill -{signal} {pid} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The fixture's only unsafe code: one `ptrace` system call pair, which std does not expose.
#[allow(unsafe_code)]
mod ptrace {
    use super::{Outcome, text};

    pub fn seize(pid: u64) -> Result<Outcome, String> {
        let pid = libc::pid_t::try_from(pid).map_err(|e| format!("bad pid {pid}: {e}"))?;
        // SAFETY: PTRACE_SEIZE and PTRACE_DETACH take integers only; a seized tracee is not
        // stopped, and is detached again at once.
        let ret = unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0usize, 0usize) };
        if ret < 0 {
            return Err(format!(
                "ptrace {pid} failed: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: as above.
        unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, 0usize, 0usize) };
        Ok(text(format!("attached {pid}")))
    }
}
