//! A distinct uid (and gid) per child, for a gateway that runs as root.
//!
//! Children of different sessions then cannot read each other's `/proc/<pid>/environ`, `maps`
//! or `cmdline`, cannot ptrace or signal each other or the gateway (plain Unix permissions),
//! and `RLIMIT_NPROC` — counted per uid — bounds each child's tree on its own: the process
//! bound where no pids cgroup can be made (a default `docker run`, whose cgroup filesystem is
//! read-only).
//!
//! Uids come from `session.child_uids` (default 60000–60999). A uid is leased by one child
//! at a time: within the gateway by the free list, across gateways on the same kernel by an
//! exclusive lock on byte `uid` of one file, `<lock dir>/uids.lock`, held as long as the lease
//! (an open file description lock: the kernel drops it if the gateway dies; one descriptor
//! for every lease, where a lock file per uid cost a descriptor per child). A uid that names a user in the user database is never used, nor one that
//! owned a process when it was vetted for a first lease: one `/proc` scan vets the next
//! [`VET_BATCH`] fresh uids at once, for at most [`VETTED_FOR`] (a scan per lease cost a read of
//! every process's `status`, so a spawn grew slower with every live child). At release every process of the uid is
//! SIGKILLed, and the uid goes back to the free list only once no process of it is left
//! (zombies included).

use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::ops::RangeInclusive;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, fcntl};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub(super) use crate::config::DEFAULT_CHILD_UIDS as DEFAULT_RANGE;

/// Fresh uids vetted by one `/proc` scan (see the module documentation).
const VET_BATCH: usize = 128;
/// How long a vetted uid may wait for its first lease before it is vetted again.
const VETTED_FOR: Duration = Duration::from_secs(1);

/// Where the cross-gateway lock file lives.
const LOCK_DIRS: &[&str] = &["/run/mcp-gateway/uids", "/tmp/mcp-gateway-uids"];

/// One child's uid (its gid is the same number), held until [`Lease::release`].
#[derive(Debug)]
pub(super) struct Lease {
    pub uid: u32,
    /// The lock file whose byte `uid` this lease holds, until released.
    lock: Option<Arc<LockFile>>,
}

impl Lease {
    /// Give the uid back at once: the caller killed every process of it (its pids cgroup held
    /// them all — the uid is leased to one child, whose tree cannot leave its cgroup — and
    /// `cgroup.kill` or the pid-by-pid kill has SIGKILLed each, which can never again run
    /// code). Saves the `/proc` scan of [`Lease::release`].
    pub(super) fn release_killed(self) {
        pool().give_back(self);
    }

    /// Kill every process of the uid (in a short-lived thread when one pass is not enough)
    /// and give the uid back once none is left.
    pub(super) fn release(self) {
        if kill_uid(self.uid) {
            pool().give_back(self);
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("uid-release".into())
            .spawn(move || {
                for attempt in 0..600u64 {
                    std::thread::sleep(Duration::from_millis(10 * attempt.min(10)));
                    if kill_uid(self.uid) {
                        pool().give_back(self);
                        return;
                    }
                }
                tracing::warn!(
                    uid = self.uid,
                    "processes of a child's uid outlive every SIGKILL; the uid is not reused"
                );
                std::mem::forget(self);
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the uid release thread; the uid is not reused");
        }
    }
}

#[derive(Debug)]
struct Pool {
    range: Mutex<Option<RangeInclusive<u32>>>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Uids this gateway leased before and got back clean: no scan needed to reuse them.
    clean: VecDeque<u32>,
    /// Fresh uids that owned no process and named no user at `vetted_at`.
    vetted: VecDeque<u32>,
    vetted_at: Option<Instant>,
    /// Where the next scan of the range starts.
    next: Option<u32>,
    locks: Option<Arc<LockFile>>,
    /// Uids this gateway leases now. Its own locks never conflict with each other (one open
    /// file description), so this, not the lock, keeps it from leasing one twice.
    held: HashSet<u32>,
}

impl State {
    /// Take `uid` if this gateway does not hold it and no other gateway does.
    fn take(&mut self, locks: &LockFile, uid: u32) -> bool {
        if self.held.contains(&uid) || !locks.lock(uid) {
            return false;
        }
        self.held.insert(uid);
        true
    }
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        range: Mutex::new(None),
        state: Mutex::default(),
    })
}

