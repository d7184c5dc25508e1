//! `mcp-fixture`: a small, fast, scriptable stdio MCP server for the gateway's tests and
//! benchmarks.
//!
//! Codemap:
//! - [`cli`]: command-line flags -> [`cli::Options`] (pure).
//! - [`jsonrpc`]: classify incoming lines, build outgoing messages (pure, no IO).
//! - [`protocol`]: MCP specifics: version negotiation, `initialize` result, pagination (pure).
//! - [`output`]: the only writer of stdout (one locked write + flush per message) and stderr.
//! - [`state`]: per-process state shared by handler threads (todos, cancellations, the inbox of
//!   responses to our own requests).
//! - [`server`]: the stdin loop and method dispatch.
//! - [`tools`]: the tool table and each tool's behaviour.

mod cli;
mod jsonrpc;
mod output;
mod protocol;
mod server;
mod state;
mod tools;

fn main() {
    let options = match cli::parse(std::env::args_os().skip(1)) {
        Ok(cli::Parsed::Run(options)) => options,
        Ok(cli::Parsed::Help) => {
            print!("{}", cli::USAGE);
            return;
        }
        Err(message) => {
            eprintln!("mcp-fixture: {message}\n\n{}", cli::USAGE);
            std::process::exit(2);
        }
    };
    std::process::exit(server::run(options));
}
