use clap::Parser;

fn main() -> std::process::ExitCode {
    mcp_gateway::cli::run(mcp_gateway::cli::Cli::parse())
}
