//! Filesystem isolation with landlock: which trees a child may read or write, and the ruleset.
//!
//! Landlock only *allows*; there is no "deny beneath". A protected path (the gateway's config,
//! its TLS key, the other sessions' dirs) that lies inside an allowed tree is therefore carved
//! out: instead of the tree, each of its entries is allowed, recursing only into the entries
//! that lead to a protected path. The carve-out is a snapshot taken at spawn: a file created
//! later directly in a carved directory is not readable by the child.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::preexec;

// Access rights (include/uapi/linux/landlock.h).
const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
const TRUNCATE: u64 = 1 << 14;
const IOCTL_DEV: u64 = 1 << 15;
/// The rights that make sense on a file (not a directory); others are refused with EINVAL.
const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;

// Scopes (ABI 6).
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
const SCOPE_SIGNAL: u64 = 1 << 1;

/// System trees every child may read and execute (when they exist).
pub(super) const SYSTEM_READ: &[&str] = &[
    "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc", "/proc",
];
/// Device files every child may read and write.
pub(super) const DEVICES_RW: &[&str] = &["/dev/null", "/dev/zero", "/dev/full"];
/// Device files every child may read.
pub(super) const DEVICES_READ: &[&str] = &["/dev/random", "/dev/urandom"];
/// Never readable, even under an allowed tree (root-readable secrets of the host).
pub(super) const HOST_SECRETS: &[&str] = &[
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh",
    "/etc/ssl/private",
];

/// What a rule grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// Read files and directories, execute files.
    Read,
    /// Read and write (devices: no creating or removing).
    ReadWriteFile,
    /// Everything: create, remove, rename, write.
    Full,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rule {
    pub path: PathBuf,
    pub access: Access,
}

/// The inputs of the rule computation, all absolute and canonical.
#[derive(Debug, Default, Clone)]
pub(super) struct Inputs {
    /// Trees to read and execute: system paths, the program's install tree, `cwd`,
    /// read-only `allowed_paths`.
    pub read: Vec<PathBuf>,
    /// Device files to read and write.
    pub devices: Vec<PathBuf>,
    /// Trees to write: writable `allowed_paths`.
    pub write: Vec<PathBuf>,
    /// The child's private directory: full access, never carved.
    pub private_dir: Option<PathBuf>,
    /// Paths the child must not reach through any of the above.
    pub protected: Vec<PathBuf>,
}

/// Compute the rules. `list_dir` returns the entries of a directory that are not symbolic links
/// (following one is not checked by landlock; its target is governed by its own rules).
pub(super) fn rules(inputs: &Inputs, list_dir: &dyn Fn(&Path) -> Vec<PathBuf>) -> Vec<Rule> {
    let mut out = Vec::new();
    for path in &inputs.read {
        carve(path, Access::Read, &inputs.protected, list_dir, &mut out);
    }
    for path in &inputs.devices {
        carve(
            path,
            Access::ReadWriteFile,
            &inputs.protected,
            list_dir,
            &mut out,
        );
    }
    for path in &inputs.write {
        carve(path, Access::Full, &inputs.protected, list_dir, &mut out);
    }
    if let Some(dir) = &inputs.private_dir {
        out.push(Rule {
            path: dir.clone(),
            access: Access::Full,
        });
    }
    out
}

fn carve(
    root: &Path,
    access: Access,
    protected: &[PathBuf],
    list_dir: &dyn Fn(&Path) -> Vec<PathBuf>,
    out: &mut Vec<Rule>,
) {
    if protected.iter().any(|p| root.starts_with(p)) {
        return;
    }
    let inside: Vec<PathBuf> = protected
        .iter()
        .filter(|p| p.starts_with(root))
        .cloned()
        .collect();
    if inside.is_empty() {
        out.push(Rule {
            path: root.to_path_buf(),
            access,
        });
        return;
    }
    for entry in list_dir(root) {
        carve(&entry, access, &inside, list_dir, out);
    }
}

/// The real directory listing for [`rules`]: entries that are not symbolic links.
pub(super) fn list_dir(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_symlink()))
        .map(|e| e.path())
        .collect()
}

/// The filesystem rights this ABI can restrict.
pub(super) fn handled_fs(abi: u32) -> u64 {
    match abi {
        0 => 0,
        1 => (1 << 13) - 1,
        2 => (1 << 14) - 1,
        3 | 4 => (1 << 15) - 1,
        _ => (1 << 16) - 1,
    }
}

/// The scopes this ABI can restrict: signals and abstract unix sockets stay inside the sandbox.
pub(super) fn scopes(abi: u32) -> u64 {
    if abi >= 6 {
        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
    } else {
        0
    }
}

/// The rights of a read-only directory rule under `abi` (the child's own `/proc`, added by the
/// child itself after it mounted it).
pub(super) fn read_dir_rights(abi: u32) -> u64 {
    rights(Access::Read, handled_fs(abi), true)
}

