//! The private directory of each child (`HOME`, `TMPDIR`), under `session.sandbox_dir`, and the
//! startup sweep of those a killed gateway left behind.
//!
//! A dir is named `<gateway pid>-<service>-<session>-<12 hex digits>` and has a marker file
//! beside it, `<name>.mcp-gateway`, written by the gateway before the dir and removed after it.
//! The sweep touches only entries of exactly that shape *with* their marker, of a gateway that
//! is gone: whatever else the folder holds (`2024-reports/`, `1-archive/`) is never touched,
//! and `validate` warns about it. The marker lies outside the child's reach (the sandbox root is
//! protected from every child).
//!
//! Every marker of one gateway is a hard link of one empty file, `.<gateway pid>.mcp-gateway`:
//! a link allocates no inode, where a file per child cost an inode allocation, which on a
//! churning ext4 directory (its scan past recently freed inodes) was a quarter of the
//! gateway's CPU per sandboxed session. Where links cannot be made (a filesystem without
//! them, a link count at its limit) the marker is a file of its own, as before.

use std::io;
use std::path::{Path, PathBuf};

use super::error::SandboxError;

/// Suffix of the marker file beside each private dir.
const MARKER: &str = ".mcp-gateway";

/// `gatewaypid-service-session-random`: names the private dir and the cgroup of one child.
/// The gateway's pid comes first so that a later gateway can sweep what a killed one left
/// ([`sweep`], `cgroup::sweep`).
pub(super) fn unique_name(service: &str, session_id: &str) -> String {
    // Session ids are validated to [A-Za-z0-9_.-]; a random suffix keeps two children of the
    // same (service, session) pair (e.g. after a crash) apart.
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let session = session_id.replace("..", "__");
    format!(
        "{}-{service}-{session}-{}",
        std::process::id(),
        &unique[..12]
    )
}

/// The gateway pid of a name of [`unique_name`]'s shape, `None` for any other name.
fn owner_of(name: &str) -> Option<u32> {
    let (pid, rest) = name.split_once('-')?;
    let (middle, random) = rest.rsplit_once('-')?;
    let shaped = !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && middle.contains('-')
        && random.len() == 12
        && random
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    shaped.then(|| pid.parse().ok()).flatten()
}

fn marker(root: &Path, name: &str) -> PathBuf {
    root.join(format!("{name}{MARKER}"))
}

/// The file this gateway's markers are links of: `.<pid>.mcp-gateway`.
fn link_source(root: &Path, pid: u32) -> PathBuf {
    root.join(format!(".{pid}{MARKER}"))
}

/// The gateway pid of a link source's name, `None` for any other name.
fn link_source_owner(name: &str) -> Option<u32> {
    let pid = name.strip_prefix('.')?.strip_suffix(MARKER)?;
    (!pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        .then(|| pid.parse().ok())
        .flatten()
}

/// Write the marker of `name`: a link of this gateway's link source (made when missing), or
/// a file of its own where no link can be made.
fn write_marker(root: &Path, name: &str) -> io::Result<()> {
    let marker = marker(root, name);
    let source = link_source(root, std::process::id());
    match std::fs::hard_link(&source, &marker) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::write(&source, b"")?;
            if std::fs::hard_link(&source, &marker).is_ok() {
                return Ok(());
            }
        }
        Err(_) => {}
    }
    std::fs::write(marker, b"")
}

/// Remove this gateway's link source (at shutdown, once its children's dirs are gone; a
/// later spawn makes it again).
pub fn release_markers(root: &Path) {
    let _ = std::fs::remove_file(link_source(root, std::process::id()));
}

/// Create the private dir `root/unique` (0700, owned by the child's uid when it has one of
/// its own) and its marker; return the dir's canonical path.
pub(super) fn create(
    root: &Path,
    unique: &str,
    owner: Option<(u32, u32)>,
) -> Result<PathBuf, SandboxError> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = root.join(unique);
    let err = |source| SandboxError::PrivateDir {
        path: dir.clone(),
        source,
    };
    std::fs::create_dir_all(root).map_err(err)?;
    write_marker(root, unique).map_err(err)?;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(err)?;
    if let Some((uid, gid)) = owner {
        nix::unistd::chown(
            &dir,
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
        .map_err(|e| err(e.into()))?;
    }
    Ok(std::fs::canonicalize(&dir).unwrap_or(dir))
}

