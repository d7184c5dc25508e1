//! The task that owns one child: its pipes, its pending requests, its shutdown and its reaping.
//!
//! The actor `select!`s over commands from the handles, stdout frames, the writer task, the
//! child's exit and the stop escalation timers. stdin is written by a writer task the actor
//! owns (so a child that stops reading can never block the actor), stderr is drained by another
//! (so a child can never block on it). Nothing here holds a lock across an await.
//!
//! A child that breaks the wire beyond repair (it lets more than `STDIN_QUEUE_BYTES` wait on
//! its stdin, or writes a line that never ends) is killed at once; its requests fail with
//! "stopped by the gateway: <why>". Warnings about its bad lines are rate-limited.

use std::collections::HashMap;
use std::io;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::sandbox::{Child, ChildStdin, ChildStdout};
use nix::sys::signal::Signal;
use tokio::io::BufReader;
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;

use super::framing::{Frame, LineReader, scan_head};
use super::jsonrpc::{self, Incoming};
pub(super) use super::link::{Command, Ended, Reply, Shared};
use super::stdin::{NotReading, Stdin};
use super::{ChildEvent, ExitInfo, McpError};
use crate::logging::Throttle;
use crate::sandbox::{SandboxGuard, signal_group};

/// How long, after an exit or a stdout EOF, we wait for the last stdout/stderr bytes (and for
/// the exit status) before failing requests.
pub(super) const EXIT_SETTLE: Duration = Duration::from_millis(200);
/// How much stderr an [`ExitInfo`] carries.
pub(super) const EXIT_TAIL_BYTES: usize = 4096;
/// Per child: a line longer than this is assembled across fills (see `LineReader`), so a small
/// buffer costs nothing but syscalls on huge replies, and keeps idle sessions cheap.
const STDOUT_BUFFER: usize = 8 * 1024;
/// Warnings about bad lines (not JSON, oversized and unrelated) logged per second per child.
const BAD_LINES_PER_SECOND: u32 = 10;

/// The pieces of a spawned child the actor takes over.
pub(super) struct ChildIo {
    pub child: Child,
    pub pgid: i32,
    pub guard: SandboxGuard,
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    pub stderr_task: JoinHandle<()>,
}

struct Pending {
    method: String,
    reply: Reply,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseReason {
    /// `stop()` or every handle dropped.
    Stop,
    StdoutClosed,
    WriteFailed,
    /// The child broke the wire (see [`Actor::broken`]): killed at once.
    Broken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// stdin closed, waiting for the child to exit on its own.
    Grace,
    Terminated,
    Killed,
}

#[derive(Debug)]
struct Closing {
    reason: CloseReason,
    stage: Stage,
    /// When to escalate to the next signal.
    escalate_at: Option<Instant>,
    /// When to give up waiting for the exit status and fail pending requests anyway.
    fail_at: Option<Instant>,
}

pub(super) struct Actor {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedReceiver<Command>,
    commands_closed: bool,
    child: Child,
    pgid: i32,
    guard: SandboxGuard,
    stdout: LineReader<BufReader<ChildStdout>>,
    stdout_eof: bool,
    max_line_bytes: usize,
    stdin: Stdin,
    stderr_task: JoinHandle<()>,
    stop_grace: Duration,
    pending: HashMap<u64, Pending>,
    closing: Option<Closing>,
    /// Once set, every pending and future request fails with it.
    doomed: Option<McpError>,
    bad_lines: Throttle,
    on_drop: DropGuard,
}

impl Actor {
    pub(super) fn new(
        io: ChildIo,
        shared: Arc<Shared>,
        commands: mpsc::UnboundedReceiver<Command>,
        max_line_bytes: usize,
        stop_grace: Duration,
    ) -> Self {
        let ChildIo {
            child,
            pgid,
            guard,
            stdin,
            stdout,
            stderr_task,
        } = io;
        Self {
            on_drop: DropGuard {
                shared: shared.clone(),
                pgid,
                armed: true,
            },
            shared,
            commands,
            commands_closed: false,
            child,
            pgid,
            guard,
            stdout: LineReader::new(
                BufReader::with_capacity(STDOUT_BUFFER, stdout),
                max_line_bytes,
            ),
            stdout_eof: false,
            max_line_bytes,
            stdin: Stdin::new(stdin, max_line_bytes),
            stderr_task,
            stop_grace,
            pending: HashMap::new(),
            closing: None,
            doomed: None,
            bad_lines: Throttle::new(BAD_LINES_PER_SECOND),
        }
    }

