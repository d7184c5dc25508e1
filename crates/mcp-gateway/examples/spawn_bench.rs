//! Spawn-to-initialized time of the fixture server at each sandbox level.
//!
//! ```text
//! cargo build --release -p mcp-fixture
//! cargo run --release -p mcp-gateway --example spawn_bench -- [ITERATIONS] [FIXTURE]
//! ```
//! For each level: spawn through `sandbox::spawn`, run the `initialize` handshake
//! (`McpClient::start`), stop the child; prints min / median / p90 / mean of spawn +
//! initialize, of the sandbox set-up alone (`sandbox::spawn` returning), and of the stop
//! (close stdin, reap, kill what is left of the child's cgroup / uid / user namespace, remove
//! its private dir). The first lines say which mechanisms this host gives the default level.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mcp_gateway::config::{ChildUser, Network, SandboxConfig, Seccomp, ServiceConfig};
use mcp_gateway::mcp::{ClientOptions, McpClient};
use mcp_gateway::sandbox::{self, SpawnRequest};

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: usize = args.next().map_or(200, |n| n.parse().expect("ITERATIONS"));
    let fixture = args.next().map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap();
        // target/release/examples/spawn_bench -> target/release/mcp-fixture
        exe.parent().unwrap().parent().unwrap().join("mcp-fixture")
    });
    assert!(fixture.exists(), "{} not built", fixture.display());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let levels = [
        (
            "None (enabled false)",
            SandboxConfig {
                enabled: false,
                ..SandboxConfig::default()
            },
        ),
        (
            "High, children as the gateway's uid (sandbox.user gateway)",
            SandboxConfig {
                user: ChildUser::Gateway,
                allow_weaker: true,
                ..SandboxConfig::default()
            },
        ),
        (
            "High, no seccomp filter (sandbox.seccomp off)",
            SandboxConfig {
                seccomp: Some(Seccomp::Off),
                ..SandboxConfig::default()
            },
        ),
        ("High (default)", SandboxConfig::default()),
        (
            "High + network none + drop_privileges",
            SandboxConfig {
                network: Network::None,
                drop_privileges: true,
                ..SandboxConfig::default()
            },
        ),
    ];
    println!(
        "{} iterations per level, fixture {}",
        iterations,
        fixture.display()
    );
    let mut first = true;
    for (name, sandbox) in levels {
        let service = ServiceConfig {
            name: "bench".into(),
            command: vec![fixture.display().to_string()],
            description: String::new(),
            env: BTreeMap::new(),
            cwd: None,
            call_timeout: Duration::from_secs(10),
            startup_timeout: Duration::from_secs(10),
            max_line_bytes: 1 << 20,
            stop_grace: Duration::from_secs(1),
            remote: None,
            warm_pool: 0,
            sandbox,
        };
        if std::mem::take(&mut first) {
            let mut default = service.clone();
            default.sandbox = SandboxConfig::default();
            print!("{}", sandbox::describe(&default, root.path()));
        }
        let report = sandbox::describe(&service, root.path());
        if !report.ok() {
            println!(
                "{name}\n  refused on this host: {}",
                report.missing.join("; ")
            );
            continue;
        }
        let protected = [root.path().to_path_buf()];
        // Decided once per service, as the gateway does at startup.
        let prepared = sandbox::Prepared::new(&service);
        let (setup, total, stops) = runtime.block_on(async {
            let mut setup = Vec::new();
            let mut total = Vec::new();
            let mut stops = Vec::new();
            for i in 0..iterations + 5 {
                let session = format!("s{i}");
                let start = Instant::now();
                let spawned = sandbox::spawn(&SpawnRequest {
                    service: &service,
                    prepared: &prepared,
                    session_id: &session,
                    sandbox_root: root.path(),
                    protected: &protected,
                })
                .expect("spawn");
                let spawned_at = start.elapsed();
                let opts = ClientOptions::for_service(&service, &session, 4096);
                let client = McpClient::start(spawned, opts).await.expect("initialize");
                let ready = start.elapsed();
                let stopping = Instant::now();
                client.stop().await;
                let stopped = stopping.elapsed();
                // The first few warm the page cache.
                if i >= 5 {
                    setup.push(spawned_at);
                    total.push(ready);
                    stops.push(stopped);
                }
            }
            (setup, total, stops)
        });
        println!("{name}");
        println!("  spawn + initialize: {}", summary(total));
        println!("  sandbox::spawn:     {}", summary(setup));
        println!("  stop:               {}", summary(stops));
    }
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len() as f64;
    format!(
        "min {:.2} ms, median {:.2} ms, p90 {:.2} ms, mean {:.2} ms",
        ms(samples[0]),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 9 / 10]),
        mean
    )
}
