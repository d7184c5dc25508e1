//! The audit log (`audit.file`): one append-only JSON line per tool call and per session
//! opened or closed, each carrying the hash of the one before it (`chain.rs`), so that
//! `mcp-gateway audit verify FILE...` finds the first record removed, inserted or changed.
//!
//! Nothing is dropped silently. With `audit.on_failure: "fail"` (the default) a call is refused
//! (503 `audit_unavailable`) while the log cannot be written, and a call whose record could
//! not be written after it ran is answered with that error too; with `"degrade"` the call goes
//! on and the record is logged at ERROR level instead. Arguments are recorded as their SHA-256
//! unless `audit.arguments` is `"full"`.

mod chain;
mod file;

use std::collections::VecDeque;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};

use crate::config::AuditConfig;
pub(crate) use chain::{GENESIS, verify};

/// The log could not be written; calls are refused (`on_failure: "fail"`).
#[derive(Debug, thiserror::Error)]
#[error("the audit log {path} cannot be written: {reason}")]
pub(crate) struct AuditError {
    pub path: PathBuf,
    pub reason: String,
}

/// The gateway's audit log.
#[derive(Debug)]
pub(crate) struct Audit {
    config: AuditConfig,
    path: PathBuf,
    /// `None` after a failed write: the next record reopens the file first.
    file: Mutex<Option<file::AuditFile>>,
    /// The last [`RECENT`] records written, oldest first (the console's recent calls).
    recent: Mutex<VecDeque<Value>>,
}

/// How many records [`Audit::recent`] keeps.
const RECENT: usize = 200;

/// How a call ended, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome<'a> {
    /// The tool answered (`is_error`: a result with `isError: true`).
    Answered { is_error: bool },
    /// The gateway or the child failed the call: the error's code.
    Failed(&'a str),
}

/// One tool call, for [`Audit::tool_call`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ToolCall<'a> {
    /// `"rest"` or `"mcp"`.
    pub via: &'static str,
    pub principal: Option<&'a str>,
    pub client: Option<IpAddr>,
    pub service: &'a str,
    pub tool: &'a str,
    pub session: &'a str,
    pub arguments: &'a Value,
    pub outcome: Outcome<'a>,
    pub duration: Duration,
}

