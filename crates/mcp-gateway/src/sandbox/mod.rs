//! The only module that starts a process.
//!
//! [`spawn`] turns a service's configuration into a running child with piped stdio, in its own
//! process group, with a parent-death signal, and, at the levels that ask for it: the
//! environment allow-list, a private per-child directory, resource limits, a pids cgroup,
//! landlock filesystem rules, a private network namespace, dropped privileges and a seccomp
//! filter. What will be
//! enforced is decided once per service by [`plan`] from the configuration and the host's
//! capabilities ([`describe`] prints it); a level that cannot be enforced refuses to start
//! unless `allow_weaker` is set. The returned [`Spawned`] owns everything the spawn created;
//! [`SandboxGuard::cleanup`] removes it after the child is reaped.
//!
//! Submodules: `plan` (decisions and report, pure), `env` (the child's environment, pure),
//! `landlock` (rule computation and ruleset), `cgroup` (per-child pids cgroup), `seccomp` (the
//! system-call deny-list, compiled), and the two with unsafe code: `preexec` (what the child
//! does to itself before its exec, and the landlock syscalls) and `exec` (starting the child:
//! `clone(CLONE_VM | CLONE_VFORK)`, or a fork for a user namespace; then `execve`), whose
//! result `child` wraps (pipes, pidfd, reaping).

mod cgroup;
mod child;
mod env;
mod error;
mod exec;
mod host;
mod landlock;
mod landlock_cache;
mod plan;
mod preexec;
mod private_dir;
pub(crate) mod seccomp;
mod uids;

use std::path::{Path, PathBuf};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use crate::config::{Config, ServiceConfig, TlsConfig};

pub use child::{Child, ChildStderr, ChildStdin, ChildStdout};
pub use env::child_env;
pub use error::SandboxError;
pub use host::Host;
pub use plan::{SandboxReport, describe};
pub use private_dir::{foreign_entries, release_markers, sweep as sweep_private_dirs};

/// Apply the gateway-wide sandbox settings (`session.child_uids`); before the first spawn or
/// report.
pub fn configure(config: &Config) {
    uids::configure(config.session.child_uids.clone());
}

/// Ready the gateway for spawning: [`configure`], mark the gateway itself non-dumpable (its
/// `/proc/<pid>/environ` and memory then need `CAP_SYS_PTRACE`, which no child has), and
/// remove what a killed gateway left in `session.sandbox_dir`.
pub fn init(config: &Config) {
    configure(config);
    if let Err(e) = preexec::make_gateway_undumpable() {
        tracing::warn!(error = %e, "cannot mark the gateway non-dumpable");
    }
    sweep_private_dirs(&config.session.sandbox_dir);
}

/// A service's sandbox, decided once (at startup, not per spawn): the plan on this host and,
/// with seccomp on, its compiled filter.
#[derive(Debug)]
pub struct Prepared {
    plan: plan::Plan,
    /// The filter, or why it cannot be compiled (reported at each spawn, as a refusal).
    seccomp: Option<Result<seccomp::Program, String>>,
    /// The landlock rules of the last spawn, reused while current.
    landlock: landlock_cache::Cache,
}

impl Prepared {
    pub fn new(service: &ServiceConfig) -> Self {
        let plan = plan::plan(service, Host::get());
        let seccomp = plan
            .seccomp
            .then(|| seccomp::program(&service.sandbox.seccomp_allow));
        Self {
            plan,
            seccomp,
            landlock: landlock_cache::Cache::default(),
        }
    }
}

/// Wait, at most `max`, for the cleanups of reaped children still under way in the background
/// (a cgroup whose killed tasks have not all left it yet). True if all are done.
pub fn wait_for_cleanups(max: std::time::Duration) -> bool {
    cgroup::wait_for_removals(max)
}

/// What to spawn, for which session.
#[derive(Debug, Clone, Copy)]
pub struct SpawnRequest<'a> {
    pub service: &'a ServiceConfig,
    /// The service's sandbox ([`Prepared::new`] of `service`).
    pub prepared: &'a Prepared,
    /// The session id (or a synthetic id for discovery children); used to name the private dir.
    pub session_id: &'a str,
    /// `session.sandbox_dir`: parent of the private dirs.
    pub sandbox_root: &'a Path,
    /// Paths the child must never read, even under an allowed tree ([`protected_paths`]).
    pub protected: &'a [PathBuf],
}

