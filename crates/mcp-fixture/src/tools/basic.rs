//! Tools that only compute a reply.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Number, Value, json};

use super::args::{self, as_integer};
use super::{Outcome, error_result, text};
use crate::jsonrpc::INVALID_PARAMS;

type Args = Map<String, Value>;

/// A 1x1 transparent PNG.
pub const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

pub fn echo(args: &Args) -> Result<Outcome, String> {
    let text_arg = match args::string(args, "text")? {
        Some(text) => text,
        None => args::string(args, "message")?.ok_or("missing required argument: text")?,
    };
    Ok(text(text_arg))
}

pub fn greet(args: &Args) -> Result<Outcome, String> {
    let name = args::required_string(args, "name")?;
    let greeting = format!("Hello, {name}!");
    match args::string(args, "style")?.unwrap_or("plain") {
        "plain" => Ok(text(greeting)),
        "loud" => Ok(text(greeting.to_uppercase())),
        other => Err(format!("style must be plain or loud, got {other:?}")),
    }
}

pub fn add(args: &Args) -> Result<Outcome, String> {
    let sum = sum(
        args::required_number(args, "a")?,
        args::required_number(args, "b")?,
    )?;
    Ok(Outcome::Result(json!({
        "content": [{"type": "text", "text": sum.to_string()}],
        "structuredContent": {"sum": sum},
    })))
}

/// Integer sum when both are integers (and it fits), else a float sum.
fn sum(a: &Number, b: &Number) -> Result<Number, String> {
    if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64())
        && let Some(sum) = a.checked_add(b)
    {
        return Ok(sum.into());
    }
    let (a, b) = (
        a.as_f64().unwrap_or(f64::NAN),
        b.as_f64().unwrap_or(f64::NAN),
    );
    Number::from_f64(a + b).ok_or_else(|| "the sum is not a finite number".to_owned())
}

pub fn count(counter: &AtomicU64) -> Outcome {
    text((counter.fetch_add(1, Ordering::Relaxed) + 1).to_string())
}

pub fn image() -> Outcome {
    Outcome::Result(
        json!({"content": [{"type": "image", "data": PNG_1X1, "mimeType": "image/png"}]}),
    )
}

pub fn structured() -> Outcome {
    Outcome::Result(json!({"content": [], "structuredContent": {"a": 1}}))
}

pub fn tool_error(args: &Args) -> Result<Outcome, String> {
    let message = args::string(args, "message")?.unwrap_or("tool_error requested");
    Ok(Outcome::Result(error_result(message)))
}

pub fn rpc_error(args: &Args) -> Result<Outcome, String> {
    let code = match args.get("code") {
        None | Some(Value::Null) => INVALID_PARAMS,
        Some(Value::Number(n)) => as_integer(n).ok_or("argument code must be an integer")?,
        Some(_) => return Err("argument code must be an integer".into()),
    };
    let message = args::string(args, "message")?.unwrap_or("rpc_error requested");
    let data = args.get("data").filter(|d| !d.is_null()).cloned();
    Ok(Outcome::RpcError {
        code,
        message: message.to_owned(),
        data,
    })
}

/// A CPU-bound loop (FNV-1a over the counter) for benchmarks; replies the iteration count.
pub fn work(args: &Args) -> Result<Outcome, String> {
    let iterations = args::size(args, "iterations", None)?;
    std::hint::black_box(churn(iterations));
    Ok(text(iterations.to_string()))
}

fn churn(iterations: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for i in 0..iterations {
        hash ^= std::hint::black_box(i);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tool: fn(&Args) -> Result<Outcome, String>, args: Value) -> Value {
        match tool(args.as_object().expect("object")) {
            Ok(Outcome::Result(result)) => result,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(message) => error_result(message),
        }
    }

    fn text_of(result: &Value) -> &str {
        result["content"][0]["text"].as_str().expect("a text block")
    }

    #[test]
    fn echo_takes_text_or_message() {
        assert_eq!(text_of(&run(echo, json!({"text": "hi"}))), "hi");
        assert_eq!(text_of(&run(echo, json!({"message": "yo"}))), "yo");
        let missing = run(echo, json!({}));
        assert_eq!(missing["isError"], true);
        assert_eq!(text_of(&missing), "missing required argument: text");
    }

    #[test]
    fn greet_has_two_styles() {
        assert_eq!(text_of(&run(greet, json!({"name": "Ada"}))), "Hello, Ada!");
        assert_eq!(
            text_of(&run(greet, json!({"name": "Ada", "style": "loud"}))),
            "HELLO, ADA!"
        );
        assert_eq!(
            run(greet, json!({"name": "Ada", "style": "soft"}))["isError"],
            true
        );
        assert_eq!(run(greet, json!({}))["isError"], true);
    }

    #[test]
    fn add_keeps_integers_integral() {
        let result = run(add, json!({"a": 2, "b": 3}));
        assert_eq!(text_of(&result), "5");
        assert_eq!(result["structuredContent"], json!({"sum": 5}));
        assert_eq!(text_of(&run(add, json!({"a": 1.5, "b": 1}))), "2.5");
        assert_eq!(
            text_of(&run(add, json!({"a": i64::MAX, "b": 1}))),
            "9.223372036854776e+18"
        );
        assert_eq!(run(add, json!({"a": "1", "b": 1}))["isError"], true);
    }

    #[test]
    fn count_counts_from_one() {
        let counter = AtomicU64::new(0);
        assert_eq!(count(&counter), text("1"));
        assert_eq!(count(&counter), text("2"));
    }

    #[test]
    fn rpc_error_defaults_and_overrides() {
        let args = json!({});
        assert_eq!(
            rpc_error(args.as_object().expect("object")),
            Ok(Outcome::RpcError {
                code: -32602,
                message: "rpc_error requested".into(),
                data: None
            })
        );
        let args = json!({"code": -32000, "message": "nope", "data": {"why": 1}});
        assert_eq!(
            rpc_error(args.as_object().expect("object")),
            Ok(Outcome::RpcError {
                code: -32000,
                message: "nope".into(),
                data: Some(json!({"why": 1}))
            })
        );
    }

    #[test]
    fn work_replies_its_iteration_count() {
        assert_eq!(text_of(&run(work, json!({"iterations": 1000}))), "1000");
        assert_ne!(churn(10), churn(11));
    }
}
