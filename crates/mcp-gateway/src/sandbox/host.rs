//! What this host can do, probed once: the kernel's features and the gateway's privileges.

use std::sync::OnceLock;

use super::{cgroup, preexec, seccomp, uids};

/// What this host can do, probed once.
#[derive(Debug, Clone)]
pub struct Host {
    pub uid: u32,
    pub gid: u32,
    /// Landlock ABI version, `None` when unavailable.
    pub landlock_abi: Option<u32>,
    /// Where per-child pids cgroups go, or why there are none.
    pub pids_cgroup: Result<cgroup::Base, String>,
    /// Non-root: whether a user namespace per child can count `RLIMIT_NPROC` per child
    /// (unprivileged user namespaces allowed, Linux ≥ 5.14), or why not.
    pub userns_nproc: Result<(), String>,
    /// Root: whether `session.child_uids` is usable here (mapped in this user namespace).
    pub child_uids: Result<(), String>,
    /// Root: whether a child can get a mount namespace with a `hidepid=2` `/proc` of its own.
    pub private_proc: Result<(), String>,
    /// Whether a child can get a network namespace (`network: "none"`): as root directly, else
    /// inside a user namespace of its own.
    pub netns: Result<(), String>,
    /// Whether a child can install the seccomp filter.
    pub seccomp: Result<(), String>,
}

impl Host {
    pub fn get() -> &'static Host {
        static HOST: OnceLock<Host> = OnceLock::new();
        HOST.get_or_init(Host::probe)
    }

    fn probe() -> Host {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        let root = uid == 0;
        Host {
            uid,
            gid,
            landlock_abi: preexec::landlock_abi(),
            pids_cgroup: cgroup::base().cloned().map_err(str::to_owned),
            userns_nproc: if root {
                Err("not needed as root".into())
            } else {
                probe_userns_nproc(uid, gid)
            },
            child_uids: if root {
                uids::check_mapped(&uids::range())
            } else {
                Err("only root can run children as other uids".into())
            },
            private_proc: if root {
                preexec::probe_private_proc()
                    .map_err(|e| format!("no mount namespace with a /proc of its own: {e}"))
            } else {
                Err("an unprivileged child cannot mount a /proc of its own".into())
            },
            seccomp: seccomp::program(&[]).and_then(|filter| {
                preexec::probe_seccomp(&filter)
                    .map_err(|e| format!("this kernel refuses a seccomp filter ({e})"))
            }),
            netns: if root {
                preexec::probe_netns().map_err(|e| {
                    format!(
                        "no network namespace for a child ({e}): the gateway lacks CAP_SYS_ADMIN, \
                         as in a default container (docker run --cap-add SYS_ADMIN grants it)"
                    )
                })
            } else {
                preexec::probe_userns(uid, gid, true).map_err(|e| {
                    format!(
                        "a user namespace of its own gives this gateway's children no network \
                         namespace here ({e}): unprivileged user namespaces are forbidden or \
                         restricted by a security module"
                    )
                })
            },
        }
    }

    pub fn is_root(&self) -> bool {
        self.uid == 0
    }
}

/// `RLIMIT_NPROC` is counted per user namespace since Linux 5.14; before, per user.
fn probe_userns_nproc(uid: u32, gid: u32) -> Result<(), String> {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    if !kernel_at_least(&release, (5, 14)) {
        return Err(format!(
            "kernel {release} counts RLIMIT_NPROC per user, not per user namespace (needs 5.14)"
        ));
    }
    preexec::probe_userns(uid, gid, false).map_err(|e| {
        format!(
            "no user namespace per child: creating one that maps uid {uid} failed ({e}); \
             unprivileged user namespaces are disabled or restricted here (sysctls \
             user.max_user_namespaces, kernel.unprivileged_userns_clone, \
             kernel.apparmor_restrict_unprivileged_userns)"
        )
    })
}

/// Whether a kernel release string ("6.1.0-18-amd64") is at least `(major, minor)`.
fn kernel_at_least(release: &str, want: (u32, u32)) -> bool {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= want
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_releases_compare_by_major_and_minor() {
        assert!(kernel_at_least("6.1.0-18-amd64", (5, 14)));
        assert!(kernel_at_least("5.14.0", (5, 14)));
        assert!(!kernel_at_least("5.10.0-28-amd64", (5, 14)));
        assert!(!kernel_at_least("4.19.0", (5, 14)));
        assert!(!kernel_at_least("", (5, 14)));
    }
}
