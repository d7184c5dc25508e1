//! The child's stdout framing (`mcp::framing`): whatever the bytes, the line limit and the
//! reader's buffer size, the frames are exactly the input's lines: a line within the limit
//! whole (less a trailing `\r`), a longer one as `Oversized` with its length and its first
//! `HEAD_BYTES` only. And `scan_head` never claims an id or a method that a complete JSON line
//! does not have.
#![no_main]

use std::pin::pin;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use mcp_gateway::mcp::framing::{Frame, HEAD_BYTES, LineReader, scan_head};
use serde_json::Value;
use tokio::io::BufReader;

fuzz_target!(|data: &[u8]| {
    let [max_byte, cap_byte, input @ ..] = data else {
        return;
    };
    // Small limits, and limits on both sides of HEAD_BYTES.
    let max = if max_byte & 0x80 == 0 {
        1 + usize::from(*max_byte)
    } else {
        HEAD_BYTES - 64 + usize::from(max_byte & 0x7f) * 2
    };
    let capacity = 1 + usize::from(*cap_byte);

    let frames = read_all(input, max, capacity);
    for frame in &frames {
        match frame {
            Frame::Line(line) => {
                assert!(line.len() <= max, "a line of {} > {max} bytes", line.len());
                assert!(!line.contains(&b'\n'), "a newline inside a line");
                check_scan(line);
            }
            Frame::Oversized { head, len } => {
                assert!(*len > max, "oversized at {len} <= {max} bytes");
                assert!(head.len() <= HEAD_BYTES, "a head of {} bytes", head.len());
                scan_head(head);
            }
            // Only after RUNAWAY_SLACK (64 MiB) past the limit: never from a fuzz input.
            Frame::Runaway { len } => panic!("runaway after {len} bytes of a short input"),
        }
    }
    assert_eq!(
        frames,
        expected(input, max),
        "max {max}, capacity {capacity}"
    );
});

/// What the reader must yield: the input split at `\n`, no frame after a final newline.
fn expected(input: &[u8], max: usize) -> Vec<Frame> {
    let mut segments: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    if segments.last().is_some_and(|s| s.is_empty()) {
        segments.pop();
    }
    segments
        .into_iter()
        .map(|s| {
            if s.len() <= max {
                Frame::Line(s.strip_suffix(b"\r").unwrap_or(s).to_vec())
            } else {
                Frame::Oversized {
                    head: s[..s.len().min(HEAD_BYTES)].to_vec(),
                    len: s.len(),
                }
            }
        })
        .collect()
}

fn read_all(input: &[u8], max: usize, capacity: usize) -> Vec<Frame> {
    let mut reader = LineReader::new(BufReader::with_capacity(capacity, input), max);
    let mut frames = Vec::new();
    while let Some(frame) = now(reader.next_frame()).expect("reading a slice cannot fail") {
        frames.push(frame);
    }
    frames
}

/// Reading from a slice never waits: one poll completes it.
fn now<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a read from a slice was pending"),
    }
}

/// On a complete JSON object (no escapes, so keys are spelled as `scan_head` sees them), the
/// scan agrees with the parser: `method` exactly when there is one, and an id only if it is
/// the object's (a duplicated `"id"` is left out: the parser keeps the last, the scan the last
/// integer).
fn check_scan(line: &[u8]) {
    let scan = scan_head(line);
    if line.contains(&b'\\') {
        return;
    }
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(line) else {
        return;
    };
    let text = String::from_utf8_lossy(line);
    assert_eq!(scan.has_method, object.contains_key("method"), "{text}");
    if let Some(id) = scan.id
        && text.matches("\"id\"").count() == 1
    {
        assert_eq!(object.get("id").and_then(Value::as_u64), Some(id), "{text}");
    }
}
