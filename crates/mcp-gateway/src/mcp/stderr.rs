//! The child's stderr: drained continuously into the log and a bounded ring buffer.
//!
//! A child that fills its stderr pipe blocks forever (upstream's deadlock), so the drain never
//! waits on anything but the pipe: the ring buffer is a short `std` lock, and logging is
//! truncated per line and rate-limited.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};

/// Longest stderr line written to the log; the rest of the line is dropped (not from the tail).
pub(super) const LOG_LINE_MAX: usize = 2048;
/// Most stderr lines logged per second per child; the others are counted.
const LOG_LINES_PER_SECOND: u32 = 200;
/// Per child, allocated for its whole life: small, so idle sessions stay cheap.
const READ_CHUNK: usize = 4 * 1024;

/// The last `capacity` bytes a child wrote to stderr.
#[derive(Debug)]
pub(super) struct StderrTail {
    capacity: usize,
    buf: Mutex<VecDeque<u8>>,
}

impl StderrTail {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            buf: Mutex::new(VecDeque::new()),
        }
    }

    pub(super) fn push(&self, bytes: &[u8]) {
        if self.capacity == 0 || bytes.is_empty() {
            return;
        }
        let mut buf = self.buf.lock().unwrap_or_else(PoisonError::into_inner);
        if bytes.len() >= self.capacity {
            buf.clear();
            buf.extend(&bytes[bytes.len() - self.capacity..]);
            return;
        }
        let overflow = (buf.len() + bytes.len()).saturating_sub(self.capacity);
        buf.drain(..overflow);
        buf.extend(bytes);
    }

    /// At most the last `max_bytes` bytes, as lossy UTF-8 (not starting inside a character).
    pub(super) fn tail(&self, max_bytes: usize) -> String {
        let bytes: Vec<u8> = {
            let buf = self.buf.lock().unwrap_or_else(PoisonError::into_inner);
            let n = max_bytes.min(buf.len());
            buf.range(buf.len() - n..).copied().collect()
        };
        let start = bytes
            .iter()
            .take(3)
            .take_while(|&&b| b & 0xC0 == 0x80)
            .count();
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }
}

/// Who wrote the lines, for the log.
#[derive(Debug, Clone)]
pub(super) struct LogContext {
    pub service: String,
    pub session: String,
    pub pid: u32,
}

/// Read `stderr` to its end, feeding `tail` and the log. Returns at EOF or on a read error.
pub(super) async fn drain<R: AsyncRead + Unpin>(mut stderr: R, tail: &StderrTail, ctx: LogContext) {
    let mut logger = LineLogger::new(ctx);
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        match stderr.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => {
                crate::metrics::stderr_bytes(&logger.ctx.service, n);
                tail.push(&chunk[..n]);
                logger.feed(&chunk[..n], Instant::now());
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => {
                tracing::debug!(error = %err, "cannot read child stderr");
                break;
            }
        }
    }
    logger.finish(Instant::now());
}

/// Splits stderr into lines, truncates them, and logs them at a bounded rate.
struct LineLogger {
    ctx: LogContext,
    line: Vec<u8>,
    truncated: bool,
    window_start: Option<Instant>,
    logged_in_window: u32,
    suppressed: u64,
    /// What was emitted, for tests.
    #[cfg(test)]
    emitted: Vec<String>,
}

impl LineLogger {
    fn new(ctx: LogContext) -> Self {
        Self {
            ctx,
            line: Vec::new(),
            truncated: false,
            window_start: None,
            logged_in_window: 0,
            suppressed: 0,
            #[cfg(test)]
            emitted: Vec::new(),
        }
    }

