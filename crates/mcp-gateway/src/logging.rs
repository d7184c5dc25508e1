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
        Some(traces) => {
            with_traces(log_layers(cfg.format, file), traces, filter("info")?).try_init()?
        }
    }
    Ok(())
}

type Layers = Vec<Box<dyn Layer<Registry> + Send + Sync>>;

/// The subscriber while traces are on. The spans that make traces pass `filter` and then the
/// gate (only in a traced request); below, static filters keep them from the log layers (they
/// are not log context) and give the trace layer nothing else.
fn with_traces(
    logs: Layers,
    traces: Box<dyn Layer<Registry> + Send + Sync>,
    filter: EnvFilter,
) -> impl tracing::Subscriber + Send + Sync {
    let logs = logs.with_filter(crate::telemetry::not_traces()).boxed();
    tracing_subscriber::registry()
        .with(vec![logs, traces])
        .with(filter)
        .with(crate::telemetry::gate())
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::Context;
    use tracing_subscriber::{EnvFilter, Layer};

    use crate::telemetry::{self, TARGET};

    /// The names of the spans a layer was given.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<&'static str>>>);

    impl<S: tracing::Subscriber> Layer<S> for Seen {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            _: &tracing::span::Id,
            _: Context<'_, S>,
        ) {
            self.0.lock().unwrap().push(attrs.metadata().name());
        }
    }

    #[tokio::test]
    async fn spans_of_traces_are_built_only_in_a_traced_request_and_only_for_traces() {
        let (logs, traces) = (Seen::default(), Seen::default());
        let subscriber = super::with_traces(
            vec![logs.clone().boxed()],
            traces.clone().with_filter(telemetry::only_traces()).boxed(),
            EnvFilter::new(format!("info,{TARGET}=info")),
        );
        let _default = tracing::subscriber::set_default(subscriber);
        let untraced = tracing::info_span!(target: TARGET, "untraced");
        assert!(untraced.is_disabled(), "built outside a traced request");
        let traced = telemetry::in_trace(true, async {
            let _log = tracing::info_span!("log").entered();
            tracing::info_span!(target: TARGET, "traced")
        })
        .await;
        assert!(!traced.is_disabled());
        assert_eq!(*logs.0.lock().unwrap(), ["log"]);
        assert_eq!(*traces.0.lock().unwrap(), ["traced"]);
    }
}
