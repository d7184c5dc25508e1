//! A pids cgroup per child, on cgroup v1 (the `pids` hierarchy) or cgroup v2 (the unified
//! hierarchy with the `pids` controller): bounds the tasks (processes and threads) of the
//! child's whole tree, whatever uid they run as, and lets the gateway kill every descendant at
//! stop, daemons that left the process group included.
//!
//! Where the per-child cgroups go (the *base*), probed once:
//! - v1: `mcp-gateway/` under the gateway's own pids cgroup.
//! - v2: `mcp-gateway/` under a cgroup the gateway may manage. v2 forbids processes in a
//!   cgroup that hands controllers to its children (except in the root cgroup), so the
//!   gateway's own cgroup qualifies when it is the root cgroup, or when the gateway is its
//!   only process: the gateway then moves itself into a leaf `gateway/` beside the base and
//!   enables `pids` in its cgroup's `cgroup.subtree_control` (a systemd unit or scope with
//!   `Delegate=yes`, a container with a writable cgroup namespace, root on a host). Otherwise
//!   the nearest writable ancestor that already hands `pids` to its children is used (root
//!   started from a login shell, whose scope holds the shell too).
//!
//! The child joins its cgroup itself before its exec (by writing `0` to a
//! `cgroup.procs` the parent opened), so no task of the child ever runs outside it.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const V1_MOUNT: &str = "/sys/fs/cgroup/pids";
const V2_MOUNT: &str = "/sys/fs/cgroup";
const BASE_NAME: &str = "mcp-gateway";

/// Which cgroup version the base lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// The directory new per-child cgroups go in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    pub dir: PathBuf,
    pub version: Version,
}

/// The base, or why there is none. Probed once (the first probe may move the gateway into a
/// leaf cgroup, see the module documentation).
pub(super) fn base() -> Result<&'static Base, &'static str> {
    static BASE: OnceLock<Result<Base, String>> = OnceLock::new();
    BASE.get_or_init(probe).as_ref().map_err(String::as_str)
}

fn probe() -> Result<Base, String> {
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let v1 = if Path::new(V1_MOUNT).join("cgroup.procs").exists() {
        match probe_v1(&own) {
            Ok(base) => return Ok(base),
            Err(why) => Some(why),
        }
    } else {
        None
    };
    let v2 = if Path::new(V2_MOUNT).join("cgroup.controllers").exists() {
        match probe_v2(&own) {
            Ok(base) => return Ok(base),
            Err(why) => Some(why),
        }
    } else {
        None
    };
    Err(match (v1, v2) {
        (Some(v1), Some(v2)) => format!("cgroup v1: {v1}; cgroup v2: {v2}"),
        (Some(why), None) | (None, Some(why)) => why,
        (None, None) => {
            format!("no cgroup v1 pids hierarchy at {V1_MOUNT} and no cgroup v2 at {V2_MOUNT}")
        }
    })
}

fn probe_v1(own: &str) -> Result<Base, String> {
    let path = own
        .lines()
        .filter_map(|l| {
            let mut fields = l.splitn(3, ':').skip(1);
            fields.next().zip(fields.next())
        })
        .find(|(controllers, _)| controllers.split(',').any(|c| c == "pids"))
        .map(|(_, path)| path.trim_start_matches('/'))
        .ok_or("the gateway is in no cgroup v1 pids cgroup")?;
    let dir = Path::new(V1_MOUNT).join(path).join(BASE_NAME);
    make_base_dir(&dir)?;
    Ok(Base {
        dir,
        version: Version::V1,
    })
}

/// `dir` exists (made now, or by another gateway) and this gateway can make cgroups in it.
fn make_base_dir(dir: &Path) -> Result<(), String> {
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
    }
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK)
        .map_err(|e| format!("cannot create cgroups in {}: {e}", dir.display()))?;
    sweep(dir);
    Ok(())
}

