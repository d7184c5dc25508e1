//! The plan on every kind of host, by table.
use super::*;
use crate::config::{AllowedPath, SandboxConfig};

fn service(sandbox: SandboxConfig) -> ServiceConfig {
    ServiceConfig::for_tests(sandbox)
}

fn v2() -> Result<cgroup::Base, String> {
    Ok(cgroup::Base {
        dir: "/sys/fs/cgroup/mcp-gateway".into(),
        version: cgroup::Version::V2,
    })
}

fn root_host() -> Host {
    Host {
        uid: 0,
        gid: 0,
        landlock_abi: Some(7),
        pids_cgroup: v2(),
        userns_nproc: Err("not needed as root".into()),
        child_uids: Ok(()),
        private_proc: Ok(()),
        netns: Ok(()),
        seccomp: Ok(()),
    }
}

/// Root in a default container: the cgroup filesystem is read-only.
fn container_host() -> Host {
    Host {
        pids_cgroup: Err("/sys/fs/cgroup is not writable".into()),
        private_proc: Err("EPERM".into()),
        netns: Err("no CAP_SYS_ADMIN".into()),
        ..root_host()
    }
}

fn user_host(userns: Result<(), String>) -> Host {
    Host {
        userns_nproc: userns.clone(),
        uid: 1000,
        gid: 1000,
        landlock_abi: Some(2),
        pids_cgroup: Err("not delegated".into()),
        child_uids: Err("only root".into()),
        private_proc: Err("not root".into()),
        netns: userns.clone(),
        seccomp: Ok(()),
    }
}

#[test]
fn high_on_a_cgroup_v2_root_host_enforces_everything_with_a_uid_per_child() {
    let plan = plan(&service(SandboxConfig::default()), &root_host());
    assert_eq!(plan.report.level, "High");
    assert!(plan.report.missing.is_empty(), "{}", plan.report);
    assert_eq!(plan.identity, Identity::OwnUid);
    assert_eq!(plan.bound, Some(ProcessBound::Cgroup));
    assert_eq!(plan.pids_max, Some(64));
    assert_eq!(plan.landlock_abi, Some(7));
    assert!(!plan.netns && !plan.userns);
    assert!(plan.private_proc);
    let limits = plan.rlimits.unwrap();
    assert_eq!(limits.data_bytes, Some(512 * MIB));
    assert_eq!(limits.processes, None, "the cgroup bounds tasks, not NPROC");
    assert!(plan.report.ok());
    let text = plan.report.to_string();
    assert!(
        text.contains("pids cgroup v2 under /sys/fs/cgroup/mcp-gateway"),
        "{text}"
    );
    assert!(text.contains("a uid and gid of its own"), "{text}");
}

#[test]
fn root_in_a_container_bounds_processes_by_the_childs_own_uid() {
    let plan = plan(&service(SandboxConfig::default()), &container_host());
    assert!(plan.report.missing.is_empty(), "{}", plan.report);
    assert_eq!(plan.bound, Some(ProcessBound::OwnUid));
    assert_eq!(plan.rlimits.unwrap().processes, Some(64));
    assert_eq!(plan.pids_max, None);
    assert!(
        !plan.private_proc,
        "no CAP_SYS_ADMIN in a default container"
    );
    assert!(
        plan.report
            .notes
            .iter()
            .any(|n| n.contains("command lines are visible"))
    );
    // Running children as root there leaves nothing to bound them.
    let as_root = SandboxConfig {
        user: ChildUser::Gateway,
        ..SandboxConfig::default()
    };
    let report = plan_report(as_root, &container_host());
    assert_eq!(report.missing.len(), 1, "{report}");
    assert!(report.missing[0].contains("sandbox.user"), "{report}");
    // drop_privileges wins over user "gateway".
    let dropped = SandboxConfig {
        user: ChildUser::Gateway,
        drop_privileges: true,
        ..SandboxConfig::default()
    };
    assert_eq!(plan_report(dropped, &container_host()).missing.len(), 0);
    // No network namespace without CAP_SYS_ADMIN: refused, with the reason and the fix.
    let offline = SandboxConfig {
        network: Network::None,
        ..SandboxConfig::default()
    };
    let report = plan_report(offline, &container_host());
    assert_eq!(report.missing.len(), 1, "{report}");
    assert!(report.missing[0].contains("CAP_SYS_ADMIN"), "{report}");
}

fn plan_report(sandbox: SandboxConfig, host: &Host) -> SandboxReport {
    plan(&service(sandbox), host).report
}

#[test]
fn an_unmapped_uid_range_fails_closed() {
    let host = Host {
        child_uids: Err("not mapped".into()),
        ..container_host()
    };
    let report = plan_report(SandboxConfig::default(), &host);
    assert!(!report.ok());
    assert!(
        report.missing.iter().any(|m| m.contains("not mapped")),
        "{report}"
    );
}