    pub(super) async fn run(mut self) {
        let status = loop {
            let escalate_at = self.closing.as_ref().and_then(|c| c.escalate_at);
            let fail_at = self.closing.as_ref().and_then(|c| c.fail_at);
            tokio::select! {
                frame = self.stdout.next_frame(), if !self.stdout_eof => self.on_stdout(frame),
                command = self.commands.recv(), if !self.commands_closed => self.on_command(command),
                done = self.stdin.ended(), if self.stdin.is_running() => self.on_writer_done(done),
                status = self.child.wait() => break status,
                () = sleep_until(escalate_at), if escalate_at.is_some() => self.escalate(),
                () = sleep_until(fail_at), if fail_at.is_some() => self.give_up_waiting(),
            }
        };
        self.finish(status).await;
    }

    fn on_stdout(&mut self, frame: io::Result<Option<Frame>>) {
        match frame {
            Ok(Some(frame)) => self.on_frame(frame),
            Ok(None) => self.on_stdout_closed(),
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the server's stdout");
                self.on_stdout_closed();
            }
        }
    }

    fn on_stdout_closed(&mut self) {
        self.stdout_eof = true;
        if self.closing.is_none() {
            tracing::debug!("the server closed its stdout");
            self.begin_close(CloseReason::StdoutClosed);
        }
    }

    fn on_frame(&mut self, frame: Frame) {
        match frame {
            Frame::Line(line) => {
                if line.iter().all(u8::is_ascii_whitespace) {
                    return;
                }
                match jsonrpc::classify(&line) {
                    Incoming::Invalid(why) => self.on_invalid(&line, why),
                    message => self.on_message(message),
                }
            }
            Frame::Oversized { head, len } => {
                let scan = scan_head(&head);
                let pending = (!scan.has_method)
                    .then_some(scan.id)
                    .flatten()
                    .and_then(|id| self.pending.remove(&id));
                let Some(pending) = pending else {
                    if self.admit_bad_line() {
                        tracing::warn!(bytes = len, limit = self.max_line_bytes, id = ?scan.id, "discarding an oversized line from the server");
                    }
                    return;
                };
                tracing::warn!(bytes = len, limit = self.max_line_bytes, id = ?scan.id, "discarding an oversized response from the server");
                let _ = pending.reply.send(Err(McpError::ResponseTooLarge {
                    limit: self.max_line_bytes,
                }));
            }
            Frame::Runaway { len } => {
                // The rest of that line would read as new lines: stop reading.
                self.stdout_eof = true;
                self.broken(format!(
                    "it wrote a line longer than {len} bytes and did not end it"
                ));
            }
        }
    }

    /// A line that is not a JSON-RPC message. If it names one of our requests (found as in an
    /// oversized line), that request fails now, with the reason, instead of timing out.
    fn on_invalid(&mut self, line: &[u8], why: String) {
        let scan = scan_head(line);
        let pending = (!scan.has_method)
            .then_some(scan.id)
            .flatten()
            .and_then(|id| self.pending.remove(&id));
        match pending {
            Some(pending) => {
                tracing::warn!(id = ?scan.id, method = %pending.method, line = %preview(line), "an invalid response from the server: {why}");
                let _ = pending.reply.send(Err(McpError::Protocol(why)));
            }
            None => {
                if self.admit_bad_line() {
                    tracing::warn!(line = %preview(line), "skipping a bad line from the server: {why}");
                }
            }
        }
    }

    /// Whether to log one more bad line now (reporting how many were not, first).
    fn admit_bad_line(&mut self) -> bool {
        match self.bad_lines.admit(std::time::Instant::now()) {
            Some(suppressed) => {
                report_unlogged(suppressed);
                true
            }
            None => false,
        }
    }

    fn on_message(&mut self, message: Incoming) {
        match message {
            Incoming::Request { id, method, params } => {
                let answer = match self.shared.relays(&method) {
                    Some(true) => {
                        tracing::debug!(%method, %id, "relaying a request from the server");
                        let _ = self
                            .shared
                            .events
                            .send(ChildEvent::Request { id, method, params });
                        return;
                    }
                    Some(false) => Err(jsonrpc::BUSY),
                    None => jsonrpc::answer_child_request(&method),
                };
                // The child's id space: answered here, never matched against ours.
                let line = match answer {
                    Ok(result) => jsonrpc::encode_result(&id, result),
                    Err((code, message)) => {
                        tracing::debug!(%method, "refusing a request from the server");
                        jsonrpc::encode_error(&id, code, message)
                    }
                };
                self.write(line);
            }
            Incoming::Notification { method, params } => {
                if method == "notifications/tools/list_changed" {
                    tracing::debug!("the server's tool list changed");
                    let _ = self.shared.events.send(ChildEvent::ToolsListChanged);
                } else {
                    tracing::debug!(%method, %params, "notification from the server");
                    let _ = self
                        .shared
                        .events
                        .send(ChildEvent::Notification { method, params });
                }
            }
            Incoming::Response { id, outcome } => {
                match jsonrpc::our_id(&id).and_then(|id| self.pending.remove(&id)) {
                    Some(pending) => {
                        let _ = pending.reply.send(outcome.into_result());
                    }
                    // Late (timed out, cancelled) or never ours.
                    None => tracing::debug!(%id, "dropping a response to no pending request"),
                }
            }
            Incoming::Invalid(_) => {}
        }
    }

