//! OpenTelemetry traces (`telemetry.otlp_endpoint`, docs/telemetry.md): spans of target
//! [`TARGET`] go to an OTLP collector (over HTTP or gRPC) through `tracing-opentelemetry`;
//! nothing else does. A request's trace continues the client's `traceparent` header, and a
//! `tools/call` passes its own context on to the child in `params._meta.traceparent` (and to a
//! remote service in the `traceparent` header as well).
//!
//! Sampling is decided once per request, before any of its spans exists ([`sampled`]): a
//! request that is not traced runs outside [`in_trace`], where the one global filter
//! ([`gate`]) refuses every span of [`TARGET`] before anything is built, so a sampled-out
//! request costs about what it costs with telemetry off. Work outside requests (warm pools,
//! discovery) makes no spans.

use std::collections::HashMap;

use axum::http::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::Filter;
use tracing_subscriber::{Layer, Registry};

use crate::config::{OtlpProtocol, TelemetryConfig};

/// The target of the spans that make traces (and of nothing else).
pub(crate) const TARGET: &str = "otel";

tokio::task_local! {
    /// Set while a traced request runs: spans of [`TARGET`] are built only then.
    static TRACED: ();
}

/// Whether the running task belongs to a traced request.
pub(crate) fn traced() -> bool {
    TRACED.try_with(|()| ()).is_ok()
}

/// Run `work` as part of a traced request (`traced`), or as it is.
pub(crate) async fn in_trace<F: std::future::Future>(traced: bool, work: F) -> F::Output {
    if traced {
        TRACED.scope((), work).await
    } else {
        work.await
    }
}

/// Whether a request is traced: as its caller's `traceparent` says (sampled flag), else for
/// the share `ratio` of requests.
pub(crate) fn sampled(headers: &HeaderMap, ratio: f64) -> bool {
    if let Some(parent) = headers.get("traceparent").and_then(|v| v.to_str().ok()) {
        let flags = parent.rsplit('-').next().unwrap_or("");
        if let Ok(flags) = u8::from_str_radix(flags, 16) {
            return flags & 1 == 1;
        }
    }
    // No draw at the ends: 0 and 1 are the usual settings.
    ratio >= 1.0 || (ratio > 0.0 && fastrand::f64() < ratio)
}

/// The global filter in front of every layer while traces are on: a span or event of
/// [`TARGET`] passes only inside a traced request ([`traced`], asked at each span: its call
/// sites are the only ones not cached), anything else goes on to the log filter. Being global,
/// it refuses a sampled-out request's spans before the registry or any layer sees them.
pub(crate) fn gate<S: tracing::Subscriber>() -> impl Layer<S> + Send + Sync {
    tracing_subscriber::filter::DynFilterFn::new(|meta, _| meta.target() != TARGET || traced())
        .with_callsite_filter(|meta| {
            if meta.target() == TARGET {
                tracing::subscriber::Interest::sometimes()
            } else {
                tracing::subscriber::Interest::always()
            }
        })
}

/// The per-layer filter of the log layers while traces are on: they never see [`TARGET`].
pub(crate) fn not_traces<S>() -> impl Filter<S> + Send + Sync {
    tracing_subscriber::filter::filter_fn(|meta| meta.target() != TARGET)
}

/// The per-layer filter of the trace layer: it sees only [`TARGET`] (whether a request is
/// traced is [`gate`]'s).
pub(crate) fn only_traces<S>() -> impl Filter<S> + Send + Sync {
    tracing_subscriber::filter::filter_fn(|meta| meta.target() == TARGET)
}

/// The exporter of a running gateway: flushes what is left at [`Telemetry::shutdown`].
pub(crate) struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Export what is still buffered (at exit).
    pub(crate) fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "cannot flush the last traces");
        }
    }
}

/// The layer that turns [`TARGET`] spans into OTLP spans, and its exporter; `None` without
/// `telemetry.otlp_endpoint`. A gRPC exporter's channel runs on `runtime`, which must outlive
/// [`Telemetry::shutdown`].
pub(crate) type TraceLayer = Box<dyn Layer<Registry> + Send + Sync>;

pub(crate) fn layer(
    config: &TelemetryConfig,
    runtime: &tokio::runtime::Handle,
) -> anyhow::Result<Option<(TraceLayer, Telemetry)>> {
    let Some(endpoint) = &config.otlp_endpoint else {
        return Ok(None);
    };
    let exporter = match config.protocol {
        OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{endpoint}/v1/traces"))
            .with_timeout(config.export_timeout)
            .build(),
        OtlpProtocol::Grpc => {
            let _runtime = runtime.enter();
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .with_timeout(config.export_timeout)
                .build()
        }
    }
    .map_err(|e| anyhow::anyhow!("telemetry.otlp_endpoint {endpoint}: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(config.service_name.clone())
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        // Requests are sampled before their spans exist (`sampled`): every span built is kept.
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("mcp-gateway");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(only_traces())
        .boxed();
    Ok(Some((layer, Telemetry { provider })))
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Make `span` continue the trace of the request's `traceparent` (and `tracestate`).
pub(crate) fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
    if span.is_disabled() || !headers.contains_key("traceparent") {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    let _ = span.set_parent(parent);
}

/// The W3C trace context of `span` to pass on: `traceparent`, and `tracestate` when the trace
/// has one (each named as its header is); empty when the span is not recorded.
pub(crate) fn trace_context(span: &tracing::Span) -> Vec<(&'static str, String)> {
    if span.is_disabled() {
        return Vec::new();
    }
    let mut carrier = Carrier::default();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|key| Some((key, carrier.0.remove(key)?)))
        .filter(|(_, value)| !value.is_empty())
        .collect()
}

#[derive(Default)]
struct Carrier(HashMap<String, String>);

impl Injector for Carrier {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
}