/// The gateway's own files a child must not reach: the config file, the TLS files, the log
/// file, the audit log and the sandbox root (every session's private dir; a child gets its
/// own back).
pub fn protected_paths(config: &Config) -> Vec<PathBuf> {
    let mut paths = vec![config.source.clone(), config.session.sandbox_dir.clone()];
    match &config.server.tls {
        Some(TlsConfig::Files { cert, key }) => paths.extend([cert.clone(), key.clone()]),
        Some(TlsConfig::CombinedPem(pem)) => paths.push(pem.clone()),
        None => {}
    }
    paths.extend(config.logging.file.clone());
    paths.extend(config.audit.file.clone());
    paths
}

/// A running child and what its spawn created.
#[derive(Debug)]
pub struct Spawned {
    /// stdin, stdout and stderr are piped.
    pub child: Child,
    pub pid: u32,
    /// The child leads its own process group: signal `-pid` to reach its descendants too.
    pub pgid: i32,
    pub guard: SandboxGuard,
}

/// Owns what a spawn made for one child: its private directory, pids cgroup, uid lease and
/// user namespace. [`SandboxGuard::cleanup`] (or drop) kills every process left in any of them
/// and removes or releases each.
#[derive(Debug, Default)]
pub struct SandboxGuard {
    /// The child's process group, while it is registered for [`kill_every_child`].
    pgid: Option<i32>,
    private_dir: Option<PathBuf>,
    cgroup: Option<cgroup::PidsCgroup>,
    uid: Option<uids::Lease>,
    /// The child's own user namespace: its `/proc/<pid>/ns/user` link text (to find what is
    /// left in it) and an open fd of it. The fd keeps the namespace, and so its inode number,
    /// from being freed once the child is reaped: else another child's new namespace could get
    /// the same number before the cleanup runs, and the cleanup would kill that child.
    userns: Option<(String, std::fs::File)>,
}

impl SandboxGuard {
    pub fn private_dir(&self) -> Option<&Path> {
        self.private_dir.as_deref()
    }

    /// The uid the child runs as, when it has one of its own.
    pub fn uid(&self) -> Option<u32> {
        self.uid.as_ref().map(|lease| lease.uid)
    }

    /// Kill every process left in the child's cgroup, user namespace or uid (daemons
    /// included), remove the cgroup and the private directory, release the uid. Call after the
    /// child has been reaped.
    pub fn cleanup(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            live_groups().remove(&pgid);
        }
        let cgroup_killed = self.cgroup.take().map(cgroup::PidsCgroup::remove).is_some();
        if let Some((ns, pinned)) = self.userns.take() {
            if !uids::kill_all(|| in_user_namespace(&ns)) {
                tracing::warn!(userns = %ns, "processes of a child's user namespace survived SIGKILL");
            }
            drop(pinned);
        }
        match self.uid.take() {
            Some(lease) if cgroup_killed => lease.release_killed(),
            Some(lease) => lease.release(),
            None => {}
        }
        if let Some(dir) = self.private_dir.take() {
            private_dir::remove(&dir);
        }
    }
}

