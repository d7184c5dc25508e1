//! HTTPS (explicit cert/key and the upstream `certs/server.pem` convention) and log outputs.

use serde_json::{Value, json};

use crate::support::*;

/// A self-signed certificate for localhost: (cert PEM, key PEM).
fn self_signed() -> (String, String) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    (cert.cert.pem(), cert.signing_key.serialize_pem())
}

fn https_client(cert_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

async fn check_https(gw: &TestGateway, cert_pem: &str) {
    assert!(gw.base.starts_with("https://"), "{}", gw.base);
    // Reach it by name so the certificate's SAN matches.
    let base = gw.base.replace("127.0.0.1", "localhost");
    let client = https_client(cert_pem);
    let resp = within(
        30,
        "https health",
        client.get(format!("{base}/health")).send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    let resp = client
        .get(format!("{base}/services"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::Client::new()
        .get(format!("{}/health", gw.base.replace("https://", "http://")))
        .send()
        .await;
    assert!(plain.map(|r| r.status() != 200).unwrap_or(true));
}

#[tokio::test]
async fn https_with_cert_and_key_files() {
    let (cert, key) = self_signed();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), &cert).unwrap();
    std::fs::write(dir.path().join("key.pem"), &key).unwrap();
    let cfg = config(
        json!({}),
        json!({"server": {"tls_cert": "cert.pem", "tls_key": "key.pem"}}),
    );
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    let gw = TestGateway::start_in(dir, &[]).await;
    check_https(&gw, &cert).await;
}

#[tokio::test]
async fn https_with_the_upstream_certs_server_pem() {
    let (cert, key) = self_signed();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("certs")).unwrap();
    std::fs::write(dir.path().join("certs/server.pem"), format!("{cert}{key}")).unwrap();
    let cfg = config(json!({}), json!({}));
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    let gw = TestGateway::start_in(dir, &[]).await;
    check_https(&gw, &cert).await;
}

#[tokio::test]
async fn json_logs_go_to_the_log_file_with_security_events() {
    let gw = TestGateway::start(config(
        json!({"fx": fixture_service(&[])}),
        json!({"logging": {"level": "INFO", "format": "json", "file": "gateway.log"}}),
    ))
    .await;
    gw.call_ok("fx", "s1", "echo", json!({"text": "secret-argument"}))
        .await;
    let resp = gw
        .http
        .get(gw.url("/services"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let path = gw.path().join("gateway.log");
    let mut records: Vec<Value> = Vec::new();
    wait_until(
        15,
        "tool_call and auth_failed records in the log file",
        || {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            records = text
                .lines()
                .map(|l| serde_json::from_str(l).expect("every line is JSON"))
                .collect();
            let has = |kind: &str| records.iter().any(|r| r["fields"]["event_type"] == kind);
            has("tool_call") && has("auth_failed")
        },
    )
    .await;
    let call = records
        .iter()
        .find(|r| r["fields"]["event_type"] == "tool_call")
        .unwrap();
    assert_eq!(call["fields"]["service"], "fx");
    assert_eq!(call["fields"]["session_id"], "s1");
    assert_eq!(call["target"], "security");
    let denied = records
        .iter()
        .find(|r| r["fields"]["event_type"] == "auth_failed")
        .unwrap();
    assert_eq!(denied["fields"]["ip"], "127.0.0.1");
    // Arguments are not logged below DEBUG.
    assert!(
        !std::fs::read_to_string(&path)
            .unwrap()
            .contains("secret-argument")
    );
}
