//! Operator subcommands that talk to a running gateway through `mcp-gateway-client`:
//! `services`, `tools`, `call`, `sessions`, `close`, `reload`.
//!
//! Human output by default, `--json` for scripts. The exit code says what kind of
//! failure happened (see [`Exit`]), so scripts can branch without parsing messages.

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use mcp_gateway_client::{
    Auth, CallRequest, ClientConfig, GatewayClient, GatewayError, SessionInfo, Tool,
};
use serde_json::{Map, Value, json};

/// Shown after the help of every operator subcommand; mirrors [`Exit`].
const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the tool ran and failed (isError result, or a JSON-RPC error from the server)
  2  usage: bad flags, --arg or --arguments, url, incomplete credentials
  3  the gateway could not be reached
  4  the gateway rejected the credentials (401)
  5  unknown service, tool or session (404)
  6  the gateway refused the request as invalid (400, 405, 413, 415)
  7  timed out (504 or --timeout): the tool may have run
  8  busy or unavailable (429, 503): nothing ran, try again later
  9  the MCP server died during the call (502), or another gateway failure";

/// Subcommands flattened into the top-level command list.
#[derive(Debug, Subcommand)]
pub enum OpsCommand {
    /// List the gateway's services.
    #[command(after_help = EXIT_CODES)]
    Services {
        #[command(flatten)]
        conn: Connection,
    },
    /// List a service's tools and their arguments.
    #[command(after_help = EXIT_CODES)]
    Tools {
        /// Service name (see `services`).
        service: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Call a tool. Without --session the call gets a one-off session, closed after it.
    #[command(after_help = EXIT_CODES)]
    Call(CallArgs),
    /// List the open sessions, with their services and child pids.
    #[command(after_help = EXIT_CODES)]
    Sessions {
        #[command(flatten)]
        conn: Connection,
    },
    /// Close a session (stops its MCP server processes).
    #[command(after_help = EXIT_CODES)]
    Close {
        /// Session id (see `sessions`).
        id: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Make the running gateway read its config file again (as SIGHUP does) and say what
    /// changed; an invalid file is refused with every problem (exit 6) and the running
    /// configuration stays. Needs the gateway's own credentials, not a scoped key.
    #[command(after_help = EXIT_CODES)]
    Reload {
        #[command(flatten)]
        conn: Connection,
    },
}

/// Where the gateway is, how to authenticate, how to print.
#[derive(Debug, Args)]
pub struct Connection {
    /// Gateway base URL.
    #[arg(long, env = "MCP_GATEWAY_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Bearer token (wins over --user/--password when both are given).
    #[arg(long, env = "MCP_GATEWAY_AUTH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Basic auth user.
    #[arg(long, env = "MCP_GATEWAY_AUTH_USER")]
    pub user: Option<String>,
    /// Basic auth password.
    #[arg(long, env = "MCP_GATEWAY_AUTH_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Accept any TLS certificate (self-signed gateways).
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// Seconds to wait for each HTTP request.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub timeout: f64,
    /// Print the gateway's JSON instead of text (errors too, as {"error","code"}).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// Service name (see `services`).
    pub service: String,
    /// Tool name (see `tools SERVICE`).
    pub tool: String,
    /// One argument, KEY=VALUE; VALUE is read as JSON when it parses (5, true, null,
    /// {"a":1}, "quoted") and as a string otherwise. Repeatable; applied after --arguments.
    #[arg(long = "arg", value_name = "KEY=VALUE")]
    pub args: Vec<String>,
    /// All arguments as one JSON object ('-' reads it from stdin).
    #[arg(long, value_name = "JSON")]
    pub arguments: Option<String>,
    /// Session id to call in; the session stays open for later calls (close it with
    /// `close`).
    #[arg(long)]
    pub session: Option<String>,
    /// The session's idle timeout in seconds (the gateway's default when absent).
    #[arg(long, value_name = "SECS")]
    pub session_timeout: Option<f64>,
    #[command(flatten)]
    pub conn: Connection,
}

/// Exit codes, one per kind of failure a script branches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Ok = 0,
    /// The tool ran and failed: an `isError` result, or the MCP server rejected the
    /// call with a JSON-RPC error (422).
    ToolFailed = 1,
    /// Bad command line: unparsable --arg/--arguments, bad URL, incomplete credentials
    /// (clap's own usage errors use 2 as well).
    Usage = 2,
    /// The gateway could not be reached (connection refused, DNS, TLS).
    Unreachable = 3,
    /// The gateway rejected the credentials (401).
    Unauthorized = 4,
    /// Unknown service, tool or session (404).
    NotFound = 5,
    /// The gateway refused the request as invalid (400, 405, 413, 415).
    Refused = 6,
    /// The call timed out (504 or --timeout); the tool may have run.
    Timeout = 7,
    /// Rate limited (429) or unavailable (503: session cap, service cannot start);
    /// nothing ran, try again later.
    Busy = 8,
    /// The MCP server died during the call (502) or another gateway failure.
    Failed = 9,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// A failure: what to print and how to exit.
struct Failure {
    exit: Exit,
    code: Option<String>,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure {
            exit: Exit::Usage,
            code: Some("usage".into()),
            message: message.into(),
        }
    }
}

impl From<GatewayError> for Failure {
    fn from(err: GatewayError) -> Self {
        let exit = match &err {
            GatewayError::ToolRejected { .. } => Exit::ToolFailed,
            GatewayError::Connect { .. } => Exit::Unreachable,
            GatewayError::Unauthorized { .. } => Exit::Unauthorized,
            GatewayError::NotFound { .. } => Exit::NotFound,
            GatewayError::Validation { .. } => Exit::Refused,
            GatewayError::Timeout { .. } => Exit::Timeout,
            GatewayError::RateLimited { .. } | GatewayError::Unavailable { .. } => Exit::Busy,
            GatewayError::ChildExited { .. } | GatewayError::Other { .. } => Exit::Failed,
        };
        let code = err.code().map(str::to_owned).or_else(|| {
            Some(
                match &err {
                    GatewayError::Connect { .. } => "unreachable",
                    GatewayError::Timeout { .. } => "timeout",
                    _ => "error",
                }
                .to_owned(),
            )
        });
        let message = match &err {
            GatewayError::ChildExited {
                stderr_tail: Some(tail),
                ..
            } if !tail.trim().is_empty() => format!("{err}\nstderr of the server:\n{tail}"),
            _ => err.to_string(),
        };
        Failure {
            exit,
            code,
            message,
        }
    }
}

/// Run one operator subcommand.
pub(super) fn run(command: OpsCommand) -> ExitCode {
    let json_output = match &command {
        OpsCommand::Services { conn }
        | OpsCommand::Tools { conn, .. }
        | OpsCommand::Sessions { conn }
        | OpsCommand::Close { conn, .. }
        | OpsCommand::Reload { conn } => conn.json,
        OpsCommand::Call(c) => c.conn.json,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return Exit::Failed.into();
        }
    };
    match runtime.block_on(execute(command)) {
        Ok(exit) => exit.into(),
        Err(failure) => {
            if json_output {
                println!(
                    "{}",
                    json!({"error": failure.message, "code": failure.code})
                );
            } else {
                eprintln!("error: {}", failure.message);
            }
            failure.exit.into()
        }
    }
}

