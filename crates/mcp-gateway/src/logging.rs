//! Logging setup: human or JSON records to stderr, and to `logging.file` when set; the
//! [`Throttle`] of repeated warnings.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, fmt};

use crate::config::{LogFormat, LoggingConfig};

mod throttle;

pub(crate) use throttle::Throttle;

/// Environment variable that overrides `logging.level` with a full `tracing` filter.
pub(crate) const FILTER_ENV: &str = "MCP_GATEWAY_LOG";

/// Install the log layers and `traces`, the OpenTelemetry layer (`telemetry`), behind ONE
/// global filter: per-layer filters would be asked about every span and event (and make the
/// registry build spans that every layer then drops).
pub(crate) fn init(
    cfg: &LoggingConfig,
    traces: Option<Box<dyn Layer<Registry> + Send + Sync>>,
) -> anyhow::Result<()> {
    use crate::telemetry::TARGET;
    let directive = std::env::var(FILTER_ENV).unwrap_or_else(|_| cfg.filter.clone());
    let filter = |traces: &str| {
        EnvFilter::try_new(format!("{directive},{TARGET}={traces}"))
            .map_err(|e| anyhow::anyhow!("invalid log filter {directive:?}: {e}"))
    };
    let file = match &cfg.file {
        Some(path) => {
            let file = open(path)
                .map_err(|e| anyhow::anyhow!("cannot open log file {}: {e}", path.display()))?;
            Some(LOG_FILE.get_or_init(|| LogFile {
                path: path.clone(),
                file: Mutex::new(file),
            }))
        }
        None => None,
    };
    match traces {
        None => tracing_subscriber::registry()
            .with(filter("off")?)
            .with(log_layers(cfg.format, file))
            .try_init()?,
        // The spans that make traces pass the log filter and then the gate (only in a traced
        // request); below, a static filter keeps them from the log layers (they are not log
        // context) and the trace layer takes nothing else.
        Some(traces) => {
            let logs = log_layers(cfg.format, file)
                .with_filter(crate::telemetry::not_traces())
                .boxed();
            tracing_subscriber::registry()
                .with(vec![logs, traces])
                .with(filter("info")?)
                .with(crate::telemetry::gate())
                .try_init()?
        }
    }
    Ok(())
}

/// The stderr layer and, with `logging.file`, the file's.
fn log_layers<S>(
    format: LogFormat,
    file: Option<&'static LogFile>,
) -> Vec<Box<dyn Layer<S> + Send + Sync>>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let mut layers = vec![layer(format, std::io::stderr, true)];
    layers.extend(file.map(|log| layer(format, log, false)));
    layers
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

/// `logging.file`, reopened on SIGHUP so that log rotation (rename, then HUP) works.
struct LogFile {
    path: PathBuf,
    file: Mutex<File>,
}

static LOG_FILE: OnceLock<LogFile> = OnceLock::new();

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Reopen `logging.file` at its path (after a rotation moved it away). `Ok(None)` when no log
/// file is configured; on error the old file stays in use.
pub(crate) fn reopen() -> io::Result<Option<PathBuf>> {
    let Some(log) = LOG_FILE.get() else {
        return Ok(None);
    };
    let file = open(&log.path)?;
    *log.file
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = file;
    Ok(Some(log.path.clone()))
}

/// One record's writer: the file, locked for the record.
struct Locked<'a>(MutexGuard<'a, File>);

impl io::Write for Locked<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<'a> fmt::MakeWriter<'a> for &'static LogFile {
    type Writer = Locked<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Locked(
            self.file
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}
