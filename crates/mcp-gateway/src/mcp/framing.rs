//! Newline-delimited framing with a hard line limit, and a peek into oversized lines.
//!
//! [`LineReader`] never holds more than `max` bytes of one line: the rest of an oversized line
//! is discarded as it arrives, keeping only its first [`HEAD_BYTES`] so the caller can try to
//! tell which request it answered ([`scan_head`]). A line that runs on [`RUNAWAY_SLACK`] bytes
//! past the limit is given up on ([`Frame::Runaway`]): a child writing an endless line would
//! otherwise keep us discarding at full speed forever.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// How much of an oversized line is kept for [`scan_head`].
pub const HEAD_BYTES: usize = 512;
/// How far past the limit an oversized line is discarded before [`Frame::Runaway`].
pub const RUNAWAY_SLACK: usize = 64 << 20;

/// One framed line, without its `\n` (and without a trailing `\r`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Line(Vec<u8>),
    /// A line longer than the limit: `len` bytes were discarded; `head` is their beginning.
    Oversized {
        head: Vec<u8>,
        len: usize,
    },
    /// A line still without its end after `len` bytes, past the runaway bound: the reader
    /// should not be used any more (the rest of that line would follow as a new one).
    Runaway {
        len: usize,
    },
}

/// Reads [`Frame`]s from a buffered reader. Cancel-safe: dropping a pending
/// [`LineReader::next_frame`] loses nothing, so it can sit in a `select!`.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    max: usize,
    runaway: usize,
    acc: Accumulator,
}

#[derive(Debug, Default)]
struct Accumulator {
    line: Vec<u8>,
    oversized: Option<(Vec<u8>, usize)>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        Self {
            inner,
            max,
            runaway: max.saturating_add(RUNAWAY_SLACK),
            acc: Accumulator::default(),
        }
    }

    /// Give up on a line longer than `bytes` (instead of `max` + [`RUNAWAY_SLACK`]).
    pub fn runaway_after(mut self, bytes: usize) -> Self {
        self.runaway = bytes.max(self.max);
        self
    }

    /// The next line, or `None` at end of input. A last line without a newline is returned.
    pub async fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        loop {
            // The only await: everything after it runs to completion before the next one.
            let buf = self.inner.fill_buf().await?;
            if buf.is_empty() {
                return Ok(self.acc.finish());
            }
            let (chunk, used, complete) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], i + 1, true),
                None => (buf, buf.len(), false),
            };
            self.acc.push(chunk, self.max);
            self.inner.consume(used);
            if complete {
                return Ok(Some(self.acc.take()));
            }
            if let Some((_, len)) = self.acc.oversized
                && len > self.runaway
            {
                self.acc = Accumulator::default();
                return Ok(Some(Frame::Runaway { len }));
            }
        }
    }
}

impl Accumulator {
    fn push(&mut self, chunk: &[u8], max: usize) {
        if let Some((head, len)) = &mut self.oversized {
            let room = HEAD_BYTES.saturating_sub(head.len());
            head.extend_from_slice(&chunk[..room.min(chunk.len())]);
            *len += chunk.len();
            return;
        }
        if self.line.len() + chunk.len() <= max {
            self.line.extend_from_slice(chunk);
            return;
        }
        // Over the limit: keep only the head, release the buffer, discard the rest as it comes.
        let accumulated = self.line.len();
        let mut head = std::mem::take(&mut self.line);
        head.truncate(HEAD_BYTES);
        head.shrink_to(HEAD_BYTES);
        let room = HEAD_BYTES - head.len();
        head.extend_from_slice(&chunk[..room.min(chunk.len())]);
        self.oversized = Some((head, accumulated + chunk.len()));
    }

    fn take(&mut self) -> Frame {
        match self.oversized.take() {
            Some((head, len)) => Frame::Oversized { head, len },
            None => {
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Frame::Line(line)
            }
        }
    }

    fn finish(&mut self) -> Option<Frame> {
        if self.oversized.is_none() && self.line.is_empty() {
            return None;
        }
        Some(self.take())
    }
}