    fn feed(&mut self, mut bytes: &[u8], now: Instant) {
        while !bytes.is_empty() {
            let (piece, ends) = match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => (&bytes[..i], Some(i + 1)),
                None => (bytes, None),
            };
            let room = LOG_LINE_MAX - self.line.len();
            self.line.extend_from_slice(&piece[..room.min(piece.len())]);
            self.truncated |= piece.len() > room;
            match ends {
                Some(used) => {
                    self.emit(now);
                    bytes = &bytes[used..];
                }
                None => break,
            }
        }
    }

    fn finish(&mut self, now: Instant) {
        if !self.line.is_empty() || self.truncated {
            self.emit(now);
        }
        self.flush_suppressed();
    }

    fn emit(&mut self, now: Instant) {
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        let text = String::from_utf8_lossy(&self.line).into_owned();
        let truncated = std::mem::take(&mut self.truncated);
        self.line.clear();
        match self.window_start {
            Some(start) if now.duration_since(start) < Duration::from_secs(1) => {}
            _ => {
                self.flush_suppressed();
                self.window_start = Some(now);
                self.logged_in_window = 0;
            }
        }
        if self.logged_in_window >= LOG_LINES_PER_SECOND {
            self.suppressed += 1;
            return;
        }
        self.logged_in_window += 1;
        let LogContext {
            service,
            session,
            pid,
        } = &self.ctx;
        tracing::debug!(service = %service, session = %session, pid, truncated, "child stderr: {text}");
        #[cfg(test)]
        self.emitted.push(if truncated {
            format!("{text}...")
        } else {
            text
        });
    }

    fn flush_suppressed(&mut self) {
        if self.suppressed > 0 {
            let LogContext {
                service,
                session,
                pid,
            } = &self.ctx;
            tracing::debug!(service = %service, session = %session, pid, lines = self.suppressed, "child stderr: lines not logged (rate limit)");
            self.suppressed = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> LogContext {
        LogContext {
            service: "svc".into(),
            session: "s1".into(),
            pid: 1,
        }
    }

    #[test]
    fn tail_keeps_the_last_bytes() {
        let tail = StderrTail::new(10);
        tail.push(b"hello ");
        tail.push(b"world");
        assert_eq!(tail.tail(100), "ello world");
        assert_eq!(tail.tail(5), "world");
        tail.push(b"0123456789abcdef");
        assert_eq!(tail.tail(100), "6789abcdef");
        tail.push(b"");
        assert_eq!(tail.tail(3), "def");
    }

    #[test]
    fn tail_does_not_start_inside_a_character() {
        let tail = StderrTail::new(100);
        tail.push("né: ok".as_bytes());
        // "é" is two bytes; cutting after its first byte must not yield a replacement char.
        assert_eq!(tail.tail("é: ok".len() - 1), ": ok");
        tail.push(b"\xff!");
        assert!(tail.tail(2).ends_with('!'));
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let tail = StderrTail::new(0);
        tail.push(b"abc");
        assert_eq!(tail.tail(10), "");
    }

    #[test]
    fn logger_splits_and_truncates_lines() {
        let now = Instant::now();
        let mut logger = LineLogger::new(ctx());
        logger.feed(b"one\ntw", now);
        logger.feed(b"o\r\n", now);
        let long = vec![b'x'; LOG_LINE_MAX + 10];
        logger.feed(&long, now);
        logger.feed(b"\npartial", now);
        logger.finish(now);
        let truncated = format!("{}...", "x".repeat(LOG_LINE_MAX));
        assert_eq!(
            logger.emitted,
            vec!["one".to_string(), "two".into(), truncated, "partial".into()]
        );
    }

    #[test]
    fn logger_is_rate_limited() {
        let start = Instant::now();
        let mut logger = LineLogger::new(ctx());
        let lines = "l\n".repeat(LOG_LINES_PER_SECOND as usize + 50);
        logger.feed(lines.as_bytes(), start);
        assert_eq!(logger.emitted.len(), LOG_LINES_PER_SECOND as usize);
        assert_eq!(logger.suppressed, 50);
        logger.feed(b"later\n", start + Duration::from_secs(2));
        assert_eq!(logger.suppressed, 0);
        assert_eq!(logger.emitted.last().map(String::as_str), Some("later"));
    }

    #[tokio::test]
    async fn drain_reads_to_eof() {
        let tail = StderrTail::new(8);
        let input: &[u8] = b"first line\nsecond line\n";
        tokio::time::timeout(Duration::from_secs(5), drain(input, &tail, ctx()))
            .await
            .expect("drain must end at EOF");
        assert_eq!(tail.tail(100), "nd line\n");
    }
}
