//! The one module with `unsafe` code: the hook that runs in the child between fork and exec,
//! and the three landlock system calls (which `libc` exposes only as raw syscall numbers).
//!
//! # Why the hook is sound
//! The gateway is multi-threaded, so after `fork` only the forking thread exists and any lock
//! another thread held stays locked forever. [`Hook::run`] therefore only makes raw system calls
//! (`write`, `setrlimit`, `unshare`, `open`, `close`, `setgroups`, `setgid`, `setuid`, `prctl`,
//! `getppid`, `landlock_restrict_self`, `_exit`) on values the parent computed before the fork
//! (file descriptors, integers, byte strings, `c"..."` literals): no allocation, no locks, no
//! logging, no panics. `io::Error::last_os_error` only reads `errno` into an integer.
//!
//! # Order of the steps, and why
//! 1. join the pids cgroup (needs the gateway's privileges, so first);
//! 2. resource limits;
//! 3. the network namespace (as root: `unshare(CLONE_NEWNET)`; otherwise a user namespace that
//!    maps the child's own uid/gid, which grants the right to create the network namespace);
//! 4. drop privileges (`setgroups([])`, `setgid`, `setuid`: gid before uid, or it is not allowed);
//! 5. the parent-death signal: the kernel clears it whenever the credentials change (steps 3
//!    and 4), so it is set after them; then `getppid` catches a gateway that died before it was
//!    set. No PID namespace is created, so `getppid` is the gateway's pid, never 0;
//! 6. `no_new_privs` (required by landlock for an unprivileged caller, and wanted anyway);
//! 7. landlock `restrict_self` last, so the steps above may still open `/proc/self/*`.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Resource limits, precomputed in the parent. `None` leaves a limit alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub cpu_seconds: Option<libc::rlim_t>,
    pub data_bytes: Option<libc::rlim_t>,
    pub file_bytes: Option<libc::rlim_t>,
    pub processes: Option<libc::rlim_t>,
}

/// How to get a private network namespace.
#[derive(Debug)]
pub enum NetNs {
    /// `unshare(CLONE_NEWNET)` directly (the gateway has CAP_SYS_ADMIN).
    Direct,
    /// `unshare(CLONE_NEWUSER | CLONE_NEWNET)`, then map the child's uid/gid to themselves.
    ViaUserNs { uid_map: Vec<u8>, gid_map: Vec<u8> },
}

/// Everything the child does before exec, computed in the parent.
#[derive(Debug)]
pub struct Hook {
    /// The gateway's pid: the child checks it is still its parent after arming PDEATHSIG.
    pub parent: libc::pid_t,
    /// An open `cgroup.procs` of the child's own pids cgroup.
    pub cgroup_procs: Option<OwnedFd>,
    pub limits: Option<Limits>,
    pub netns: Option<NetNs>,
    /// `(uid, gid)` to switch to; supplementary groups are cleared.
    pub drop_to: Option<(libc::uid_t, libc::gid_t)>,
    /// A landlock ruleset to enforce.
    pub landlock: Option<OwnedFd>,
}

/// Install `hook` as the command's pre-exec step.
pub fn install(cmd: &mut tokio::process::Command, hook: Hook) {
    // SAFETY: `Hook::run` is async-signal-safe (see the module documentation): it only makes
    // raw system calls on data owned by `hook`, which the closure owns and never mutates.
    unsafe {
        cmd.pre_exec(move || hook.run());
    }
}

impl Hook {
    /// Runs in the forked child. Async-signal-safe only: see the module documentation.
    fn run(&self) -> io::Result<()> {
        // SAFETY (whole body): plain system calls on integers, on pointers to data that lives
        // as long as `self`, and on static C strings.
        unsafe {
            if let Some(fd) = &self.cgroup_procs {
                // "0" means the writing process.
                check(libc::write(fd.as_raw_fd(), c"0".as_ptr().cast(), 1) as i64)?;
            }
            if let Some(l) = &self.limits {
                set_limit(libc::RLIMIT_CORE, Some(0))?;
                set_limit(libc::RLIMIT_CPU, l.cpu_seconds)?;
                set_limit(libc::RLIMIT_DATA, l.data_bytes)?;
                set_limit(libc::RLIMIT_FSIZE, l.file_bytes)?;
                set_limit(libc::RLIMIT_NPROC, l.processes)?;
            }
            match &self.netns {
                None => {}
                Some(NetNs::Direct) => check(libc::unshare(libc::CLONE_NEWNET) as i64)?,
                Some(NetNs::ViaUserNs { uid_map, gid_map }) => {
                    check(libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) as i64)?;
                    write_file(c"/proc/self/setgroups", b"deny")?;
                    write_file(c"/proc/self/uid_map", uid_map)?;
                    write_file(c"/proc/self/gid_map", gid_map)?;
                }
            }
            if let Some((uid, gid)) = self.drop_to {
                check(libc::setgroups(0, std::ptr::null()) as i64)?;
                check(libc::setgid(gid) as i64)?;
                check(libc::setuid(uid) as i64)?;
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
        }
        Ok(())
    }
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
pub fn landlock_abi() -> Option<u32> {
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
pub fn landlock_ruleset(fs: u64, scoped: u64) -> io::Result<OwnedFd> {
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
pub fn landlock_allow(ruleset: &OwnedFd, path: &impl AsRawFd, access: u64) -> io::Result<()> {
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
