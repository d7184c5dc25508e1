//! OpenTelemetry traces (issue 16): a receiver started here decodes the real OTLP protobufs
//! the gateway exports, over HTTP or gRPC (opentelemetry-proto's own `TraceService`). One REST
//! call and one MCP call each make one trace that continues the client's `traceparent` through
//! every hop, and the child receives the context of its `tools/call` span in
//! `_meta.traceparent`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use prost::Message;
use serde_json::{Value, json};
use tonic::server::NamedService;

use crate::front::client::Mcp;
use crate::support::*;

#[derive(Debug, Clone)]
struct Span {
    trace: String,
    id: String,
    parent: String,
    name: String,
    attributes: BTreeMap<String, String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

type Received = Arc<Mutex<Vec<Span>>>;

/// Keep every span of an export.
fn receive(request: ExportTraceServiceRequest, got: &Received) {
    let mut got = got.lock().unwrap();
    for rs in request.resource_spans {
        for ss in rs.scope_spans {
            for s in ss.spans {
                let attributes = s
                    .attributes
                    .iter()
                    .map(|kv| {
                        let value = match kv.value.as_ref().and_then(|v| v.value.clone()) {
                            Some(Any::StringValue(v)) => v,
                            Some(Any::IntValue(v)) => v.to_string(),
                            Some(Any::BoolValue(v)) => v.to_string(),
                            other => format!("{other:?}"),
                        };
                        (kv.key.clone(), value)
                    })
                    .collect();
                got.push(Span {
                    trace: hex(&s.trace_id),
                    id: hex(&s.span_id),
                    parent: hex(&s.parent_span_id),
                    name: s.name,
                    attributes,
                });
            }
        }
    }
}

/// An OTLP/HTTP receiver on a free port: every span it was sent.
async fn receiver() -> (String, Received) {
    let spans = Received::default();
    let got = spans.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let got = got.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf");
                receive(request, &got);
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, spans)
}

