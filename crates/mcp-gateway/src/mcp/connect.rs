//! [`McpClient::connect`]: a service's client, whichever way the service is reached.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{ClientOptions, McpClient, McpError};
use tracing::Instrument;

use crate::config::{Config, ServiceConfig};
use crate::metrics;
use crate::sandbox::{self, Prepared, SpawnRequest};

/// The longest [`Launch::settle`] waits: a cgroup removal retries for about 2 s.
const CLEANUP_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Where and how children are started: decided once from the configuration.
#[derive(Debug)]
pub struct Launch {
    /// Each stdio service's sandbox.
    prepared: HashMap<String, Prepared>,
    /// `session.sandbox_dir`: parent of the children's private dirs.
    sandbox_root: PathBuf,
    /// The gateway's own files no child may read ([`sandbox::protected_paths`]).
    protected: Vec<PathBuf>,
}

impl Launch {
    /// Also applies the gateway-wide sandbox settings, the gateway's own hardening, and
    /// removes the private dirs of children of a gateway that was killed (it could not).
    pub fn new(config: &Config) -> Self {
        sandbox::init(config);
        Self::prepare(config)
    }

    /// [`Launch::new`] for a reloaded configuration: the services' sandboxes only (the
    /// gateway-wide settings are restart-only, so already applied).
    pub fn prepare(config: &Config) -> Self {
        let prepared = config
            .services
            .values()
            .filter(|s| s.remote.is_none())
            .map(|s| (s.name.clone(), Prepared::new(s)))
            .collect();
        Self {
            prepared,
            sandbox_root: config.session.sandbox_dir.clone(),
            protected: sandbox::protected_paths(config),
        }
    }

    pub fn sandbox_root(&self) -> &Path {
        &self.sandbox_root
    }

    /// After the last child was reaped: wait (a few seconds at most) for the sandbox's cleanups
    /// still under way, so a stopping gateway leaves nothing behind.
    pub async fn settle(&self) {
        let waited = tokio::task::spawn_blocking(|| sandbox::wait_for_cleanups(CLEANUP_WAIT));
        if !waited.await.unwrap_or(false) {
            tracing::warn!("sandbox cleanups still under way at exit");
        }
        sandbox::release_markers(&self.sandbox_root);
    }
}

impl McpClient {
    /// A ready client of `service` for `opts.session_id`: a child started through the sandbox
    /// and initialized ([`McpClient::start`]), or a connection to its remote server
    /// ([`McpClient::connect_remote`]). Spawns are counted in the `spawns` metrics.
    pub async fn connect(
        service: &ServiceConfig,
        launch: &Launch,
        opts: ClientOptions,
    ) -> Result<McpClient, McpError> {
        let session_id = opts.session_id.clone();
        if let Some(remote) = &service.remote {
            let client = Self::connect_remote(remote, opts).await?;
            tracing::info!(service = %service.name, session = %session_id, url = %remote.url, "remote service connected");
            return Ok(client);
        }
        let fresh;
        let prepared = match launch.prepared.get(&service.name) {
            Some(prepared) => prepared,
            None => {
                fresh = Prepared::new(service);
                &fresh
            }
        };
        let spawn = tracing::info_span!(target: crate::telemetry::TARGET, "spawn", "mcp.service" = %service.name, "process.pid" = tracing::field::Empty);
        let spawned = spawn.in_scope(|| {
            sandbox::spawn(&SpawnRequest {
                service,
                prepared,
                session_id: &session_id,
                sandbox_root: &launch.sandbox_root,
                protected: &launch.protected,
            })
        })?;
        spawn.record("process.pid", spawned.pid);
        let pid = spawned.pid;
        let started = Instant::now();
        let initialize = tracing::info_span!(target: crate::telemetry::TARGET, "initialize", "mcp.method.name" = "initialize", "mcp.service" = %service.name);
        let client = Self::start(spawned, opts).instrument(initialize).await;
        metrics::spawn(&service.name, client.is_ok(), started.elapsed());
        let client = client?;
        tracing::info!(service = %service.name, session = %session_id, pid, "child started");
        Ok(client)
    }
}
