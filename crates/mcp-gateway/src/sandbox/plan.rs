//! What the sandbox will do for a service on this host, decided once from the configuration and
//! the host's capabilities, and the report `validate` and the startup log print.

use std::fmt;
use std::path::Path;

use crate::config::{ChildUser, Filesystem, Network, Seccomp, ServiceConfig};

use super::host::Host;
use super::{cgroup, env, preexec, seccomp, uids};

/// Who the child runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Identity {
    /// The gateway's uid (root, or an unprivileged gateway's own).
    Gateway,
    /// A uid of its own from `session.child_uids` (the gateway is root).
    OwnUid,
}

/// What bounds the tasks of one child's tree (`max_processes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ProcessBound {
    /// `pids.max` of a pids cgroup of its own.
    Cgroup,
    /// `RLIMIT_NPROC` on the child's own uid.
    OwnUid,
    /// `RLIMIT_NPROC`, counted in the child's own user namespace.
    OwnUserNs,
}

/// The decisions for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    pub private_dir: bool,
    pub identity: Identity,
    pub rlimits: Option<preexec::Rlimits>,
    pub bound: Option<ProcessBound>,
    /// `pids.max` of the child's pids cgroup.
    pub pids_max: Option<u64>,
    /// A user namespace of the child's own (non-root gateway).
    pub userns: bool,
    pub landlock_abi: Option<u32>,
    pub netns: bool,
    /// A mount namespace with a `hidepid=2` `/proc` (root, own uid).
    pub private_proc: bool,
    /// The seccomp filter (less `seccomp_allow`).
    pub seccomp: bool,
    pub report: SandboxReport,
}

/// What will actually be enforced for a service, and what was asked for but cannot be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxReport {
    pub service: String,
    /// "High", "Medium", "None" or "custom".
    pub level: &'static str,
    pub enforced: Vec<String>,
    /// Weaker than on the best hosts, but no configured guarantee needs it (the service starts).
    pub notes: Vec<String>,
    /// Requested but not enforceable here. Non-empty and not `allow_weaker`: the service
    /// refuses to start.
    pub missing: Vec<String>,
    pub allow_weaker: bool,
}

impl SandboxReport {
    /// Whether the service may start.
    pub fn ok(&self) -> bool {
        self.missing.is_empty() || self.allow_weaker
    }
}

impl fmt::Display for SandboxReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "sandbox of {}: level {}", self.service, self.level)?;
        for line in &self.enforced {
            writeln!(f, "  enforced: {line}")?;
        }
        for line in &self.notes {
            writeln!(f, "  note: {line}")?;
        }
        let verdict = if self.allow_weaker {
            "NOT ENFORCED (allow_weaker)"
        } else {
            "MISSING (the service refuses to start)"
        };
        for line in &self.missing {
            writeln!(f, "  {verdict}: {line}")?;
        }
        Ok(())
    }
}

/// What the sandbox will enforce for `service` on this host, with children's private dirs
/// under `sandbox_root`.
pub fn describe(service: &ServiceConfig, sandbox_root: &Path) -> SandboxReport {
    let plan = plan(service, Host::get());
    let mut report = plan.report;
    if plan.identity == Identity::OwnUid {
        if let Err(why) = uids::traversable_by_others(sandbox_root) {
            report.missing.push(format!("private dir: {why}"));
        }
        for allowed in service.sandbox.allowed_paths.iter().filter(|p| p.writable) {
            if !writable_by_others(&allowed.path) {
                report.notes.push(format!(
                    "allowed path {} is writable, but not by other users: the child runs as a \
                     uid of its own and cannot write there (chmod o+w, or sandbox.user \
                     \"gateway\")",
                    allowed.path.display()
                ));
            }
        }
    }
    report
}

/// Whether a uid that is neither owner nor group member may write `path` (by its mode bits).
fn writable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o002 != 0)
}

const MIB: u64 = 1024 * 1024;

/// The one line that gives an unprivileged gateway a cgroup subtree of its own.
pub(super) const DELEGATE_HINT: &str = "run the gateway in a delegated cgroup: systemd-run --user --scope -p Delegate=yes mcp-gateway -c CONFIG";

