//! A pids cgroup per child (cgroup v1 `pids` hierarchy): bounds the tasks (processes and
//! threads) of the child's whole tree, whatever uid they run as, and lets the gateway kill every
//! descendant at stop, daemons that left the process group included.
//!
//! Cgroups are created under the gateway's own pids cgroup, in `mcp-gateway/`. The child joins
//! its cgroup itself between fork and exec (by writing `0` to an fd the parent opened), so no
//! task of the child ever runs outside it.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const V1_MOUNT: &str = "/sys/fs/cgroup/pids";

/// The directory new per-child cgroups go in, or why there is none. Probed once.
pub fn base() -> Result<&'static Path, &'static str> {
    static BASE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BASE.get_or_init(probe)
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(String::as_str)
}

fn probe() -> Result<PathBuf, String> {
    let mount = Path::new(V1_MOUNT);
    if !mount.join("cgroup.procs").exists() {
        return Err(format!("no cgroup v1 pids hierarchy at {V1_MOUNT}"));
    }
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let path = own
        .lines()
        .filter_map(|l| {
            let mut fields = l.splitn(3, ':').skip(1);
            fields.next().zip(fields.next())
        })
        .find(|(controllers, _)| controllers.split(',').any(|c| c == "pids"))
        .map(|(_, path)| path.trim_start_matches('/'))
        .ok_or("the gateway is in no pids cgroup")?;
    let base = mount.join(path).join("mcp-gateway");
    std::fs::create_dir_all(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    // It may exist already (made by another gateway): can this one make cgroups in it?
    nix::unistd::access(&base, nix::unistd::AccessFlags::W_OK)
        .map_err(|e| format!("cannot create cgroups in {}: {e}", base.display()))?;
    sweep(&base);
    Ok(base)
}

/// Remove the cgroups of gateways that are gone (a SIGKILLed gateway cannot clean up; its
/// children died by PDEATHSIG, daemons that escaped the group are killed here). Cgroups are
/// named `<gateway pid>-...`; those of a live process are left alone.
fn sweep(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = Path::new("/proc").join(owner.to_string()).exists();
        if !alive && entry.path().is_dir() {
            PidsCgroup { dir: entry.path() }.remove();
        }
    }
}

/// One child's pids cgroup. [`PidsCgroup::remove`] kills what is left in it and removes it.
#[derive(Debug)]
pub struct PidsCgroup {
    dir: PathBuf,
}

impl PidsCgroup {
    /// Create `base/name` with `pids.max = max`; returns it and its `cgroup.procs` opened for
    /// writing (for the child to join).
    pub fn create(base: &Path, name: &str, max: u64) -> io::Result<(Self, OwnedFd)> {
        let dir = base.join(name);
        std::fs::create_dir(&dir)?;
        let setup = || -> io::Result<OwnedFd> {
            std::fs::write(dir.join("pids.max"), max.to_string())?;
            let procs = std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))?;
            Ok(procs.into())
        };
        match setup() {
            Ok(procs) => Ok((Self { dir }, procs)),
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                Err(e)
            }
        }
    }

    /// SIGKILL every task in the cgroup until it is empty (bounded: the pids limit bounds how
    /// many can appear between two passes).
    pub fn kill_all(&self) -> usize {
        let mut killed = 0;
        for _ in 0..100 {
            let pids = self.pids();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                    killed += 1;
                }
            }
            std::thread::yield_now();
        }
        killed
    }

    fn pids(&self) -> Vec<i32> {
        std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Kill what is left and remove the cgroup. Killed tasks leave the cgroup as they exit,
    /// which can take a moment: if it is still busy, a short-lived thread retries.
    pub fn remove(self) {
        let killed = self.kill_all();
        if killed > 0 {
            tracing::debug!(cgroup = %self.dir.display(), killed, "killed what was left in the child's cgroup");
        }
        if std::fs::remove_dir(&self.dir).is_ok() {
            return;
        }
        let dir = self.dir;
        let spawned = std::thread::Builder::new()
            .name("cgroup-rmdir".into())
            .spawn(move || {
                let cgroup = PidsCgroup { dir };
                for _ in 0..200 {
                    cgroup.kill_all();
                    match std::fs::remove_dir(&cgroup.dir) {
                        Ok(()) => return,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
                tracing::warn!(cgroup = %cgroup.dir.display(), "cannot remove the child's cgroup");
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the cgroup cleanup thread");
        }
    }
}
