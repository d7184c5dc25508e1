//! The `syscall` hostile tool: one raw system call of the kernel surface a sandboxed server
//! has no business with (the calls the gateway's seccomp filter denies). Each is made with
//! arguments the kernel answers with something other than `EPERM` when it is reached
//! (`EFAULT` for a null pointer, `ENOENT` for a missing mount point, success for harmless
//! requests), so an `EPERM` answer shows a filter refused the call before the kernel looked.
#![allow(unsafe_code)]

use std::io;

use super::{Outcome, text};

/// The calls the tool makes, by the name its `call` argument takes.
pub const CALLS: &[&str] = &[
    "bpf",
    "perf_event_open",
    "keyctl",
    "userfaultfd",
    "io_uring_setup",
    "unshare_user",
    "clone_user",
    "mount",
];

/// Make the system call `name`; reply what the kernel answered (`"ok <value>"`), or an error
/// naming the OS error.
pub fn call(name: &str) -> Result<Outcome, String> {
    let ret = match name {
        // SAFETY (each arm): the arguments are integers, null pointers (which the kernel
        // rejects with EFAULT) or pointers to static C strings; a returned fd is closed.
        // BPF_MAP_CREATE with a null attribute of 4 KiB: EFAULT once the kernel reads it.
        "bpf" => unsafe { libc::syscall(libc::SYS_bpf, 0, std::ptr::null::<u8>(), 4096) },
        // A null perf_event_attr: EFAULT (copied before any permission check).
        "perf_event_open" => unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                std::ptr::null::<u8>(),
                0,
                -1,
                -1,
                0,
            )
        },
        // KEYCTL_GET_KEYRING_ID of the session keyring, not created: its id, or ENOKEY.
        "keyctl" => unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) },
        // UFFD_USER_MODE_ONLY | O_CLOEXEC: allowed to any user since Linux 5.11.
        "userfaultfd" => {
            closed(unsafe { libc::syscall(libc::SYS_userfaultfd, 1 | libc::O_CLOEXEC) })
        }
        // One entry, null params: EFAULT.
        "io_uring_setup" => unsafe {
            libc::syscall(libc::SYS_io_uring_setup, 1, std::ptr::null::<u8>())
        },
        "unshare_user" => in_fork(|| unsafe { libc::unshare(libc::CLONE_NEWUSER) } as i64)?,
        "clone_user" => clone_user()?,
        // A mount point that does not exist: ENOENT (looked up before the permission check).
        "mount" => unsafe {
            libc::mount(
                c"none".as_ptr(),
                c"/nonexistent-mcp-fixture-mount".as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            ) as i64
        },
        other => {
            return Err(format!(
                "no system call {other:?}: one of {}",
                CALLS.join(", ")
            ));
        }
    };
    if ret < 0 {
        return Err(format!("{name}: {}", io::Error::last_os_error()));
    }
    Ok(text(format!("ok {ret}")))
}

/// Close a returned fd; keep the return value (and errno on failure).
fn closed(ret: i64) -> i64 {
    if ret >= 0 {
        // SAFETY: the kernel just returned this fd to us.
        unsafe { libc::close(ret as i32) };
    }
    ret
}

/// Run `step` in a forked child (a user namespace needs a single-threaded caller) and return
/// its result: 0, or -1 with `errno` set to the child's error.
fn in_fork(step: fn() -> i64) -> Result<i64, String> {
    // SAFETY: the child makes one system call and `_exit`s; the parent reaps it.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", io::Error::last_os_error()));
    }
    if pid == 0 {
        let ret = step();
        let code = if ret < 0 {
            io::Error::last_os_error().raw_os_error().unwrap_or(255)
        } else {
            0
        };
        // SAFETY: ends the forked child.
        unsafe { libc::_exit(code) };
    }
    reap(pid)
}

/// `clone(CLONE_NEWUSER)` as a fork: the way around a filter that only refuses `unshare`.
fn clone_user() -> Result<i64, String> {
    let flags = (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: with a null stack, clone behaves like fork; the child `_exit`s at once.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if pid < 0 {
        return Ok(pid);
    }
    if pid == 0 {
        // SAFETY: ends the cloned child.
        unsafe { libc::_exit(0) };
    }
    reap(pid as libc::pid_t)
}

/// Wait for `pid`; its exit code is 0 or an errno, which becomes `errno` here.
fn reap(pid: libc::pid_t) -> Result<i64, String> {
    let mut status = 0;
    // SAFETY: waits for our own child.
    if unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
        return Err(format!("waitpid: {}", io::Error::last_os_error()));
    }
    if !libc::WIFEXITED(status) {
        return Err(format!("child {pid} was killed (status {status})"));
    }
    match libc::WEXITSTATUS(status) {
        0 => Ok(0),
        errno => {
            // SAFETY: sets this thread's errno.
            unsafe { *libc::__errno_location() = errno };
            Ok(-1)
        }
    }
}