/// Decide, for `service` on `host`.
pub(super) fn plan(service: &ServiceConfig, host: &Host) -> Plan {
    let s = &service.sandbox;
    let level = match (s.enabled, s.restricted_env, s.resource_limits) {
        (false, _, _) => "None",
        (true, true, true) => "High",
        (true, false, true) => "Medium",
        _ => "custom",
    };
    let mut report = SandboxReport {
        service: service.name.clone(),
        level,
        enforced: Vec::new(),
        notes: Vec::new(),
        missing: Vec::new(),
        allow_weaker: s.allow_weaker,
    };
    let mut plan = Plan {
        private_dir: s.enabled,
        identity: Identity::Gateway,
        rlimits: None,
        bound: None,
        pids_max: None,
        userns: false,
        landlock_abi: None,
        netns: false,
        private_proc: false,
        seccomp: false,
        report: report.clone(),
    };
    if !s.enabled {
        report.enforced.push(
            "nothing: the gateway's whole environment, no limits, no isolation (sandbox.enabled \
             is false); the process group is killed at stop"
                .into(),
        );
        plan.report = report;
        return plan;
    }
    let on = &mut report.enforced;
    let notes = &mut report.notes;
    let missing = &mut report.missing;

    if s.restricted_env {
        on.push(format!(
            "env: only {}, LANG, HOME/TMPDIR and the service's env",
            env::PASSTHROUGH.join(", ")
        ));
    } else {
        on.push("env: the gateway's environment (restricted_env is false)".into());
    }
    on.push(format!(
        "env: loader variables removed ({})",
        env::LOADER_VARS.join(", ")
    ));
    on.push("private dir: one per child (HOME, TMPDIR), removed when it stops".into());

    // Identity first: the process bound and the isolation between children depend on it.
    if host.is_root() && (s.user == ChildUser::Own || s.drop_privileges) {
        match &host.child_uids {
            Ok(()) => {
                plan.identity = Identity::OwnUid;
                on.push(
                    "privileges: runs as a uid and gid of its own (session.child_uids), no \
                     supplementary groups: children cannot read, ptrace or signal each other \
                     or the gateway (/proc/<pid>/environ, maps, mem)"
                        .into(),
                );
            }
            Err(why) => missing.push(format!("a uid per child: {why}")),
        }
    } else if host.is_root() {
        on.push("privileges: runs as root (sandbox.user is \"gateway\")".into());
        notes.push(
            "children of this service run as root like the gateway: only landlock keeps them \
             apart, and root's CAP_SYS_PTRACE lets them read each other's /proc/<pid>/environ; \
             set sandbox.user to \"own\""
                .into(),
        );
    } else {
        on.push(format!(
            "privileges: runs as the gateway's uid {} (already unprivileged)",
            host.uid
        ));
    }
    on.push(
        "the gateway: non-dumpable, so no child can read its /proc/<pid>/environ, maps or mem"
            .into(),
    );
    match (&host.private_proc, plan.identity) {
        (Ok(()), Identity::OwnUid) => {
            plan.private_proc = true;
            on.push(
                "/proc: its own mount with hidepid=2: the gateway's and other children's \
                 processes are invisible (no pids, no command lines)"
                    .into(),
            );
        }
        (Err(why), Identity::OwnUid) => notes.push(format!(
            "/proc: other processes' pids and command lines are visible ({why}); their \
             environ, maps and mem are not (other uids)"
        )),
        (_, Identity::Gateway) => notes.push(
            "/proc: other processes' pids and command lines are visible (a hidepid /proc needs \
             a uid per child)"
                .into(),
        ),
    }
    on.push("privileges: no_new_privs (setuid binaries gain nothing)".into());

    if s.resource_limits {
        let l = &s.limits;
        let mut limits = preexec::Rlimits {
            cpu_seconds: Some(l.cpu_seconds),
            data_bytes: Some(l.memory_mb.saturating_mul(MIB)),
            file_bytes: Some(l.max_file_size_mb.saturating_mul(MIB)),
            processes: None,
        };
        on.push(format!(
            "cpu_seconds: {} s of CPU time per process (RLIMIT_CPU: SIGXCPU, then SIGKILL)",
            l.cpu_seconds
        ));
        on.push(format!(
            "memory_mb: {} MiB of heap and private writable mappings per process (RLIMIT_DATA; \
             not shared memory, not page cache)",
            l.memory_mb
        ));
        on.push(format!(
            "max_file_size_mb: {} MiB per file written (RLIMIT_FSIZE: SIGXFSZ); no core dumps",
            l.max_file_size_mb
        ));
        let max = l.max_processes;
        match (&host.pids_cgroup, plan.identity) {
            (Ok(base), _) => {
                plan.bound = Some(ProcessBound::Cgroup);
                plan.pids_max = Some(max);
                let v = match base.version {
                    cgroup::Version::V1 => "v1",
                    cgroup::Version::V2 => "v2",
                };
                on.push(format!(
                    "max_processes: {max} tasks (processes and threads) in the child's whole tree \
                     (pids cgroup {v} under {}); every task in it is killed at stop",
                    base.dir.display()
                ));
            }
            (Err(_), Identity::OwnUid) => {
                plan.bound = Some(ProcessBound::OwnUid);
                limits.processes = Some(max);
                on.push(format!(
                    "max_processes: {max} tasks (processes and threads) of the child's own uid \
                     (RLIMIT_NPROC; no writable pids cgroup here); every process of that uid is \
                     killed at stop"
                ));
            }
            (Err(why), Identity::Gateway) if !host.is_root() => match &host.userns_nproc {
                Ok(()) => {
                    plan.bound = Some(ProcessBound::OwnUserNs);
                    plan.userns = true;
                    limits.processes = Some(max);
                    on.push(format!(
                        "max_processes: {max} tasks (processes and threads) in the child's own \
                         user namespace (RLIMIT_NPROC, counted per namespace; no writable pids \
                         cgroup here); every process of that namespace is killed at stop"
                    ));
                }
                Err(userns) => missing.push(format!(
                    "max_processes: no per-child process bound for an unprivileged gateway here \
                     (pids cgroup: {why}; {userns}); {DELEGATE_HINT}"
                )),
            },
            (Err(why), Identity::Gateway) => missing.push(format!(
                "max_processes: no pids cgroup ({why}), and RLIMIT_NPROC does not bind root: \
                 set sandbox.user to \"own\" (a uid per child)"
            )),
        }
        plan.rlimits = Some(limits);
    }
    match plan.bound {
        Some(ProcessBound::Cgroup | ProcessBound::OwnUid) => {}
        Some(ProcessBound::OwnUserNs) => on.push(
            "descendants: killed at stop, found by the child's user namespace (setsid does not \
             escape it)"
                .into(),
        ),
        None if plan.identity == Identity::OwnUid => on.push(
            "descendants: every process of the child's uid is killed at stop (setsid does not \
             escape it)"
                .into(),
        ),
        None => {
            on.push("descendants: the process group is killed at stop (setsid escapes it)".into())
        }
    }

    match (s.filesystem, host.landlock_abi) {
        (Filesystem::Host, _) => {
            on.push("filesystem: not restricted (filesystem is \"host\")".into());
            if plan.identity == Identity::Gateway {
                notes.push(
                    "children of the gateway's uid can read each other's /proc/<pid>/environ \
                     (no landlock domain with filesystem \"host\")"
                        .into(),
                );
            }
        }
        (Filesystem::Isolated, Some(abi)) => {
            plan.landlock_abi = Some(abi);
            let ro = s.allowed_paths.iter().filter(|p| !p.writable).count();
            let rw = s.allowed_paths.len() - ro;
            on.push(format!(
                "filesystem: landlock ABI {abi}: reads system dirs, the program's install tree, \
                 cwd and {ro} allowed path(s); writes only its private dir and {rw} writable \
                 path(s); the gateway's config, TLS files, log file and other sessions' dirs \
                 are never reachable"
            ));
            landlock_notes(abi, plan.identity, host, on, notes);
        }
        (Filesystem::Isolated, None) => {
            missing.push("filesystem \"isolated\": landlock is not available on this kernel".into())
        }
    }

    match s.network {
        Network::Host => on.push("network: the host's (network is \"host\")".into()),
        Network::None if host.netns.is_err() => {
            let why = host.netns.as_ref().err().cloned().unwrap_or_default();
            let fix = if host.is_root() {
                "or set network \"host\""
            } else {
                "run the gateway as root, or set network \"host\""
            };
            missing.push(format!("network \"none\": {why}; {fix}"));
        }
        Network::None => {
            plan.netns = true;
            if !host.is_root() {
                plan.userns = true;
            }
            let how = if host.is_root() {
                "a new network namespace"
            } else {
                "a new network namespace, inside a user namespace of its own"
            };
            on.push(format!(
                "network: none ({how}: no interface up, not even loopback)"
            ));
        }
    }
    seccomp_report(s, level, host, &mut plan, &mut report);
    plan.report = report;
    plan
}