/// Set the range (from `session.child_uids`); before the first lease.
pub(super) fn configure(range: RangeInclusive<u32>) {
    *pool().range.lock().unwrap_or_else(|p| p.into_inner()) = Some(range);
}

/// The configured range.
pub(super) fn range() -> RangeInclusive<u32> {
    pool()
        .range
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or(DEFAULT_RANGE)
}

/// Lease a free uid for a child.
pub(super) fn lease() -> Result<Lease, String> {
    let pool = pool();
    let range = range();
    let mut state = pool.state.lock().unwrap_or_else(|p| p.into_inner());
    let locks = match &state.locks {
        Some(locks) => locks.clone(),
        None => {
            let locks = Arc::new(LockFile::open(&lock_dir()?)?);
            state.locks = Some(locks.clone());
            locks
        }
    };
    while let Some(uid) = state.clean.pop_front() {
        if state.take(&locks, uid) {
            return Ok(Lease {
                uid,
                lock: Some(locks),
            });
        }
    }
    if state.vetted_at.is_none_or(|at| at.elapsed() > VETTED_FOR) {
        state.vetted.clear();
    }
    // Vetted uids first, then fresh batches until the whole range has been gone over once:
    // a batch may be all another gateway's leases (gateways on one kernel scan from the same
    // start).
    let size = u64::from(range.end() - range.start()) + 1;
    let mut gone_over = 0u64;
    loop {
        while let Some(uid) = state.vetted.pop_front() {
            if state.take(&locks, uid) {
                return Ok(Lease {
                    uid,
                    lock: Some(locks),
                });
            }
        }
        if gone_over >= size {
            break;
        }
        gone_over += vet(&mut state, &range, &locks);
    }
    Err(format!(
        "every uid of session.child_uids ({}-{}) is in use by a live child, a user or another gateway; widen the range",
        range.start(),
        range.end()
    ))
}

/// Vet up to [`VET_BATCH`] fresh uids with one `/proc` scan: once round the range at most,
/// from where the last vetting stopped (a uid skipped before — a stranger's process owned it,
/// another gateway held it — is tried again on a later round). Returns how many uids of the
/// range it went over.
fn vet(state: &mut State, range: &RangeInclusive<u32>, locks: &LockFile) -> u64 {
    let busy: HashSet<u32> = processes_where(|_| true)
        .into_iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| process_uids(&status))
        .flatten()
        .collect();
    state.vetted.clear();
    state.vetted_at = Some(Instant::now());
    let mut gone_over = 0;
    for uid in scan_order(range, state.next) {
        if state.vetted.len() == VET_BATCH {
            break;
        }
        gone_over += 1;
        state.next = Some(if uid == *range.end() {
            *range.start()
        } else {
            uid + 1
        });
        if uid == 0 || named_user(uid) {
            continue;
        }
        if busy.contains(&uid) {
            // A uid of our own live children, or another gateway's, is locked: no stranger.
            if !locks.held(uid) {
                tracing::warn!(
                    uid,
                    "a uid of session.child_uids owns processes that no child of this gateway started; skipped"
                );
            }
            continue;
        }
        state.vetted.push_back(uid);
    }
    gone_over
}

/// The whole range once, starting at `next` (wrapping round to the start).
fn scan_order(range: &RangeInclusive<u32>, next: Option<u32>) -> impl Iterator<Item = u32> {
    let (first, last) = (*range.start(), *range.end());
    let start = next.filter(|n| range.contains(n)).unwrap_or(first);
    (start..=last).chain(first..start)
}

impl Pool {
    fn give_back(&self, mut lease: Lease) {
        // The lock is released now; another gateway may take the uid before we do.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(locks) = lease.lock.take() {
            locks.unlock(lease.uid);
        }
        state.held.remove(&lease.uid);
        state.clean.push_back(lease.uid);
    }
}

fn lock_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let me = nix::unistd::geteuid().as_raw();
    let mut errors = Vec::new();
    for dir in LOCK_DIRS {
        let made = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir);
        // Someone else's (or a world-writable) dir, say made in /tmp first by another user,
        // could swap the lock files under us: only our own private one will do.
        let checked = made
            .and_then(|()| std::fs::symlink_metadata(dir))
            .map(|m| m.is_dir() && m.uid() == me && m.permissions().mode() & 0o022 == 0);
        match checked {
            Ok(true) => return Ok(PathBuf::from(dir)),
            Ok(false) => errors.push(format!(
                "{dir}: not a directory of uid {me} that only it may write"
            )),
            Err(e) => errors.push(format!("{dir}: {e}")),
        }
    }
    Err(format!(
        "cannot create a lock dir for child uids ({})",
        errors.join("; ")
    ))
}