fn rights(access: Access, handled: u64, is_dir: bool) -> u64 {
    let wanted = match access {
        Access::Read => EXECUTE | READ_FILE | READ_DIR,
        Access::ReadWriteFile => READ_FILE | WRITE_FILE | TRUNCATE,
        Access::Full => handled,
    } & handled;
    if is_dir { wanted } else { wanted & FILE_RIGHTS }
}

/// A rule's path, open (`O_PATH`), with the rights it grants under the ABI it was opened for.
#[derive(Debug)]
pub(super) struct OpenedRule {
    path: PathBuf,
    fd: OwnedFd,
    access: u64,
}

/// Open each rule's path and compute its rights under `abi` (in the parent). Paths that do
/// not exist, and rules that grant nothing on what the path is, are skipped.
pub(super) fn open_rules(abi: u32, rules: &[Rule]) -> io::Result<Vec<OpenedRule>> {
    let handled = handled_fs(abi);
    let mut out = Vec::with_capacity(rules.len());
    for rule in rules {
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
            .open(&rule.path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("landlock rule for {}: {e}", rule.path.display()),
                ));
            }
        };
        let is_dir = file.metadata().map(|m| m.is_dir()).unwrap_or(false);
        let access = rights(rule.access, handled, is_dir);
        if access != 0 {
            out.push(OpenedRule {
                path: rule.path.clone(),
                fd: file.into(),
                access,
            });
        }
    }
    Ok(out)
}

/// Build a ruleset of opened rules (in the parent), under the `abi` they were opened for.
pub(super) fn ruleset<'a>(
    abi: u32,
    rules: impl IntoIterator<Item = &'a OpenedRule>,
) -> io::Result<OwnedFd> {
    let ruleset = preexec::landlock_ruleset(handled_fs(abi), scopes(abi))?;
    for rule in rules {
        preexec::landlock_allow(&ruleset, &rule.fd, rule.access).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("landlock rule for {}: {e}", rule.path.display()),
            )
        })?;
    }
    Ok(ruleset)
}

/// The program's install trees: the directory of the program (as found in `PATH` and with
/// symbolic links resolved), its prefix when that directory is a `bin` or `.bin`, and the same
/// for the interpreter named on a `#!` line (following `/usr/bin/env NAME`).
pub(super) fn program_trees(program: &str, path_env: &str, cwd: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    add_program(program, path_env, cwd, &mut out, 0);
    out.sort();
    out.dedup();
    out
}

fn add_program(program: &str, path_env: &str, cwd: &Path, out: &mut Vec<PathBuf>, depth: u8) {
    let Some(found) = find_program(program, path_env, cwd) else {
        return;
    };
    let real = std::fs::canonicalize(&found).unwrap_or_else(|_| found.clone());
    for path in [&found, &real] {
        out.extend(install_trees(path));
    }
    if depth < 2
        && let Some(interpreter) = shebang(&real)
    {
        add_program(&interpreter, path_env, cwd, out, depth + 1);
    }
}

/// The trees a program at `path` is likely to need: its directory; the prefix of a `bin` or
/// `.bin` directory (a venv, an install prefix, a `node_modules`); the root of a version
/// manager's `shims` directory (pyenv, rbenv); the outermost `node_modules` and the prefix of
/// a `site-packages`/`dist-packages` it lies in. Never `/`.
pub(super) fn install_trees(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Some(dir) = path.parent() else {
        return out;
    };
    out.push(dir.to_path_buf());
    let name = |p: &Path| p.file_name().and_then(|n| n.to_str()).map(str::to_owned);
    if matches!(name(dir).as_deref(), Some("bin" | ".bin" | "shims"))
        && let Some(prefix) = dir.parent()
    {
        out.push(prefix.to_path_buf());
    }
    for ancestor in dir.ancestors() {
        match name(ancestor).as_deref() {
            Some("node_modules") => out.push(ancestor.to_path_buf()),
            Some("site-packages" | "dist-packages") => {
                // <prefix>/lib/pythonX.Y/site-packages
                out.extend(ancestor.ancestors().nth(3).map(Path::to_path_buf));
            }
            _ => {}
        }
    }
    out.retain(|p| p.parent().is_some());
    out
}

fn find_program(program: &str, path_env: &str, cwd: &Path) -> Option<PathBuf> {
    if program.contains('/') {
        let path = cwd.join(program);
        return path.exists().then_some(path);
    }
    path_env
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| cwd.join(d).join(program))
        .find(|p| p.is_file())
}

