//! The first module with `unsafe` code (the second, `exec.rs`, starts the child): the hook
//! the child runs on itself before `execve`, the three landlock system calls (which `libc`
//! exposes only as raw syscall numbers), the user-namespace probe (a fork whose child follows
//! the same rules as the hook) and the gateway's own `PR_SET_DUMPABLE`.
//!
//! # Why the hook is sound
//! The hook runs in a child of the multi-threaded gateway: a fork (only the forking thread
//! exists, and any lock another thread held stays locked forever) or, for most plans, a
//! `clone(CLONE_VM | CLONE_VFORK)` child that shares the gateway's memory while the other
//! threads keep running. [`Hook::run`] therefore only makes raw system calls
//! (`write`, `setrlimit`, `unshare`, `open`, `close`, `setgroups`, `setgid`, `setuid`, `prctl`,
//! `getppid`, `landlock_restrict_self`, `seccomp`, `_exit`) on values the parent computed before
//! the child was started (file descriptors, integers, byte strings, `c"..."` literals): no
//! allocation, no locks, no logging, no panics, and no write to memory outside its own stack
//! but `errno`. `io::Error::last_os_error` only reads `errno` into an integer. The credential
//! calls are `syscall(SYS_set*)`, not glibc's wrappers, which would make every thread of the
//! process (the gateway's, with shared memory) change credentials. `PR_SET_DUMPABLE` applies
//! to the memory, so the step that needs it (a user namespace) only runs in a fork (`exec.rs`).
//!
//! # Order of the steps, and why
//! 1. join the pids cgroup (needs the gateway's privileges, so first);
//! 2. a user namespace of its own (after making this fork dumpable again: the gateway is not,
//!    and the fork's `/proc/self/uid_map` would belong to root) (non-root gateway: for the process bound, or as the way to a
//!    network namespace), mapping the child's uid/gid to themselves. Before the rlimits: the
//!    kernel records the creator's `RLIMIT_NPROC` as the namespace's ceiling for the count of
//!    the *whole* uid outside it, so it must still be the gateway's own, not the child's;
//! 3. resource limits; `RLIMIT_NPROC` then counts, since Linux 5.14, the tasks of the uid in
//!    the child's own namespace only (or, as root, of the child's own uid, step 5);
//! 4. the network namespace (`unshare(CLONE_NEWNET)`: as root, or with the capabilities the new
//!    user namespace gives);
//! 5. as root, a mount namespace of its own whose `/proc` is a new instance mounted with
//!    `hidepid=2`: the child sees only the processes it may ptrace (its own uid's), so not the
//!    gateway's or other children's pids and command lines; the new `/proc` is added to the
//!    landlock ruleset here, since the parent's rule names the host's `/proc`;
//! 6. drop privileges (`setgroups([])`, `setgid`, `setuid`: gid before uid, or it is not
//!    allowed) — to the child's own uid as root;
//! 7. the parent-death signal: the kernel clears it whenever the credentials change (steps 2
//!    and 5), so it is set after them; then `getppid` catches a gateway that died before it was
//!    set. No PID namespace is created, so `getppid` is the gateway's pid, never 0;
//! 8. `no_new_privs` (required by landlock for an unprivileged caller, and wanted anyway);
//! 9. landlock `restrict_self`, so the steps above may still open `/proc/self/*`;
//! 10. the seccomp filter (compiled in the parent: `seccomp.rs`) last, since it refuses
//!     `unshare`, `mount` and the like that the steps above make; only `execve` and what
//!     `exec.rs` does after a failed one (`write` of the errno, `_exit`) follow it.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Resource limits (`setrlimit`), precomputed in the parent. `None` leaves a limit alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Rlimits {
    pub cpu_seconds: Option<libc::rlim_t>,
    pub data_bytes: Option<libc::rlim_t>,
    pub file_bytes: Option<libc::rlim_t>,
    pub processes: Option<libc::rlim_t>,
}

/// A user namespace of the child's own, mapping its uid and gid to themselves.
#[derive(Debug)]
pub(super) struct UserNs {
    pub uid_map: Vec<u8>,
    pub gid_map: Vec<u8>,
}

