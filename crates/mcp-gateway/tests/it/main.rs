//! The one integration test binary: real gateway processes, real children, real HTTP.

mod support;

mod api;
mod audit;
mod broken_wire;
mod churn;
mod cli;
mod cluster;
mod concurrency;
mod console;
mod edge;
mod failures;
mod front;
mod hardening;
mod lifecycle;
mod metrics;
mod oauth;
mod ops;
mod peers;
mod pool;
mod reload;
mod sandbox;
mod sessions;
mod signals;
mod telemetry;
mod tls_logging;
mod traffic;
