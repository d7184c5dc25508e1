//! The seccomp filter against the fixture's `syscall` and `ptrace` tools: each denied call
//! answers `EPERM` under the filter, and, beside it, a service with `seccomp: "off"` shows the
//! kernel would have answered the same call itself (the fixture picks arguments the kernel
//! answers without `EPERM`: `EFAULT`, `ENOENT` or success).

use serde_json::json;

use super::*;

/// What the fixture's `syscall` tool makes.
const CALLS: [&str; 8] = [
    "bpf",
    "perf_event_open",
    "keyctl",
    "userfaultfd",
    "io_uring_setup",
    "unshare_user",
    "clone_user",
    "mount",
];

/// The calls whose arguments reach the kernel for any user on every host kind CI has; the
/// others may be refused by the kernel itself to an unprivileged child (`bpf` before Linux 6.5
/// with `unprivileged_bpf_disabled`, a user namespace where they are restricted, ...).
const REACHED_BY_ANYONE: [&str; 4] = ["perf_event_open", "keyctl", "io_uring_setup", "mount"];

const EPERM: &str = "Operation not permitted";

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[tokio::test]
async fn the_filter_answers_eperm_to_each_denied_call_the_kernel_would_otherwise_answer() {
    // As root, both children run as root with every capability (user "gateway"): without the
    // filter, the kernel answers every one of these calls itself.
    let cfg = config(
        json!({
            "on": hostile(json!({"user": "gateway"})),
            "off": hostile(json!({"user": "gateway", "seccomp": "off"})),
        }),
        json!({}),
    );
    let gw = TestGateway::start(cfg).await;
    let report = validate_report(&gw);
    assert!(
        report.contains("enforced: system calls: a seccomp filter answers EPERM"),
        "{report}"
    );
    assert!(
        report.contains("system calls: not filtered (sandbox.seccomp is \"off\")"),
        "{report}"
    );
    for call in CALLS {
        let on = attempt(&gw, "on", "a", "syscall", json!({"call": call})).await;
        let err = on.expect_err(&format!("{call} went through the filter"));
        assert!(err.contains(EPERM), "{call}: {err}");
        let off = attempt(&gw, "off", "a", "syscall", json!({"call": call})).await;
        if is_root() || REACHED_BY_ANYONE.contains(&call) {
            let answer = format!("{off:?}");
            assert!(
                !answer.contains(EPERM),
                "{call} without the filter: {answer}"
            );
        }
    }
    // The child still works after its refused calls.
    gw.call_ok("on", "a", "echo", json!({"text": "still here"}))
        .await;
}

#[tokio::test]
async fn a_child_cannot_ptrace_a_sibling_that_only_the_filter_protects() {
    // Siblings of one uid, with no landlock domain between them: as root (every capability),
    // nothing but the filter keeps one from tracing the other.
    let shared = json!({"user": "gateway", "filesystem": "host"});
    let mut off = shared.clone();
    off["seccomp"] = json!("off");
    let gw = TestGateway::start(config(
        json!({"on": hostile(shared), "off": hostile(off)}),
        json!({}),
    ))
    .await;
    let sibling = gw.child_pid_after_call("off", "sibling").await;
    let err = attempt(&gw, "on", "a", "ptrace", json!({"pid": sibling}))
        .await
        .expect_err("a filtered child ptraced its sibling");
    assert!(err.contains(EPERM), "{err}");
    let traced = attempt(&gw, "off", "b", "ptrace", json!({"pid": sibling})).await;
    if is_root() {
        let attached = traced.expect("without the filter, root's child traces its sibling");
        assert_eq!(attached, format!("attached {sibling}"));
    }
}

#[tokio::test]
async fn seccomp_allow_lets_one_call_through_and_keeps_the_rest_refused() {
    let cfg = config(
        json!({"fx": hostile(json!({"user": "gateway", "seccomp_allow": ["mount"]}))}),
        json!({}),
    );
    let gw = TestGateway::start(cfg).await;
    let mount = attempt(&gw, "fx", "a", "syscall", json!({"call": "mount"})).await;
    let err = mount.expect_err("no such mount point");
    assert!(err.contains("No such file or directory"), "{err}");
    let err = attempt(&gw, "fx", "a", "syscall", json!({"call": "bpf"}))
        .await
        .expect_err("bpf stays refused");
    assert!(err.contains(EPERM), "{err}");
    assert!(
        validate_report(&gw).contains("(sandbox.seccomp_allow): mount"),
        "the report names what the filter lets through"
    );
}
