//! The one integration test binary: real gateway processes, real children, real HTTP.

mod support;

mod api;
mod cli;
mod concurrency;
mod failures;
mod lifecycle;
mod metrics;
mod peers;
mod pool;
mod sessions;
