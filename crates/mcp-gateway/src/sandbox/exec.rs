//! The second module with `unsafe` code: starting the child. The first, `preexec`, holds what
//! the child does to itself before `execve` ([`Hook::run`]); this one makes the child run it,
//! then `execve`s the program, and opens the child's pidfd.
//!
//! # Two ways to start a child
//! - **Shared memory** (`clone(CLONE_VM | CLONE_VFORK)`, as glibc's `posix_spawn`): the child
//!   runs on a small stack of its own in the gateway's address space, and the calling thread
//!   sleeps until the child has exec'd or exited. Nothing is copied, so the cost does not grow
//!   with the gateway's memory (a `fork` copies the page tables of the whole multi-threaded
//!   gateway and tears the copy down again at `execve`). Used for every plan but a user
//!   namespace's.
//! - **Fork**: a plain `fork`, for a plan with a user namespace of the child's own. Its maps are
//!   written by the child in `/proc/self`, which needs `PR_SET_DUMPABLE 1` on the child's memory
//!   first (the gateway is not dumpable): with shared memory that would make the *gateway*
//!   dumpable while the child runs.
//!
//! # Why it is sound
//! Both children run only [`child_main`]: raw system calls on values prepared in the parent
//! (C strings and pointer arrays for `execve`, file descriptors, the [`Hook`]), no allocation,
//! no locks, no panics. With shared memory the child also writes nothing the parent owns: its
//! stack is a mapping of its own, `errno` (the parent thread's, which sleeps) is the only
//! shared variable it touches, and it never calls a libc function that consults the threads
//! of the process (glibc's `setuid` & co. signal every thread of the *gateway*: the hook makes
//! those three calls as raw system calls). Every signal is blocked in the calling thread
//! around the clone, so no handler of the gateway runs in the child on the gateway's memory;
//! the child resets every caught signal to its default before unblocking (as `posix_spawn`
//! does). An exec failure is reported over a close-on-exec pipe as a 4-byte errno.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::preexec::Hook;

/// What to exec, prepared in the parent: the child only reads it.
pub(super) struct Program {
    /// Paths to try in order (a `PATH` search done as `execvp` does, on the child's `PATH`).
    candidates: Vec<CString>,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: Option<CString>,
}

impl Program {
    /// `program` is run as `argv[0]`; without a `/` it is searched in `path` (the child's
    /// `PATH`; glibc's default when `None`), like `execvp`.
    pub(super) fn new(
        program: &std::path::Path,
        args: &[String],
        env: &std::collections::BTreeMap<String, String>,
        path: Option<&str>,
        cwd: Option<&std::path::Path>,
    ) -> io::Result<Self> {
        use std::os::unix::ffi::OsStrExt;
        let c =
            |s: &[u8]| CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput));
        let program = program.as_os_str().as_bytes();
        let candidates = if program.contains(&b'/') {
            vec![c(program)?]
        } else {
            path.unwrap_or("/bin:/usr/bin")
                .split(':')
                .map(|dir| {
                    let dir = dir.as_bytes();
                    match dir {
                        [] => c(program),
                        dir => c(&[dir, b"/", program].concat()),
                    }
                })
                .collect::<io::Result<_>>()?
        };
        let argv = std::iter::once(program)
            .chain(args.iter().map(|a| a.as_bytes()))
            .map(c)
            .collect::<io::Result<_>>()?;
        let envp = env
            .iter()
            .map(|(k, v)| c(format!("{k}={v}").as_bytes()))
            .collect::<io::Result<_>>()?;
        let cwd = cwd.map(|d| c(d.as_os_str().as_bytes())).transpose()?;
        Ok(Self {
            candidates,
            argv,
            envp,
            cwd,
        })
    }
}

/// How to start the child (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    SharedMemory,
    Fork,
}

