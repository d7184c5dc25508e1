//! The files around the gateway: scripts named beside the config (issue 17, defect 0) and a
//! `session.sandbox_dir` that holds other data (defect 1).

use std::path::PathBuf;

use serde_json::json;

use super::*;

/// The seed's layout: config.json beside the server scripts, named with and without `./`
/// (issue 17, defect 0). Both start under the default level; the config stays unreadable even
/// though the directory that holds it is readable for the scripts' sake.
#[tokio::test]
async fn scripts_named_without_a_slash_run_and_the_config_beside_them_stays_closed() {
    let dir = tempfile::tempdir().unwrap();
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/servers");
    for script in ["greeter_mcp.py", "todo_mcp.py"] {
        std::fs::copy(examples.join(script), dir.path().join(script)).unwrap();
    }
    // The fixture, copied beside them too: a program in the working directory.
    std::fs::copy(fixture_bin(), dir.path().join("mcp-fixture")).unwrap();
    let cfg = config(
        json!({
            "greeter": {"command": ["python3", "greeter_mcp.py"], "env": {"API_KEY": "config-secret-token"}},
            "todo": {"command": ["python3", "./todo_mcp.py"]},
            "local": {"command": ["./mcp-fixture"]},
        }),
        json!({}),
    );
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    let gw = TestGateway::start_in(dir, &[]).await;
    let greet = gw
        .call_ok("greeter", "s", "greet", json!({"name": "Ada"}))
        .await;
    assert_eq!(greet, "Hello, Ada!", "{}", gw.log());
    gw.call_ok("todo", "s", "add_todo", json!({"text": "milk"}))
        .await;
    for path in [
        "config.json",
        "./config.json",
        &s(&gw.path().join("config.json")),
    ] {
        let err = attempt(&gw, "local", "s", "read_file", json!({"path": path}))
            .await
            .expect_err(&format!("{path} must stay unreadable"));
        assert!(err.contains("Permission denied"), "{path}: {err}");
        assert!(!err.contains("config-secret-token"), "{err}");
    }
    // The scripts beside it are readable to the child that runs from there.
    attempt(
        &gw,
        "local",
        "s",
        "read_file",
        json!({"path": "greeter_mcp.py"}),
    )
    .await
    .expect("a script beside the program");
}

/// The landlock rules of a service are kept between spawns (issue 12): what changes beside a
/// carved-out config must still reach the next child, as it did when every spawn computed
/// them afresh: a file added, and a file replaced by a rename (as editors and
/// `/etc/resolv.conf` managers do).
#[tokio::test]
async fn the_next_child_sees_files_added_or_replaced_beside_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture_bin(), dir.path().join("mcp-fixture")).unwrap();
    std::fs::write(dir.path().join("data.txt"), "v1").unwrap();
    let cfg = config(json!({"local": {"command": ["./mcp-fixture"]}}), json!({}));
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    let gw = TestGateway::start_in(dir, &[]).await;
    let read = |session: &'static str, path: &'static str| {
        let gw = &gw;
        async move { attempt(gw, "local", session, "read_file", json!({"path": path})).await }
    };
    assert_eq!(read("s1", "data.txt").await.unwrap(), "v1");
    attempt(
        &gw,
        "local",
        "s1",
        "read_file",
        json!({"path": "config.json"}),
    )
    .await
    .expect_err("the config stays carved out");

    std::fs::write(gw.path().join("added.txt"), "new").unwrap();
    let tmp = gw.path().join("data.txt.tmp");
    std::fs::write(&tmp, "v2").unwrap();
    std::fs::rename(&tmp, gw.path().join("data.txt")).unwrap();
    assert_eq!(
        read("s2", "added.txt").await.unwrap(),
        "new",
        "{}",
        gw.log()
    );
    assert_eq!(read("s2", "data.txt").await.unwrap(), "v2");
    let err = read("s2", "config.json")
        .await
        .expect_err("still carved out");
    assert!(err.contains("Permission denied"), "{err}");
    // A child started before the change keeps the snapshot it started with.
    let old = read("s1", "added.txt")
        .await
        .expect_err("s1's rules predate the file");
    assert!(old.contains("Permission denied"), "{old}");
}

/// The startup sweep removes only what a gone gateway provably made (issue 17, defect 1):
/// a folder of user data as `session.sandbox_dir` keeps every entry, and `validate` warns.
#[tokio::test]
async fn the_startup_sweep_leaves_user_data_in_the_sandbox_dir_alone() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("sandbox");
    for name in ["2024-reports", "1-archive", "9999999-fx-s-0123456789ab"] {
        std::fs::create_dir_all(sandbox.join(name)).unwrap();
        std::fs::write(sandbox.join(name).join("data.txt"), b"keep me").unwrap();
    }
    let cfg = config(json!({"fx": hostile(json!({}))}), json!({}));
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    let gw = TestGateway::start_in(dir, &[]).await;
    gw.call_ok("fx", "s", "echo", json!({"text": "up"})).await;
    for name in ["2024-reports", "1-archive", "9999999-fx-s-0123456789ab"] {
        let file = gw.path().join("sandbox").join(name).join("data.txt");
        assert!(
            file.exists(),
            "{} was removed; log:\n{}",
            file.display(),
            gw.log()
        );
    }
    let report = validate_report(&gw);
    assert!(
        report.contains("holds entries the gateway did not make")
            && report.contains("1-archive, 2024-reports, 9999999-fx-s-0123456789ab"),
        "{report}"
    );
}
