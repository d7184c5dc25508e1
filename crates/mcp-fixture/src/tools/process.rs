//! Tools about this process: who it is, how it dies, what it leaves behind.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use serde_json::{Map, Value, json};

use super::args;
use super::{Outcome, text};
use crate::output;

type Args = Map<String, Value>;

/// `{"pid","ppid","pgid","uid","gid","cwd","argv","env","rlimits"}` as JSON text. The `/proc`
/// fields are null where `/proc` is not readable.
pub fn whoami() -> Outcome {
    let env: BTreeMap<String, String> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let cwd = std::env::current_dir()
        .map(|dir| dir.display().to_string())
        .ok();
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let proc_file = |name: &str| std::fs::read_to_string(format!("/proc/self/{name}")).ok();
    let status = proc_file("status");
    let id_line = |key: &str| status.as_deref().and_then(|s| status_id(s, key));
    let report = json!({
        "pid": std::process::id(),
        "ppid": std::os::unix::process::parent_id(),
        "pgid": proc_file("stat").as_deref().and_then(stat_pgid),
        "uid": id_line("Uid:"),
        "gid": id_line("Gid:"),
        "cwd": cwd,
        "argv": argv,
        "env": env,
        "rlimits": proc_file("limits").as_deref().map(soft_limits),
    });
    text(report.to_string())
}

/// The process group from `/proc/<pid>/stat` (the field after state and ppid, counting from
/// the closing parenthesis of the command name, which may itself contain spaces).
fn stat_pgid(stat: &str) -> Option<i64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// The real id from a `Uid:`/`Gid:` line of `/proc/<pid>/status`.
fn status_id(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// Soft limits from `/proc/<pid>/limits`, keyed by a short name (`cpu`, `fsize`, `as`, `nproc`,
/// `nofile`, ...): a number, or the string `"unlimited"`.
fn soft_limits(limits: &str) -> Map<String, Value> {
    const NAMES: &[(&str, &str)] = &[
        ("Max cpu time", "cpu"),
        ("Max file size", "fsize"),
        ("Max data size", "data"),
        ("Max stack size", "stack"),
        ("Max core file size", "core"),
        ("Max resident set", "rss"),
        ("Max processes", "nproc"),
        ("Max open files", "nofile"),
        ("Max locked memory", "memlock"),
        ("Max address space", "as"),
    ];
    let mut out = Map::new();
    for line in limits.lines() {
        let Some((label, key)) = NAMES.iter().find(|(label, _)| line.starts_with(label)) else {
            continue;
        };
        let Some(soft) = line[label.len()..].split_whitespace().next() else {
            continue;
        };
        let value = soft
            .parse::<u64>()
            .map_or_else(|_| Value::from(soft), Value::from);
        out.insert((*key).to_owned(), value);
    }
    out
}

/// Write `message` to stderr and exit with `code` at once, without replying.
pub fn crash(args: &Args) -> Result<Outcome, String> {
    let code = args::integer(args, "code")?.unwrap_or(3);
    let message = args::string(args, "message")?.unwrap_or("mcp-fixture: crashing on request");
    output::log(message);
    std::process::exit(i32::try_from(code).unwrap_or(3));
}

/// Start `sleep <seconds>` (default 1000) in our process group and leave it running.
pub fn spawn_grandchild(args: &Args) -> Result<Outcome, String> {
    let seconds = args::size(args, "seconds", Some(1000))?;
    let mut last_error = String::new();
    for program in ["sleep", "/bin/sleep", "/usr/bin/sleep"] {
        // Deliberately never waited for: the gateway's process-group cleanup must kill it.
        #[allow(clippy::zombie_processes)]
        let spawned = Command::new(program)
            .arg(seconds.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match spawned {
            Ok(child) => return Ok(text(child.id().to_string())),
            Err(err) => last_error = format!("cannot start {program}: {err}"),
        }
    }
    Err(last_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgid_is_read_past_a_command_name_with_spaces() {
        assert_eq!(stat_pgid("123 (my (odd) cmd) S 1 456 456 0 -1"), Some(456));
        assert_eq!(stat_pgid("garbage"), None);
    }

    #[test]
    fn ids_come_from_status_lines() {
        let status = "Name:\tx\nUid:\t1000\t1001\t1000\t1000\nGid:\t50\t50\t50\t50\n";
        assert_eq!(status_id(status, "Uid:"), Some(1000));
        assert_eq!(status_id(status, "Gid:"), Some(50));
        assert_eq!(status_id(status, "Pid:"), None);
    }

    #[test]
    fn soft_limits_are_numbers_or_unlimited() {
        let limits = "\
Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              300                  300                  seconds   
Max file size             unlimited            unlimited            bytes     
Max processes             10                   10                   processes 
Max address space         536870912            536870912            bytes     
";
        let parsed = soft_limits(limits);
        assert_eq!(parsed["cpu"], json!(300));
        assert_eq!(parsed["fsize"], json!("unlimited"));
        assert_eq!(parsed["nproc"], json!(10));
        assert_eq!(parsed["as"], json!(536_870_912));
        assert_eq!(parsed.len(), 4);
    }

    #[test]
    fn whoami_reports_this_process() {
        let Outcome::Result(result) = whoami() else {
            panic!("a result")
        };
        let report: Value =
            serde_json::from_str(result["content"][0]["text"].as_str().expect("text"))
                .expect("JSON text");
        assert_eq!(report["pid"], json!(std::process::id()));
        assert!(report["env"].is_object());
        assert!(report["cwd"].is_string());
    }
}