/// Whether the seccomp filter is installed (at High unless `sandbox.seccomp` says otherwise),
/// and what the report says of it.
fn seccomp_report(
    s: &crate::config::SandboxConfig,
    level: &str,
    host: &Host,
    plan: &mut Plan,
    report: &mut SandboxReport,
) {
    let wanted = match s.seccomp {
        Some(Seccomp::Default) => true,
        Some(Seccomp::Off) => false,
        None => level == "High",
    };
    if !wanted {
        let why = match s.seccomp {
            Some(_) => "sandbox.seccomp is \"off\"",
            None => "level High only, unless sandbox.seccomp is \"default\"",
        };
        report
            .notes
            .push(format!("system calls: not filtered ({why})"));
        return;
    }
    if let Err(why) = &host.seccomp {
        report.missing.push(format!("seccomp filter: {why}"));
        return;
    }
    plan.seccomp = true;
    let denied = seccomp::DENIED
        .iter()
        .filter(|d| !s.seccomp_allow.iter().any(|a| a == d.name))
        .count();
    report.enforced.push(format!(
        "system calls: a seccomp filter answers EPERM to {denied} calls of the kernel surface a \
         server never needs (bpf, perf_event_open, io_uring, keyctl, userfaultfd, ptrace, \
         process_vm_*, mount, unshare, setns, clone with namespace flags, kexec, modules, ...: \
         docs/sandbox.md), to other ABIs and x32; clone3 answers ENOSYS (glibc falls back to \
         clone)"
    ));
    if !s.seccomp_allow.is_empty() {
        report.notes.push(format!(
            "system calls allowed through the seccomp filter (sandbox.seccomp_allow): {}",
            s.seccomp_allow.join(", ")
        ));
    }
}

