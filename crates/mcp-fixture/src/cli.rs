//! Command-line flags. Hand-rolled to keep the binary's dependencies at `serde_json` alone.

use std::ffi::OsString;

pub const USAGE: &str = "\
usage: mcp-fixture [FLAGS]

A scriptable stdio MCP server (newline-delimited JSON-RPC 2.0 on stdin/stdout).

  --name NAME              serverInfo.name (default mcp-fixture)
  --page-size N            tools per tools/list page; 0 = all in one page (default 0)
  --protocol-version V     always answer this protocolVersion to initialize
  --notify-before-init     send notifications/tools/list_changed and notifications/message
                           before the initialize response
  --no-init-reply          never answer initialize (a hung server)
  --exit-on-init CODE      on initialize, print a line to stderr and exit with CODE
  --stderr-at-start BYTES  write BYTES bytes of text lines to stderr before reading stdin
  --ignore-eof             keep running after stdin EOF (until killed)
  --chatty                 log one line per received message to stderr
  --conformance            also serve the conformance suite's tools, prompts and resources
  -h, --help               print this help
";

/// What the flags ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub name: String,
    pub page_size: usize,
    pub protocol_version: Option<String>,
    pub notify_before_init: bool,
    pub no_init_reply: bool,
    pub exit_on_init: Option<i32>,
    pub stderr_at_start: usize,
    pub ignore_eof: bool,
    pub chatty: bool,
    /// Also serve the conformance suite's tools, prompts and resources.
    pub conformance: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            name: "mcp-fixture".to_owned(),
            page_size: 0,
            protocol_version: None,
            notify_before_init: false,
            no_init_reply: false,
            exit_on_init: None,
            stderr_at_start: 0,
            ignore_eof: false,
            chatty: false,
            conformance: false,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Options),
    Help,
}

/// Parse the arguments after the program name. Accepts `--flag value` and `--flag=value`.
pub fn parse<I>(args: I) -> Result<Parsed, String>
where
    I: IntoIterator<Item = OsString>,
{
    let mut options = Options::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|arg| format!("argument is not UTF-8: {arg:?}"))?;
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            match inline.clone() {
                Some(value) => Ok(value),
                None => args
                    .next()
                    .and_then(|v| v.into_string().ok())
                    .ok_or_else(|| format!("{flag} needs {what}")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--name" => options.name = value("a name")?,
            "--page-size" => options.page_size = number(&flag, &value("a number")?)?,
            "--protocol-version" => options.protocol_version = Some(value("a version")?),
            "--exit-on-init" => {
                options.exit_on_init = Some(number(&flag, &value("an exit code")?)?)
            }
            "--stderr-at-start" => {
                options.stderr_at_start = number(&flag, &value("a byte count")?)?
            }
            "--notify-before-init" => {
                options.notify_before_init = switch(&flag, inline.as_deref())?
            }
            "--no-init-reply" => options.no_init_reply = switch(&flag, inline.as_deref())?,
            "--ignore-eof" => options.ignore_eof = switch(&flag, inline.as_deref())?,
            "--chatty" => options.chatty = switch(&flag, inline.as_deref())?,
            "--conformance" => options.conformance = switch(&flag, inline.as_deref())?,
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(Parsed::Run(options))
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag} expects a number, got {text:?}"))
}

fn switch(flag: &str, inline: Option<&str>) -> Result<bool, String> {
    match inline {
        None => Ok(true),
        Some(value) => Err(format!("{flag} takes no value, got {value:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(args: &[&str]) -> Result<Parsed, String> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn no_flags_gives_defaults() {
        assert_eq!(check(&[]), Ok(Parsed::Run(Options::default())));
    }

    #[test]
    fn every_flag_is_understood() {
        let parsed = check(&[
            "--name",
            "alpha",
            "--page-size=2",
            "--protocol-version",
            "2024-11-05",
            "--notify-before-init",
            "--no-init-reply",
            "--exit-on-init",
            "7",
            "--stderr-at-start",
            "100",
            "--ignore-eof",
            "--chatty",
        ]);
        let expected = Options {
            name: "alpha".into(),
            page_size: 2,
            protocol_version: Some("2024-11-05".into()),
            notify_before_init: true,
            no_init_reply: true,
            exit_on_init: Some(7),
            stderr_at_start: 100,
            ignore_eof: true,
            chatty: true,
            conformance: false,
        };
        assert_eq!(parsed, Ok(Parsed::Run(expected)));
    }

    #[test]
    fn bad_input_is_explained() {
        assert_eq!(
            check(&["--bogus"]),
            Err("unknown argument \"--bogus\"".into())
        );
        assert_eq!(
            check(&["--page-size"]),
            Err("--page-size needs a number".into())
        );
        assert_eq!(
            check(&["--page-size", "x"]),
            Err("--page-size expects a number, got \"x\"".into())
        );
        assert_eq!(
            check(&["--chatty=yes"]),
            Err("--chatty takes no value, got \"yes\"".into())
        );
        assert_eq!(check(&["-h"]), Ok(Parsed::Help));
    }
}