/// Everything the child does before exec, computed in the parent.
#[derive(Debug)]
pub(super) struct Hook {
    /// The gateway's pid: the child checks it is still its parent after arming PDEATHSIG.
    pub parent: libc::pid_t,
    /// An open `cgroup.procs` of the child's own pids cgroup.
    pub cgroup_procs: Option<OwnedFd>,
    pub userns: Option<UserNs>,
    pub rlimits: Option<Rlimits>,
    /// `unshare(CLONE_NEWNET)` (as root, or inside `userns`).
    pub netns: bool,
    /// As root: a mount namespace with a `hidepid=2` `/proc`; the landlock read rights to
    /// grant on it (0 without landlock).
    pub private_proc: Option<u64>,
    /// `(uid, gid)` to switch to; supplementary groups are cleared.
    pub drop_to: Option<(libc::uid_t, libc::gid_t)>,
    /// A landlock ruleset to enforce.
    pub landlock: Option<OwnedFd>,
    /// A seccomp filter to install, last.
    pub seccomp: Option<super::seccomp::Program>,
}

impl Hook {
    /// Runs in the child (`exec.rs`), which may share the gateway's memory. Async-signal-safe
    /// only: see the module documentation.
    pub(super) fn run(&self) -> io::Result<()> {
        // SAFETY (whole body): plain system calls on integers, on pointers to data that lives
        // as long as `self`, and on static C strings.
        unsafe {
            if let Some(fd) = &self.cgroup_procs {
                // "0" means the writing process.
                check(libc::write(fd.as_raw_fd(), c"0".as_ptr().cast(), 1) as i64)?;
            }
            if let Some(ns) = &self.userns {
                // The gateway is non-dumpable, and so is this fork of it: its /proc/self files
                // belong to root, and the maps below could not be written. The exec resets it
                // anyway; until then only the gateway's own uid could look.
                check(libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) as i64)?;
                check(libc::unshare(libc::CLONE_NEWUSER) as i64)?;
                write_file(c"/proc/self/setgroups", b"deny")?;
                write_file(c"/proc/self/uid_map", &ns.uid_map)?;
                write_file(c"/proc/self/gid_map", &ns.gid_map)?;
            }
            if let Some(l) = &self.rlimits {
                set_limit(libc::RLIMIT_CORE, Some(0))?;
                set_limit(libc::RLIMIT_CPU, l.cpu_seconds)?;
                set_limit(libc::RLIMIT_DATA, l.data_bytes)?;
                set_limit(libc::RLIMIT_FSIZE, l.file_bytes)?;
                set_limit(libc::RLIMIT_NPROC, l.processes)?;
            }
            if self.netns {
                check(libc::unshare(libc::CLONE_NEWNET) as i64)?;
            }
            if let Some(rights) = self.private_proc {
                mount_private_proc()?;
                if let (Some(ruleset), true) = (&self.landlock, rights != 0) {
                    let fd = libc::open(c"/proc".as_ptr(), libc::O_PATH | libc::O_CLOEXEC);
                    check(fd as i64)?;
                    let attr = PathBeneathAttr {
                        allowed_access: rights,
                        parent_fd: fd,
                    };
                    let added = libc::syscall(
                        libc::SYS_landlock_add_rule,
                        ruleset.as_raw_fd(),
                        LANDLOCK_RULE_PATH_BENEATH,
                        &attr as *const PathBeneathAttr,
                        0u32,
                    );
                    let err = io::Error::last_os_error();
                    libc::close(fd);
                    if added < 0 {
                        return Err(err);
                    }
                }
            }
            if let Some((uid, gid)) = self.drop_to {
                // Raw system calls: glibc's wrappers make every thread of the process change
                // its credentials, and a child sharing the gateway's memory would find the
                // gateway's threads in glibc's list.
                check(libc::syscall(
                    libc::SYS_setgroups,
                    0,
                    std::ptr::null::<libc::gid_t>(),
                ))?;
                check(libc::syscall(libc::SYS_setgid, gid))?;
                check(libc::syscall(libc::SYS_setuid, uid))?;
            }
            // Die with the gateway, even if it is SIGKILLed.
            check(libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) as i64)?;
            // The gateway may have died before the signal was armed: then nobody would kill us.
            if libc::getppid() != self.parent {
                libc::_exit(1);
            }
            check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) as i64)?;
            if let Some(fd) = &self.landlock {
                check(libc::syscall(
                    libc::SYS_landlock_restrict_self,
                    fd.as_raw_fd(),
                    0u32,
                ))?;
            }
            if let Some(filter) = &self.seccomp {
                install_seccomp(filter)?;
            }
        }
        Ok(())
    }
}

