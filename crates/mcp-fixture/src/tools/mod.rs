//! The tool table: what `tools/list` shows and what `tools/call` does.
//!
//! Argument mistakes are tool execution errors (`isError: true`), as the 2025-11-25 revision
//! recommends; the todo tools keep the upstream server's JSON-RPC `-32603` errors instead.

mod args;
mod basic;
pub mod catalog;
pub mod conformance;
mod counting;
pub mod hostile;
mod process;
mod syscalls;
pub mod todo;
mod wire;

use std::sync::mpsc::Receiver;

use serde_json::{Map, Value, json};

use crate::jsonrpc::INTERNAL_ERROR;
use crate::server::Server;
use crate::state::lock;

/// How a call ends.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// A `CallToolResult` (which may itself say `isError: true`).
    Result(Value),
    /// A JSON-RPC error response.
    RpcError {
        code: i64,
        message: String,
        data: Option<Value>,
    },
    /// No response at all (the call was cancelled).
    Silent,
}

/// One `tools/call` in progress.
pub struct Call<'a> {
    pub server: &'a Server,
    /// The request id of this call.
    pub id: &'a Value,
    pub args: &'a Map<String, Value>,
    /// `params._meta` (or null).
    pub meta: &'a Value,
    /// For calls on their own thread: receives `()` on `notifications/cancelled`.
    pub cancel: Option<Receiver<()>>,
}

/// Everything `tools/list` shows: the fixed table, then tools added with `add_tool`.
pub fn list(server: &Server) -> Vec<Value> {
    let dynamic = lock(&server.state.dynamic_tools);
    let mut tools = Vec::with_capacity(catalog::NAMES.len() + dynamic.len());
    tools.extend_from_slice(catalog::definitions());
    tools.extend(counting::definitions());
    tools.extend(dynamic.iter().map(|name| catalog::dynamic_definition(name)));
    if server.options.conformance {
        tools.extend(conformance::definitions());
    }
    tools
}

pub fn exists(server: &Server, name: &str) -> bool {
    (server.options.conformance && conformance::NAMES.contains(&name))
        || catalog::NAMES.contains(&name)
        || counting::NAMES.contains(&name)
        || lock(&server.state.dynamic_tools).iter().any(|n| n == name)
}

/// Tools that wait (on time or on the client) run on their own thread; the rest run inline,
/// in arrival order.
pub fn runs_on_thread(name: &str, args: &Map<String, Value>) -> bool {
    match name {
        "sleep" | "ask_client" | "spin_cpu" | "sample_many" => true,
        conformance if conformance.starts_with("test_") => conformance::runs_on_thread(conformance),
        "progress" => args
            .get("interval_ms")
            .and_then(Value::as_f64)
            .is_some_and(|ms| ms > 0.0),
        _ => false,
    }
}

/// Run a tool that [`exists`].
pub fn call(call: &Call<'_>, name: &str) -> Outcome {
    let state = &call.server.state;
    let args = call.args;
    if conformance::NAMES.contains(&name) && call.server.options.conformance {
        return conformance::call(call, name);
    }
    let outcome = match name {
        "echo" => basic::echo(args),
        "greet" => basic::greet(args),
        "add" => basic::add(args),
        "count" => Ok(basic::count(&state.counter)),
        "add_todo" | "list_todos" | "complete_todo" | "delete_todo" | "clear_todos" => {
            return todo_call(&mut lock(&state.todos), name, args);
        }
        "whoami" => Ok(process::whoami()),
        "meta" => Ok(text(call.meta.to_string())),
        "sleep" => wire::sleep(call),
        "cancelled" => Ok(text(Value::from(state.cancels.received()).to_string())),
        "crash" => process::crash(args),
        "stderr_flood" => wire::stderr_flood(args),
        "garbage" => Ok(wire::garbage()),
        "oversized" => wire::oversized(args),
        "noise_then_reply" => wire::noise_then_reply(args),
        "ask_client" => wire::ask_client(call),
        "add_tool" => wire::add_tool(call),
        "image" => Ok(basic::image()),
        "structured" => Ok(basic::structured()),
        "tool_error" => basic::tool_error(args),
        "rpc_error" => basic::rpc_error(args),
        "progress" => wire::progress(call),
        "work" => basic::work(args),
        "spawn_grandchild" => process::spawn_grandchild(args),
        "failing" => return counting::call(args),
        hostile if hostile::NAMES.contains(&hostile) => hostile::call(call, hostile),
        dynamic => Ok(text(format!("dynamic {dynamic}"))),
    };
    outcome.unwrap_or_else(|message| Outcome::Result(error_result(message)))
}

fn todo_call(todos: &mut todo::TodoList, name: &str, args: &Map<String, Value>) -> Outcome {
    let reply = match name {
        "add_todo" => todos.add(args),
        "list_todos" => Ok(todos.list(args)),
        "complete_todo" => todos.complete(args),
        "delete_todo" => todos.delete(args),
        _ => Ok(todos.clear()),
    };
    match reply {
        Ok(reply) => text(reply),
        Err(message) => Outcome::RpcError {
            code: INTERNAL_ERROR,
            message,
            data: None,
        },
    }
}

/// A successful result with one text block.
pub fn text(text: impl Into<String>) -> Outcome {
    Outcome::Result(json!({"content": [{"type": "text", "text": text.into()}]}))
}

/// A tool execution error: `isError: true` with one text block.
pub fn error_result(text: impl Into<String>) -> Value {
    json!({"content": [{"type": "text", "text": text.into()}], "isError": true})
}
