//! The only module that builds a process `Command`.
//!
//! [`spawn`] turns a service's configuration into a running child with piped stdio, in its own
//! process group, with a parent-death signal, the environment the sandbox level allows, a
//! private per-session directory and the configured resource limits. The returned [`Spawned`]
//! owns everything the spawn created; [`SandboxGuard::cleanup`] removes it after the child is
//! reaped.

mod env;
mod preexec;

use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use crate::config::ServiceConfig;

pub use env::child_env;

/// What to spawn, for which session.
#[derive(Debug, Clone, Copy)]
pub struct SpawnRequest<'a> {
    pub service: &'a ServiceConfig,
    /// The session id (or a synthetic id for discovery children); used to name the private dir.
    pub session_id: &'a str,
    /// `session.sandbox_dir`: parent of the private dirs.
    pub sandbox_root: &'a Path,
}

/// A running child and what its spawn created.
#[derive(Debug)]
pub struct Spawned {
    /// stdin, stdout and stderr are piped.
    pub child: tokio::process::Child,
    pub pid: u32,
    /// The child leads its own process group: signal `-pid` to reach its descendants too.
    pub pgid: i32,
    pub guard: SandboxGuard,
}

/// Owns the per-child private directory; removes it on [`SandboxGuard::cleanup`] or drop.
#[derive(Debug, Default)]
pub struct SandboxGuard {
    private_dir: Option<PathBuf>,
}

impl SandboxGuard {
    pub fn private_dir(&self) -> Option<&Path> {
        self.private_dir.as_deref()
    }

    /// Remove the private directory. Call after the child has been reaped.
    pub fn cleanup(&mut self) {
        if let Some(dir) = self.private_dir.take()
            && let Err(err) = std::fs::remove_dir_all(&dir)
            && err.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), error = %err, "cannot remove sandbox dir");
        }
    }
}

impl Drop for SandboxGuard {
    fn drop(&mut self) {
        self.cleanup();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot create sandbox dir {path}: {source}")]
    PrivateDir { path: PathBuf, source: io::Error },
    #[error("cannot start {program:?}: {source}")]
    Spawn { program: String, source: io::Error },
}

/// Spawn the service's command for one session.
///
/// Must be called from a long-lived thread (a tokio worker, not `spawn_blocking`): the
/// parent-death signal fires when the *thread* that forked exits.
pub fn spawn(req: &SpawnRequest<'_>) -> Result<Spawned, SandboxError> {
    let service = req.service;
    let sandbox = &service.sandbox;
    let mut guard = SandboxGuard::default();
    if sandbox.enabled {
        let dir = private_dir_path(req.sandbox_root, &service.name, req.session_id);
        std::fs::create_dir_all(&dir).map_err(|source| SandboxError::PrivateDir {
            path: dir.clone(),
            source,
        })?;
        guard.private_dir = Some(absolute(&dir));
    }

    let program = &service.command[0];
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(&service.command[1..])
        .env_clear()
        .envs(child_env(service, guard.private_dir(), &|k| {
            std::env::var(k).ok()
        }))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false)
        .process_group(0);
    let cwd = service.cwd.clone();
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    let limits = if sandbox.enabled && sandbox.resource_limits {
        Some(preexec::Limits::from_config(&sandbox.limits))
    } else {
        None
    };
    preexec::install(&mut cmd, limits);

    let child = cmd.spawn().map_err(|source| SandboxError::Spawn {
        program: program.clone(),
        source,
    })?;
    let pid = child.id().unwrap_or(0);
    Ok(Spawned {
        child,
        pid,
        pgid: pid as i32,
        guard,
    })
}

/// Send `sig` to the whole process group `pgid`. Errors (group already gone) are ignored.
pub fn signal_group(pgid: i32, sig: Signal) {
    if pgid > 0 {
        let _ = signal::killpg(Pid::from_raw(pgid), sig);
    }
}

fn private_dir_path(root: &Path, service: &str, session_id: &str) -> PathBuf {
    // Session ids are validated to [A-Za-z0-9_.-]; a random suffix keeps two children of the
    // same (service, session) pair (e.g. after a crash) from sharing a directory.
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let session = session_id.replace("..", "__");
    root.join(format!("{service}-{session}-{}", &unique[..12]))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