    fn on_command(&mut self, command: Option<Command>) {
        match command {
            Some(Command::Request {
                id,
                method,
                params,
                reply,
            }) => {
                if let Some(err) = &self.doomed {
                    let _ = reply.send(Err(err.clone()));
                    return;
                }
                // While the child is dying the request is parked, to fail with the exit status.
                if self.closing.is_none() {
                    self.write(jsonrpc::encode_request(id, &method, &params));
                }
                self.pending.insert(id, Pending { method, reply });
            }
            Some(Command::Notify { method, params }) => {
                if self.closing.is_none() {
                    self.write(jsonrpc::encode_notification(&method, &params));
                }
            }
            Some(Command::Respond { id, outcome }) => {
                if self.closing.is_none() {
                    self.write(match outcome {
                        Ok(result) => jsonrpc::encode_result(&id, result),
                        Err((code, message)) => jsonrpc::encode_error(&id, code, &message),
                    });
                }
            }
            Some(Command::Cancel { id, reason }) => {
                if let Some(pending) = self.pending.remove(&id)
                    && jsonrpc::is_cancellable(&pending.method)
                    && self.closing.is_none()
                {
                    tracing::debug!(id, method = %pending.method, %reason, "cancelling a request");
                    self.write(jsonrpc::encode_cancelled(id, &reason));
                }
            }
            Some(Command::Stop) => {
                if self.closing.is_none() {
                    self.begin_close(CloseReason::Stop);
                }
            }
            None => {
                self.commands_closed = true;
                if self.closing.is_none() {
                    tracing::debug!("every client handle is gone: stopping the server");
                    self.begin_close(CloseReason::Stop);
                }
            }
        }
    }

    fn on_writer_done(&mut self, done: Result<io::Result<()>, JoinError>) {
        let err = match done {
            Ok(Ok(())) => return, // we closed stdin
            Ok(Err(err)) => err.to_string(),
            Err(err) => err.to_string(),
        };
        if self.closing.is_none() {
            tracing::debug!(error = %err, "cannot write to the server's stdin");
            self.begin_close(CloseReason::WriteFailed);
        }
    }

    fn begin_close(&mut self, reason: CloseReason) {
        self.shared.closing.store(true, Ordering::Release);
        // Closes stdin once the queued lines are written.
        self.stdin.close();
        let now = Instant::now();
        let waits_for_exit = matches!(reason, CloseReason::StdoutClosed | CloseReason::WriteFailed);
        self.closing = Some(Closing {
            reason,
            stage: Stage::Grace,
            escalate_at: Some(now + self.stop_grace),
            fail_at: waits_for_exit.then_some(now + EXIT_SETTLE),
        });
        if reason == CloseReason::Stop {
            self.doom(McpError::Closed);
        }
    }

    fn escalate(&mut self) {
        let Some(closing) = &mut self.closing else {
            return;
        };
        match closing.stage {
            Stage::Grace => {
                tracing::info!(grace = ?self.stop_grace, "the server did not exit after stdin was closed: SIGTERM");
                signal_group(self.pgid, Signal::SIGTERM);
                closing.stage = Stage::Terminated;
                closing.escalate_at = Some(Instant::now() + self.stop_grace);
            }
            Stage::Terminated | Stage::Killed => {
                tracing::warn!(grace = ?self.stop_grace, "the server did not exit after SIGTERM: SIGKILL");
                signal_group(self.pgid, Signal::SIGKILL);
                closing.stage = Stage::Killed;
                closing.escalate_at = None;
            }
        }
    }

    /// The child closed stdout (or stdin) but has not exited: its requests cannot be answered.
    fn give_up_waiting(&mut self) {
        let Some(closing) = &mut self.closing else {
            return;
        };
        closing.fail_at = None;
        let status = match closing.reason {
            CloseReason::Stop | CloseReason::Broken => return,
            CloseReason::StdoutClosed => "closed its stdout",
            CloseReason::WriteFailed => "stopped reading its stdin",
        };
        if self.doomed.is_none() {
            let stderr_tail = self.shared.stderr.tail(EXIT_TAIL_BYTES);
            self.doom(McpError::ProcessExited {
                status: status.into(),
                stderr_tail,
            });
        }
    }