/// `seccomp(SECCOMP_SET_MODE_FILTER)` of a program compiled in the parent; needs
/// `no_new_privs` (or `CAP_SYS_ADMIN`). Async-signal-safe: the `sock_fprog` lives on this stack.
fn install_seccomp(filter: &[libc::sock_filter]) -> io::Result<()> {
    let prog = libc::sock_fprog {
        len: filter.len() as libc::c_ushort,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points to `filter`, valid for the call; the kernel copies it.
    check(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0u32,
            &prog as *const libc::sock_fprog,
        )
    })
}

fn check(ret: i64) -> io::Result<()> {
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_limit(resource: libc::__rlimit_resource_t, value: Option<libc::rlim_t>) -> io::Result<()> {
    let Some(value) = value else {
        return Ok(());
    };
    let lim = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: setrlimit is async-signal-safe and `lim` lives on this stack frame.
    check(unsafe { libc::setrlimit(resource, &lim) } as i64)
}

/// A mount namespace of its own, private propagation, and a new `/proc` with `hidepid=2` over
/// the old one. Async-signal-safe.
fn mount_private_proc() -> io::Result<()> {
    // SAFETY: plain system calls on static C strings and null pointers.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS) as i64)?;
        check(libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) as i64)?;
        check(libc::mount(
            c"proc".as_ptr(),
            c"/proc".as_ptr(),
            c"proc".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            c"hidepid=2".as_ptr().cast(),
        ) as i64)?;
    }
    Ok(())
}

/// `open` + `write` + `close`, async-signal-safe.
fn write_file(path: &std::ffi::CStr, data: &[u8]) -> io::Result<()> {
    // SAFETY: `path` is NUL-terminated and `data` outlives the calls.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        check(fd as i64)?;
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        let err = io::Error::last_os_error();
        libc::close(fd);
        if n != data.len() as isize {
            return Err(err);
        }
    }
    Ok(())
}

// ---- probes and the gateway's own hardening (parent side) ----

/// Run `step` in a forked child and return its result, reported as the child's exit status
/// (0 or an errno). `step` must be async-signal-safe, like [`Hook::run`].
fn in_forked_child(step: impl Fn() -> io::Result<()>) -> io::Result<()> {
    // SAFETY: the child runs only `step` (async-signal-safe by contract) and `_exit`s; the
    // parent reaps it.
    unsafe {
        let pid = libc::fork();
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            libc::_exit(match step() {
                Ok(()) => 0,
                Err(e) => e.raw_os_error().unwrap_or(1).clamp(1, 255),
            });
        }
        let mut status = 0;
        while libc::waitpid(pid, &mut status, 0) < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
        match libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)) {
            Some(0) => Ok(()),
            Some(errno) => Err(io::Error::from_raw_os_error(errno)),
            None => Err(io::Error::other("the probe child was killed")),
        }
    }
}