/// The interpreter of a `#!` script; for `/usr/bin/env [-S] NAME`, NAME.
fn shebang(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = line.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    let interpreter = words.next()?;
    if interpreter.rsplit('/').next() == Some("env") {
        return words.find(|w| !w.starts_with('-')).map(str::to_owned);
    }
    Some(interpreter.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    /// A fake tree: /srv/{app/{config.json,data,lib},cache}, /etc/{hosts,ssh}.
    fn fake_list(dir: &Path) -> Vec<PathBuf> {
        let names: &[&str] = match dir.to_str().unwrap() {
            "/srv" => &["app", "cache"],
            "/srv/app" => &["config.json", "data", "lib"],
            "/etc" => &["hosts", "ssh"],
            _ => &[],
        };
        names.iter().map(|n| dir.join(n)).collect()
    }

    fn check(inputs: Inputs, expected: &[(&str, Access)]) {
        let got: Vec<(String, Access)> = rules(&inputs, &fake_list)
            .into_iter()
            .map(|r| (r.path.display().to_string(), r.access))
            .collect();
        let expected: Vec<(String, Access)> =
            expected.iter().map(|(s, a)| (s.to_string(), *a)).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_tree_without_protected_paths_is_one_rule() {
        check(
            Inputs {
                read: vec![p("/usr")],
                protected: vec![p("/srv/app/config.json")],
                ..Inputs::default()
            },
            &[("/usr", Access::Read)],
        );
    }

    #[test]
    fn protected_paths_are_carved_out_of_allowed_trees() {
        check(
            Inputs {
                read: vec![p("/srv"), p("/etc")],
                protected: vec![p("/srv/app/config.json"), p("/etc/ssh")],
                ..Inputs::default()
            },
            &[
                ("/srv/app/data", Access::Read),
                ("/srv/app/lib", Access::Read),
                ("/srv/cache", Access::Read),
                ("/etc/hosts", Access::Read),
            ],
        );
    }

    #[test]
    fn a_tree_inside_a_protected_path_is_dropped_but_the_private_dir_is_kept() {
        check(
            Inputs {
                read: vec![p("/srv/app/data")],
                write: vec![p("/var/sandbox/other")],
                private_dir: Some(p("/var/sandbox/mine")),
                protected: vec![p("/srv/app"), p("/var/sandbox")],
                ..Inputs::default()
            },
            &[("/var/sandbox/mine", Access::Full)],
        );
    }

    #[test]
    fn writable_trees_and_devices_get_their_access() {
        check(
            Inputs {
                devices: vec![p("/dev/null")],
                write: vec![p("/srv/cache")],
                ..Inputs::default()
            },
            &[
                ("/dev/null", Access::ReadWriteFile),
                ("/srv/cache", Access::Full),
            ],
        );
    }

    #[test]
    fn rights_fit_the_abi_and_the_file_kind() {
        assert_eq!(handled_fs(1), 0x1fff);
        assert_eq!(handled_fs(7), 0xffff);
        assert_eq!(rights(Access::Read, handled_fs(7), true), 0b1101);
        assert_eq!(rights(Access::Read, handled_fs(7), false), 0b0101);
        assert_eq!(rights(Access::Full, handled_fs(2), false), 0b0111);
        assert_eq!(rights(Access::ReadWriteFile, handled_fs(1), false), 0b0110);
        assert_eq!(scopes(5), 0);
        assert_eq!(scopes(7), 3);
    }

    #[test]
    fn shebang_follows_env() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s");
        std::fs::write(&script, "#!/usr/bin/env -S node --flag\nrest").unwrap();
        assert_eq!(shebang(&script).as_deref(), Some("node"));
        std::fs::write(&script, "#!/opt/py/bin/python3 -u\n").unwrap();
        assert_eq!(shebang(&script).as_deref(), Some("/opt/py/bin/python3"));
        std::fs::write(&script, "\x7fELF").unwrap();
        assert_eq!(shebang(&script), None);
    }

    #[test]
    fn install_trees_of_common_layouts() {
        let check = |program: &str, expected: &[&str]| {
            let got = install_trees(Path::new(program));
            let expected: Vec<PathBuf> = expected.iter().map(|s| p(s)).collect();
            assert_eq!(got, expected, "{program}");
        };
        check("/usr/bin/node", &["/usr/bin", "/usr"]);
        check("/bin/sh", &["/bin"]);
        check("/opt/venv/bin/python3", &["/opt/venv/bin", "/opt/venv"]);
        check(
            "/root/.pyenv/shims/python3",
            &["/root/.pyenv/shims", "/root/.pyenv"],
        );
        check(
            "/srv/node_modules/@scope/pkg/dist/index.js",
            &["/srv/node_modules/@scope/pkg/dist", "/srv/node_modules"],
        );
        check(
            "/srv/node_modules/.bin/tool",
            &[
                "/srv/node_modules/.bin",
                "/srv/node_modules",
                "/srv/node_modules",
            ],
        );
        check(
            "/opt/py/lib/python3.11/site-packages/pkg/server.py",
            &["/opt/py/lib/python3.11/site-packages/pkg", "/opt/py"],
        );
    }

    #[test]
    fn program_trees_include_the_prefix_of_a_bin_dir() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let bin = root.join("venv/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("tool"), "#!/bin/sh\n").unwrap();
        let trees = program_trees("tool", bin.to_str().unwrap(), Path::new("/"));
        assert!(trees.contains(&bin), "{trees:?}");
        assert!(trees.contains(&root.join("venv")), "{trees:?}");
        assert!(
            trees.contains(&p("/bin")) || trees.contains(&p("/usr/bin")),
            "{trees:?}"
        );
    }
}
