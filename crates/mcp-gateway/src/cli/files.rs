//! `validate`'s check of the files a config names but cannot itself prove: TLS files, each
//! service's working directory and program (issue 17: validate passed all three missing).

use std::path::{Path, PathBuf};

use crate::config::{Config, TlsConfig};

/// One line per missing or unusable file, naming the key.
pub(super) fn problems(config: &Config, gateway_cwd: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let tls: Vec<(&str, &PathBuf)> = match &config.server.tls {
        Some(TlsConfig::Files { cert, key }) => vec![("tls_cert", cert), ("tls_key", key)],
        Some(TlsConfig::CombinedPem(pem)) => vec![("certs/server.pem", pem)],
        None => Vec::new(),
    };
    for (key, path) in tls {
        if let Err(e) = std::fs::File::open(path) {
            problems.push(format!("server.{key}: cannot read {}: {e}", path.display()));
        }
    }
    for service in config.services.values().filter(|s| s.remote.is_none()) {
        let key = format!("services.{}", service.name);
        let cwd = gateway_cwd.join(service.cwd.as_deref().unwrap_or(Path::new("")));
        if !cwd.is_dir() {
            problems.push(format!(
                "{key}.cwd: the working directory {} does not exist",
                cwd.display()
            ));
            continue;
        }
        let Some(program) = service.command.first() else {
            continue;
        };
        let path_var = service
            .env
            .get("PATH")
            .cloned()
            .or_else(|| std::env::var("PATH").ok())
            .unwrap_or_default();
        if let Err(why) = find_program(program, &cwd, &path_var) {
            problems.push(format!("{key}.command: {why}"));
        }
    }
    problems
}

/// Where `program` runs from: a path (with a slash) relative to `cwd`, or the first executable
/// of that name in `path_var`.
fn find_program(program: &str, cwd: &Path, path_var: &str) -> Result<PathBuf, String> {
    if program.contains('/') {
        let path = cwd.join(program);
        return if executable(&path) {
            Ok(path)
        } else if path.exists() {
            Err(format!("{} is not an executable file", path.display()))
        } else {
            Err(format!("the program {} does not exist", path.display()))
        };
    }
    std::env::split_paths(path_var)
        .map(|dir| cwd.join(dir).join(program))
        .find(|candidate| executable(candidate))
        .ok_or_else(|| format!("the program {program:?} is not found in PATH ({path_var})"))
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_by_path_or_in_path() {
        let dir = tempfile::tempdir().unwrap();
        assert!(find_program("sh", dir.path(), "/usr/bin:/bin").is_ok());
        let err = find_program("no-such-program-x", dir.path(), "/usr/bin").unwrap_err();
        assert!(err.contains("not found in PATH"), "{err}");
        std::fs::write(dir.path().join("script.py"), b"").unwrap();
        let err = find_program("./script.py", dir.path(), "").unwrap_err();
        assert!(err.contains("not an executable file"), "{err}");
        let err = find_program("./missing", dir.path(), "").unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
    }
}
