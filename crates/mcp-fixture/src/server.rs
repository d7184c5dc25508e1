//! The stdin loop and method dispatch.
//!
//! One thread reads stdin (buffered) and handles every message in order. Quick tools run
//! inline; slow ones (see [`tools::runs_on_thread`]) get their own thread so they never block
//! the loop, which keeps routing cancellations and the client's responses to them.

use std::io::{self, BufRead, BufReader};
use std::sync::Arc;
use std::thread;

use serde_json::{Map, Value, json};

use crate::cli::Options;
use crate::jsonrpc::{self, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, Incoming};
use crate::output;
use crate::protocol;
use crate::state::State;
use crate::tools::{self, Call, Outcome};

pub struct Server {
    pub options: Options,
    pub state: State,
}

/// Serve stdin until EOF, then return 0 at once: calls still running on their own threads
/// (`sleep`, `ask_client`, `progress` with `interval_ms`) are dropped unanswered. With
/// `--ignore-eof`, keep running until killed instead.
pub fn run(options: Options) -> i32 {
    if options.stderr_at_start > 0 {
        output::log_raw(&output::filler(options.stderr_at_start, "stderr-at-start"));
    }
    let server = Arc::new(Server {
        options,
        state: State::default(),
    });
    let mut stdin = BufReader::with_capacity(1 << 16, io::stdin().lock());
    let mut line = Vec::with_capacity(1 << 12);
    loop {
        line.clear();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => server.handle_line(line.trim_ascii()),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                output::log(&format!("mcp-fixture: cannot read stdin: {err}"));
                break;
            }
        }
    }
    server.chat(|| "stdin closed".to_owned());
    if server.options.ignore_eof {
        loop {
            thread::park();
        }
    }
    0
}

impl Server {
    /// Log one line to stderr, only with `--chatty`.
    pub fn chat(&self, line: impl FnOnce() -> String) {
        if self.options.chatty {
            output::log(&format!("mcp-fixture[{}]: {}", self.options.name, line()));
        }
    }

    fn handle_line(self: &Arc<Self>, line: &[u8]) {
        if line.is_empty() {
            return;
        }
        match jsonrpc::parse(line) {
            Err(err) => {
                self.chat(|| format!("<- unparsable line of {} bytes", line.len()));
                let message = format!("Parse error: {err}");
                output::send(&jsonrpc::error(
                    &Value::Null,
                    jsonrpc::PARSE_ERROR,
                    &message,
                    None,
                ));
            }
            Ok(Incoming::Request { id, method, params }) => {
                self.chat(|| format!("<- request {method} id={id}"));
                self.request(id, &method, params);
            }
            Ok(Incoming::Notification { method, params }) => {
                self.chat(|| format!("<- notification {method}"));
                self.notification(&method, &params);
            }
            Ok(Incoming::Response { id, message }) => {
                let routed = self.state.inbox.deliver(&id, message);
                self.chat(|| {
                    let note = if routed {
                        ""
                    } else {
                        " (nobody waiting: dropped)"
                    };
                    format!("<- response id={id}{note}")
                });
            }
            Ok(Incoming::Invalid { id, reason }) => {
                self.chat(|| format!("<- invalid message: {reason}"));
                output::send(&jsonrpc::error(&id, INVALID_REQUEST, reason, None));
            }
        }
    }

    fn request(self: &Arc<Self>, id: Value, method: &str, params: Value) {
        match method {
            "initialize" => self.initialize(&id, &params),
            "ping" => output::send(&jsonrpc::result(&id, json!({}))),
            "tools/list" => self.tools_list(&id, &params),
            "tools/call" => self.tools_call(id, params),
            _ if self.options.conformance
                && tools::conformance::request(self, &id, method, &params) => {}
            _ => {
                let message = format!("Method not found: {method}");
                output::send(&jsonrpc::error(
                    &id,
                    jsonrpc::METHOD_NOT_FOUND,
                    &message,
                    None,
                ));
            }
        }
    }

