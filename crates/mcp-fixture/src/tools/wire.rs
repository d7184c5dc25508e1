//! Tools that do more on the wire than reply: extra lines on stdout or stderr, requests to the
//! client, waiting, cancellation.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::{Call, Outcome, args, catalog, text};
use crate::jsonrpc;
use crate::output;
use crate::state::lock;

type Args = Map<String, Value>;

/// The line `garbage` writes before its reply.
pub const GARBAGE_LINE: &str = "this is not json";

/// Wait `duration`, or less if cancelled. True if cancelled.
fn cancelled_within(cancel: Option<&Receiver<()>>, duration: Duration) -> bool {
    match cancel {
        Some(cancel) => match cancel.recv_timeout(duration) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
            Err(RecvTimeoutError::Timeout) => false,
        },
        None => {
            std::thread::sleep(duration);
            false
        }
    }
}

/// Reply `slept <ms>` after `ms` milliseconds; never reply if cancelled meanwhile.
pub fn sleep(call: &Call<'_>) -> Result<Outcome, String> {
    let ms = args::size(call.args, "ms", None)?;
    if cancelled_within(call.cancel.as_ref(), Duration::from_millis(ms)) {
        call.server
            .chat(|| format!("sleep id={} cancelled: not replying", call.id));
        return Ok(Outcome::Silent);
    }
    Ok(text(format!("slept {ms}")))
}

pub fn stderr_flood(args: &Args) -> Result<Outcome, String> {
    let bytes = args::size(args, "bytes", None)?;
    let bytes = usize::try_from(bytes).map_err(|_| "argument bytes is too large".to_owned())?;
    output::log_raw(&output::filler(bytes, "stderr_flood"));
    Ok(text(format!("flooded {bytes}")))
}

pub fn garbage() -> Outcome {
    output::send_raw(format!("{GARBAGE_LINE}\n").as_bytes());
    text("ok")
}

pub fn oversized(args: &Args) -> Result<Outcome, String> {
    let bytes = usize::try_from(args::size(args, "bytes", None)?)
        .map_err(|_| "argument bytes is too large")?;
    Ok(text("x".repeat(bytes)))
}

/// First an unrelated `notifications/message` line of `bytes` bytes (newline excluded; at
/// least its fixed overhead), then the reply `ok`.
pub fn noise_then_reply(args: &Args) -> Result<Outcome, String> {
    let bytes = usize::try_from(args::size(args, "bytes", None)?)
        .map_err(|_| "argument bytes is too large")?;
    output::send_raw(&noise_line(bytes));
    Ok(text("ok"))
}

fn noise_line(bytes: usize) -> Vec<u8> {
    let with = |data: String| {
        let message = jsonrpc::notification(
            "notifications/message",
            json!({"level": "info", "data": data}),
        );
        serde_json::to_vec(&message).expect("a Value always serializes")
    };
    let overhead = with(String::new()).len();
    let mut line = with("x".repeat(bytes.saturating_sub(overhead)));
    line.push(b'\n');
    line
}

/// How long `ask_client` waits for the client's three responses, unless `timeout_ms` says.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// Send the client `ping` (with this call's own id), `roots/list` ("r-1") and
/// `sampling/createMessage` (9999), wait for the three responses and reply them as JSON text
/// `{"ping": .., "roots": .., "sampling": ..}` (null for any that did not come in time).
pub fn ask_client(call: &Call<'_>) -> Result<Outcome, String> {
    let timeout = match args::integer(call.args, "timeout_ms")? {
        Some(ms) => Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
        None => ASK_TIMEOUT,
    };
    let state = &call.server.state;
    let token = state.next_token();
    let (tx, rx) = mpsc::channel();
    let requests = [
        jsonrpc::request(call.id.clone(), "ping", None),
        jsonrpc::request(json!("r-1"), "roots/list", None),
        jsonrpc::request(
            json!(9999),
            "sampling/createMessage",
            Some(json!({
                "messages": [{"role": "user", "content": {"type": "text", "text": "Say hello"}}],
                "maxTokens": 16,
            })),
        ),
    ];
    let ids: Vec<Value> = requests.iter().map(|r| r["id"].clone()).collect();
    for id in &ids {
        state.inbox.expect(id, token, tx.clone());
    }
    drop(tx);
    for request in &requests {
        output::send(request);
    }
    let deadline = Instant::now() + timeout;
    let mut answers: [Option<Value>; 3] = Default::default();
    while answers.iter().any(Option::is_none) {
        let Ok(response) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        else {
            break;
        };
        let slot =
            (0..ids.len()).find(|&i| answers[i].is_none() && response.get("id") == Some(&ids[i]));
        if let Some(slot) = slot {
            answers[slot] = Some(response);
        }
    }
    state.inbox.forget(token);
    let [ping, roots, sampling] = answers.map(Option::unwrap_or_default);
    Ok(text(
        json!({"ping": ping, "roots": roots, "sampling": sampling}).to_string(),
    ))
}

/// Add a tool that replies `dynamic <name>`, announce it with
/// `notifications/tools/list_changed`, then reply `added <name>`.
pub fn add_tool(call: &Call<'_>) -> Result<Outcome, String> {
    let name = args::required_string(call.args, "name")?;
    if name.is_empty() {
        return Err("argument name must not be empty".into());
    }
    {
        let mut dynamic = lock(&call.server.state.dynamic_tools);
        if catalog::NAMES.contains(&name) || dynamic.iter().any(|n| n == name) {
            return Err(format!("tool {name} already exists"));
        }
        dynamic.push(name.to_owned());
    }
    output::send(&jsonrpc::notification(
        "notifications/tools/list_changed",
        json!({}),
    ));
    Ok(text(format!("added {name}")))
}

/// `steps` progress notifications (if the call carries `_meta.progressToken`), `interval_ms`
/// apart, then `done`. Stops without replying if cancelled.
pub fn progress(call: &Call<'_>) -> Result<Outcome, String> {
    let steps = args::size(call.args, "steps", Some(3))?;
    let interval = Duration::from_millis(args::size(call.args, "interval_ms", Some(0))?);
    let token = call.meta.get("progressToken").filter(|t| !t.is_null());
    for step in 1..=steps {
        if let Some(token) = token {
            output::send(&jsonrpc::notification(
                "notifications/progress",
                json!({"progressToken": token, "progress": step, "total": steps}),
            ));
        }
        if cancelled_within(call.cancel.as_ref(), interval) {
            return Ok(Outcome::Silent);
        }
    }
    Ok(text("done"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_lines_have_the_requested_size() {
        for bytes in [0, 10, 100, 1000, 70_000] {
            let line = noise_line(bytes);
            assert_eq!(line.last(), Some(&b'\n'));
            let body = &line[..line.len() - 1];
            let message: Value = serde_json::from_slice(body).expect("valid JSON");
            assert_eq!(message["method"], "notifications/message");
            if bytes >= 100 {
                assert_eq!(body.len(), bytes);
            }
        }
    }

    #[test]
    fn cancellation_cuts_a_wait_short() {
        let (tx, rx) = mpsc::channel();
        tx.send(()).expect("receiver alive");
        let start = Instant::now();
        assert!(cancelled_within(Some(&rx), Duration::from_secs(10)));
        assert!(start.elapsed() < Duration::from_secs(5));
        let (_tx, rx) = mpsc::channel();
        assert!(!cancelled_within(Some(&rx), Duration::from_millis(1)));
    }
}