/// The OTLP gRPC `TraceService` of [`grpc_receiver`].
struct Collector(Received);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        receive(request.into_inner(), &self.0);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// An OTLP/gRPC receiver on a free port (HTTP/2 without TLS, as a collector's 4317): every span
/// it was sent.
async fn grpc_receiver() -> (String, Received) {
    let spans = Received::default();
    let service = TraceServiceServer::new(Collector(spans.clone()));
    let app = Router::new().route_service(
        &format!("/{}/Export", TraceServiceServer::<Collector>::NAME),
        service,
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let server = axum_server::from_tcp(listener);
    tokio::spawn(async move { server.serve(app.into_make_service()).await.unwrap() });
    (url, spans)
}

/// A remote MCP service (Streamable HTTP, JSON answers, no session) with one tool, `meta`: it
/// keeps the trace headers and the `_meta` of every `tools/call` it gets.
async fn recording_remote() -> (String, Arc<Mutex<Vec<Value>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let got = calls.clone();
    let app = Router::new().route(
        "/mcp",
        post(move |headers: HeaderMap, Json(request): Json<Value>| {
            let got = got.clone();
            async move {
                let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
                let result = match request["method"].as_str().unwrap_or_default() {
                    "initialize" => json!({"protocolVersion": "2025-06-18",
                        "capabilities": {"tools": {}}, "serverInfo": {"name": "recording", "version": "1"}}),
                    "tools/list" => {
                        json!({"tools": [{"name": "meta", "inputSchema": {"type": "object"}}]})
                    }
                    "tools/call" => {
                        got.lock().unwrap().push(json!({
                            "traceparent": header("traceparent"),
                            "tracestate": header("tracestate"),
                            "_meta": request["params"]["_meta"],
                        }));
                        json!({"content": [{"type": "text", "text": "recorded"}]})
                    }
                    _ => return StatusCode::ACCEPTED.into_response(),
                };
                Json(json!({"jsonrpc": "2.0", "id": request["id"], "result": result}))
                    .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

async fn traced_gateway(telemetry: Value) -> TestGateway {
    gateway_of(json!({"fx": fixture_service(&[])}), telemetry).await
}

async fn gateway_of(services: Value, telemetry: Value) -> TestGateway {
    let cfg = config(services, json!({ "telemetry": telemetry }));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    TestGateway::start_in(dir, &[("OTEL_BSP_SCHEDULE_DELAY", "50")]).await
}

/// The spans of `trace` once every name in `names` has arrived.
async fn trace_of(spans: &Received, trace: &str, names: &[&str]) -> Vec<Span> {
    let has_all = || {
        let spans = spans.lock().unwrap();
        names
            .iter()
            .all(|n| spans.iter().any(|s| s.trace == trace && s.name == *n))
    };
    wait_until(30, "the trace's spans at the receiver", has_all).await;
    let spans = spans.lock().unwrap();
    spans.iter().filter(|s| s.trace == trace).cloned().collect()
}

fn named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no {name} span in {spans:#?}"))
}

/// Whether `span` descends from `ancestor` within `spans`.
fn descends(spans: &[Span], span: &Span, ancestor: &Span) -> bool {
    let mut current = span;
    for _ in 0..32 {
        if current.parent == ancestor.id {
            return true;
        }
        match spans.iter().find(|s| s.id == current.parent) {
            Some(parent) => current = parent,
            None => return false,
        }
    }
    false
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const HTTP_CALL: &str = "POST /services/{name}/call";
const CALLER: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn a_rest_call_is_one_trace_through_every_hop_into_the_child() {
    let (endpoint, spans) = receiver().await;
    let gw = traced_gateway(json!({"otlp_endpoint": endpoint, "sampling_ratio": 1.0})).await;
    a_rest_call_is_one_trace(&gw, &spans).await;
}

#[tokio::test]
async fn over_grpc_the_same_spans_arrive() {
    let (endpoint, spans) = grpc_receiver().await;
    let gw = traced_gateway(json!({"otlp_endpoint": endpoint, "protocol": "grpc"})).await;
    a_rest_call_is_one_trace(&gw, &spans).await;
}

#[tokio::test]
async fn a_remote_service_gets_the_calls_context_as_headers_too() {
    let (endpoint, spans) = receiver().await;
    let (url, calls) = recording_remote().await;
    let gw = gateway_of(
        json!({"far": {"url": url}}),
        json!({"otlp_endpoint": endpoint}),
    )
    .await;
    let response = gw
        .http
        .post(gw.url("/services/far/call"))
        .bearer_auth(TOKEN)
        .header("traceparent", format!("00-{TRACE}-{CALLER}-01"))
        .header("tracestate", "vendor=opaque")
        .json(&json!({"tool": "meta", "session_id": "far", "arguments": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let trace = trace_of(&spans, TRACE, &[HTTP_CALL, "tools/call meta"]).await;
    let context = format!("00-{TRACE}-{}-01", named(&trace, "tools/call meta").id);
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!(call["traceparent"], context, "the header: {call}");
    assert_eq!(call["_meta"]["traceparent"], context, "{call}");
    assert_eq!(call["tracestate"], "vendor=opaque", "{call}");
    assert_eq!(call["_meta"]["tracestate"], "vendor=opaque", "{call}");
}

/// A REST call with a caller's `traceparent`, and the trace that `spans` receives of it.
async fn a_rest_call_is_one_trace(gw: &TestGateway, spans: &Received) {
    let response = gw
        .http
        .post(gw.url("/services/fx/call"))
        .bearer_auth(TOKEN)
        .header("traceparent", format!("00-{TRACE}-{CALLER}-01"))
        .json(&json!({"tool": "meta", "session_id": "traced", "arguments": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let meta: Value = serde_json::from_str(body["result"].as_str().unwrap()).unwrap();

    let trace = trace_of(
        spans,
        TRACE,
        &[
            HTTP_CALL,
            "auth",
            "session",
            "spawn",
            "initialize",
            "tools/call meta",
        ],
    )
    .await;
    let http = named(&trace, HTTP_CALL);
    assert_eq!(
        http.parent, CALLER,
        "the client's traceparent is the parent"
    );
    assert_eq!(http.attributes["http.route"], "/services/{name}/call");
    assert_eq!(http.attributes["http.response.status_code"], "200");
    assert_eq!(named(&trace, "auth").attributes["mcp.principal"], "bearer");
    let session = named(&trace, "session");
    assert_eq!(session.attributes["mcp.session.id"], "traced");
    let call = named(&trace, "tools/call meta");
    assert_eq!(call.attributes["gen_ai.tool.name"], "meta");
    assert_eq!(call.attributes["mcp.method.name"], "tools/call");
    for hop in ["auth", "session", "spawn", "initialize", "tools/call meta"] {
        assert!(
            descends(&trace, named(&trace, hop), http),
            "{hop} under HTTP: {trace:#?}"
        );
    }
    assert!(descends(&trace, call, session));
    assert!(descends(&trace, named(&trace, "spawn"), session));
    // The child got the tools/call span's own context.
    assert_eq!(
        meta["traceparent"],
        format!("00-{TRACE}-{}-01", call.id),
        "{meta}"
    );
    // The spans that make traces are not log context: what was logged inside them (the
    // child's start, under `session`) shows only the log's own spans.
    wait_until(10, "the child's start in the log", || {
        gw.log().contains("child started service=fx session=traced")
    })
    .await;
    let log = gw.log();
    for span in [
        "HTTP{",
        "auth{",
        "session{",
        "spawn{",
        "initialize{",
        "tools/call{",
    ] {
        assert!(!log.contains(span), "{span} in the log:\n{log}");
    }
}

#[tokio::test]
async fn an_mcp_call_continues_the_trace_and_sampling_zero_records_only_sampled_callers() {
    let (endpoint, spans) = receiver().await;
    let gw = traced_gateway(json!({"otlp_endpoint": endpoint, "sampling_ratio": 0.0})).await;
    // No traceparent: a new trace, sampled out at ratio 0.
    gw.call_ok("fx", "unsampled", "echo", json!({"text": "x"}))
        .await;
    // A caller that samples: its trace is recorded whatever the ratio.
    let mcp = Mcp::open(&gw, "/services/fx/mcp").await;
    let response = mcp
        .with_headers(mcp.gw.http.post(mcp.gw.url(&mcp.path)))
        .header("traceparent", format!("00-{TRACE}-{CALLER}-01"))
        .json(&json!({"jsonrpc": "2.0", "id": 77, "method": "tools/call", "params": {"name": "meta", "arguments": {}}}))
        .send()
        .await
        .unwrap();
    let messages = crate::front::client::messages(response).await;
    let answer = messages.last().unwrap();
    let meta: Value =
        serde_json::from_str(answer["result"]["content"][0]["text"].as_str().unwrap()).unwrap();

    let trace = trace_of(
        &spans,
        TRACE,
        &[
            "POST /services/{name}/mcp",
            "mcp tools/call",
            "tools/call meta",
        ],
    )
    .await;
    let mcp_span = named(&trace, "mcp tools/call");
    assert_eq!(mcp_span.attributes["mcp.method.name"], "tools/call");
    assert_eq!(
        mcp_span.parent,
        named(&trace, "POST /services/{name}/mcp").id
    );
    let call = named(&trace, "tools/call meta");
    assert!(descends(&trace, call, mcp_span), "{trace:#?}");
    assert_eq!(meta["traceparent"], format!("00-{TRACE}-{}-01", call.id));
    let others: Vec<Span> = spans
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.trace != TRACE)
        .cloned()
        .collect();
    assert!(others.is_empty(), "sampled out, yet exported: {others:#?}");
}

#[test]
fn validate_names_bad_telemetry_keys() {
    let cfg = config(
        json!({"fx": fixture_service(&[])}),
        json!({"telemetry": {"otlp_endpoint": "grpc://collector:4317", "sampling_ratio": 2, "protocol": "http/json"}}),
    );
    let (code, text) = validate("config.json", &cfg);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(
            r#"telemetry.otlp_endpoint: grpc:// is not a scheme of OTLP: for gRPC write http://host:4317 and set telemetry.protocol to "grpc""#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"telemetry.protocol: unknown value "http/json": use "http/protobuf" or "grpc""#
        ),
        "{text}"
    );
    assert!(
        text.contains("telemetry.sampling_ratio: must be a number from 0 to 1"),
        "{text}"
    );
}