    fn notification(&self, method: &str, params: &Value) {
        if method == "notifications/cancelled"
            && let Some(id) = params.get("requestId")
        {
            let woke = self.state.cancels.cancel(id.clone());
            self.chat(|| format!("cancelled id={id} (running: {woke})"));
        }
        // notifications/initialized and anything else: nothing to do.
    }

    fn initialize(&self, id: &Value, params: &Value) {
        let options = &self.options;
        if let Some(code) = options.exit_on_init {
            output::log(&format!(
                "mcp-fixture: exiting with status {code} on initialize (--exit-on-init)"
            ));
            std::process::exit(code);
        }
        if options.no_init_reply {
            self.chat(|| "not answering initialize (--no-init-reply)".to_owned());
            return;
        }
        if options.notify_before_init {
            output::send(&jsonrpc::notification(
                "notifications/tools/list_changed",
                json!({}),
            ));
            output::send(&jsonrpc::notification(
                "notifications/message",
                json!({"level": "info", "logger": options.name, "data": "sent before the initialize response"}),
            ));
        }
        let requested = params.get("protocolVersion").and_then(Value::as_str);
        let version = protocol::negotiate(requested, options.protocol_version.as_deref());
        let mut result = protocol::initialize_result(&version, &options.name);
        if options.conformance {
            result["capabilities"] = tools::conformance::capabilities();
        }
        output::send(&jsonrpc::result(id, result));
    }

    fn tools_list(&self, id: &Value, params: &Value) {
        let cursor = match params.get("cursor") {
            None | Some(Value::Null) => None,
            Some(Value::String(cursor)) => Some(cursor.as_str()),
            Some(_) => return invalid_params(id, "cursor must be a string"),
        };
        let all = tools::list(self);
        match protocol::paginate(&all, self.options.page_size, cursor) {
            Ok((page, next)) => {
                let mut result = json!({"tools": page});
                if let Some(next) = next {
                    result["nextCursor"] = next.into();
                }
                output::send(&jsonrpc::result(id, result));
            }
            Err(message) => invalid_params(id, &message),
        }
    }

    fn tools_call(self: &Arc<Self>, id: Value, params: Value) {
        let Value::Object(mut params) = params else {
            return invalid_params(&id, "tools/call needs params");
        };
        let name = match params.remove("name") {
            Some(Value::String(name)) => name,
            _ => return invalid_params(&id, "tools/call needs a tool name"),
        };
        let args = match params.remove("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(args)) => args,
            Some(_) => return invalid_params(&id, "arguments must be an object"),
        };
        let meta = params.remove("_meta").unwrap_or(Value::Null);
        if !tools::exists(self, &name) {
            return invalid_params(&id, &format!("Unknown tool: {name}"));
        }
        if !tools::runs_on_thread(&name, &args) {
            let call = Call {
                server: self,
                id: &id,
                args: &args,
                meta: &meta,
                cancel: None,
            };
            return finish(&id, tools::call(&call, &name));
        }
        let token = self.state.next_token();
        let cancel = self.state.cancels.register(&id, token);
        let server = Arc::clone(self);
        let spawned = thread::Builder::new().name(format!("tool-{name}")).spawn({
            let id = id.clone();
            move || {
                let call = Call {
                    server: &server,
                    id: &id,
                    args: &args,
                    meta: &meta,
                    cancel: Some(cancel),
                };
                let outcome = tools::call(&call, &name);
                server.state.cancels.finish(&id, token);
                finish(&id, outcome);
            }
        });
        if let Err(err) = spawned {
            self.state.cancels.finish(&id, token);
            let message = format!("cannot start a thread: {err}");
            output::send(&jsonrpc::error(&id, INTERNAL_ERROR, &message, None));
        }
    }
}

fn invalid_params(id: &Value, message: &str) {
    output::send(&jsonrpc::error(id, INVALID_PARAMS, message, None));
}

/// Answer a finished call (or not, if it was cancelled).
fn finish(id: &Value, outcome: Outcome) {
    match outcome {
        Outcome::Result(result) => output::send(&jsonrpc::result(id, result)),
        Outcome::RpcError {
            code,
            message,
            data,
        } => output::send(&jsonrpc::error(id, code, &message, data)),
        Outcome::Silent => {}
    }
}