/// What landlock `abi` adds to the isolation between children, and what an older ABI costs.
fn landlock_notes(
    abi: u32,
    identity: Identity,
    host: &Host,
    on: &mut Vec<String>,
    notes: &mut Vec<String>,
) {
    let own_uid = identity == Identity::OwnUid;
    if super::landlock::scopes(abi) != 0 {
        on.push(
            "signals and abstract unix sockets: only within its own sandbox (landlock scopes)"
                .into(),
        );
    } else if own_uid {
        on.push("signals: only to its own processes (its own uid)".into());
        notes.push(format!(
            "abstract unix sockets of other children are reachable (landlock ABI {abi} < 6 has \
             no scopes; Linux ≥ 6.12 has them)"
        ));
    } else {
        notes.push(format!(
            "signals and abstract unix sockets: NOT isolated between children of uid {} \
             (landlock ABI {abi} < 6 has no scopes; Linux ≥ 6.12 has them)",
            host.uid
        ));
    }
    if !host.is_root() {
        on.push(
            "ptrace and /proc/<pid>/environ, maps, mem of other children: denied (landlock \
             domains)"
                .into(),
        );
    }
    if abi < 3 {
        notes.push(format!(
            "truncate(2) is not confined by landlock ABI {abi} (< 3): only file permissions stop \
             a child from truncating a file it may read{}",
            if host.is_root() && !own_uid {
                ", and this child runs as root"
            } else {
                ""
            }
        ));
    }
    if abi < 5 {
        notes.push(format!(
            "ioctl on the allowed device files is not confined (landlock ABI {abi} < 5)"
        ));
    }
}

#[cfg(test)]
mod tests;
