//! Children against the gateway and each other: who they run as, what of the others they can
//! read, trace or signal, what is left of them after their session, and which mechanism bounds
//! their processes, checked against what `validate` claims for this kind of host.

use reqwest::StatusCode;
use serde_json::json;

use super::*;

/// The real, effective, saved and filesystem uids of the child serving (service, session).
async fn child_uids(gw: &TestGateway, service: &str, session: &str) -> Vec<u32> {
    let status = attempt(
        gw,
        service,
        session,
        "read_file",
        json!({"path": "/proc/self/status"}),
    )
    .await
    .expect("a child reads its own status");
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .expect("a Uid line");
    line.split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

fn gateway_uid(gw: &TestGateway) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", gw.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[tokio::test]
async fn children_cannot_read_trace_or_signal_the_gateway_or_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let mut other = hostile(json!({}));
    other["env"] = json!({"OTHER_TOKEN": "tok-of-other"});
    // A secret in argv too: what `${VAR}` in a command line expands to.
    other["command"]
        .as_array_mut()
        .unwrap()
        .push("--name=argv-secret".into());
    let cfg = config(json!({"fx": hostile(json!({})), "other": other}), json!({}));
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    let gw = TestGateway::start_in(dir, &[("MCP_TEST_SECRET", "gateway-secret")]).await;
    let report = validate_report(&gw);

    let other_pid = gw.child_pid_after_call("other", "b").await;
    let sibling = gw.child_pid_after_call("fx", "c").await;
    let own = gw.child_pid_after_call("fx", "a").await;

    // Who they run as: as root, a uid of their own each; else the gateway's.
    let (a, b, c) = (
        child_uids(&gw, "fx", "a").await,
        child_uids(&gw, "other", "b").await,
        child_uids(&gw, "fx", "c").await,
    );
    if gateway_uid(&gw) == 0 {
        assert!(report.contains("a uid and gid of its own"), "{report}");
        for uids in [&a, &b, &c] {
            assert!(uids.iter().all(|&u| u == uids[0] && u != 0), "{uids:?}");
        }
        assert!(
            a[0] != b[0] && a[0] != c[0] && b[0] != c[0],
            "{a:?} {b:?} {c:?}"
        );
    } else {
        assert!([&a, &b, &c].iter().all(|u| u[0] == gateway_uid(&gw)));
    }

    // Positive control: the tool reads its own process's files.
    let own_environ = attempt(
        &gw,
        "fx",
        "a",
        "read_file",
        json!({"path": "/proc/self/environ"}),
    )
    .await
    .expect("its own environ");
    assert!(own_environ.contains("HOME="), "{own_environ}");

    let hidden_proc = report.contains("hidepid=2");
    let scoped_signals = !report.contains("signals and abstract unix sockets: NOT isolated");
    for (who, pid) in [
        ("gateway", gw.pid()),
        ("other service", other_pid),
        ("sibling", sibling),
    ] {
        for file in ["environ", "maps", "mem", "cmdline"] {
            let path = format!("/proc/{pid}/{file}");
            let got = attempt(&gw, "fx", "a", "read_file", json!({"path": path})).await;
            if file == "cmdline" && !hidden_proc {
                // The report says so ("command lines are visible"); nothing secret is in
                // the gateway's own.
                continue;
            }
            let err = got.expect_err(&format!("child a read the {who}'s {path}"));
            assert!(
                err.contains("Permission denied") || err.contains("No such file"),
                "{who} {path}: {err}"
            );
            for secret in ["gateway-secret", "tok-of-other", "argv-secret"] {
                assert!(!err.contains(secret), "{err}");
            }
        }
        let err = attempt(&gw, "fx", "a", "ptrace", json!({"pid": pid}))
            .await
            .expect_err(&format!("child a ptraced the {who}"));
        assert!(
            err.contains("not permitted") || err.contains("No such process"),
            "{who}: {err}"
        );
        let signalled = attempt(&gw, "fx", "a", "signal", json!({"pid": pid})).await;
        if scoped_signals || gateway_uid(&gw) == 0 {
            let err = signalled.expect_err(&format!("child a signalled the {who}"));
            assert!(
                err.contains("not permitted") || err.contains("No such process"),
                "{who}: {err}"
            );
        } else {
            // Same uid and no landlock scopes (ABI < 6): the report says so, honestly.
            assert!(signalled.is_ok(), "{who}: {signalled:?}");
        }
    }
    // Its own process it may signal (signal 0: the permission check only).
    attempt(&gw, "fx", "a", "signal", json!({"pid": own}))
        .await
        .expect("a child may signal itself");
}

