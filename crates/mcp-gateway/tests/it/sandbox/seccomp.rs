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

/// Whether the tests run with every capability (root on a host, not root in a container with
/// Docker's default capabilities): then, without the filter, the kernel answers every call of
/// [`CALLS`] itself, and a child may ptrace a sibling of its uid.
fn all_capabilities() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    // CAP_SYS_ADMIN (21) and CAP_SYS_PTRACE (19).
    effective & (1 << 21) != 0 && effective & (1 << 19) != 0
}

/// The children share the gateway's uid (`user: "gateway"`); where no cgroup bounds their
/// processes (a container), that leaves no process bound, which these tests are not about.
fn as_gateway(mut sandbox: serde_json::Value) -> serde_json::Value {
    sandbox["user"] = json!("gateway");
    sandbox["allow_weaker"] = json!(true);
    sandbox
}

#[tokio::test]
async fn the_filter_answers_eperm_to_each_denied_call_the_kernel_would_otherwise_answer() {
    // With every capability (root on a host), both children run as root (user "gateway"):
    // without the filter, the kernel answers every one of these calls itself.
    let cfg = config(
        json!({
            "on": hostile(as_gateway(json!({}))),
            "off": hostile(as_gateway(json!({"seccomp": "off"}))),
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
        if all_capabilities() || REACHED_BY_ANYONE.contains(&call) {
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
    let shared = as_gateway(json!({"filesystem": "host"}));
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
    if all_capabilities() {
        let attached = traced.expect("without the filter, root's child traces its sibling");
        assert_eq!(attached, format!("attached {sibling}"));
    }
}

#[tokio::test]
async fn seccomp_allow_lets_one_call_through_and_keeps_the_rest_refused() {
    let cfg = config(
        json!({"fx": hostile(as_gateway(json!({"seccomp_allow": ["mount"]})))}),
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
