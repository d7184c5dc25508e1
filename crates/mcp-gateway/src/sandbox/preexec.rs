//! Code that runs in the child between fork and exec.
//!
//! Everything here must be async-signal-safe: the gateway is multi-threaded, so after fork only
//! the forking thread exists and any lock another thread held stays locked forever. The closure
//! below therefore only makes raw syscalls (`prctl`, `getppid`, `setrlimit`) on values computed
//! in the parent before the fork: no allocation, no locks, no logging, no panics.
#![allow(unsafe_code)]

use crate::config::ResourceLimits;

/// Resource limits precomputed in the parent.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    cpu_seconds: libc::rlim_t,
    data_bytes: libc::rlim_t,
    processes: libc::rlim_t,
    file_bytes: libc::rlim_t,
}

impl Limits {
    pub fn from_config(cfg: &ResourceLimits) -> Self {
        Self {
            cpu_seconds: cfg.cpu_seconds as libc::rlim_t,
            data_bytes: (cfg.memory_mb as libc::rlim_t).saturating_mul(1024 * 1024),
            processes: cfg.max_processes as libc::rlim_t,
            file_bytes: (cfg.max_file_size_mb as libc::rlim_t).saturating_mul(1024 * 1024),
        }
    }
}

/// Install the pre-exec hook on `cmd`.
pub fn install(cmd: &mut tokio::process::Command, limits: Option<Limits>) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure only calls async-signal-safe libc functions (prctl, getppid,
    // setrlimit, _exit) on plain integers captured by value; it does not allocate, lock or
    // unwind.
    unsafe {
        cmd.pre_exec(move || {
            // Die with the gateway, even if it is SIGKILLed.
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // The gateway may have died between fork and prctl: then nobody would kill us.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(l) = limits {
                set(libc::RLIMIT_CPU, l.cpu_seconds)?;
                set(libc::RLIMIT_DATA, l.data_bytes)?;
                set(libc::RLIMIT_NPROC, l.processes)?;
                set(libc::RLIMIT_FSIZE, l.file_bytes)?;
                set(libc::RLIMIT_CORE, 0)?;
            }
            Ok(())
        });
    }
}

fn set(resource: libc::__rlimit_resource_t, value: libc::rlim_t) -> std::io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: setrlimit is async-signal-safe and `lim` lives on this stack frame.
    if unsafe { libc::setrlimit(resource, &lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
