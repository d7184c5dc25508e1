//! `mcp-gateway health`: one `GET /health` against a running gateway, for container health
//! checks (the image has no curl). Exit 0 when the gateway answers 200 with
//! `{"status":"healthy"}`, 1 otherwise, as Docker's `HEALTHCHECK` reads exit codes.
//!
//! Without `--url` the address comes from the same config file `serve` reads (`-c`, or
//! `MCP_GATEWAY_CONFIG`): its port, `https` when TLS is configured, and its host, or the
//! loopback address of the same family when it listens on every address. `/health` needs no
//! credentials and is never rate limited, so probing it every few seconds costs nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use mcp_gateway_client::{ClientConfig, GatewayClient};

use crate::config::{self, ProcessEnv, ServerConfig};

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Gateway base URL (default: the address in the config file, loopback when it listens
    /// on every address).
    #[arg(long)]
    pub url: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, value_name = "SECS", default_value_t = 3.0)]
    pub timeout: f64,
}

pub(super) fn run(config_path: &Path, args: &HealthArgs) -> ExitCode {
    match check(config_path, args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("unhealthy: {reason}");
            ExitCode::FAILURE
        }
    }
}

fn check(config_path: &Path, args: &HealthArgs) -> Result<String, String> {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err("--timeout must be a positive number of seconds".into());
    }
    let url = match &args.url {
        Some(url) => url.clone(),
        None => url_from_config(config_path)?,
    };
    // A liveness probe of the gateway's own listener: on loopback the name in a TLS
    // certificate never matches, and no credentials are sent, so the certificate is not
    // checked.
    let client = GatewayClient::new(ClientConfig {
        request_timeout: Duration::from_secs_f64(args.timeout),
        verify_ssl: false,
        ..ClientConfig::new(url.clone())
    })
    .map_err(|e| format!("{url}: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let health = runtime
        .block_on(client.health())
        .map_err(|e| format!("{url}: {e}"))?;
    if health.status != "healthy" {
        return Err(format!("{url}: status {:?}", health.status));
    }
    Ok(format!(
        "healthy: {url} (mcp-gateway {})",
        health.version.as_deref().unwrap_or("?")
    ))
}

fn url_from_config(path: &Path) -> Result<String, String> {
    let loaded = config::load(path, &ProcessEnv).map_err(|err| {
        format!(
            "cannot read the gateway's address (or pass --url): {}",
            err.to_string().replace('\n', "; ")
        )
    })?;
    local_url(&loaded.config.server).ok_or_else(|| {
        format!(
            "{}: server.port is 0 (a port picked at start): pass --url",
            path.display()
        )
    })
}

/// The URL a process on the gateway's own host reaches it at.
fn local_url(server: &ServerConfig) -> Option<String> {
    if server.port == 0 {
        return None;
    }
    let host = match server.host {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    Some(format!("{scheme}://{}", SocketAddr::new(host, server.port)))
}
