//! Command line: `mcp-gateway [-c config.json] [serve|validate|health]`, and the operator
//! subcommands of [`ops`] (`services|tools|call|sessions|close`). The only place `anyhow`
//! is welcome.

mod audit;
mod files;
mod health;
mod ops;
mod signals;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::cluster::Cluster;
use crate::config::{self, Config, ProcessEnv};
use crate::front::Sessions;

#[derive(Debug, Parser)]
#[command(
    name = "mcp-gateway",
    version,
    about = "Run stdio MCP servers as sandboxed per-session children behind a REST API"
)]
pub struct Cli {
    /// Configuration file (JSON, upstream schema).
    #[arg(
        short,
        long,
        global = true,
        env = "MCP_GATEWAY_CONFIG",
        default_value = "config.json"
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the gateway (the default).
    Serve,
    /// Check a configuration file: print every problem with file, key and reason, then what
    /// would run; exit 1 if there is an error.
    Validate,
    /// Check that the gateway answers `GET /health` (for container health checks): exit 0
    /// when it is healthy, 1 when not. The address comes from the config file unless --url
    /// is given.
    Health(health::HealthArgs),
    /// The audit log: `audit verify FILE...` checks its chain.
    Audit(audit::AuditArgs),
    #[command(flatten)]
    Ops(Box<ops::OpsCommand>),
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Validate => validate(&cli.config),
        Command::Health(args) => health::run(&cli.config, &args),
        Command::Audit(args) => audit::run(&args),
        Command::Ops(command) => ops::run(*command),
        Command::Serve => match serve(&cli.config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn validate(path: &std::path::Path) -> ExitCode {
    match config::load(path, &ProcessEnv) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                println!("warning: {w}");
            }
            if let Err(err) = check_exposure(&loaded.config) {
                println!("error: {}: {err}", path.display());
                return ExitCode::FAILURE;
            }
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
            let missing = files::problems(&loaded.config, &cwd);
            for problem in &missing {
                println!("error: {}: {problem}", path.display());
            }
            if !missing.is_empty() {
                return ExitCode::FAILURE;
            }
            println!("{}", config::describe(&loaded.config));
            let sandbox_dir = &loaded.config.session.sandbox_dir;
            let foreign = crate::sandbox::foreign_entries(sandbox_dir);
            if !foreign.is_empty() {
                println!(
                    "warning: session.sandbox_dir {} holds entries the gateway did not make ({}); \
                     it never touches them, but children's dirs belong in a folder of their own",
                    sandbox_dir.display(),
                    foreign.join(", ")
                );
            }
            crate::sandbox::configure(&loaded.config);
            let mut refused = Vec::new();
            for service in loaded.config.services.values() {
                let report = crate::sandbox::describe(service, &loaded.config.session.sandbox_dir);
                print!("{report}");
                if !report.ok() {
                    refused.push(service.name.clone());
                }
            }
            if !refused.is_empty() {
                println!(
                    "error: {}: the sandbox of {} cannot be enforced on this host (see MISSING above)",
                    path.display(),
                    refused.join(", ")
                );
                return ExitCode::FAILURE;
            }
            println!("{}: OK", path.display());
            ExitCode::SUCCESS
        }
        Err(err) => {
            for w in &err.warnings {
                println!("warning: {w}");
            }
            for e in &err.errors {
                println!("error: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Refuse to serve without credentials on a non-loopback address unless explicitly allowed.
fn check_exposure(config: &Config) -> Result<(), String> {
    let server = &config.server;
    let open = server.basic.is_none()
        && server.bearer_token.is_none()
        && config.traffic.keys.is_empty()
        && config.traffic.oauth.is_none();
    if open && !server.host.is_loopback() && !server.allow_unauthenticated {
        return Err(format!(
            "server: no credentials configured (auth_user/auth_password, auth_token or auth.keys) and host {} is not \
             loopback; set server.allow_unauthenticated to true to serve without authentication",
            server.host
        ));
    }
    Ok(())
}

fn serve(path: &std::path::Path) -> anyhow::Result<()> {
    let loaded = match config::load(path, &ProcessEnv) {
        Ok(loaded) => loaded,
        Err(err) => {
            for w in &err.warnings {
                eprintln!("warning: {w}");
            }
            anyhow::bail!("invalid configuration:\n{err}");
        }
    };
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let config = Arc::new(loaded.config);
    check_exposure(&config).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (traces, telemetry) = crate::telemetry::layer(&config.telemetry, runtime.handle())?.unzip();
    crate::logging::init(&config.logging, traces)?;
    raise_nofile_limit();
    let path = path.to_path_buf();
    let reloader = crate::http::Reloader::new(move || check_for_reload(&path));
    let served = runtime.block_on(serve_async(config, reloader));
    if let Some(telemetry) = telemetry {
        telemetry.shutdown();
    }
    served
}

/// Raise the soft open-files limit to the hard one: every connection and every child's pipes
/// take descriptors, and `server.max_connections` is meant to be the limit that bites first.
fn raise_nofile_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::debug!(from = soft, to = hard, "raised RLIMIT_NOFILE"),
            Err(e) => tracing::warn!(soft, hard, error = %e, "cannot raise RLIMIT_NOFILE"),
        },
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read RLIMIT_NOFILE"),
    }
}

/// The config file read and checked again for a reload, as `serve` and `validate` check it:
/// every problem (validation, exposure, missing files, a sandbox that cannot be enforced).
fn check_for_reload(path: &std::path::Path) -> crate::http::Checked {
    let loaded = config::load(path, &ProcessEnv)
        .map_err(|err| (err.errors.iter().map(ToString::to_string)).collect::<Vec<_>>())?;
    let config = loaded.config;
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut problems: Vec<String> = files::problems(&config, &cwd)
        .into_iter()
        .map(|p| format!("{}: {p}", path.display()))
        .collect();
    if let Err(err) = check_exposure(&config) {
        problems.push(format!("{}: {err}", path.display()));
    }
    for service in config.services.values() {
        let report = crate::sandbox::describe(service, &config.session.sandbox_dir);
        if !report.ok() {
            problems.push(format!(
                "{}: services.{}: the sandbox cannot be enforced on this host (missing: {}); set sandbox.allow_weaker to run it anyway",
                path.display(),
                service.name,
                report.missing.join(", ")
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok((
        config,
        loaded.warnings.iter().map(ToString::to_string).collect(),
    ))
}

async fn serve_async(
    config: Arc<Config>,
    reloader: Arc<crate::http::Reloader>,
) -> anyhow::Result<()> {
    if config.server.basic.is_none()
        && config.server.bearer_token.is_none()
        && config.traffic.keys.is_empty()
    {
        tracing::warn!("no credentials configured: every route is open");
    }
    crate::sandbox::configure(&config);
    for service in config.services.values() {
        let report = crate::sandbox::describe(service, &config.session.sandbox_dir);
        if report.ok() {
            tracing::info!(service = %service.name, level = report.level, enforced = ?report.enforced, notes = ?report.notes, not_enforced = ?report.missing, "sandbox");
        } else {
            tracing::error!(service = %service.name, level = report.level, missing = ?report.missing, "sandbox cannot be enforced: the service will refuse to start (set sandbox.allow_weaker to run it anyway)");
        }
    }
    let stop = signals::listen()?;
    let audit = crate::audit::Audit::open(&config.audit)
        .map_err(|e| anyhow::anyhow!("audit.file: {e}"))?
        .map(Arc::new);
    let sessions = Sessions::new(config.clone(), audit);
    sessions.prefetch_tools();
    sessions.start_pools();
    sessions.tasks().spawn(sessions.clone().run_reaper());
    let cluster = match &config.cluster {
        Some(c) => Some(Arc::new(
            Cluster::new(c).map_err(|e| anyhow::anyhow!("cluster: {e}"))?,
        )),
        None => None,
    };
    let reloading = crate::http::Reloading {
        reloader,
        hangups: stop.hangups.clone(),
    };
    let result = crate::http::serve(
        sessions.clone(),
        cluster.clone(),
        Some(reloading),
        stop.stop.clone().cancelled_owned(),
        stop.force.clone().cancelled_owned(),
        |l| {
            eprintln!(
                "mcp-gateway {} listening on {}://{}",
                env!("CARGO_PKG_VERSION"),
                l.scheme,
                l.addr
            );
            tracing::info!(addr = %l.addr, services = config.services.len(), "listening");
            if let Some(cluster) = cluster.clone() {
                // Heartbeats until SIGTERM, then leaves: from then on every other replica
                // answers this one's sessions as unknown while it drains.
                let (sessions, stop) = (sessions.clone(), stop.stop.clone());
                sessions.clone().tasks().spawn(async move {
                    cluster.run(|| sessions.rest_ids(), stop).await;
                });
            }
        },
    )
    .await;
    tracing::info!("stopping every child");
    tokio::select! {
        _ = sessions.shutdown() => {}
        _ = stop.force.cancelled() => {
            let killed = crate::sandbox::kill_every_child();
            tracing::warn!(killed, "forced shutdown: every child's process group was sent SIGKILL");
            // The actors reap the children and remove what the spawns made; bounded, since
            // the kernel kills anything left with us (parent-death signal).
            if tokio::time::timeout(FORCED_CLEANUP, sessions.shutdown()).await.is_err() {
                tracing::warn!("forced shutdown: not every child was cleaned up in time");
            }
        }
    }
    stop.close().await;
    tracing::info!("stopped");
    result.map_err(Into::into)
}

/// How long a forced shutdown waits for the killed children to be reaped and cleaned up.
const FORCED_CLEANUP: std::time::Duration = std::time::Duration::from_secs(5);