async fn execute(command: OpsCommand) -> Result<Exit, Failure> {
    match command {
        OpsCommand::Services { conn } => {
            let services = client(&conn)?.services().await?;
            if conn.json {
                print_json(&services);
            } else if services.is_empty() {
                println!("no services");
            } else {
                let rows = services
                    .iter()
                    .map(|(name, s)| {
                        let state = if s.enabled { "enabled" } else { "disabled" };
                        vec![name.clone(), state.into(), s.description.clone()]
                    })
                    .collect();
                print_table(&["SERVICE", "STATE", "DESCRIPTION"], rows);
            }
            Ok(Exit::Ok)
        }
        OpsCommand::Tools { service, conn } => {
            let list = client(&conn)?.tools(&service).await?;
            if conn.json {
                print_json(&list);
            } else if list.tools.is_empty() {
                println!("{service}: no tools");
            } else {
                for (i, tool) in list.tools.iter().enumerate() {
                    if i > 0 {
                        println!();
                    }
                    print!("{}", describe_tool(tool));
                }
            }
            Ok(Exit::Ok)
        }
        OpsCommand::Call(args) => call(args).await,
        OpsCommand::Sessions { conn } => {
            let sessions = client(&conn)?.sessions().await?;
            if conn.json {
                print_json(&sessions);
            } else if sessions.is_empty() {
                println!("no sessions");
            } else {
                let rows = sessions.iter().map(|(id, s)| session_row(id, s)).collect();
                print_table(&["SESSION", "SERVICES", "CALLS", "IDLE LEFT", "PIDS"], rows);
            }
            Ok(Exit::Ok)
        }
        OpsCommand::Close { id, conn } => {
            let message = client(&conn)?.close_session(&id).await?;
            if conn.json {
                print_json(&json!({ "message": message }));
            } else {
                println!("{message}");
            }
            Ok(Exit::Ok)
        }
        OpsCommand::Reload { conn } => {
            let report = client(&conn)?.reload().await?;
            if conn.json {
                print_json(&report);
            } else {
                print!("{}", describe_reload(&report));
            }
            Ok(Exit::Ok)
        }
    }
}

