//! What the gateway does on signals:
//! - SIGTERM or SIGINT: shut down gracefully (stop accepting, `server.shutdown_grace` for
//!   requests in flight, then stop every child).
//! - A second SIGTERM or SIGINT: hurry — SIGKILL every child at once, clean up what they left,
//!   and exit.
//! - SIGHUP: reopen `logging.file` (log rotation), then reload the configuration (the server
//!   does it, told through [`Stop::hangups`]); never a shutdown.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Cancelled on the first stop signal (`stop`) and on the second (`force`).
#[derive(Clone, Default)]
pub(super) struct Stop {
    pub stop: CancellationToken,
    pub force: CancellationToken,
    /// The task following the signals, and what ends it once the gateway is done.
    listener: TaskTracker,
    done: CancellationToken,
    /// Notified on each SIGHUP (several before a reload starts count as one).
    pub hangups: std::sync::Arc<tokio::sync::Notify>,
}

impl Stop {
    /// End the task following the signals, and wait for it.
    pub(super) async fn close(&self) {
        self.done.cancel();
        self.listener.close();
        self.listener.wait().await;
    }
}

/// Install the handlers (before the server starts, so no signal finds the default action) and
/// follow them in a task.
pub(super) fn listen() -> std::io::Result<Stop> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let stop = Stop::default();
    let tokens = stop.clone();
    stop.listener.spawn(async move {
        loop {
            let name = tokio::select! {
                () = tokens.done.cancelled() => return,
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
                _ = hup.recv() => {
                    reopen_log();
                    tokens.hangups.notify_one();
                    continue;
                }
            };
            if !tokens.stop.is_cancelled() {
                tracing::info!(
                    signal = name,
                    "shutting down (send it again to kill every child at once)"
                );
                tokens.stop.cancel();
            } else {
                tracing::warn!(signal = name, "second stop signal: killing every child now");
                tokens.force.cancel();
                return;
            }
        }
    });
    Ok(stop)
}

fn reopen_log() {
    match crate::logging::reopen() {
        Ok(Some(path)) => {
            tracing::info!(file = %path.display(), "SIGHUP: log file reopened")
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "SIGHUP: cannot reopen the log file; still writing to the old one")
        }
    }
}