/// What the beginning of an oversized line says about itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadScan {
    /// A top-level `"id": <non-negative integer>`.
    pub id: Option<u64>,
    /// A top-level `"method"` key was seen: then it is the child's request, not our response.
    pub has_method: bool,
}

/// Best effort: scan the top level of a truncated JSON object for `id` and `method`.
/// Stops quietly at the first thing it does not understand or at the end of `head`.
pub fn scan_head(head: &[u8]) -> HeadScan {
    let mut scan = HeadScan::default();
    let mut p = Cursor { s: head, i: 0 };
    p.ws();
    if !p.eat(b'{') {
        return scan;
    }
    loop {
        p.ws();
        let Some(key) = p.string() else { return scan };
        p.ws();
        if !p.eat(b':') {
            return scan;
        }
        p.ws();
        match key {
            b"id" => match p.integer() {
                Some(id) => scan.id = Some(id),
                None if p.skip_value() => {}
                None => return scan,
            },
            b"method" => {
                scan.has_method = true;
                if !p.skip_value() {
                    return scan;
                }
            }
            _ => {
                if !p.skip_value() {
                    return scan;
                }
            }
        }
        p.ws();
        if !p.eat(b',') {
            return scan;
        }
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// A complete string's raw (still escaped) contents.
    fn string(&mut self) -> Option<&'a [u8]> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.i;
        while let Some(b) = self.peek() {
            match b {
                b'\\' => self.i += 2,
                b'"' => {
                    let s = &self.s[start..self.i];
                    self.i += 1;
                    return Some(s);
                }
                _ => self.i += 1,
            }
        }
        None
    }

    /// A non-negative integer that is certainly complete (followed by a delimiter).
    fn integer(&mut self) -> Option<u64> {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        let digits = &self.s[start..self.i];
        let complete = matches!(
            self.peek(),
            Some(b',' | b'}' | b' ' | b'\t' | b'\r' | b'\n')
        );
        let parsed = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse().ok());
        match parsed {
            Some(n) if complete => Some(n),
            _ => {
                self.i = start;
                None
            }
        }
    }

    /// Skip one complete value; false if it runs past the end.
    fn skip_value(&mut self) -> bool {
        match self.peek() {
            Some(b'"') => self.string().is_some(),
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                while let Some(b) = self.peek() {
                    match b {
                        b'"' => {
                            if self.string().is_none() {
                                return false;
                            }
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return true;
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
                false
            }
            Some(_) => {
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                        return true;
                    }
                    self.i += 1;
                }
                false
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncWriteExt, BufReader};

    async fn frames(input: &[u8], max: usize, buf_capacity: usize) -> Vec<Frame> {
        let mut reader = LineReader::new(BufReader::with_capacity(buf_capacity, input), max);
        let mut out = Vec::new();
        while let Some(frame) = reader.next_frame().await.unwrap() {
            assert!(
                reader.acc.line.capacity() <= max.max(buf_capacity) * 2 + 64,
                "line buffer grew unbounded"
            );
            out.push(frame);
        }
        out
    }

    fn line(s: &str) -> Frame {
        Frame::Line(s.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn an_endless_line_is_given_up_on() {
        let mut input = b"{\"a\":1}\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 10_000));
        let reader = LineReader::new(BufReader::with_capacity(64, &input[..]), 100);
        let mut reader = reader.runaway_after(1000);
        assert_eq!(reader.next_frame().await.unwrap(), Some(line("{\"a\":1}")));
        match reader.next_frame().await.unwrap() {
            Some(Frame::Runaway { len }) => assert!((1001..=1064).contains(&len), "{len}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn splits_lines_whatever_the_buffer_size() {
        for cap in [1, 2, 3, 7, 64, 8192] {
            let got = frames(b"{\"a\":1}\nsecond\r\n\nlast without newline", 100, cap).await;
            assert_eq!(
                got,
                vec![
                    line("{\"a\":1}"),
                    line("second"),
                    line(""),
                    line("last without newline")
                ],
                "capacity {cap}"
            );
        }
    }

    #[tokio::test]
    async fn a_line_of_exactly_max_bytes_is_accepted() {
        assert_eq!(
            frames(b"12345\n123456\n", 5, 3).await,
            vec![
                line("12345"),
                Frame::Oversized {
                    head: b"123456".to_vec(),
                    len: 6
                }
            ]
        );
    }

    #[tokio::test]
    async fn oversized_lines_are_discarded_and_reading_goes_on() {
        let mut input = br#"{"jsonrpc":"2.0","id":42,"result":""#.to_vec();
        input.extend(std::iter::repeat_n(b'x', 100_000));
        input.extend(b"\"}\nnext\n");
        for cap in [16, 4096] {
            let got = frames(&input, 1000, cap).await;
            assert_eq!(got.len(), 2, "capacity {cap}");
            let Frame::Oversized { head, len } = &got[0] else {
                panic!("expected oversized: {:?}", got[0])
            };
            assert_eq!(*len, input.len() - "\nnext\n".len());
            assert_eq!(head.len(), HEAD_BYTES);
            assert_eq!(&head[..10], &input[..10]);
            assert_eq!(
                scan_head(head),
                HeadScan {
                    id: Some(42),
                    has_method: false
                }
            );
            assert_eq!(got[1], line("next"));
        }
    }

    #[tokio::test]
    async fn oversized_last_line_without_newline() {
        let got = frames(b"ok\nabcdefghij", 4, 3).await;
        assert_eq!(
            got,
            vec![
                line("ok"),
                Frame::Oversized {
                    head: b"abcdefghij".to_vec(),
                    len: 10
                }
            ]
        );
    }

    #[tokio::test]
    async fn invalid_utf8_is_just_bytes() {
        let got = frames(b"\xff\xfe\n{}\n", 10, 4).await;
        assert_eq!(got, vec![Frame::Line(vec![0xff, 0xfe]), line("{}")]);
    }

    #[tokio::test]
    async fn next_frame_is_cancel_safe() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut reader = LineReader::new(BufReader::new(rx), 100);
        tx.write_all(b"hello ").await.unwrap();
        let pending =
            tokio::time::timeout(std::time::Duration::from_millis(20), reader.next_frame()).await;
        assert!(pending.is_err(), "no complete line yet");
        tx.write_all(b"world\n").await.unwrap();
        drop(tx);
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), reader.next_frame())
            .await
            .expect("the line must be read")
            .unwrap();
        assert_eq!(got, Some(line("hello world")));
        assert_eq!(reader.next_frame().await.unwrap(), None);
    }

    fn check_scan(head: &str, id: Option<u64>, has_method: bool) {
        assert_eq!(
            scan_head(head.as_bytes()),
            HeadScan { id, has_method },
            "{head}"
        );
    }

    #[test]
    fn scan_head_finds_top_level_keys_only() {
        check_scan(
            r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"aaa"#,
            Some(7),
            false,
        );
        check_scan(r#"{ "id" : 12 , "result": "#, Some(12), false);
        check_scan(
            r#"{"jsonrpc":"2.0","result":{"id":3,"x":"y"},"id":9}"#,
            Some(9),
            false,
        );
        check_scan(r#"{"result":{"id":3,"x":"yyyyyyyy"#, None, false);
        check_scan(
            r#"{"method":"sampling/createMessage","id":4,"params":{"#,
            Some(4),
            true,
        );
        check_scan(r#"{"jsonrpc":"2.0","id":"abc","result":"#, None, false);
        check_scan(r#"{"text":"a \"id\":5 b","id":6,"#, Some(6), false);
        check_scan(r#"{"requestId":5,"#, None, false);
        // Truncated inside the number: it may be longer than what we see.
        check_scan(r#"{"jsonrpc":"2.0","id":12"#, None, false);
        check_scan(r#"[{"id":1}]"#, None, false);
        check_scan("", None, false);
        check_scan(r#"{"id":-1,"#, None, false);
    }
}
