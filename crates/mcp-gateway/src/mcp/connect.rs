//! [`McpClient::connect`]: a service's client, whichever way the service is reached.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{ClientOptions, McpClient, McpError};
use crate::config::{Config, ServiceConfig};
use crate::metrics;
use crate::sandbox::{self, SpawnRequest};

/// Where children are started: decided once from the configuration.
#[derive(Debug, Clone)]
pub struct Launch {
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
        Self {
            sandbox_root: config.session.sandbox_dir.clone(),
            protected: sandbox::protected_paths(config),
        }
    }

    pub fn sandbox_root(&self) -> &Path {
        &self.sandbox_root
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
        let spawned = sandbox::spawn(&SpawnRequest {
            service,
            session_id: &session_id,
            sandbox_root: &launch.sandbox_root,
            protected: &launch.protected,
        })?;
        let pid = spawned.pid;
        let started = Instant::now();
        let client = Self::start(spawned, opts).await;
        metrics::spawn(&service.name, client.is_ok(), started.elapsed());
        let client = client?;
        tracing::info!(service = %service.name, session = %session_id, pid, "child started");
        Ok(client)
    }
}