    fn doom(&mut self, err: McpError) {
        for (_, pending) in self.pending.drain() {
            let _ = pending.reply.send(Err(err.clone()));
        }
        self.doomed = Some(err);
    }

    /// The child broke the wire beyond repair: fail its requests with `reason`, kill it.
    fn broken(&mut self, reason: String) {
        if self.closing.is_some() {
            return;
        }
        tracing::warn!(%reason, "the server broke the protocol: killing it");
        self.begin_close(CloseReason::Broken);
        let stderr_tail = self.shared.stderr.tail(EXIT_TAIL_BYTES);
        self.doom(McpError::ProcessExited {
            status: format!("stopped by the gateway: {reason}"),
            stderr_tail,
        });
        signal_group(self.pgid, Signal::SIGKILL);
        if let Some(closing) = &mut self.closing {
            closing.stage = Stage::Killed;
            closing.escalate_at = None;
        }
    }

    fn write(&mut self, line: Vec<u8>) {
        if let Err(NotReading(queued)) = self.stdin.write(line) {
            self.broken(format!(
                "it does not read its stdin ({queued} bytes waiting)"
            ));
        }
    }

    /// The child is reaped: collect its last words, fail what is left, clean up, publish.
    async fn finish(mut self, status: io::Result<ExitStatus>) {
        // Descendants of the server do not outlive it (the group id stays ours while any
        // member lives).
        signal_group(self.pgid, Signal::SIGKILL);
        self.stdin.abort();
        // Responses written just before the exit are still in the pipe.
        let settle = Instant::now() + EXIT_SETTLE;
        while !self.stdout_eof {
            match tokio::time::timeout_at(settle, self.stdout.next_frame()).await {
                Ok(Ok(Some(frame))) => self.on_frame(frame),
                _ => break,
            }
        }
        report_unlogged(self.bad_lines.take_suppressed());
        if tokio::time::timeout_at(settle, &mut self.stderr_task)
            .await
            .is_err()
        {
            self.stderr_task.abort();
        }
        let tail = self.shared.stderr.tail(EXIT_TAIL_BYTES);
        let info = match status {
            Ok(status) => ExitInfo::from_status(status, tail),
            Err(err) => {
                tracing::warn!(error = %err, "cannot wait for the server process");
                ExitInfo {
                    code: None,
                    signal: None,
                    stderr_tail: tail,
                }
            }
        };
        let stopped = matches!(&self.closing, Some(c) if c.reason == CloseReason::Stop);
        if stopped {
            tracing::debug!(status = %info, "server process stopped");
        } else {
            tracing::warn!(status = %info, "server process ended");
        }
        self.shared.closing.store(true, Ordering::Release);
        if self.doomed.is_none() {
            self.doom(info.to_error());
        }
        self.guard.cleanup();
        let ended = Ended {
            info: info.clone(),
            stopped,
        };
        let error = ended.error();
        self.shared.exit.send_replace(Some(ended));
        let _ = self.shared.events.send(ChildEvent::Exited { status: info });
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            if let Command::Request { reply, .. } = command {
                let _ = reply.send(Err(error.clone()));
            }
        }
        self.on_drop.armed = false;
    }
}

/// If the actor is dropped before it finished (runtime shutdown, panic): kill the group and
/// publish an end so nobody waits forever. The dropped `Child` is reaped in the background.
struct DropGuard {
    shared: Arc<Shared>,
    pgid: i32,
    armed: bool,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        signal_group(self.pgid, Signal::SIGKILL);
        self.shared.closing.store(true, Ordering::Release);
        self.shared.exit.send_if_modified(|exit| {
            if exit.is_some() {
                return false;
            }
            let stderr_tail = self.shared.stderr.tail(EXIT_TAIL_BYTES);
            *exit = Some(Ended {
                info: ExitInfo {
                    code: None,
                    signal: None,
                    stderr_tail,
                },
                stopped: false,
            });
            true
        });
    }
}

/// The count of bad lines a [`Throttle`] kept out of the log.
fn report_unlogged(suppressed: u64) {
    if suppressed > 0 {
        tracing::warn!(
            suppressed,
            "bad lines from the server not logged (rate limit)"
        );
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A short, printable excerpt of a line for the log.
fn preview(line: &[u8]) -> String {
    const MAX: usize = 200;
    let mut text = String::from_utf8_lossy(&line[..line.len().min(MAX)]).into_owned();
    if line.len() > MAX {
        text.push_str("...");
    }
    text
}