/// Remove a private dir and then its marker.
pub(super) fn remove(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove sandbox dir");
            return;
        }
    }
    if let (Some(root), Some(name)) = (dir.parent(), dir.file_name().and_then(|n| n.to_str())) {
        let _ = std::fs::remove_file(marker(root, name));
    }
}

/// Remove the private dirs under `root` (`session.sandbox_dir`) left by gateways that are
/// gone: a SIGKILLed gateway cannot remove its children's dirs. Only a dir of the exact name
/// shape with its marker beside it, whose gateway pid is dead or is not a gateway (the pid was
/// reused), is removed, with the marker. Run once at startup; errors are logged and skipped.
/// Returns how many dirs were removed.
pub fn sweep(root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    let own = process_name(std::process::id());
    let gone = |owner: u32| {
        // A live gateway: the binary, or this very program (tests run the gateway in-process).
        owner != std::process::id()
            && !process_name(owner)
                .is_some_and(|name| name == "mcp-gateway" || Some(&name) == own.as_ref())
    };
    let mut removed = 0;
    for entry in entries.filter_map(Result::ok) {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if link_source_owner(&name).is_some_and(gone) {
            let _ = std::fs::remove_file(entry.path());
            continue;
        }
        if let Some(dir_name) = name.strip_suffix(MARKER) {
            // A marker whose dir is already gone (a crash between the two).
            if owner_of(dir_name).is_some_and(gone) && !root.join(dir_name).exists() {
                let _ = std::fs::remove_file(entry.path());
            }
            continue;
        }
        let ours = entry.file_type().is_ok_and(|t| t.is_dir())
            && owner_of(&name).is_some_and(gone)
            && marker(root, &name).is_file();
        if !ours {
            continue;
        }
        match std::fs::remove_dir_all(entry.path()) {
            Ok(()) => {
                let _ = std::fs::remove_file(marker(root, &name));
                removed += 1;
            }
            Err(e) => {
                tracing::warn!(path = %entry.path().display(), error = %e, "cannot remove a stale sandbox dir")
            }
        }
    }
    if removed > 0 {
        tracing::info!(root = %root.display(), removed, "removed sandbox dirs of gateways that are gone");
    }
    removed
}

/// Entries of `root` the gateway did not make (not a marked private dir, not a marker, not a
/// dotfile): the
/// gateway never touches them, but `validate` warns that they share a folder with the
/// children's dirs.
pub fn foreign_entries(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut foreign: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // Dotfiles are the operator's own bookkeeping (a checkout's `sandbox/.gitignore`).
        .filter(|name| !name.starts_with('.'))
        .filter(|name| {
            let marker_of_ours = name
                .strip_suffix(MARKER)
                .is_some_and(|dir| owner_of(dir).is_some());
            let marked_dir = owner_of(name).is_some() && marker(root, name).is_file();
            !marker_of_ours && !marked_dir
        })
        .collect();
    foreign.sort();
    foreign
}