/// The gateway's own cgroup v2 path (the `0::` line), relative to the mount.
fn own_v2_path(own: &str) -> Option<&str> {
    own.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim_start_matches('/'))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn has_word(text: &str, word: &str) -> bool {
    text.split_whitespace().any(|w| w == word)
}

fn writable(path: &Path) -> bool {
    nix::unistd::access(path, nix::unistd::AccessFlags::W_OK).is_ok()
}

fn probe_v2(own: &str) -> Result<Base, String> {
    let mount = Path::new(V2_MOUNT);
    let rel = own_v2_path(own).ok_or("the gateway is in no cgroup v2 cgroup")?;
    let own_dir = mount.join(rel);
    let mut reasons = Vec::new();
    match delegate_own(&own_dir) {
        Ok(()) => {
            let dir = own_dir.join(BASE_NAME);
            make_base_dir(&dir)?;
            enable_pids(&dir)?;
            return Ok(Base {
                dir,
                version: Version::V2,
            });
        }
        Err(why) => reasons.push(why),
    }
    // An ancestor that already hands `pids` to its children, and that this gateway may write.
    let mut dir = own_dir.parent();
    while let Some(ancestor) = dir.filter(|d| d.starts_with(mount)) {
        if has_word(&read(&ancestor.join("cgroup.subtree_control")), "pids") && writable(ancestor) {
            let base = ancestor.join(BASE_NAME);
            if make_base_dir(&base).is_ok() && enable_pids(&base).is_ok() {
                tracing::info!(base = %base.display(), own = %own_dir.display(), "per-child cgroups go under an ancestor of the gateway's cgroup (its own holds other processes)");
                return Ok(Base {
                    dir: base,
                    version: Version::V2,
                });
            }
        }
        dir = ancestor.parent();
    }
    reasons.push("no ancestor cgroup that hands out pids is writable".into());
    Err(format!("cgroup v2: {}", reasons.join("; ")))
}

/// Make the gateway's own cgroup `own` hand the `pids` controller to its children: in the root
/// cgroup directly; elsewhere only when the gateway is its only process, after moving the
/// gateway into a leaf `gateway/`.
fn delegate_own(own: &Path) -> Result<(), String> {
    let shown = own.display();
    if !has_word(&read(&own.join("cgroup.controllers")), "pids") {
        return Err(format!(
            "the pids controller is not available in {shown} (not delegated)"
        ));
    }
    if !writable(own) || !writable(&own.join("cgroup.subtree_control")) {
        return Err(format!(
            "{shown} is not writable (read-only cgroup filesystem or not delegated)"
        ));
    }
    // The root cgroup has no cgroup.type and may hold processes and controllers at once.
    let is_root = !own.join("cgroup.type").exists();
    let subtree = own.join("cgroup.subtree_control");
    if is_root || has_word(&read(&subtree), "pids") {
        return if is_root { enable_pids(own) } else { Ok(()) };
    }
    let me = std::process::id().to_string();
    let others: Vec<String> = read(&own.join("cgroup.procs"))
        .lines()
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != me)
        .map(str::to_owned)
        .collect();
    if !others.is_empty() {
        return Err(format!(
            "{shown} holds other processes too ({}), so it cannot hand pids to child cgroups",
            others.join(", ")
        ));
    }
    let leaf = own.join("gateway");
    match std::fs::create_dir(&leaf) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", leaf.display())),
    }
    std::fs::write(leaf.join("cgroup.procs"), &me)
        .map_err(|e| format!("cannot move the gateway into {}: {e}", leaf.display()))?;
    tracing::info!(leaf = %leaf.display(), "moved the gateway into a leaf cgroup, to manage per-child cgroups beside it");
    enable_pids(own)
}

