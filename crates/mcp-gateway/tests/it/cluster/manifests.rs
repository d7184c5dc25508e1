//! The Kubernetes manifests of `deploy/k8s/`: valid against the Kubernetes schemas (offline,
//! `kubernetes-validate`), their config a valid gateway config, and their drain timings
//! consistent.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/k8s")
        .canonicalize()
        .unwrap()
}

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(k8s_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn read(name: &str) -> String {
    std::fs::read_to_string(k8s_dir().join(name)).unwrap()
}

/// The number after `key:` on the first line holding it.
fn number_after(text: &str, key: &str) -> u64 {
    let at = text.find(key).unwrap_or_else(|| panic!("{key} not found"));
    text[at + key.len()..]
        .trim_start_matches([':', ' ', '"'])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no number after {key}"))
}

#[test]
fn the_kubernetes_manifests_validate_against_the_schemas() {
    let files = manifests();
    assert!(files.len() >= 7, "{files:?}");
    let out = Command::new(peer("py/bin/kubernetes-validate"))
        .args(["-k", "1.33.0", "--strict"])
        .args(&files)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    for resource in [
        "namespace/mcp-gateway",
        "secret/mcp-gateway",
        "configmap/mcp-gateway-config",
        "deployment/mcp-gateway-redis",
        "service/mcp-gateway-redis",
        "deployment/mcp-gateway",
        "service/mcp-gateway",
        "service/mcp-gateway-internal",
        "poddisruptionbudget/mcp-gateway",
    ] {
        assert!(
            text.contains(&format!("passed for resource {resource} ")),
            "{resource} not validated: {text}"
        );
    }
    // The validator does refuse what the schema does not allow (a check that can fail).
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let pdb = read("60-pdb.yaml").replace("maxUnavailable", "maxUnavailible");
    std::fs::write(&bad, pdb).unwrap();
    let out = Command::new(peer("py/bin/kubernetes-validate"))
        .args(["-k", "1.33.0", "--strict"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a misspelt field must fail");
}

#[test]
fn the_manifests_config_is_a_valid_cluster_config_and_the_drain_fits_the_grace() {
    let configmap = read("20-config.yaml");
    let repo = k8s_dir().join("../..").canonicalize().unwrap();
    let sandbox = tempfile::tempdir().unwrap();
    let json: String = configmap
        .lines()
        .skip_while(|l| !l.contains("config.json: |"))
        .skip(1)
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect::<String>()
        .replace("/app/", &format!("{}/", repo.display()))
        .replace(
            "/var/lib/mcp-gateway/sandbox",
            &sandbox.path().display().to_string(),
        );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), &json).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args(["-c", "config.json", "validate"])
        .current_dir(dir.path())
        .env("POD_IP", "10.1.2.3")
        .env("CLUSTER_SECRET", "0123456789abcdef0123456789abcdef")
        .env("SESSION_KEY", super::KEY)
        .env("AUTH_TOKEN", "t")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{json}");
    assert!(
        text.contains(
            "cluster: default via redis://mcp-gateway-redis:6379/0; this replica at 10.1.2.3:8080"
        ),
        "{text}"
    );

    // terminationGracePeriodSeconds covers the preStop sleep, the shutdown grace and the
    // children's stop (a few seconds).
    let deployment = read("40-gateway.yaml");
    let termination = number_after(&deployment, "terminationGracePeriodSeconds:");
    let pre_stop = number_after(&deployment, "sleep: { seconds:");
    let grace = number_after(&json, "\"shutdown_grace\":");
    assert!(
        termination >= pre_stop + grace + 5,
        "terminationGracePeriodSeconds {termination} < preStop {pre_stop} + shutdown_grace {grace} + 5"
    );
    assert!(deployment.contains("path: /ready"), "readiness is /ready");
    assert!(deployment.contains("path: /health"), "liveness is /health");
}
