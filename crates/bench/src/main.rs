//! `bench`: side-by-side measurements of mcp-gateway in one invocation.
//!
//! Starts the real gateway binary (release build, next to this binary) on 127.0.0.1:0 with a
//! generated config, drives it with a keep-alive HTTP client, compares with talking to the
//! same child over stdio directly (the floor) and, when installed, with upstream's Python
//! gateway. Prints a table; `--json out.json` writes every figure. See BENCHMARKS.md.

mod direct;
mod gateway;
mod load;
mod report;
mod scenarios;
mod stats;

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(about = "Benchmark mcp-gateway side by side with direct stdio (and upstream)")]
pub struct Args {
    /// Scenarios to run, comma separated: latency, throughput, sessions, live, churn, upstream,
    /// cluster (default: all but cluster, which needs redis-server; upstream only when
    /// --upstream is given or found).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Scale every count and duration down (a smoke run of a minute or two).
    #[arg(long)]
    quick: bool,
    /// Write every figure as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The gateway binary (default: mcp-gateway next to this binary).
    #[arg(long)]
    gateway: Option<PathBuf>,
    /// The fixture server binary (default: mcp-fixture next to this binary).
    #[arg(long)]
    fixture: Option<PathBuf>,
    /// The Python child (default: examples/servers/greeter_mcp.py of this checkout).
    #[arg(long)]
    python_server: Option<PathBuf>,
    /// Upstream's `mcp-gateway` command (from `pip install signalwire-agents[mcp-gateway]`);
    /// default: /tmp/upstream-venv/bin/mcp-gateway when it exists.
    #[arg(long)]
    upstream: Option<PathBuf>,
    /// Live sessions for the `live` scenario (default 1000, --quick 200).
    #[arg(long)]
    live_sessions: Option<usize>,
    /// Sessions of the `churn` scenario (default 10000, --quick 1000).
    #[arg(long)]
    churn_sessions: Option<usize>,
}

impl Args {
    fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == name)
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    raise_nofile();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

/// 1,000 children need ~3,000 pipe ends in the gateway (which inherits this limit).
fn raise_nofile() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let env = scenarios::Env::new(&args)?;
    let mut report = report::Report::default();
    report.put("machine", env.machine());
    report.put("quick", serde_json::json!(args.quick));
    eprintln!("bench: {}", env.machine());
    if args.wants("latency") {
        scenarios::latency(&env, &mut report).await?;
    }
    if args.wants("throughput") {
        scenarios::throughput(&env, &mut report).await?;
    }
    if args.wants("sessions") {
        scenarios::sessions(&env, &mut report).await?;
    }
    if args.wants("live") {
        scenarios::live(&env, &mut report).await?;
    }
    if args.wants("churn") {
        scenarios::churn(&env, &mut report).await?;
    }
    if args.only.iter().any(|o| o == "cluster") {
        scenarios::cluster(&env, &mut report).await?;
    }
    if args.wants("upstream") || (args.only.is_empty() && env.upstream.is_some()) {
        scenarios::upstream(&env, &mut report).await?;
    }
    println!("{}", report.table());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report.into_json())?)?;
        eprintln!("bench: wrote {}", path.display());
    }
    Ok(())
}