/// A child that has exec'd: its pid, pidfd (`None` on a kernel without `pidfd_open`) and the
/// parent's ends of its stdin, stdout and stderr pipes.
pub(super) struct Started {
    pub(super) pid: u32,
    pub(super) pidfd: Option<OwnedFd>,
    pub(super) stdin: OwnedFd,
    pub(super) stdout: OwnedFd,
    pub(super) stderr: OwnedFd,
}

/// What the child reads: pointers into the parent's [`Program`] and [`Hook`], which outlive
/// the child's use of them (the parent waits for the exec before it drops either).
struct ChildArgs<'a> {
    program: &'a Program,
    argv: &'a [*const libc::c_char],
    envp: &'a [*const libc::c_char],
    hook: &'a Hook,
    /// The child's ends: stdin, stdout, stderr.
    stdio: [RawFd; 3],
    /// Write end of the error pipe.
    report: RawFd,
}

/// Signals are 1..=64 on Linux.
const NSIG: libc::c_int = 65;

/// Stack of a shared-memory child: the hook's frames are small.
const CHILD_STACK: usize = 128 * 1024;

/// Start `program` with `hook` applied before its `execve`; returns once it has exec'd.
pub(super) fn spawn(program: &Program, hook: &Hook, start: Start) -> io::Result<Started> {
    let (stdin_r, stdin_w) = pipe()?;
    let (stdout_r, stdout_w) = pipe()?;
    let (stderr_r, stderr_w) = pipe()?;
    let (report_r, report_w) = pipe()?;
    let pointers = |strings: &[CString]| -> Vec<*const libc::c_char> {
        strings
            .iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    };
    let argv = pointers(&program.argv);
    let envp = pointers(&program.envp);
    let args = ChildArgs {
        program,
        argv: &argv,
        envp: &envp,
        hook,
        stdio: [
            stdin_r.as_raw_fd(),
            stdout_w.as_raw_fd(),
            stderr_w.as_raw_fd(),
        ],
        report: report_w.as_raw_fd(),
    };
    let pid = {
        let _blocked = BlockSignals::all()?;
        match start {
            Start::SharedMemory => clone_vfork(&args)?,
            Start::Fork => fork(&args)?,
        }
    };
    drop((stdin_r, stdout_w, stderr_w, report_w));
    if let Some(errno) = read_report(&report_r) {
        reap(pid);
        return Err(io::Error::from_raw_os_error(errno));
    }
    Ok(Started {
        pid: pid as u32,
        pidfd: pidfd_open(pid).ok(),
        stdin: stdin_w,
        stdout: stdout_r,
        stderr: stderr_r,
    })
}

/// A close-on-exec pipe whose ends are never 0, 1 or 2 (so the child's `dup2`s onto those
/// cannot clobber one another, even in a gateway started with a standard stream closed).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: the kernel just returned these; nobody else owns them.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((above_stdio(r)?, above_stdio(w)?))
}

fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: duplicating an open descriptor we own.
    let dup = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    check(dup)?;
    // SAFETY: the kernel just returned it.
    Ok(unsafe { OwnedFd::from_raw_fd(dup) })
}

/// Every signal blocked in the calling thread until drop (the previous mask is restored).
struct BlockSignals(libc::sigset_t);

impl BlockSignals {
    fn all() -> io::Result<Self> {
        // SAFETY: sigset_t is plain data, filled by sigfillset; pthread_sigmask writes `old`.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            let err = libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            if err != 0 {
                return Err(io::Error::from_raw_os_error(err));
            }
            Ok(Self(old))
        }
    }
}

impl Drop for BlockSignals {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by `all`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }
}

