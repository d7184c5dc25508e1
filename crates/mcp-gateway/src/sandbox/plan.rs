//! What the sandbox will do for a service on this host, decided once from the configuration and
//! the host's capabilities, and the report `validate` and the startup log print.

use std::fmt;
use std::path::PathBuf;
use std::sync::OnceLock;

use crate::config::{Filesystem, Network, ServiceConfig};

use super::{cgroup, env, preexec};

/// What this host can do, probed once.
#[derive(Debug, Clone)]
pub struct Host {
    pub uid: u32,
    pub gid: u32,
    /// Landlock ABI version, `None` when unavailable.
    pub landlock_abi: Option<u32>,
    /// Where per-child pids cgroups go, or why there are none.
    pub pids_cgroup: Result<PathBuf, String>,
    /// `nobody`'s uid and gid (from the user database).
    pub nobody: Option<(u32, u32)>,
}

impl Host {
    pub fn get() -> &'static Host {
        static HOST: OnceLock<Host> = OnceLock::new();
        HOST.get_or_init(|| Host {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            landlock_abi: preexec::landlock_abi(),
            pids_cgroup: cgroup::base().map(PathBuf::from).map_err(str::to_owned),
            nobody: nix::unistd::User::from_name("nobody")
                .ok()
                .flatten()
                .map(|u| (u.uid.as_raw(), u.gid.as_raw())),
        })
    }

    pub fn is_root(&self) -> bool {
        self.uid == 0
    }
}

/// How the network namespace is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetNsKind {
    Direct,
    ViaUserNs,
}

/// The decisions for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub private_dir: bool,
    pub limits: Option<preexec::Limits>,
    /// `pids.max` of the child's pids cgroup.
    pub pids_max: Option<u64>,
    pub landlock_abi: Option<u32>,
    pub netns: Option<NetNsKind>,
    pub drop_to: Option<(u32, u32)>,
    pub report: SandboxReport,
}

/// What will actually be enforced for a service, and what was asked for but cannot be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxReport {
    pub service: String,
    /// "High", "Medium", "None" or "custom".
    pub level: &'static str,
    pub enforced: Vec<String>,
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

/// What the sandbox will enforce for `service` on this host.
pub fn describe(service: &ServiceConfig) -> SandboxReport {
    plan(service, Host::get()).report
}

const MIB: u64 = 1024 * 1024;

