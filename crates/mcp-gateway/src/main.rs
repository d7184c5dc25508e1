use clap::Parser;

/// mimalloc instead of glibc's malloc: allocation was ~10 % of the gateway's CPU per call
/// (BENCHMARKS.md, "Where the time goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    mcp_gateway::cli::run(mcp_gateway::cli::Cli::parse())
}
