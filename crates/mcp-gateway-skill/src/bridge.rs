//! Runs the async gateway client for the SDK's synchronous skill and SWAIG handlers.
//!
//! The SDK calls `setup` and SWAIG handlers on plain threads (its HTTP server is
//! blocking), but an agent may also be built inside a tokio runtime, where
//! `Runtime::block_on` would panic. So the skill owns a small runtime and waits on a
//! std channel, which works from any thread.

use std::future::Future;
use std::sync::mpsc;

use tokio::runtime::{Builder, Handle, Runtime};

/// A one-worker runtime owned by the skill; stopped without blocking when dropped.
pub struct Bridge {
    runtime: Option<Runtime>,
}

/// The task running the future panicked or was cancelled.
#[derive(Debug, thiserror::Error)]
#[error("the skill's background task ended without a result")]
pub struct Lost;

impl Bridge {
    pub fn new() -> std::io::Result<Self> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mcp-gateway-skill")
            .enable_all()
            .build()?;
        Ok(Bridge {
            runtime: Some(runtime),
        })
    }

    pub fn handle(&self) -> &Handle {
        self.runtime
            .as_ref()
            .expect("runtime lives until drop")
            .handle()
    }

    /// Run `future` on the skill's runtime and wait for its output.
    pub fn run<F>(&self, future: F) -> Result<F::Output, Lost>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        self.handle().spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv().map_err(|_| Lost)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // `shutdown_background` does not block, so dropping the agent inside an async
        // context is fine; pending tasks (a background discovery) are cancelled.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_futures_from_a_plain_thread() {
        let bridge = Bridge::new().unwrap();
        assert_eq!(bridge.run(async { 40 + 2 }).unwrap(), 42);
    }

    #[tokio::test]
    async fn runs_futures_from_inside_another_runtime_and_drops_there() {
        let bridge = Bridge::new().unwrap();
        // Blocks this runtime's thread briefly; the bridge runs on its own.
        assert_eq!(bridge.run(async { "ok" }).unwrap(), "ok");
        drop(bridge);
    }

    #[test]
    fn a_panicking_task_is_reported() {
        let bridge = Bridge::new().unwrap();
        let out = bridge.run(async {
            if true {
                panic!("boom");
            }
        });
        assert!(out.is_err());
    }
}