/// `<lock dir>/uids.lock`: byte `uid` locked (an open file description lock) by the gateway
/// that leases `uid`.
#[derive(Debug)]
struct LockFile {
    /// The description every lease of this gateway locks through.
    file: File,
    /// A second description of the same file: it sees this gateway's locks as any other
    /// gateway's (locks of one description never conflict with each other).
    probe: File,
}

impl LockFile {
    fn open(dir: &Path) -> Result<Self, String> {
        let path = dir.join("uids.lock");
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| format!("cannot open the uid lock file {}: {e}", path.display()))
        };
        Ok(Self {
            file: open()?,
            probe: open()?,
        })
    }

    fn range(uid: u32, kind: libc::c_int) -> libc::flock {
        libc::flock {
            l_type: kind as libc::c_short,
            l_whence: libc::SEEK_SET as libc::c_short,
            l_start: libc::off_t::from(uid),
            l_len: 1,
            l_pid: 0,
        }
    }

    /// Take `uid`'s lock; false when another gateway holds it.
    fn lock(&self, uid: u32) -> bool {
        fcntl(
            &self.file,
            FcntlArg::F_OFD_SETLK(&Self::range(uid, libc::F_WRLCK)),
        )
        .is_ok()
    }

    fn unlock(&self, uid: u32) {
        let _ = fcntl(
            &self.file,
            FcntlArg::F_OFD_SETLK(&Self::range(uid, libc::F_UNLCK)),
        );
    }

    /// Whether any gateway, this one included, holds `uid`'s lock.
    fn held(&self, uid: u32) -> bool {
        let mut probe = Self::range(uid, libc::F_WRLCK);
        fcntl(&self.probe, FcntlArg::F_OFD_GETLK(&mut probe))
            .is_ok_and(|_| probe.l_type != libc::F_UNLCK as libc::c_short)
    }
}

/// Whether `uid` names a user of the user database (never used for children).
fn named_user(uid: u32) -> bool {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .is_some()
}

/// The real, effective, saved and filesystem uids of a process (`Uid:` of its status).
fn process_uids(status: &str) -> Option<[u32; 4]> {
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    let mut ids = line.split_whitespace().map(|v| v.parse::<u32>().ok());
    Some([ids.next()??, ids.next()??, ids.next()??, ids.next()??])
}

/// Pids of every process (zombies included) any of whose uids is `uid`.
fn processes_of(uid: u32) -> Vec<i32> {
    processes_where(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| process_uids(&s))
            .is_some_and(|ids| ids.contains(&uid))
    })
}

/// Pids of `/proc` for which `matches` holds.
pub(super) fn processes_where(mut matches: impl FnMut(i32) -> bool) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| matches(pid))
        .collect()
}

/// SIGKILL every process of `uid`, a few passes (a process may fork while a pass runs);
/// `true` when none is left, zombies included.
fn kill_uid(uid: u32) -> bool {
    kill_all(|| processes_of(uid))
}

/// SIGKILL every process `list` names until it names none, a few passes; `true` when empty.
pub(super) fn kill_all(list: impl Fn() -> Vec<i32>) -> bool {
    for _ in 0..5 {
        let pids = list();
        if pids.is_empty() {
            return true;
        }
        for pid in pids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::yield_now();
    }
    list().is_empty()
}

/// Check the range is usable from here: each uid must be mapped in the gateway's user
/// namespace (a container with a user namespace maps only some).
pub(super) fn check_mapped(range: &RangeInclusive<u32>) -> Result<(), String> {
    let Ok(map) = std::fs::read_to_string("/proc/self/uid_map") else {
        return Ok(());
    };
    let mapped = map.lines().any(|l| {
        let mut f = l.split_whitespace().map(|v| v.parse::<u64>().ok());
        match (f.next().flatten(), f.next().flatten(), f.next().flatten()) {
            (Some(inner), Some(_), Some(count)) => {
                inner <= u64::from(*range.start()) && u64::from(*range.end()) < inner + count
            }
            _ => false,
        }
    });
    if mapped {
        Ok(())
    } else {
        Err(format!(
            "session.child_uids {}-{} is not mapped in this user namespace (/proc/self/uid_map: {})",
            range.start(),
            range.end(),
            map.split_whitespace().collect::<Vec<_>>().join(" ")
        ))
    }
}

