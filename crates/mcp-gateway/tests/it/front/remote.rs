//! Remote services (`"url"` instead of `command`): server-everything over Streamable HTTP
//! behind the REST API and `/mcp`; a remote that goes down gives a clear error, and recovers.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use super::client::*;
use crate::support::*;

struct Remote {
    child: Child,
}

impl Remote {
    async fn start(port: u16) -> Self {
        let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../.test-peers/node/node_modules/.bin/mcp-server-everything");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/install-test-peers.sh",
            bin.display()
        );
        let child = Command::new(bin)
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start server-everything streamableHttp");
        within(30, "server-everything listens", async {
            while tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err()
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        Self { child }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn remote_service_over_streamable_http_fails_clearly_and_recovers() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut remote = Remote::start(port).await;
    let url = format!("http://127.0.0.1:{port}/mcp");
    let gw = TestGateway::start(config(
        json!({
            "remote": {"url": url, "headers": {"X-Upstream-Token": "secret"}, "description": "remote everything"},
            "fx": fixture_service(&[]),
        }),
        json!({}),
    ))
    .await;

    // REST.
    assert_eq!(
        gw.call_ok("remote", "r1", "echo", json!({"message": "hi"}))
            .await,
        "Echo: hi"
    );

    // MCP front door: prefixed names, progress relayed from the remote SSE stream.
    let mut mcp = Mcp::open(&gw, "/mcp").await;
    let names = mcp.tool_names().await;
    assert!(names.contains(&"remote__echo".to_string()), "{names:?}");
    let messages = mcp
        .exchange(
            "tools/call",
            json!({"name": "remote__trigger-long-running-operation",
                   "arguments": {"duration": 1, "steps": 2}, "_meta": {"progressToken": "r"}}),
        )
        .await;
    let progress = messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .count();
    assert_eq!(progress, 2, "{messages:?}");
    assert!(
        messages.last().unwrap()["result"]["content"].is_array(),
        "{messages:?}"
    );

    // Down: a clear error naming the remote.
    remote.stop();
    let (status, body) = gw
        .call("remote", "r1", "echo", json!({"message": "down"}))
        .await;
    assert!(status.is_server_error(), "{status} {body}");
    assert!(
        body.to_string().contains(&format!("127.0.0.1:{port}")),
        "{body}"
    );

    // Back: the same session reconnects.
    let _remote = Remote::start(port).await;
    let mut back = None;
    within(30, "the remote service is used again", async {
        loop {
            let (status, body) = gw
                .call("remote", "r1", "echo", json!({"message": "back"}))
                .await;
            if status == 200 {
                back = Some(body);
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert_eq!(back.unwrap()["result"], "Echo: back");
}