impl Audit {
    /// Open (or create) the log of `config`, continuing its chain; `None` when `audit.file` is
    /// not set.
    pub(crate) fn open(config: &AuditConfig) -> Result<Option<Self>, AuditError> {
        let Some(path) = config.file.clone() else {
            return Ok(None);
        };
        let file = file::AuditFile::open(&path, config.max_bytes).map_err(|e| AuditError {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Ok(Some(Self {
            config: config.clone(),
            path,
            file: Mutex::new(Some(file)),
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
        }))
    }

    /// Whether a call may run: `Err` when the log cannot be written (it is reopened first if
    /// the last write failed) and failures close calls.
    pub(crate) fn admit(&self) -> Result<(), AuditError> {
        let mut file = self.lock();
        if file.is_some() {
            return Ok(());
        }
        match file::AuditFile::open(&self.path, self.config.max_bytes) {
            Ok(reopened) => {
                tracing::warn!(file = %self.path.display(), "the audit log is writable again");
                *file = Some(reopened);
                Ok(())
            }
            Err(e) => self.failed(e.to_string(), None),
        }
    }

    /// Record a tool call.
    pub(crate) fn tool_call(&self, call: &ToolCall<'_>) -> Result<(), AuditError> {
        let arguments = chain::canonical(call.arguments);
        let mut record = json!({
            "event": "tool_call",
            "via": call.via,
            "principal": call.principal,
            "client": call.client.map(|ip| ip.to_string()),
            "service": call.service,
            "tool": call.tool,
            "session": call.session,
            "arguments_sha256": chain::sha256_hex(arguments.as_bytes()),
            "duration_ms": (call.duration.as_secs_f64() * 1e6).round() / 1e3,
        });
        match call.outcome {
            Outcome::Answered { is_error } => {
                record["outcome"] = json!(if is_error { "tool_error" } else { "ok" });
            }
            Outcome::Failed(code) => {
                record["outcome"] = json!("error");
                record["error"] = json!(code);
            }
        }
        if self.config.full_arguments {
            record["arguments"] = call.arguments.clone();
        }
        self.write(record)
    }

    /// Record a session opened (`cause`: `None`) or closed (`Some(why)`); a failure is logged,
    /// never returned (a close cannot be refused).
    pub(crate) fn session(
        &self,
        id: &str,
        kind: &str,
        principal: Option<&str>,
        closed: Option<&str>,
    ) {
        let record = json!({
            "event": if closed.is_some() { "session_close" } else { "session_open" },
            "session": id,
            "kind": kind,
            "principal": principal,
            "cause": closed,
        });
        let _ = self.write(record);
    }

    /// Record a reload of the configuration (`POST /reload`, SIGHUP): `outcome` is the
    /// reload's report, or `{"problems": [...]}` when the file was refused.
    pub(crate) fn config_reload(&self, trigger: &str, principal: Option<&str>, outcome: &Value) {
        let refused = outcome.get("problems").is_some();
        let mut record = json!({
            "event": if refused { "config_reload_refused" } else { "config_reload" },
            "trigger": trigger,
            "principal": principal,
        });
        for key in ["generation", "services", "restart_required", "problems"] {
            if let Some(value) = outcome.get(key) {
                record[key] = value.clone();
            }
        }
        let _ = self.write(record);
    }

    fn write(&self, mut record: Value) -> Result<(), AuditError> {
        record["time"] =
            json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
        if let Value::Object(fields) = &mut record {
            fields.retain(|_, v| !v.is_null());
        }
        let mut file = self.lock();
        let written = match file.as_mut() {
            Some(f) => f
                .append(record.clone())
                .and_then(|()| if self.config.sync { f.sync() } else { Ok(()) }),
            None => Err(std::io::Error::other("not open since an earlier failure")),
        };
        drop(file);
        match written {
            Ok(()) => {
                let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
                if recent.len() == RECENT {
                    recent.pop_front();
                }
                recent.push_back(record);
                Ok(())
            }
            Err(e) => {
                // The chain's head may be past what reached the disk: reopen before the next.
                *self.lock() = None;
                self.failed(e.to_string(), Some(&record))
            }
        }
    }

    /// The last `limit` records written (at most 200), newest first.
    pub(crate) fn recent(&self, limit: usize) -> Vec<Value> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.iter().rev().take(limit).cloned().collect()
    }

    fn failed(&self, reason: String, record: Option<&Value>) -> Result<(), AuditError> {
        let record = record.map(Value::to_string).unwrap_or_default();
        tracing::error!(file = %self.path.display(), %reason, %record, "cannot write the audit log");
        if self.config.fail_closed {
            Err(AuditError {
                path: self.path.clone(),
                reason,
            })
        } else {
            Ok(())
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<file::AuditFile>> {
        self.file.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The fields of a record, for tests.
#[cfg(test)]
fn fields(line: &str) -> serde_json::Map<String, Value> {
    serde_json::from_str(line).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &std::path::Path, fail_closed: bool) -> AuditConfig {
        AuditConfig {
            file: Some(dir.join("audit.log")),
            full_arguments: false,
            fail_closed,
            max_bytes: 0,
            sync: false,
        }
    }

    fn call<'a>(arguments: &'a Value) -> ToolCall<'a> {
        ToolCall {
            via: "rest",
            principal: Some("ops"),
            client: Some("127.0.0.1".parse().unwrap()),
            service: "fx",
            tool: "echo",
            session: "s1",
            arguments,
            outcome: Outcome::Answered { is_error: false },
            duration: Duration::from_micros(1500),
        }
    }

    #[test]
    fn a_tool_call_is_recorded_with_the_digest_of_its_arguments_only() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::open(&config(dir.path(), true)).unwrap().unwrap();
        let args = json!({"text": "secret-arg"});
        audit.tool_call(&call(&args)).unwrap();
        audit.session("s1", "rest", Some("ops"), Some("deleted"));
        let text = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
        assert!(!text.contains("secret-arg"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "chain_start, call, close");
        let rec = fields(lines[1]);
        assert_eq!(rec["event"], "tool_call");
        assert_eq!(rec["outcome"], "ok");
        assert_eq!(rec["principal"], "ops");
        assert_eq!(rec["client"], "127.0.0.1");
        assert_eq!(rec["duration_ms"], 1.5);
        assert_eq!(
            rec["arguments_sha256"],
            chain::sha256_hex(br#"{"text":"secret-arg"}"#)
        );
        assert_eq!(fields(lines[2])["cause"], "deleted");
        assert_eq!(verify([text.as_str()]).unwrap().records, 3);
    }

    #[test]
    fn an_unwritable_log_refuses_calls_until_it_can_be_written_again_or_degrades() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("logs");
        std::fs::create_dir(&sub).unwrap();
        let args = json!({});
        for fail_closed in [true, false] {
            let audit = Audit::open(&config(&sub, fail_closed)).unwrap().unwrap();
            assert!(audit.admit().is_ok());
            // The log's directory vanishes and a file takes its place: nothing can be written.
            std::fs::remove_dir_all(&sub).unwrap();
            std::fs::write(&sub, b"").unwrap();
            *audit.lock() = None; // as after a failed write
            assert_eq!(audit.admit().is_err(), fail_closed);
            assert_eq!(audit.tool_call(&call(&args)).is_err(), fail_closed);
            // Writable again: admitted, and the chain goes on in a new file.
            std::fs::remove_file(&sub).unwrap();
            std::fs::create_dir(&sub).unwrap();
            assert!(audit.admit().is_ok());
            audit.tool_call(&call(&args)).unwrap();
            let text = std::fs::read_to_string(sub.join("audit.log")).unwrap();
            assert_eq!(verify([text.as_str()]).unwrap().records, 2);
            std::fs::remove_file(sub.join("audit.log")).unwrap();
        }
    }
}