/// Write `+pids` to `dir/cgroup.subtree_control` unless it is there already.
fn enable_pids(dir: &Path) -> Result<(), String> {
    let control = dir.join("cgroup.subtree_control");
    if has_word(&read(&control), "pids") {
        return Ok(());
    }
    std::fs::write(&control, "+pids")
        .map_err(|e| format!("cannot enable pids in {}: {e}", control.display()))
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
            .and_then(|n| n.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
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
pub(super) struct PidsCgroup {
    dir: PathBuf,
}

impl PidsCgroup {
    /// Create `base/name` with `pids.max = max`; returns it and its `cgroup.procs` opened for
    /// writing (for the child to join).
    pub(super) fn create(base: &Base, name: &str, max: u64) -> io::Result<(Self, OwnedFd)> {
        let dir = base.dir.join(name);
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

    /// SIGKILL every task in the cgroup until it is empty: `cgroup.kill` where the kernel has it
    /// (v2, Linux ≥ 5.14: atomic, forks included), else pid by pid (bounded: the pids limit
    /// bounds how many can appear between two passes).
    pub(super) fn kill_all(&self) -> usize {
        let pids = self.pids();
        if pids.is_empty() {
            return 0;
        }
        if std::fs::write(self.dir.join("cgroup.kill"), "1").is_ok() {
            return pids.len();
        }
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
        read(&self.dir.join("cgroup.procs"))
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Kill what is left and remove the cgroup. Killed tasks leave the cgroup as they exit,
    /// which can take a moment: if it is still busy, a short-lived thread retries.
    pub(super) fn remove(self) {
        let killed = self.kill_all();
        if killed > 0 {
            tracing::debug!(cgroup = %self.dir.display(), killed, "killed what was left in the child's cgroup");
        }
        if std::fs::remove_dir(&self.dir).is_ok() {
            return;
        }
        let dir = self.dir;
        PENDING.add(1);
        let spawned = std::thread::Builder::new()
            .name("cgroup-rmdir".into())
            .spawn(move || {
                let cgroup = PidsCgroup { dir };
                retry_remove(&cgroup);
                PENDING.add(-1);
            });
        if let Err(e) = spawned {
            PENDING.add(-1);
            tracing::warn!(error = %e, "cannot start the cgroup cleanup thread");
        }
    }
}

fn retry_remove(cgroup: &PidsCgroup) {
    for _ in 0..200 {
        cgroup.kill_all();
        match std::fs::remove_dir(&cgroup.dir) {
            Ok(()) => return,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return,
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    tracing::warn!(cgroup = %cgroup.dir.display(), "cannot remove the child's cgroup");
}

/// Cgroup removals still retrying in a thread of their own (killed tasks leave a cgroup as
/// they exit, a moment after the child that owned it was reaped).
static PENDING: Pending = Pending {
    count: Mutex::new(0),
    done: Condvar::new(),
};

struct Pending {
    count: Mutex<isize>,
    done: Condvar,
}

impl Pending {
    fn add(&self, n: isize) {
        let mut count = self.count.lock().expect("pending cgroups lock");
        *count += n;
        if *count <= 0 {
            self.done.notify_all();
        }
    }
}

/// Wait, at most `max`, until every cgroup removal retrying in the background is done: at
/// shutdown, so the gateway leaves no cgroup behind. True if none is left.
pub(super) fn wait_for_removals(max: Duration) -> bool {
    let deadline = Instant::now() + max;
    let mut count = PENDING.count.lock().expect("pending cgroups lock");
    while *count > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        count = PENDING
            .done
            .wait_timeout(count, left)
            .expect("pending cgroups lock")
            .0;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v2_path_comes_from_the_unified_line() {
        let own = "12:pids:/a\n0::/system.slice/mcp.service\n";
        assert_eq!(own_v2_path(own), Some("system.slice/mcp.service"));
        assert_eq!(own_v2_path("0::/\n"), Some(""));
        assert_eq!(own_v2_path("3:pids:/\n"), None);
    }

    #[test]
    fn words_of_a_controller_list() {
        assert!(has_word("cpu io memory pids\n", "pids"));
        assert!(!has_word("cpu io memory\n", "pids"));
        assert!(!has_word("", "pids"));
    }
}
