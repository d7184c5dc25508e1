//! Logging setup: human or JSON records to stderr, and to `logging.file` when set; the
//! [`Throttle`] of repeated warnings.

use std::fs::OpenOptions;
use std::sync::Mutex;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::config::{LogFormat, LoggingConfig};

mod throttle;

pub use throttle::Throttle;

/// Environment variable that overrides `logging.level` with a full `tracing` filter.
pub const FILTER_ENV: &str = "MCP_GATEWAY_LOG";

pub fn init(cfg: &LoggingConfig) -> anyhow::Result<()> {
    let directive = std::env::var(FILTER_ENV).unwrap_or_else(|_| cfg.filter.clone());
    let filter = EnvFilter::try_new(&directive)
        .map_err(|e| anyhow::anyhow!("invalid log filter {directive:?}: {e}"))?;
    let stderr = layer(cfg.format, std::io::stderr, true);
    let file = match &cfg.file {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("cannot open log file {}: {e}", path.display()))?;
            Some(layer(cfg.format, Mutex::new(file), false))
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(file)
        .try_init()?;
    Ok(())
}

fn layer<S, W>(format: LogFormat, writer: W, ansi: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Text => fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi && std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed(),
        LogFormat::Json => fmt::layer().json().with_writer(writer).boxed(),
    }
}