/// A reload's report for people: the generation, then each non-empty list.
fn describe_reload(report: &Value) -> String {
    let list = |v: &Value| -> Vec<String> {
        (v.as_array().into_iter().flatten())
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    let mut out = format!(
        "reloaded: configuration generation {}\n",
        report["generation"]
    );
    let services = &report["services"];
    for (label, items) in [
        ("services added", list(&services["added"])),
        ("services removed", list(&services["removed"])),
        ("services changed", list(&services["changed"])),
        ("restart required for", list(&report["restart_required"])),
        ("warnings", list(&report["warnings"])),
    ] {
        if !items.is_empty() {
            out.push_str(&format!("{label}: {}\n", items.join(", ")));
        }
    }
    out
}

async fn call(args: CallArgs) -> Result<Exit, Failure> {
    let arguments = parse_arguments(args.arguments.as_deref(), &args.args)?;
    let client = client(&args.conn)?;
    let (session, one_off) = match &args.session {
        Some(id) => (id.clone(), false),
        None => (format!("cli-{}", uuid::Uuid::new_v4()), true),
    };
    let mut request = CallRequest::new(&args.tool, &session).arguments(arguments);
    if let Some(t) = args.session_timeout {
        request = request.timeout(t);
    }
    let outcome = client.call(&args.service, &request).await;
    let unreachable = matches!(outcome, Err(GatewayError::Connect { .. }));
    if one_off && !unreachable {
        // Nobody can reuse a one-off session: stop its server now, not at idle timeout.
        let _ = client.close_session(&session).await;
    }
    let reply = outcome?;
    if args.conn.json {
        print_json(&reply);
    } else if reply.is_error {
        eprintln!("tool error: {}", reply.text());
    } else {
        println!("{}", reply.text());
    }
    Ok(if reply.is_error {
        Exit::ToolFailed
    } else {
        Exit::Ok
    })
}

fn client(conn: &Connection) -> Result<GatewayClient, Failure> {
    let auth = match (&conn.token, &conn.user, &conn.password) {
        (Some(token), _, _) if !token.is_empty() => Auth::Bearer(token.clone()),
        (_, Some(user), Some(password)) => Auth::Basic {
            user: user.clone(),
            password: password.clone(),
        },
        (_, Some(_), None) => {
            return Err(Failure::usage(
                "--user needs --password (or MCP_GATEWAY_AUTH_PASSWORD)",
            ));
        }
        (_, None, Some(_)) => {
            return Err(Failure::usage(
                "--password needs --user (or MCP_GATEWAY_AUTH_USER)",
            ));
        }
        _ => Auth::None,
    };
    if !(conn.timeout.is_finite() && conn.timeout > 0.0) {
        return Err(Failure::usage(
            "--timeout must be a positive number of seconds",
        ));
    }
    GatewayClient::new(ClientConfig {
        base_url: conn.url.clone(),
        auth,
        request_timeout: Duration::from_secs_f64(conn.timeout),
        verify_ssl: !conn.insecure,
    })
    .map_err(|e| Failure::usage(e.to_string()))
}

/// `--arguments JSON` (or `-` for stdin) as the base, then each `--arg KEY=VALUE`.
fn parse_arguments(base: Option<&str>, pairs: &[String]) -> Result<Map<String, Value>, Failure> {
    let mut arguments = match base {
        None => Map::new(),
        Some(text) => {
            let text = if text == "-" {
                let mut buf = String::new();
                std::io::stdin().read_to_string(&mut buf).map_err(|e| {
                    Failure::usage(format!("--arguments -: cannot read stdin: {e}"))
                })?;
                buf
            } else {
                text.to_owned()
            };
            match serde_json::from_str(&text) {
                Ok(Value::Object(map)) => map,
                Ok(other) => {
                    return Err(Failure::usage(format!(
                        "--arguments must be a JSON object, got {other}"
                    )));
                }
                Err(e) => {
                    return Err(Failure::usage(format!(
                        "--arguments is not valid JSON: {e}"
                    )));
                }
            }
        }
    };
    for pair in pairs {
        let (key, value) = parse_pair(pair)?;
        arguments.insert(key, value);
    }
    Ok(arguments)
}

/// `KEY=VALUE`: VALUE as JSON when it parses, else as a string.
fn parse_pair(pair: &str) -> Result<(String, Value), Failure> {
    let Some((key, raw)) = pair.split_once('=') else {
        return Err(Failure::usage(format!(
            "--arg {pair:?}: expected KEY=VALUE"
        )));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(Failure::usage(format!("--arg {pair:?}: empty key")));
    }
    let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
    Ok((key.to_owned(), value))
}

fn print_json<T: serde::Serialize + ?Sized>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot encode the answer as JSON: {e}"),
    }
}

fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}

fn session_row(id: &str, s: &SessionInfo) -> Vec<String> {
    let pids: Vec<String> = s
        .children
        .iter()
        .map(|(service, c)| match c.pid {
            Some(pid) => format!("{service}={pid}"),
            None => service.clone(),
        })
        .collect();
    vec![
        id.to_owned(),
        s.services.join(","),
        s.calls.map(|c| c.to_string()).unwrap_or_default(),
        s.time_remaining
            .map(|t| format!("{}s", t.round()))
            .unwrap_or_default(),
        pids.join(" "),
    ]
}

/// A tool as text: its name and description, then one line per argument in the form
/// `--arg` takes.
fn describe_tool(tool: &Tool) -> String {
    let mut out = tool.name.clone();
    if let Some(d) = tool.description.as_deref().filter(|d| !d.is_empty()) {
        out.push_str(&format!("  {d}"));
    }
    out.push('\n');
    let schema = &tool.input_schema;
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return out;
    };
    for (name, prop) in props {
        let mut line = format!("    --arg {name}=<{}>", type_of(prop));
        if required.contains(&name.as_str()) {
            line.push_str("  required");
        }
        if let Some(values) = prop.get("enum").and_then(Value::as_array) {
            let values: Vec<String> = values.iter().map(short).collect();
            line.push_str(&format!("  one of {}", values.join("|")));
        }
        if let Some(default) = prop.get("default") {
            line.push_str(&format!("  default {}", short(default)));
        }
        if let Some(d) = prop.get("description").and_then(Value::as_str) {
            line.push_str(&format!("  {d}"));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn type_of(prop: &Value) -> String {
    match prop.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("|"),
        _ => "json".into(),
    }
}

fn short(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pair: &str, expected: Value) {
        let (key, value) = parse_pair(pair).unwrap_or_else(|f| panic!("{pair}: {}", f.message));
        assert_eq!(key, "k", "{pair}");
        assert_eq!(value, expected, "{pair}");
    }

    #[test]
    fn arg_values_are_json_when_they_parse() {
        check("k=Ada", json!("Ada"));
        check("k=5", json!(5));
        check("k=-1.5", json!(-1.5));
        check("k=true", json!(true));
        check("k=null", json!(null));
        check(r#"k={"a":[1,2]}"#, json!({"a": [1, 2]}));
        check(r#"k="5""#, json!("5"));
        check("k=", json!(""));
        check("k=a=b", json!("a=b"));
        check("k=hello world", json!("hello world"));
        check("k={not json", json!("{not json"));
    }

    #[test]
    fn bad_pairs_are_usage_errors() {
        for bad in ["novalue", "=x", " =x"] {
            match parse_pair(bad) {
                Err(err) => assert_eq!(err.exit, Exit::Usage, "{bad}"),
                Ok(parsed) => panic!("{bad} parsed as {parsed:?}"),
            }
        }
    }

    #[test]
    fn args_override_the_json_object() {
        let args = parse_arguments(
            Some(r#"{"name":"Bob","style":"loud"}"#),
            &["name=Ada".into()],
        )
        .unwrap_or_else(|f| panic!("{}", f.message));
        assert_eq!(Value::Object(args), json!({"name": "Ada", "style": "loud"}));
        assert!(parse_arguments(Some("[1]"), &[]).is_err());
        assert!(parse_arguments(Some("{"), &[]).is_err());
    }

    #[test]
    fn a_tool_is_described_in_the_form_arg_takes() {
        let tool: Tool = serde_json::from_value(json!({
            "name": "greet", "description": "Greet someone",
            "inputSchema": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "description": "Who"},
                "style": {"type": "string", "enum": ["plain", "loud"], "default": "plain"}
            }}
        }))
        .unwrap();
        assert_eq!(
            describe_tool(&tool),
            "greet  Greet someone\n    --arg name=<string>  required  Who\n    \
             --arg style=<string>  one of plain|loud  default plain\n"
        );
    }
}
