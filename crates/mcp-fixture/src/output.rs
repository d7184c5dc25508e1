//! The only writer of stdout and stderr.
//!
//! Every stdout message is serialized first, then written with one `write_all` + `flush` under
//! the stdout lock, so messages from different threads never interleave. If stdout is gone (the
//! client closed its end), there is nobody left to serve: the process exits 0.

use std::io::{self, Write};

use serde_json::Value;

/// Longest line (newline included) that [`filler`] produces.
const FILLER_LINE: usize = 100;

/// Write one JSON-RPC message as one line.
pub fn send(message: &Value) {
    let mut line = serde_json::to_vec(message).expect("a serde_json::Value always serializes");
    line.push(b'\n');
    send_raw(&line);
}

/// Write bytes to stdout as they are (they should end with a newline).
pub fn send_raw(bytes: &[u8]) {
    let mut stdout = io::stdout().lock();
    if stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// Write one line to stderr. Errors are ignored: stderr is best effort.
pub fn log(line: &str) {
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

/// Write bytes to stderr as they are. Blocks while the reader does not drain the pipe.
pub fn log_raw(bytes: &[u8]) {
    let mut stderr = io::stderr().lock();
    let _ = stderr.write_all(bytes).and_then(|()| stderr.flush());
}

/// Exactly `bytes` bytes of printable text lines (each at most 100 bytes, newline-terminated),
/// each starting with `tag` and a line number.
pub fn filler(bytes: usize, tag: &str) -> Vec<u8> {
    let mut text = Vec::with_capacity(bytes);
    let mut number = 0usize;
    while text.len() < bytes {
        number += 1;
        let len = FILLER_LINE.min(bytes - text.len());
        let head = format!("{tag} {number:06} ");
        let body_len = len - 1;
        text.extend(head.bytes().chain(std::iter::repeat(b'.')).take(body_len));
        text.push(b'\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filler_is_exactly_the_requested_size_in_short_lines() {
        for bytes in [0, 1, 2, 17, 99, 100, 101, 1000, 65_537] {
            let text = filler(bytes, "flood");
            assert_eq!(text.len(), bytes);
            if bytes > 0 {
                assert_eq!(text.last(), Some(&b'\n'));
            }
            let text = String::from_utf8(text).expect("ascii");
            assert!(text.lines().all(|line| line.len() < FILLER_LINE), "{bytes}");
        }
        assert!(filler(300, "flood").starts_with(b"flood 000001 ...."));
    }
}
