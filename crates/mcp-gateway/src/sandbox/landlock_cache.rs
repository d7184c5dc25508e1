//! A service's landlock rules, computed and opened once and reused by the next spawns while
//! nothing they were computed from has changed.
//!
//! Computing a child's rules walks the filesystem: `PATH` lookups, `canonicalize`, the `#!`
//! line, the listing of each directory a protected path is carved out of (`/etc`, the
//! gateway's directory) and an `O_PATH` open of every rule's path (~150 with `/etc` carved).
//! That was ~15 % of the gateway's CPU per sandboxed session. Only the private dir differs
//! between two children of a service, so the rest is kept here with its paths open, and each
//! spawn builds its own ruleset from these fds plus its private dir.
//!
//! The kept rules are used only while they are what a fresh computation would give:
//! - every directory that was listed for a carve-out has the same device, inode and mtime
//!   (an entry added, removed or renamed there changes its mtime: `/etc/resolv.conf`
//!   replaced by a rename is picked up at the next spawn);
//! - every tree the rules start from (`/usr`, the program's install tree, `allowed_paths`)
//!   is still the same directory or file (same device and inode: a venv re-created in place
//!   is picked up);
//! - the gateway's working directory and the child's `PATH` are the ones they were made for;
//! - they are younger than [`MAX_AGE`], which bounds what the checks above cannot see (a
//!   program found earlier in `PATH`, a changed `#!` line).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::landlock::{self, Inputs, OpenedRule};

/// How long kept rules may be reused at most, even when every check passes.
pub(super) const MAX_AGE: Duration = Duration::from_secs(1);

/// What a path was when the rules were computed: device, inode and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    mtime: (i64, i64),
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        dev: m.dev(),
        ino: m.ino(),
        mtime: (m.mtime(), m.mtime_nsec()),
    })
}

/// What the kept rules were made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Key {
    pub gateway_cwd: PathBuf,
    pub path_env: String,
}

/// A service's rules with their paths open.
#[derive(Debug)]
pub(super) struct Kept {
    key: Key,
    made: Instant,
    /// The directories listed for carve-outs and the trees the rules start from, as they were.
    stamps: Vec<(PathBuf, Option<Stamp>)>,
    /// The rules without the private dir.
    pub rules: Vec<OpenedRule>,
}

impl Kept {
    /// Compute and open the rules for `inputs` (without a private dir) under landlock `abi`.
    pub(super) fn make(
        key: Key,
        abi: u32,
        inputs: &Inputs,
        list_dir: &dyn Fn(&Path) -> Vec<PathBuf>,
    ) -> std::io::Result<Self> {
        debug_assert!(inputs.private_dir.is_none());
        let made = Instant::now();
        let mut stamps: Vec<(PathBuf, Option<Stamp>)> = Vec::new();
        for root in inputs
            .read
            .iter()
            .chain(&inputs.write)
            .chain(&inputs.devices)
        {
            stamps.push((root.clone(), stamp(root)));
        }
        let listed = std::cell::RefCell::new(Vec::new());
        let rules = landlock::rules(inputs, &|dir: &Path| {
            // Stamped before it is listed: a change during the listing shows at the next check.
            listed.borrow_mut().push((dir.to_path_buf(), stamp(dir)));
            list_dir(dir)
        });
        stamps.extend(listed.into_inner());
        let rules = landlock::open_rules(abi, &rules)?;
        Ok(Self {
            key,
            made,
            stamps,
            rules,
        })
    }

    /// True if these rules are still what a fresh computation for `key` would give.
    fn current(&self, key: &Key, now: Instant) -> bool {
        self.key == *key
            && now.duration_since(self.made) < MAX_AGE
            && self.stamps.iter().all(|(path, was)| stamp(path) == *was)
    }
}

/// The kept rules of one service (in its `Prepared`).
#[derive(Debug, Default)]
pub(super) struct Cache {
    kept: Mutex<Option<Arc<Kept>>>,
}