/// Whether `dir` and every directory above it can be searched (`o+x`) by a uid that is not the
/// owner: children running as their own uid must reach their private dir.
pub(super) fn traversable_by_others(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    for ancestor in dir.ancestors() {
        let Ok(meta) = std::fs::metadata(ancestor) else {
            continue;
        };
        if meta.permissions().mode() & 0o001 == 0 {
            return Err(format!(
                "{} (mode {:o}) cannot be searched by other users, so children running as \
                 their own uid cannot reach session.sandbox_dir {}: chmod o+x {0}, or move \
                 sandbox_dir",
                ancestor.display(),
                meta.permissions().mode() & 0o7777,
                dir.display()
            ));
        }
    }
    Ok(())
}

/// Leases are released explicitly; a dropped one (a failed spawn) is given back after the
/// same kill as a release.
impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(locks) = self.lock.take() {
            let uid = self.uid;
            let clean = kill_uid(uid);
            let mut state = pool().state.lock().unwrap_or_else(|p| p.into_inner());
            locks.unlock(uid);
            state.held.remove(&uid);
            if clean {
                state.clean.push_back(uid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two gateways on one kernel: a uid one of them leases is locked for the other, and
    /// each sees both its own and the other's leases as held.
    #[test]
    fn a_uid_locked_by_one_gateway_is_refused_to_another_until_unlocked() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            LockFile::open(dir.path()).unwrap(),
            LockFile::open(dir.path()).unwrap(),
        );
        assert!(!a.held(60_000) && !b.held(60_000));
        assert!(a.lock(60_000));
        assert!(!b.lock(60_000), "another gateway's lease");
        assert!(a.held(60_000) && b.held(60_000));
        assert!(b.lock(60_001), "one byte per uid");
        assert!(!a.lock(60_001));
        a.unlock(60_000);
        assert!(!b.held(60_000));
        assert!(b.lock(60_000));
        assert!(!a.lock(60_000));
        drop(b); // a gateway that dies lets go of all its uids
        assert!(a.lock(60_000) && a.lock(60_001));
    }

    /// Locks of one description never conflict: what this gateway holds must be refused by
    /// its own bookkeeping, or two children would share a uid.
    #[test]
    fn a_uid_this_gateway_holds_is_never_leased_twice() {
        let dir = tempfile::tempdir().unwrap();
        let locks = LockFile::open(dir.path()).unwrap();
        let mut state = State::default();
        assert!(state.take(&locks, 60_000));
        assert!(locks.lock(60_000), "the lock alone would allow it again");
        assert!(!state.take(&locks, 60_000), "held by this gateway");
        assert!(state.take(&locks, 60_001));
        state.held.remove(&60_000);
        assert!(state.take(&locks, 60_000), "given back");
    }

    #[test]
    fn each_scan_covers_the_range_once_from_where_the_last_stopped() {
        let order = |next| scan_order(&(10..=13), next).collect::<Vec<_>>();
        assert_eq!(order(None), [10, 11, 12, 13]);
        assert_eq!(order(Some(12)), [12, 13, 10, 11]);
        assert_eq!(
            order(Some(99)),
            [10, 11, 12, 13],
            "a next outside the range restarts"
        );
    }

    #[test]
    fn uids_of_a_status_file() {
        let status = "Name:\tsleep\nUid:\t60001\t60001\t60002\t60001\nGid:\t1\t1\t1\t1\n";
        assert_eq!(process_uids(status), Some([60001, 60001, 60002, 60001]));
        assert_eq!(process_uids("Name: x\n"), None);
    }

    #[test]
    fn a_directory_under_a_private_one_is_not_traversable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("sandbox");
        std::fs::create_dir(&inner).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = traversable_by_others(&inner).unwrap_err();
        assert!(err.contains("chmod o+x"), "{err}");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        // /tmp and / are searchable by everyone on any sane host.
        traversable_by_others(&inner).unwrap();
    }
}