/// The command name (`/proc/<pid>/comm`) of a live process.
fn process_name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_start_with_the_gateway_pid_and_have_the_shape_the_sweep_wants() {
        let name = unique_name("fx", "s..1");
        let prefix = format!("{}-fx-s__1-", std::process::id());
        assert!(name.starts_with(&prefix), "{name}");
        assert_eq!(name.len(), prefix.len() + 12);
        assert_eq!(owner_of(&name), Some(std::process::id()));
        assert_eq!(owner_of("12-my-svc-call-7-0123456789ab"), Some(12));
        for foreign in [
            "2024-reports",
            "1-archive",
            "1-a-b-0123456789AB",
            "1-a-b-0123456789a",
            "x1-a-b-0123456789ab",
            "1-ab-0123456789ab",
            "notes",
        ] {
            assert_eq!(owner_of(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn the_sweep_removes_marked_dirs_of_gateways_that_are_gone_and_nothing_else() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        let dir = |name: &str, marked: bool| {
            std::fs::create_dir_all(root.join(name).join("nested")).unwrap();
            std::fs::write(root.join(name).join("nested/file"), b"x").unwrap();
            if marked {
                std::fs::write(marker(root, name), b"").unwrap();
            }
            root.join(name)
        };
        // Above any pid_max (2^22): never a live process.
        let dead = dir("9999999-fx-s-0123456789ab", true);
        // pid 1 is alive but is no gateway: its pid was reused.
        let reused = dir("1-fx-s-0123456789ab", true);
        let own = dir(&format!("{}-fx-s-0123456789ab", std::process::id()), true);
        // The shape without the marker: not provably ours.
        let unmarked = dir("9999998-fx-s-0123456789ab", false);
        // User data in the same folder (issue 17, defect 1).
        let reports = dir("2024-reports", false);
        let archive = dir("1-archive", false);
        std::fs::write(root.join(".gitignore"), b"*\n").unwrap();
        let stale_marker = marker(root, "9999997-fx-s-0123456789ab");
        std::fs::write(&stale_marker, b"").unwrap();

        assert_eq!(sweep(root), 2);
        assert!(!dead.exists() && !marker(root, "9999999-fx-s-0123456789ab").exists());
        assert!(!reused.exists());
        assert!(!stale_marker.exists(), "a marker whose dir is gone");
        assert!(root.join(".gitignore").exists());
        for kept in [&own, &unmarked, &reports, &archive] {
            assert!(kept.join("nested/file").exists(), "{}", kept.display());
        }
        assert_eq!(
            foreign_entries(root),
            ["1-archive", "2024-reports", "9999998-fx-s-0123456789ab"]
        );
        assert_eq!(sweep(&root.join("missing")), 0);
    }

    #[test]
    fn create_and_remove_keep_dir_and_marker_together() {
        let root = tempfile::tempdir().unwrap();
        let name = unique_name("fx", "s");
        let dir = create(root.path(), &name, None).unwrap();
        assert!(dir.is_dir() && marker(root.path(), &name).is_file());
        assert!(foreign_entries(root.path()).is_empty());
        remove(&dir);
        assert!(!dir.exists() && !marker(root.path(), &name).exists());
    }

    #[test]
    fn markers_are_links_of_one_file_which_the_sweep_removes_when_its_gateway_is_gone() {
        use std::os::unix::fs::MetadataExt;
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        let (a, b) = (unique_name("fx", "a"), unique_name("fx", "b"));
        create(root, &a, None).unwrap();
        create(root, &b, None).unwrap();
        let ino = |p: PathBuf| std::fs::metadata(p).unwrap().ino();
        let source = link_source(root, std::process::id());
        assert_eq!(ino(marker(root, &a)), ino(source.clone()));
        assert_eq!(ino(marker(root, &b)), ino(source.clone()));
        // The source removed under a live gateway: the next marker makes it again.
        std::fs::remove_file(&source).unwrap();
        let c = unique_name("fx", "c");
        create(root, &c, None).unwrap();
        assert_eq!(ino(marker(root, &c)), ino(source.clone()));
        assert!(
            foreign_entries(root).is_empty(),
            "{:?}",
            foreign_entries(root)
        );
        // A live gateway's source stays; a gone gateway's goes; other dotfiles stay.
        let gone = link_source(root, 9_999_999);
        std::fs::write(&gone, b"").unwrap();
        std::fs::write(root.join(".9999999.notes"), b"").unwrap();
        sweep(root);
        assert!(source.exists() && !gone.exists());
        assert!(root.join(".9999999.notes").exists());
        assert!(marker(root, &a).is_file(), "a live gateway's markers stay");
        release_markers(root);
        assert!(!source.exists());
        assert!(marker(root, &b).is_file(), "the links outlive their source");
    }
}