impl Drop for SandboxGuard {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Spawn the service's command for one session.
///
/// Must be called from a long-lived thread (a tokio worker, not `spawn_blocking`): the
/// parent-death signal fires when the *thread* that started the child exits.
pub fn spawn(req: &SpawnRequest<'_>) -> Result<Spawned, SandboxError> {
    let service = req.service;
    if service.command.is_empty() {
        return Err(SandboxError::Setup(format!(
            "service {} has no command to spawn",
            service.name
        )));
    }
    let host = Host::get();
    let plan = &req.prepared.plan;
    if !plan.report.ok() {
        return Err(SandboxError::NotEnforceable {
            missing: plan.report.missing.clone(),
        });
    }
    let unique = private_dir::unique_name(&service.name, req.session_id);
    let mut guard = SandboxGuard::default();
    if plan.identity == plan::Identity::OwnUid {
        uids::traversable_by_others(req.sandbox_root).map_err(SandboxError::Setup)?;
        guard.uid = Some(uids::lease().map_err(SandboxError::Setup)?);
    }
    let drop_to = guard.uid().map(|uid| (uid, uid));
    if plan.private_dir {
        guard.private_dir = Some(private_dir::create(req.sandbox_root, &unique, drop_to)?);
    }
    let env = child_env(service, guard.private_dir(), &env::gateway_env());

    let gateway_cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let program = &service.command[0];
    // A relative program path keeps meaning the gateway's working directory (or `cwd`), even
    // when the child starts in its private dir.
    let program_path = if program.contains('/') {
        gateway_cwd
            .join(service.cwd.as_deref().unwrap_or(Path::new("")))
            .join(program)
    } else {
        PathBuf::from(program)
    };
    // Without a configured cwd the child starts in the gateway's working directory, as
    // upstream: configs name scripts relative to it (`["python3", "servers/todo.py"]`).
    // Landlock still keeps the config, TLS files and other sessions' dirs out of reach; only
    // the directories of the files named in argv are readable (see `landlock_inputs`).
    let cwd = service.cwd.as_ref().map(|cwd| gateway_cwd.join(cwd));
    let spawn_error = |source| SandboxError::Spawn {
        program: program.clone(),
        source,
    };
    // A program without a `/` is searched in the child's PATH, as `execvp` would.
    let exec = exec::Program::new(
        &program_path,
        &service.command[1..],
        &env,
        env.get("PATH").map(String::as_str),
        cwd.as_deref(),
    )
    .map_err(spawn_error)?;

    let mut hook = preexec::Hook {
        parent: std::process::id() as libc::pid_t,
        cgroup_procs: None,
        userns: plan.userns.then(|| preexec::UserNs {
            uid_map: format!("{0} {0} 1", host.uid).into_bytes(),
            gid_map: format!("{0} {0} 1", host.gid).into_bytes(),
        }),
        rlimits: plan.rlimits,
        netns: plan.netns,
        private_proc: plan
            .private_proc
            .then(|| plan.landlock_abi.map_or(0, landlock::read_dir_rights)),
        drop_to,
        landlock: None,
        seccomp: None,
    };
    if let Some(filter) = &req.prepared.seccomp {
        hook.seccomp = Some(filter.clone().map_err(SandboxError::Setup)?);
    }
    if let (Some(max), Ok(base)) = (plan.pids_max, &host.pids_cgroup) {
        // `unique` starts with the gateway's pid, so a later gateway can sweep it if this one
        // is killed.
        let (cgroup, procs) = cgroup::PidsCgroup::create(base, &unique, max)
            .map_err(|e| SandboxError::Setup(format!("pids cgroup: {e}")))?;
        guard.cgroup = Some(cgroup);
        hook.cgroup_procs = Some(procs);
    }
    if let Some(abi) = plan.landlock_abi {
        let ruleset = landlock_ruleset(req, abi, &env, &cwd, &gateway_cwd, guard.private_dir())
            .map_err(|e| SandboxError::Setup(format!("landlock: {e}")))?;
        hook.landlock = Some(ruleset);
    }
    // A child sharing the gateway's memory, but for a user namespace's maps (`exec.rs`).
    let start = if hook.userns.is_some() {
        exec::Start::Fork
    } else {
        exec::Start::SharedMemory
    };
    let started = exec::spawn(&exec, &hook, start).map_err(spawn_error)?;
    // The hook's fds are closed here; the child keeps what it needs.
    drop(hook);
    let pid = started.pid;
    live_groups().insert(pid as i32);
    guard.pgid = Some(pid as i32);
    let child = Child::new(started).map_err(spawn_error)?;
    if plan.bound == Some(plan::ProcessBound::OwnUserNs) {
        // `spawn` returns after the exec, so the hook has entered the namespace by now.
        let path = format!("/proc/{pid}/ns/user");
        guard.userns = match (std::fs::File::open(&path), std::fs::read_link(&path)) {
            (Ok(pinned), Ok(link)) => Some((link.display().to_string(), pinned)),
            _ => None,
        };
    }
    Ok(Spawned {
        child,
        pid,
        pgid: pid as i32,
        guard,
    })
}

/// The child's landlock ruleset: the service's kept rules ([`landlock_cache`]) and its
/// private dir.
fn landlock_ruleset(
    req: &SpawnRequest<'_>,
    abi: u32,
    env: &std::collections::BTreeMap<String, String>,
    cwd: &Option<PathBuf>,
    gateway_cwd: &Path,
    private_dir: Option<&Path>,
) -> std::io::Result<std::os::fd::OwnedFd> {
    let key = landlock_cache::Key {
        gateway_cwd: gateway_cwd.to_path_buf(),
        path_env: env.get("PATH").cloned().unwrap_or_default(),
    };
    let kept = req.prepared.landlock.get(key, |key| {
        let inputs = landlock_inputs(req, env, cwd, gateway_cwd);
        landlock_cache::Kept::make(key, abi, &inputs, &landlock::list_dir)
    })?;
    let own = match private_dir {
        Some(dir) => landlock::open_rules(
            abi,
            &[landlock::Rule {
                path: dir.to_path_buf(),
                access: landlock::Access::Full,
            }],
        )?,
        None => Vec::new(),
    };
    landlock::ruleset(abi, kept.rules.iter().chain(&own))
}

/// The trees the child may read and write, with the gateway's files carved out (the private
/// dir is added per child).
fn landlock_inputs(
    req: &SpawnRequest<'_>,
    env: &std::collections::BTreeMap<String, String>,
    cwd: &Option<PathBuf>,
    gateway_cwd: &Path,
) -> landlock::Inputs {
    let service = req.service;
    let canonical = |p: &Path| std::fs::canonicalize(gateway_cwd.join(p)).ok();
    let path_env = env.get("PATH").map(String::as_str).unwrap_or("");
    let exec_dir = cwd.as_deref().unwrap_or(gateway_cwd);
    let mut read: Vec<PathBuf> = landlock::SYSTEM_READ.iter().map(PathBuf::from).collect();
    read.extend(landlock::program_trees(
        &service.command[0],
        path_env,
        exec_dir,
    ));
    if let Some(cwd) = &service.cwd {
        read.extend(canonical(cwd));
    }
    read.extend(argv_file_dirs(&service.command[1..], exec_dir));
    let mut write = Vec::new();
    for allowed in &service.sandbox.allowed_paths {
        let Some(path) = canonical(&allowed.path) else {
            tracing::warn!(service = %service.name, path = %allowed.path.display(), "allowed path does not exist");
            continue;
        };
        if allowed.writable {
            write.push(path);
        } else {
            read.push(path);
        }
    }
    let mut devices: Vec<PathBuf> = landlock::DEVICES_RW.iter().map(PathBuf::from).collect();
    read.extend(landlock::DEVICES_READ.iter().map(PathBuf::from));
    devices.retain(|d| d.exists());
    let mut protected: Vec<PathBuf> = req.protected.iter().filter_map(|p| canonical(p)).collect();
    protected.extend(landlock::HOST_SECRETS.iter().map(PathBuf::from));
    read.sort();
    read.dedup();
    landlock::Inputs {
        read,
        devices,
        write,
        private_dir: None,
        protected,
    }
}

/// The trees of the files named in argv: the file's directory (`python3 servers/todo.py` needs
/// to read `servers/`, where its modules live too; `python3 todo.py` the working directory
/// itself), relative to the child's working directory, and, like the program's, the install
/// tree it lies in (`node …/node_modules/pkg/dist/index.js` imports from that `node_modules`; a
/// script in a `site-packages` from its prefix). The gateway's own files stay carved out.
fn argv_file_dirs(args: &[String], exec_dir: &Path) -> Vec<PathBuf> {
    args.iter()
        .filter(|a| !a.is_empty() && !a.starts_with('-'))
        .map(|a| exec_dir.join(a))
        .filter(|p| p.is_file())
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .flat_map(|p| landlock::install_trees(&p))
        .collect()
}

/// Pids of the processes in the user namespace `ns` (a `/proc/<pid>/ns/user` link text).
fn in_user_namespace(ns: &str) -> Vec<i32> {
    uids::processes_where(|pid| {
        std::fs::read_link(format!("/proc/{pid}/ns/user"))
            .is_ok_and(|link| link.as_os_str().to_str() == Some(ns))
    })
}

/// Process groups of children whose guard has not been cleaned up yet.
fn live_groups() -> std::sync::MutexGuard<'static, std::collections::BTreeSet<i32>> {
    static GROUPS: std::sync::Mutex<std::collections::BTreeSet<i32>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    GROUPS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// SIGKILL the process group of every child now (a forced shutdown: no grace). The children's
/// actors then reap them and their guards remove what is left (cgroup, uid, namespace, dir)
/// as after any exit. Returns how many groups were signalled.
pub fn kill_every_child() -> usize {
    let groups: Vec<i32> = live_groups().iter().copied().collect();
    for &pgid in &groups {
        signal_group(pgid, Signal::SIGKILL);
    }
    groups.len()
}

/// Send `sig` to the whole process group `pgid`. Errors (group already gone) are ignored.
pub fn signal_group(pgid: i32, sig: Signal) {
    if pgid > 0 {
        let _ = signal::killpg(Pid::from_raw(pgid), sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_named_in_argv_open_their_directories_with_or_without_a_slash() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(root.join("servers")).unwrap();
        for file in ["greeter_mcp.py", "servers/todo.py"] {
            std::fs::write(root.join(file), b"").unwrap();
        }
        let args: Vec<String> = [
            "greeter_mcp.py",
            "./servers/todo.py",
            "-u",
            "servers",
            "stdio",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            argv_file_dirs(&args, &root),
            [root.clone(), root.join("servers")],
            "files only (not a directory, a flag or a word that names nothing)"
        );
    }
}