impl Cache {
    /// The kept rules for `key` if they are current, else `make()`'s, kept for the next spawns.
    pub(super) fn get(
        &self,
        key: Key,
        make: impl FnOnce(Key) -> std::io::Result<Kept>,
    ) -> std::io::Result<Arc<Kept>> {
        let kept = self.lock().clone();
        if let Some(kept) = kept
            && kept.current(&key, Instant::now())
        {
            return Ok(kept);
        }
        let fresh = Arc::new(make(key)?);
        *self.lock() = Some(fresh.clone());
        Ok(fresh)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<Kept>>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key {
            gateway_cwd: PathBuf::from("/"),
            path_env: "/usr/bin".into(),
        }
    }

    /// A tree with a protected file, so that its directory is listed (carved).
    fn inputs(root: &Path) -> Inputs {
        Inputs {
            read: vec![root.to_path_buf()],
            protected: vec![root.join("config.json")],
            ..Inputs::default()
        }
    }

    fn make_counting(
        inputs: Inputs,
        made: &std::cell::Cell<u32>,
    ) -> impl FnOnce(Key) -> std::io::Result<Kept> + '_ {
        move |key| {
            made.set(made.get() + 1);
            Kept::make(key, 1, &inputs, &landlock::list_dir)
        }
    }

    #[test]
    fn kept_rules_are_reused_until_a_carved_directory_changes() {
        if super::super::preexec::landlock_abi().is_none() {
            eprintln!("skipped: no landlock on this kernel");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::write(root.join("config.json"), b"{}").unwrap();
        std::fs::write(root.join("a.txt"), b"a").unwrap();
        let cache = Cache::default();
        let made = std::cell::Cell::new(0);
        let first = cache
            .get(key(), make_counting(inputs(&root), &made))
            .unwrap();
        assert_eq!(
            first.rules.len(),
            1,
            "a.txt only: config.json is carved out"
        );
        let again = cache
            .get(key(), make_counting(inputs(&root), &made))
            .unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "nothing changed: the same rules"
        );
        assert_eq!(made.get(), 1);

        // A file added beside the carved one: the next spawn must see it.
        std::fs::write(root.join("b.txt"), b"b").unwrap();
        let after = cache
            .get(key(), make_counting(inputs(&root), &made))
            .unwrap();
        assert_eq!(made.get(), 2, "the listed directory changed");
        assert_eq!(after.rules.len(), 2, "a.txt and b.txt");

        // Another working directory or PATH: other rules.
        let other = Key {
            path_env: "/bin".into(),
            ..key()
        };
        cache
            .get(other, make_counting(inputs(&root), &made))
            .unwrap();
        assert_eq!(made.get(), 3);
    }

    #[test]
    fn a_tree_replaced_in_place_is_not_reused() {
        if super::super::preexec::landlock_abi().is_none() {
            eprintln!("skipped: no landlock on this kernel");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let venv = root.join("venv");
        std::fs::create_dir(&venv).unwrap();
        let only_venv = Inputs {
            read: vec![venv.clone()],
            ..Inputs::default()
        };
        let cache = Cache::default();
        let made = std::cell::Cell::new(0);
        cache
            .get(key(), make_counting(only_venv.clone(), &made))
            .unwrap();
        cache
            .get(key(), make_counting(only_venv.clone(), &made))
            .unwrap();
        assert_eq!(made.get(), 1);
        // `rm -rf venv && python3 -m venv venv`: same path, another directory.
        std::fs::remove_dir(&venv).unwrap();
        std::fs::create_dir(root.join("elsewhere")).unwrap(); // keep the inode number busy
        std::fs::create_dir(&venv).unwrap();
        cache
            .get(key(), make_counting(only_venv.clone(), &made))
            .unwrap();
        assert_eq!(made.get(), 2, "the tree's inode changed");
    }

    #[test]
    fn kept_rules_expire() {
        let kept = Kept {
            key: key(),
            made: Instant::now(),
            stamps: Vec::new(),
            rules: Vec::new(),
        };
        assert!(kept.current(&key(), kept.made));
        assert!(!kept.current(&key(), kept.made + MAX_AGE));
    }
}