/// `clone(CLONE_VM | CLONE_VFORK)` on a fresh stack (with a guard page below it); returns
/// once the child has exec'd or exited.
fn clone_vfork(args: &ChildArgs<'_>) -> io::Result<libc::pid_t> {
    // SAFETY: a private anonymous mapping, unmapped below after the child is done with it
    // (CLONE_VFORK: the clone returns only after the child's exec or exit).
    unsafe {
        let page = 4096;
        let len = CHILD_STACK + page;
        let stack = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        );
        if stack == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        libc::mprotect(stack, page, libc::PROT_NONE);
        // The stack grows down from the end of the mapping (16-byte aligned: page aligned).
        let top = stack.cast::<u8>().add(len).cast();
        let pid = libc::clone(
            child_main,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (args as *const ChildArgs<'_>).cast_mut().cast(),
        );
        let err = io::Error::last_os_error();
        libc::munmap(stack, len);
        if pid < 0 {
            return Err(err);
        }
        Ok(pid)
    }
}

fn fork(args: &ChildArgs<'_>) -> io::Result<libc::pid_t> {
    // SAFETY: the child runs only `child_main`, which never returns (see the module docs).
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        child_main((args as *const ChildArgs<'_>).cast_mut().cast());
    }
    check(pid)?;
    Ok(pid)
}

/// The child: set up, exec, or report why not and `_exit(127)`. Never returns.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `ChildArgs`, alive until the child execs or exits; the
    // rest is raw system calls (module documentation).
    unsafe {
        let args = &*(arg as *const ChildArgs<'_>);
        let err = set_up_and_exec(args);
        let errno = err.raw_os_error().unwrap_or(libc::EINVAL).to_ne_bytes();
        libc::write(args.report, errno.as_ptr().cast(), errno.len());
        libc::_exit(127)
    }
}

/// Returns only on failure.
unsafe fn set_up_and_exec(args: &ChildArgs<'_>) -> io::Error {
    // SAFETY: raw system calls on the parent's prepared values.
    unsafe {
        // Default dispositions for every caught signal (SIGPIPE too, which Rust ignores),
        // then unblock all: the gateway's handlers must never run here.
        for sig in 1..NSIG {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && (old.sa_sigaction != libc::SIG_IGN || sig == libc::SIGPIPE)
                && old.sa_sigaction != libc::SIG_DFL
            {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());

        for (target, &fd) in args.stdio.iter().enumerate() {
            if libc::dup2(fd, target as RawFd) < 0 {
                return io::Error::last_os_error();
            }
        }
        if libc::setpgid(0, 0) < 0 {
            return io::Error::last_os_error();
        }
        if let Some(cwd) = &args.program.cwd
            && libc::chdir(cwd.as_ptr()) < 0
        {
            return io::Error::last_os_error();
        }
        if let Err(e) = args.hook.run() {
            return e;
        }
        // execvp's search: on to the next candidate while the file is not there; EACCES is
        // remembered and wins over a later ENOENT.
        let mut err = libc::ENOENT;
        for path in &args.program.candidates {
            libc::execve(path.as_ptr(), args.argv.as_ptr(), args.envp.as_ptr());
            match io::Error::last_os_error().raw_os_error().unwrap_or(0) {
                libc::EACCES => err = libc::EACCES,
                libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
                other => return io::Error::from_raw_os_error(other),
            }
        }
        io::Error::from_raw_os_error(err)
    }
}

/// The child's errno, if it reported one before exiting (EOF: it exec'd).
fn read_report(fd: &OwnedFd) -> Option<i32> {
    let mut buf = [0u8; 4];
    loop {
        // SAFETY: reading into a 4-byte buffer we own.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        return (n == 4).then(|| i32::from_ne_bytes(buf));
    }
}

/// Reap a child that failed before its exec.
fn reap(pid: libc::pid_t) {
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
}

/// A pidfd of our own unreaped child (its pid cannot be reused before we reap it).
fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; the fd it returns is close-on-exec.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0u32) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Register a pidfd with the runtime's reactor (readable once the child has exited).
pub(super) fn watch_pidfd(fd: OwnedFd) -> io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    // SAFETY: an `OwnedFd` is open and keeps its one descriptor until the `AsyncFd` drops it.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(io::Error::from)
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
