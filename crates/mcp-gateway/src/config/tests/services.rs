//! `services.<name>.*`.

use super::*;

// ---- services ----

#[test]
fn service_keys() {
    let json = r#"{"services": {"s": {
        "command": ["srv"], "description": "d", "cwd": "/srv",
        "env": {"A": "1", "B": ""}, "call_timeout": 2.5, "startup_timeout": "5",
        "max_line_bytes": 1024, "stop_grace": 0.5,
        "sandbox": {"enabled": false, "resource_limits": "false", "restricted_env": false,
                    "drop_privileges": true, "cpu_seconds": 1, "memory_mb": "2048",
                    "max_processes": 3, "max_file_size_mb": 4, "filesystem": "host",
                    "network": "none", "allow_weaker": true, "user": "gateway"}
    }}}"#;
    let s = service(json);
    assert_eq!(s.description, "d");
    assert_eq!(s.cwd, Some(PathBuf::from("/srv")));
    assert_eq!(
        s.env,
        [("A".into(), "1".into()), ("B".into(), String::new())].into()
    );
    assert_eq!(s.call_timeout, Duration::from_millis(2500));
    assert_eq!(s.startup_timeout, Duration::from_secs(5));
    assert_eq!(s.max_line_bytes, 1024);
    assert_eq!(s.stop_grace, Duration::from_millis(500));
    let expected = SandboxConfig {
        enabled: false,
        resource_limits: false,
        restricted_env: false,
        drop_privileges: true,
        user: ChildUser::Gateway,
        allowed_paths: Vec::new(),
        filesystem: Filesystem::Host,
        network: Network::None,
        allow_weaker: true,
        seccomp: None,
        seccomp_allow: Vec::new(),
        limits: ResourceLimits {
            cpu_seconds: 1,
            memory_mb: 2048,
            max_processes: 3,
            max_file_size_mb: 4,
        },
    };
    assert_eq!(s.sandbox, expected);
}