#[tokio::test]
async fn a_childs_uid_and_what_ran_under_it_are_gone_after_its_session() {
    let gw = TestGateway::start(config(json!({"fx": hostile(json!({}))}), json!({}))).await;
    if gateway_uid(&gw) != 0 {
        return; // uids per child are for a root gateway; the daemon test covers the rest
    }
    let uid = child_uids(&gw, "fx", "d").await[0];
    let daemon: u32 = attempt(&gw, "fx", "d", "spawn_daemon", json!({}))
        .await
        .expect("spawn_daemon")
        .parse()
        .unwrap();
    assert!(alive(daemon));
    let (status, body) = gw.delete("/sessions/d").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_until(10, "no process of the child's uid is left", || {
        !any_process_of(uid)
    })
    .await;
    // The uid is free again: the next child may get it, and runs cleanly under it.
    let next = child_uids(&gw, "fx", "e").await[0];
    assert!((60000..=60999).contains(&next), "{next}");
}

fn any_process_of(uid: u32) -> bool {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| {
            std::fs::read_to_string(e.path().join("status")).is_ok_and(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .is_some_and(|l| l.split_whitespace().any(|v| v == uid.to_string()))
            })
        })
}

/// Each runner of the suite says which process bound its kind of host must get
/// (`MCP_TEST_EXPECT_BOUND`: "pids cgroup v1", "pids cgroup v2", "own uid", "own user
/// namespace"): .ci/run, scripts/sandbox-as-user.sh and scripts/vm-test.sh set it, so
/// a host silently falling back to a weaker mechanism fails here. Unset: any bound will do, but
/// the default level must have one.
#[tokio::test]
async fn the_process_bound_is_the_one_this_kind_of_host_must_get() {
    // What the running gateway logged at startup (a wrapper may have placed it in a cgroup of
    // its own: see MCP_TEST_GATEWAY_WRAPPER), and what `validate` says.
    let gw = TestGateway::start(config(json!({"fx": hostile(json!({}))}), json!({}))).await;
    gw.call_ok("fx", "b", "echo", json!({"text": "up"})).await;
    let log = gw.log();
    let logged = log
        .lines()
        .find(|l| l.contains("sandbox service=fx"))
        .unwrap_or_else(|| panic!("no sandbox line in the log:\n{log}"));
    let logged = logged
        .split('"')
        .find(|part| part.starts_with("max_processes:"))
        .unwrap_or_else(|| panic!("no process bound enforced: {logged}"));
    let report = validate_report(&gw);
    let validated = report
        .lines()
        .find(|l| l.contains("enforced: max_processes"))
        .unwrap_or_else(|| panic!("no process bound enforced:\n{report}"));
    let Ok(expected) = std::env::var("MCP_TEST_EXPECT_BOUND") else {
        return;
    };
    let marker = match expected.as_str() {
        "pids cgroup v1" => "(pids cgroup v1 under",
        "pids cgroup v2" => "(pids cgroup v2 under",
        "own uid" => "of the child's own uid",
        "own user namespace" => "in the child's own user namespace",
        other => panic!("unknown MCP_TEST_EXPECT_BOUND {other:?}"),
    };
    assert!(
        logged.contains(marker),
        "expected {expected}, the gateway logged: {logged}"
    );
    assert!(
        validated.contains(marker),
        "expected {expected}, validate says: {validated}"
    );
}