/// Decide, for `service` on `host`.
pub fn plan(service: &ServiceConfig, host: &Host) -> Plan {
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
        missing: Vec::new(),
        allow_weaker: s.allow_weaker,
    };
    let mut plan = Plan {
        private_dir: s.enabled,
        limits: None,
        pids_max: None,
        landlock_abi: None,
        netns: None,
        drop_to: None,
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

    // Privileges first: the process limit depends on the child's uid.
    let mut child_uid = host.uid;
    if s.drop_privileges && host.is_root() {
        match host.nobody {
            Some((uid, gid)) => {
                plan.drop_to = Some((uid, gid));
                child_uid = uid;
                on.push(format!(
                    "privileges: runs as nobody ({uid}:{gid}), supplementary groups cleared"
                ));
            }
            None => missing.push("drop_privileges: no user \"nobody\" on this host".into()),
        }
    } else if host.is_root() {
        on.push("privileges: runs as root (drop_privileges is false)".into());
    } else {
        on.push(format!(
            "privileges: runs as the gateway's uid {} (already unprivileged)",
            host.uid
        ));
    }
    on.push("privileges: no_new_privs (setuid binaries gain nothing)".into());

    if s.resource_limits {
        let l = &s.limits;
        let mut limits = preexec::Limits {
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
        match &host.pids_cgroup {
            Ok(_) => {
                plan.pids_max = Some(l.max_processes);
                on.push(format!(
                    "max_processes: {} tasks (processes and threads) in the child's whole tree \
                     (pids cgroup); every task in it is killed at stop",
                    l.max_processes
                ));
            }
            Err(why) if child_uid != 0 => {
                limits.processes = Some(l.max_processes);
                missing.push(format!(
                    "max_processes: no pids cgroup ({why}): RLIMIT_NPROC {} is per uid, shared \
                     by every process of uid {child_uid}, not per child",
                    l.max_processes
                ));
            }
            Err(why) => missing.push(format!(
                "max_processes: no pids cgroup ({why}), and RLIMIT_NPROC does not bind root"
            )),
        }
        plan.limits = Some(limits);
    }
    if plan.pids_max.is_none() {
        on.push("descendants: the process group is killed at stop (setsid escapes it)".into());
    }

    match (s.filesystem, host.landlock_abi) {
        (Filesystem::Host, _) => {
            on.push("filesystem: not restricted (filesystem is \"host\")".into())
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
            if super::landlock::scopes(abi) != 0 {
                on.push(
                    "signals and abstract unix sockets: only within its own sandbox (landlock \
                     scopes)"
                        .into(),
                );
            }
            on.push("ptrace and /proc/<pid>/environ of other processes: denied (landlock)".into());
        }
        (Filesystem::Isolated, None) => {
            missing.push("filesystem \"isolated\": landlock is not available on this kernel".into())
        }
    }

    match s.network {
        Network::Host => on.push("network: the host's (network is \"host\")".into()),
        Network::None => {
            let kind = if host.is_root() {
                NetNsKind::Direct
            } else {
                NetNsKind::ViaUserNs
            };
            plan.netns = Some(kind);
            let how = match kind {
                NetNsKind::Direct => "a new network namespace",
                NetNsKind::ViaUserNs => "a new user and network namespace",
            };
            on.push(format!(
                "network: none ({how}: no interface up, not even loopback)"
            ));
        }
    }
    plan.report = report;
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AllowedPath, SandboxConfig};

    fn service(sandbox: SandboxConfig) -> ServiceConfig {
        ServiceConfig {
            name: "svc".into(),
            command: vec!["srv".into()],
            description: String::new(),
            env: Default::default(),
            cwd: None,
            call_timeout: std::time::Duration::from_secs(1),
            startup_timeout: std::time::Duration::from_secs(1),
            max_line_bytes: 1024,
            stop_grace: std::time::Duration::from_secs(1),
            remote: None,
            warm_pool: 0,
            sandbox,
        }
    }

    fn root_host() -> Host {
        Host {
            uid: 0,
            gid: 0,
            landlock_abi: Some(7),
            pids_cgroup: Ok("/sys/fs/cgroup/pids/mcp-gateway".into()),
            nobody: Some((65534, 65534)),
        }
    }

    #[test]
    fn high_on_a_capable_root_host_enforces_everything() {
        let plan = plan(&service(SandboxConfig::default()), &root_host());
        assert_eq!(plan.report.level, "High");
        assert!(plan.report.missing.is_empty(), "{}", plan.report);
        assert_eq!(plan.pids_max, Some(64));
        assert_eq!(plan.landlock_abi, Some(7));
        assert_eq!(plan.netns, None);
        assert_eq!(plan.drop_to, None);
        let limits = plan.limits.unwrap();
        assert_eq!(limits.data_bytes, Some(512 * MIB));
        assert_eq!(limits.processes, None, "the cgroup bounds tasks, not NPROC");
        assert!(plan.report.ok());
    }

    #[test]
    fn missing_landlock_and_cgroup_fail_closed_unless_weaker_is_allowed() {
        let host = Host {
            landlock_abi: None,
            pids_cgroup: Err("no cgroup".into()),
            ..root_host()
        };
        let report = plan(&service(SandboxConfig::default()), &host).report;
        assert_eq!(report.missing.len(), 2, "{report}");
        assert!(report.missing[0].starts_with("max_processes"), "{report}");
        assert!(report.missing[1].contains("landlock"), "{report}");
        assert!(!report.ok());
        assert!(report.to_string().contains("MISSING"));
        let weaker = SandboxConfig {
            allow_weaker: true,
            ..SandboxConfig::default()
        };
        let report = plan(&service(weaker), &host).report;
        assert!(report.ok());
        assert!(report.to_string().contains("NOT ENFORCED"));
    }

    #[test]
    fn dropped_privileges_and_no_network() {
        let sandbox = SandboxConfig {
            drop_privileges: true,
            network: Network::None,
            allowed_paths: vec![AllowedPath {
                path: "/data".into(),
                writable: true,
            }],
            ..SandboxConfig::default()
        };
        let p = plan(&service(sandbox.clone()), &root_host());
        assert_eq!(p.drop_to, Some((65534, 65534)));
        assert_eq!(p.netns, Some(NetNsKind::Direct));
        let user = Host {
            uid: 1000,
            gid: 1000,
            ..root_host()
        };
        let p = plan(&service(sandbox), &user);
        assert_eq!(p.drop_to, None);
        assert_eq!(p.netns, Some(NetNsKind::ViaUserNs));
    }

    #[test]
    fn medium_and_none() {
        let medium = SandboxConfig {
            restricted_env: false,
            ..SandboxConfig::default()
        };
        assert_eq!(plan(&service(medium), &root_host()).report.level, "Medium");
        let none = SandboxConfig {
            enabled: false,
            ..SandboxConfig::default()
        };
        let p = plan(&service(none), &root_host());
        assert_eq!(p.report.level, "None");
        assert!(!p.private_dir && p.limits.is_none() && p.landlock_abi.is_none());
        assert!(p.report.ok());
    }
}
