//! `mcp-gateway audit verify FILE...`: check the chain of an audit log (docs/audit.md).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::audit::{self, GENESIS};

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check that every record of the files is intact and in its place in the chain, the
    /// files given oldest first (rotated ones: `audit.log.1 audit.log.2 audit.log`). Exit 0
    /// when intact, 1 at the first break (reported with file, line and reason), 2 when a file
    /// cannot be read.
    Verify {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub(super) fn run(args: &AuditArgs) -> ExitCode {
    let AuditCommand::Verify { files } = &args.command;
    let mut texts = Vec::with_capacity(files.len());
    for file in files {
        match std::fs::read_to_string(file) {
            Ok(text) => texts.push(text),
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                return ExitCode::from(2);
            }
        }
    }
    match audit::verify(texts.iter().map(String::as_str)) {
        Ok(verified) => {
            let start = if verified.starts_after == GENESIS {
                "from the start of the chain".to_string()
            } else {
                format!(
                    "continuing a chain whose earlier record hashes to {} (its file was not given)",
                    verified.starts_after
                )
            };
            println!(
                "OK: {} records in {} file(s), intact {start}; last hash {}",
                verified.records,
                files.len(),
                verified.head.prev
            );
            ExitCode::SUCCESS
        }
        Err(broken) => {
            println!(
                "BROKEN: {}:{}: {}",
                files[broken.file].display(),
                broken.line,
                broken.reason
            );
            ExitCode::FAILURE
        }
    }
}
