//! The command line: validate, --help, --version.

use std::process::Command;

use serde_json::json;

fn gateway(args: &[&str], dir: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn validate_reports_every_problem_with_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = json!({
        "server": {"port": "abc", "colour": "blue"},
        "services": {"bad": {"command": ["x", 5]}, "nocmd": {"description": "d"}},
        "rate_limiting": {"call_limit": "ten per minute"},
        "logging": {"level": "LOUD"}
    });
    std::fs::write(dir.path().join("cfg.json"), cfg.to_string()).unwrap();
    let (code, stdout, _) = gateway(&["validate", "-c", "cfg.json"], dir.path());
    assert_eq!(code, 1, "{stdout}");
    for needle in [
        "cfg.json: server.port:",
        "cfg.json: services.bad.command[1]:",
        "cfg.json: services.nocmd.command:",
        "cfg.json: rate_limiting.call_limit:",
        "cfg.json: logging.level:",
        "warning: cfg.json: server.colour:",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}

#[test]
fn validate_accepts_the_bundled_example() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (code, stdout, stderr) = gateway(&["validate", "-c", "examples/config.json"], &root);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("todo"), "{stdout}");
    assert!(stdout.contains("OK"), "{stdout}");
}

#[test]
fn help_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = gateway(&["--version"], dir.path());
    assert_eq!(code, 0);
    assert_eq!(
        stdout.trim(),
        format!("mcp-gateway {}", env!("CARGO_PKG_VERSION"))
    );
    let (code, stdout, _) = gateway(&["--help"], dir.path());
    assert_eq!(code, 0);
    assert!(stdout.contains("--config"), "{stdout}");
    assert!(stdout.contains("validate"), "{stdout}");
}