#[test]
fn a_normal_user_gets_a_user_namespace_per_child_or_the_line_that_fixes_it() {
    let plan = plan(&service(SandboxConfig::default()), &user_host(Ok(())));
    assert!(plan.report.missing.is_empty(), "{}", plan.report);
    assert_eq!(plan.identity, Identity::Gateway);
    assert_eq!(plan.bound, Some(ProcessBound::OwnUserNs));
    assert!(plan.userns);
    assert_eq!(plan.rlimits.unwrap().processes, Some(64));
    // ABI 2: no scopes, no truncate right; said, not refused.
    let notes = plan.report.notes.join("\n");
    assert!(
        notes.contains("signals and abstract unix sockets: NOT isolated"),
        "{notes}"
    );
    assert!(notes.contains("truncate"), "{notes}");

    let report = plan_report(
        SandboxConfig::default(),
        &user_host(Err("unshare(CLONE_NEWUSER) is refused".into())),
    );
    assert_eq!(report.missing.len(), 1, "{report}");
    assert!(report.missing[0].contains(DELEGATE_HINT), "{report}");
    assert!(report.missing[0].contains("CLONE_NEWUSER"), "{report}");
}

#[test]
fn missing_landlock_and_cgroup_fail_closed_unless_weaker_is_allowed() {
    let host = Host {
        landlock_abi: None,
        child_uids: Err("not mapped".into()),
        ..container_host()
    };
    let report = plan_report(SandboxConfig::default(), &host);
    assert_eq!(report.missing.len(), 3, "{report}");
    assert!(report.missing[0].starts_with("a uid per child"), "{report}");
    assert!(report.missing[1].starts_with("max_processes"), "{report}");
    assert!(report.missing[2].contains("landlock"), "{report}");
    assert!(!report.ok());
    assert!(report.to_string().contains("MISSING"));
    let weaker = SandboxConfig {
        allow_weaker: true,
        ..SandboxConfig::default()
    };
    let report = plan_report(weaker, &host);
    assert!(report.ok());
    assert!(report.to_string().contains("NOT ENFORCED"));
}

#[test]
fn no_network() {
    let sandbox = SandboxConfig {
        network: Network::None,
        allowed_paths: vec![AllowedPath {
            path: "/data".into(),
            writable: true,
        }],
        ..SandboxConfig::default()
    };
    let p = plan(&service(sandbox.clone()), &root_host());
    assert!(p.netns && !p.userns);
    let delegated = Host {
        pids_cgroup: v2(),
        ..user_host(Ok(()))
    };
    let p = plan(&service(sandbox.clone()), &delegated);
    assert!(
        p.netns && p.userns,
        "a non-root gateway needs a user namespace for it"
    );
    assert_eq!(p.bound, Some(ProcessBound::Cgroup));
    let restricted = Host {
        netns: Err("EPERM".into()),
        ..delegated
    };
    let report = plan(&service(sandbox), &restricted).report;
    assert_eq!(report.missing.len(), 1, "{report}");
    assert!(
        report.missing[0].starts_with("network \"none\": EPERM"),
        "{report}"
    );
}

#[test]
fn medium_and_none() {
    let medium = SandboxConfig {
        restricted_env: false,
        ..SandboxConfig::default()
    };
    assert_eq!(plan_report(medium, &root_host()).level, "Medium");
    let none = SandboxConfig {
        enabled: false,
        ..SandboxConfig::default()
    };
    let p = plan(&service(none), &root_host());
    assert_eq!(p.report.level, "None");
    assert!(!p.private_dir && p.rlimits.is_none() && p.landlock_abi.is_none());
    assert_eq!(p.identity, Identity::Gateway, "level None changes nothing");
    assert!(p.report.ok());
}

#[test]
fn seccomp_filters_at_high_unless_turned_off_and_fails_closed_without_it() {
    assert!(plan(&service(SandboxConfig::default()), &root_host()).seccomp);
    let medium = SandboxConfig {
        restricted_env: false,
        ..SandboxConfig::default()
    };
    let p = plan(&service(medium.clone()), &root_host());
    assert!(!p.seccomp, "level Medium: not by default");
    assert!(p.report.notes.iter().any(|n| n.contains("not filtered")));
    let asked = SandboxConfig {
        seccomp: Some(Seccomp::Default),
        ..medium
    };
    assert!(plan(&service(asked), &root_host()).seccomp);
    let off = SandboxConfig {
        seccomp: Some(Seccomp::Off),
        ..SandboxConfig::default()
    };
    let p = plan(&service(off), &root_host());
    assert!(!p.seccomp);
    assert!(p.report.to_string().contains("sandbox.seccomp is \"off\""));
    let allowing = SandboxConfig {
        seccomp_allow: vec!["ptrace".into()],
        ..SandboxConfig::default()
    };
    let report = plan_report(allowing, &root_host());
    let text = report.to_string();
    assert!(text.contains("(sandbox.seccomp_allow): ptrace"), "{text}");
    let unable = Host {
        seccomp: Err("this kernel refuses a seccomp filter (EINVAL)".into()),
        ..root_host()
    };
    let report = plan_report(SandboxConfig::default(), &unable);
    assert_eq!(report.missing.len(), 1, "{report}");
    assert!(report.missing[0].starts_with("seccomp filter:"), "{report}");
}