#[test]
fn command_is_required_and_must_be_strings() {
    check_error(
        r#"{"services": {"s": {}}}"#,
        "services.s.command",
        "required",
    );
    check_error(
        r#"{"services": {"s": {"command": null}}}"#,
        "services.s.command",
        "required",
    );
    check_error(
        r#"{"services": {"s": {"command": []}}}"#,
        "services.s.command",
        "not be empty",
    );
    check_error(
        r#"{"services": {"s": {"command": "python3 srv.py"}}}"#,
        "services.s.command",
        "expected an array of strings",
    );
    check_error(
        r#"{"services": {"s": {"command": ["srv", 8080]}}}"#,
        "services.s.command[1]",
        r#"expected a string, got a number (write "8080")"#,
    );
    check_error(
        r#"{"services": {"s": {"command": ["", "x"]}}}"#,
        "services.s.command[0]",
        "program must not be empty",
    );
    let errors = errors(r#"{"services": {"s": {"command": [1, "ok", null]}}}"#);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].starts_with("services.s.command[0]: "));
    assert!(errors[1].starts_with("services.s.command[2]: expected a string, got null"));
}

#[test]
fn service_names_are_restricted() {
    let long = "x".repeat(65);
    for name in ["a.b", "with space", "é", long.as_str()] {
        let json = format!(r#"{{"services": {{"{name}": {{"command": ["srv"]}}}}}}"#);
        check_error(&json, &format!("services.{name}"), "invalid service name");
    }
    let ok_name = "A-z_09".to_owned() + &"x".repeat(58);
    let json = format!(r#"{{"services": {{"{ok_name}": {{"command": ["srv"]}}}}}}"#);
    assert!(config(&json).services.contains_key(&ok_name));
    check_error(
        r#"{"services": {"s": ["srv"]}}"#,
        "services.s",
        "expected an object",
    );
    check_error(
        r#"{"services": ["s"]}"#,
        "services",
        "expected an object, got an array",
    );
}

#[test]
fn disabled_services_are_listed_and_their_problems_are_warnings() {
    let json = r#"{"services": {
        "on": {"command": ["a"]},
        "off": {"command": ["b"], "enabled": false},
        "broken": {"enabled": "false", "call_timeout": 0}
    }}"#;
    let loaded = ok(json);
    assert_eq!(loaded.config.services.keys().collect::<Vec<_>>(), ["on"]);
    assert_eq!(loaded.config.disabled_services, ["broken", "off"]);
    check_warning(json, "services.broken.command", "(service is disabled)");
    check_warning(
        json,
        "services.broken.call_timeout",
        "(service is disabled)",
    );
}

#[test]
fn cwd_falls_back_to_sandbox_working_dir() {
    let s = service(&with_service(r#""sandbox": {"working_dir": "/w"}"#));
    assert_eq!(s.cwd, Some(PathBuf::from("/w")));
    let json = with_service(r#""cwd": "/c", "sandbox": {"working_dir": "/w"}"#);
    assert_eq!(service(&json).cwd, Some(PathBuf::from("/c")));
    check_warning(&json, "services.s.cwd", "using cwd");
}

#[test]
fn env_values_must_be_strings() {
    let s = service(&with_service(
        r#""env": {"A": "x", "NUM": "12345", "GONE": null}"#,
    ));
    assert_eq!(
        s.env,
        [("A".into(), "x".into()), ("NUM".into(), "12345".into())].into()
    );
    check_error(
        &with_service(r#""env": {"N": 1}"#),
        "services.s.env.N",
        r#"expected a string, got a number (environment values are strings: write "1")"#,
    );
    check_error(
        &with_service(r#""env": {"B": true}"#),
        "services.s.env.B",
        "got a boolean",
    );
    check_error(
        &with_service(r#""env": {"A=B": "x"}"#),
        "services.s.env.A=B",
        "invalid",
    );
    check_error(
        &with_service(r#""env": ["A=1"]"#),
        "services.s.env",
        "expected an object",
    );
}

#[test]
fn allowed_paths_forms() {
    let json = with_service(
        r#""sandbox": {"note": "free text", "allowed_paths": ["/ro", {"path": "/rw", "writable": true}, {"path": "/ro2"}]}"#,
    );
    let paths = service(&json).sandbox.allowed_paths;
    let expected =
        [("/ro", false), ("/rw", true), ("/ro2", false)].map(|(p, writable)| AllowedPath {
            path: p.into(),
            writable,
        });
    assert_eq!(paths, expected);
    // `note` never warns; the plain (read-only) path does, once, naming how to allow writes.
    let w = warnings(&json);
    assert_eq!(w.len(), 1, "{w:#?}");
    assert!(
        w[0].contains("services.s.sandbox.allowed_paths[0]"),
        "{w:#?}"
    );
    assert!(
        w[0].contains(r#"{"path": "/ro", "writable": true}"#),
        "{w:#?}"
    );
    check_error(
        &with_service(r#""sandbox": {"allowed_paths": [{"writable": true}]}"#),
        "services.s.sandbox.allowed_paths[0].path",
        "required",
    );
    check_error(
        &with_service(r#""sandbox": {"allowed_paths": [3]}"#),
        "services.s.sandbox.allowed_paths[0]",
        "got a number",
    );
}

#[test]
fn seccomp_is_a_choice_and_its_allow_list_names_refused_calls() {
    let s = service(&with_service(r#""sandbox": {}"#));
    assert_eq!(
        (s.sandbox.seccomp, s.sandbox.seccomp_allow.len()),
        (None, 0)
    );
    let s = service(&with_service(
        r#""sandbox": {"seccomp": "off", "seccomp_allow": ["ptrace", "clone3"]}"#,
    ));
    assert_eq!(s.sandbox.seccomp, Some(Seccomp::Off));
    assert_eq!(s.sandbox.seccomp_allow, ["ptrace", "clone3"]);
    check_error(
        &with_service(r#""sandbox": {"seccomp": "strict"}"#),
        "services.s.sandbox.seccomp",
        "expected one of \"default\", \"off\", got \"strict\"",
    );
    check_error(
        &with_service(r#""sandbox": {"seccomp_allow": ["read"]}"#),
        "services.s.sandbox.seccomp_allow[0]",
        "\"read\" is not a system call the seccomp filter refuses",
    );
    check_error(
        &with_service(r#""sandbox": {"seccomp_allow": "ptrace"}"#),
        "services.s.sandbox.seccomp_allow",
        "expected an array of system call names",
    );
}

#[test]
fn sandbox_choices_name_the_allowed_values() {
    check_error(
        &with_service(r#""sandbox": {"network": "off"}"#),
        "services.s.sandbox.network",
        "expected one of \"host\", \"none\", got \"off\"",
    );
    let s = service(&with_service(r#""sandbox": {}"#));
    assert_eq!(s.sandbox.filesystem, Filesystem::Isolated);
    assert_eq!(s.sandbox.network, Network::Host);
    assert!(!s.sandbox.allow_weaker);
}

#[test]
fn warm_pool_defaults_to_zero_and_is_bounded() {
    assert_eq!(
        service(r#"{"services": {"s": {"command": ["srv"]}}}"#).warm_pool,
        0
    );
    let s = service(r#"{"services": {"s": {"command": ["srv"], "warm_pool": "3"}}}"#);
    assert_eq!(s.warm_pool, 3);
    check_error(
        r#"{"services": {"s": {"command": ["srv"], "warm_pool": -1}}}"#,
        "services.s.warm_pool",
        "",
    );
}

#[test]
fn metrics_section() {
    let c = config("{}");
    assert_eq!(
        c.metrics,
        MetricsConfig {
            enabled: true,
            require_auth: true
        }
    );
    let c = config(r#"{"metrics": {"enabled": false, "require_auth": "false"}}"#);
    assert!(!c.metrics.enabled && !c.metrics.require_auth);
    check_warning(r#"{"metrics": {"path": "/m"}}"#, "metrics.path", "");
}