/// Whether this process may give a child a user namespace of its own that maps its uid and
/// gid (unprivileged user namespaces allowed, not restricted by a security module): tried for
/// real in a forked child.
/// With `netns`, also whether that namespace gives the right to a network namespace (a
/// security module may create user namespaces without capabilities).
pub(super) fn probe_userns(uid: u32, gid: u32, netns: bool) -> io::Result<()> {
    let uid_map = format!("{uid} {uid} 1");
    let gid_map = format!("{gid} {gid} 1");
    in_forked_child(|| {
        // SAFETY: unshare takes an integer.
        check(unsafe { libc::unshare(libc::CLONE_NEWUSER) } as i64)?;
        write_file(c"/proc/self/setgroups", b"deny")?;
        write_file(c"/proc/self/uid_map", uid_map.as_bytes())?;
        write_file(c"/proc/self/gid_map", gid_map.as_bytes())?;
        if netns {
            // SAFETY: as above.
            check(unsafe { libc::unshare(libc::CLONE_NEWNET) } as i64)?;
        }
        Ok(())
    })
}

/// Whether a child can install `filter` (a kernel with `CONFIG_SECCOMP_FILTER`, not refused by
/// an outer filter): tried for real in a forked child, after `no_new_privs` as in the hook.
pub(super) fn probe_seccomp(filter: &[libc::sock_filter]) -> io::Result<()> {
    in_forked_child(|| {
        // SAFETY: prctl with integer arguments.
        check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } as i64)?;
        install_seccomp(filter)
    })
}

/// Root: whether a child can get a network namespace (`CAP_SYS_ADMIN`; not in a default
/// container, whose seccomp profile and capabilities refuse it): tried in a forked child.
pub(super) fn probe_netns() -> io::Result<()> {
    // SAFETY: unshare takes an integer.
    in_forked_child(|| check(unsafe { libc::unshare(libc::CLONE_NEWNET) } as i64))
}

/// Whether a child can get a mount namespace with a `/proc` of its own (root with
/// `CAP_SYS_ADMIN`; not in a default container): tried for real in a forked child.
pub(super) fn probe_private_proc() -> io::Result<()> {
    in_forked_child(mount_private_proc)
}

/// Mark the gateway non-dumpable: its `/proc/<pid>/environ`, `maps`, `mem` and the like then
/// belong to root and need `CAP_SYS_PTRACE`, so its children cannot read its secrets even when
/// they run as its uid. (No core dumps of the gateway either.)
pub(super) fn make_gateway_undumpable() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } as i64)
}

// ---- landlock system calls (parent side) ----

/// `struct landlock_ruleset_attr` (ABI 6 layout; the kernel accepts a larger struct whose
/// unknown fields are zero, and reads only what it knows).
#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

/// `struct landlock_path_beneath_attr` (packed in the kernel's UAPI).
#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
const LANDLOCK_RULE_PATH_BENEATH: u32 = 1;

/// The landlock ABI version of the running kernel, `None` when landlock is unavailable.
pub(super) fn landlock_abi() -> Option<u32> {
    // SAFETY: the documented probe: NULL attributes, size 0, the VERSION flag.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    (ret > 0).then_some(ret as u32)
}

/// A new ruleset handling `fs` access rights and `scoped` scopes (the fd is close-on-exec).
/// `scoped` needs ABI 6; pass 0 below it (the struct is then sent in its 16-byte form).
pub(super) fn landlock_ruleset(fs: u64, scoped: u64) -> io::Result<OwnedFd> {
    let attr = RulesetAttr {
        handled_access_fs: fs,
        handled_access_net: 0,
        scoped,
    };
    let size = if scoped == 0 {
        16
    } else {
        size_of::<RulesetAttr>()
    };
    // SAFETY: `attr` is a valid ruleset_attr of at least `size` bytes.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const RulesetAttr,
            size,
            0u32,
        )
    };
    check(fd)?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Allow `access` beneath the file or directory open as `path` (an `O_PATH` fd is enough).
pub(super) fn landlock_allow(
    ruleset: &OwnedFd,
    path: &impl AsRawFd,
    access: u64,
) -> io::Result<()> {
    let attr = PathBeneathAttr {
        allowed_access: access,
        parent_fd: path.as_raw_fd(),
    };
    // SAFETY: `attr` is a valid path_beneath_attr; both fds are open for the call's duration.
    check(unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            LANDLOCK_RULE_PATH_BENEATH,
            &attr as *const PathBeneathAttr,
            0u32,
        )
    })
}
