//! `GET /metrics`: content after real traffic, and its auth settings.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

/// The value of the first series line starting with `prefix` (0 when absent).
pub fn value(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

pub async fn scrape(gw: &TestGateway) -> String {
    let (status, body) = gw.get("/metrics").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_str().expect("metrics are text").to_string()
}

#[tokio::test]
async fn metrics_count_requests_calls_spawns_exits_and_stderr() {
    let gw = TestGateway::start(config(
        json!({ "fx": fixture_service(&["--stderr-at-start", "100"]) }),
        json!({}),
    ))
    .await;
    for _ in 0..3 {
        gw.call_ok("fx", "a", "echo", json!({"text": "x"})).await;
    }
    gw.call_ok("fx", "b", "echo", json!({"text": "x"})).await;
    let (status, _) = gw.call("fx", "b", "crash", json!({})).await;
    assert!(!status.is_success());
    let (status, _) = gw.get("/services/fx/tools").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = gw.delete("/sessions/a").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = gw.get("/no/such/path").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let mut text = String::new();
    for _ in 0..250 {
        text = scrape(&gw).await;
        if value(
            &text,
            "mcp_gateway_child_exits_total{service=\"fx\",cause=\"deleted\"}",
        ) >= 1.0
            && value(
                &text,
                "mcp_gateway_child_exits_total{service=\"fx\",cause=\"crashed\"}",
            ) >= 1.0
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let expect = |prefix: &str, at_least: f64| {
        let v = value(&text, prefix);
        assert!(v >= at_least, "{prefix} = {v}, want >= {at_least}\n{text}");
    };
    expect(
        "mcp_gateway_http_requests_total{route=\"/services/{service}/call\",method=\"POST\",status=\"200\"}",
        4.0,
    );
    expect(
        "mcp_gateway_http_requests_total{route=\"/sessions/{id}\",method=\"DELETE\",status=\"200\"}",
        1.0,
    );
    expect(
        "mcp_gateway_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"}",
        1.0,
    );
    expect(
        "mcp_gateway_tool_call_seconds_count{service=\"fx\",outcome=\"ok\"}",
        4.0,
    );
    // Two session children, plus the startup discovery child.
    expect(
        "mcp_gateway_spawns_total{service=\"fx\",outcome=\"ok\"}",
        2.0,
    );
    expect("mcp_gateway_spawn_seconds_count{service=\"fx\"}", 2.0);
    expect(
        "mcp_gateway_child_exits_total{service=\"fx\",cause=\"deleted\"}",
        1.0,
    );
    expect(
        "mcp_gateway_child_exits_total{service=\"fx\",cause=\"crashed\"}",
        1.0,
    );
    expect(
        "mcp_gateway_child_stderr_bytes_total{service=\"fx\"}",
        200.0,
    );
    assert_eq!(value(&text, "mcp_gateway_sessions "), 1.0, "{text}");
    assert!(text.contains("mcp_gateway_children "), "{text}");
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
}

#[tokio::test]
async fn metrics_need_auth_by_default() {
    let gw = TestGateway::start(config(json!({ "fx": fixture_service(&[]) }), json!({}))).await;
    let resp = gw.http.get(gw.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = gw
        .http
        .get(gw.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
}

#[tokio::test]
async fn metrics_can_be_open_or_off() {
    let open = TestGateway::start(config(
        json!({ "fx": fixture_service(&[]) }),
        json!({ "metrics": { "require_auth": false } }),
    ))
    .await;
    let resp = open.http.get(open.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let off = TestGateway::start(config(
        json!({ "fx": fixture_service(&[]) }),
        json!({ "metrics": { "enabled": false } }),
    ))
    .await;
    let (status, _) = off.get("/metrics").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
