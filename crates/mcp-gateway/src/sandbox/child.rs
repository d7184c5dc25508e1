//! A running child started by `exec.rs`: its pipes as tokio types, its exit awaited on its
//! pidfd (or, on a kernel without `pidfd_open`, on SIGCHLD), its reaping.
//!
//! The pid stays ours until [`Child::wait`] (or [`Child::try_wait`]) has reaped it: the gateway
//! never waits for "any child", so nothing else reaps it and signalling it is safe until then.
//! A child dropped before it was reaped is reaped by a thread of its own once it exits.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;
use tokio::signal::unix::{SignalKind, signal};

use super::exec::{self, Started};

/// The child's stdin.
pub type ChildStdin = pipe::Sender;
/// The child's stdout.
pub type ChildStdout = pipe::Receiver;
/// The child's stderr.
pub type ChildStderr = pipe::Receiver;

/// A child process with piped stdio. Not killed on drop.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    exit: Exit,
    /// Once reaped.
    status: Option<ExitStatus>,
    pub stdin: Option<ChildStdin>,
    pub stdout: Option<ChildStdout>,
    pub stderr: Option<ChildStderr>,
}

#[derive(Debug)]
enum Exit {
    /// Readable once the child has exited.
    Pidfd(AsyncFd<OwnedFd>),
    /// No pidfd: every SIGCHLD, made on the first wait.
    Sigchld(Option<tokio::signal::unix::Signal>),
}

impl Child {
    /// Take over a started child (inside a tokio runtime). On error the child is killed, and
    /// reaped in the background.
    pub(super) fn new(started: Started) -> io::Result<Self> {
        let exit = match started.pidfd {
            Some(fd) => exec::watch_pidfd(fd).map_or(Exit::Sigchld(None), Exit::Pidfd),
            None => Exit::Sigchld(None),
        };
        let mut child = Self {
            pid: Pid::from_raw(started.pid as i32),
            exit,
            status: None,
            stdin: None,
            stdout: None,
            stderr: None,
        };
        let pipes = (|| {
            Ok::<_, io::Error>((
                pipe::Sender::from_owned_fd(started.stdin)?,
                pipe::Receiver::from_owned_fd(started.stdout)?,
                pipe::Receiver::from_owned_fd(started.stderr)?,
            ))
        })();
        match pipes {
            Ok((stdin, stdout, stderr)) => {
                child.stdin = Some(stdin);
                child.stdout = Some(stdout);
                child.stderr = Some(stderr);
                Ok(child)
            }
            Err(e) => {
                let _ = child.start_kill();
                Err(e)
            }
        }
    }

    /// The pid, until the child is reaped.
    pub fn id(&self) -> Option<u32> {
        self.status.is_none().then_some(self.pid.as_raw() as u32)
    }

    /// Wait for the child to exit and reap it. Cancel-safe; returns the same status again once
    /// reaped.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            match &mut self.exit {
                Exit::Pidfd(fd) => {
                    let mut ready = fd.readable().await?;
                    if let Some(status) = reap(self.pid, &mut self.status)? {
                        return Ok(status);
                    }
                    ready.clear_ready();
                }
                Exit::Sigchld(stream) => {
                    // Listen before looking, so an exit between the two is not missed.
                    let stream = match stream {
                        Some(stream) => stream,
                        None => stream.insert(signal(SignalKind::child())?),
                    };
                    if let Some(status) = reap(self.pid, &mut self.status)? {
                        return Ok(status);
                    }
                    stream.recv().await;
                }
            }
        }
    }

    /// Reap the child if it has exited.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        reap(self.pid, &mut self.status)
    }

    /// SIGKILL the child (nothing once it is reaped: its pid may be another's by then).
    pub fn start_kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        match kill(self.pid, Signal::SIGKILL) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !matches!(self.try_wait(), Ok(None)) {
            return;
        }
        let pid = self.pid;
        // A blocking wait on a thread of its own: this may run while the runtime shuts down.
        let _ = std::thread::Builder::new()
            .name("mcp-reap".into())
            .spawn(move || while let Err(Errno::EINTR) = waitpid(pid, None) {});
    }
}

/// `waitpid(pid, WNOHANG)`; the status is kept once reaped.
fn reap(pid: Pid, status: &mut Option<ExitStatus>) -> io::Result<Option<ExitStatus>> {
    if status.is_some() {
        return Ok(*status);
    }
    let raw = match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => (code & 0xff) << 8,
        Ok(WaitStatus::Signaled(_, sig, core)) => sig as i32 | if core { 0x80 } else { 0 },
        Ok(_) | Err(Errno::EINTR) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    *status = Some(ExitStatus::from_raw(raw));
    Ok(*status)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::sandbox::exec::{Program, Start, spawn};
    use crate::sandbox::preexec::Hook;
    use std::time::Duration;

    fn hook() -> Hook {
        Hook {
            parent: std::process::id() as libc::pid_t,
            cgroup_procs: None,
            userns: None,
            rlimits: None,
            netns: false,
            private_proc: None,
            drop_to: None,
            landlock: None,
            seccomp: None,
        }
    }

    fn start(program: &str, args: &[&str], start: Start) -> io::Result<Child> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let env = BTreeMap::from([("PATH".to_string(), "/nonexistent:/usr/bin:/bin".to_string())]);
        let program = Program::new(
            Path::new(program),
            &args,
            &env,
            env.get("PATH").map(String::as_str),
            Some(Path::new("/")),
        )?;
        Child::new(spawn(&program, &hook(), start)?)
    }

    #[tokio::test]
    async fn both_starts_search_path_pipe_stdio_and_report_the_exit() {
        for how in [Start::SharedMemory, Start::Fork] {
            let mut child =
                start("sh", &["-c", "pwd; read x; echo \"$x\" >&2; exit 3"], how).unwrap();
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(b"hello\n").await.unwrap();
            drop(stdin);
            let (mut out, mut err) = (String::new(), String::new());
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .await
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .await
                .unwrap();
            assert_eq!((out.as_str(), err.as_str()), ("/\n", "hello\n"), "{how:?}");
            let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .expect("the child exits")
                .unwrap();
            assert_eq!(status.code(), Some(3), "{how:?}");
            assert_eq!(child.id(), None, "reaped");
        }
    }

    #[tokio::test]
    async fn without_a_pidfd_the_exit_is_seen_on_sigchld() {
        let env = BTreeMap::new();
        let program = Program::new(
            Path::new("/bin/sh"),
            &["-c".into(), "exit 7".into()],
            &env,
            None,
            None,
        )
        .unwrap();
        let mut started = spawn(&program, &hook(), Start::SharedMemory).unwrap();
        started.pidfd = None;
        let mut child = Child::new(started).unwrap();
        assert!(matches!(child.exit, Exit::Sigchld(None)));
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .expect("the exit is seen")
            .unwrap();
        assert_eq!(status.code(), Some(7));
    }

    #[tokio::test]
    async fn a_missing_program_is_an_error_and_a_killed_child_reports_its_signal() {
        for how in [Start::SharedMemory, Start::Fork] {
            let err = start("no-such-program-here", &[], how).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound, "{how:?}");
            let mut child = start("/bin/sleep", &["30"], how).unwrap();
            child.start_kill().unwrap();
            let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .expect("the child dies")
                .unwrap();
            assert_eq!(status.signal(), Some(libc::SIGKILL), "{how:?}");
        }
    }
}
