//! A child's stdin: a writer task the actor owns, so a child that stops reading can never
//! block the actor, with a bound on what may wait to be written.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::sandbox::ChildStdin;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};

/// What may wait to be written to a child's stdin (our requests, our answers to its requests)
/// before it counts as not reading it; at least `max_line_bytes`. One line is always accepted
/// into an empty queue, whatever its size.
pub(super) const STDIN_QUEUE_BYTES: usize = 16 << 20;

pub(super) struct Stdin {
    /// `None` once closed: the writer task then closes the pipe after the queued lines.
    lines: Option<mpsc::UnboundedSender<Vec<u8>>>,
    /// Bytes handed to the writer task and not yet written.
    queued: Arc<AtomicUsize>,
    limit: usize,
    task: Option<JoinHandle<io::Result<()>>>,
}

/// The child does not read its stdin: this many bytes wait.
pub(super) struct NotReading(pub usize);

impl Stdin {
    pub(super) fn new(stdin: ChildStdin, max_line_bytes: usize) -> Self {
        let (lines, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(write_loop(stdin, rx, queued.clone()));
        Self {
            lines: Some(lines),
            queued,
            limit: STDIN_QUEUE_BYTES.max(max_line_bytes),
            task: Some(task),
        }
    }

    /// Queue `line` (nothing happens once closed), unless too much already waits.
    pub(super) fn write(&mut self, line: Vec<u8>) -> Result<(), NotReading> {
        let Some(lines) = &self.lines else {
            return Ok(());
        };
        let queued = self.queued.load(Ordering::Acquire);
        if queued > 0 && queued + line.len() > self.limit {
            return Err(NotReading(queued));
        }
        self.queued.fetch_add(line.len(), Ordering::AcqRel);
        let _ = lines.send(line);
        Ok(())
    }

    /// Close stdin once the queued lines are written.
    pub(super) fn close(&mut self) {
        self.lines = None;
    }

    /// Whether the writer task still runs (for `select!`).
    pub(super) fn is_running(&self) -> bool {
        self.task.is_some()
    }

    /// The writer task's end: `Ok(Ok(()))` after [`Stdin::close`], an error when the pipe
    /// broke. Pending for ever once it ended.
    pub(super) async fn ended(&mut self) -> Result<io::Result<()>, JoinError> {
        let done = match &mut self.task {
            Some(task) => task.await,
            None => std::future::pending().await,
        };
        self.task = None;
        self.lines = None;
        done
    }

    /// Drop whatever still waits (the child is gone).
    pub(super) fn abort(&mut self) {
        self.lines = None;
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn write_loop(
    mut stdin: ChildStdin,
    mut lines: mpsc::UnboundedReceiver<Vec<u8>>,
    queued: Arc<AtomicUsize>,
) -> io::Result<()> {
    while let Some(line) = lines.recv().await {
        stdin.write_all(&line).await?;
        queued.fetch_sub(line.len(), Ordering::AcqRel);
    }
    Ok(()) // dropping stdin closes the pipe
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::unix::pipe;

    /// Lines, small ones and one larger than a pipe's buffer, reach the reader whole and in
    /// order, and closing ends the stream after the last one.
    #[tokio::test]
    async fn lines_arrive_whole_and_in_order_whichever_way_they_were_written() {
        let (tx, mut rx) = pipe::pipe().unwrap();
        let mut stdin = Stdin::new(tx, 1 << 20);
        let mut expected = Vec::new();
        for i in 0..10u8 {
            let line = vec![b'a' + i; 100];
            expected.extend_from_slice(&line);
            assert!(stdin.write(line).is_ok());
        }
        // One larger than a pipe's buffer (64 KiB): the lines after it wait behind it.
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        expected.extend_from_slice(&big);
        assert!(stdin.write(big).is_ok());
        assert!(stdin.queued.load(Ordering::Acquire) > 0, "it waits");
        for i in 0..10u8 {
            let line = vec![b'A' + i; 1000];
            expected.extend_from_slice(&line);
            assert!(stdin.write(line).is_ok());
        }
        stdin.close();
        let mut got = Vec::new();
        rx.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "bytes out of order");
        assert!(stdin.ended().await.unwrap().is_ok());
    }

    /// A reader that takes nothing: the queue bound is what refuses more.
    #[tokio::test]
    async fn a_pipe_nobody_reads_fills_the_queue_to_its_bound() {
        let (tx, _rx) = pipe::pipe().unwrap();
        let mut stdin = Stdin::new(tx, 0);
        let line = vec![b'x'; 1 << 20];
        let mut accepted = 0usize;
        let refused = loop {
            match stdin.write(line.clone()) {
                Ok(()) => accepted += 1,
                Err(NotReading(waiting)) => break waiting,
            }
            assert!(accepted < 64, "never refused");
        };
        assert!(refused <= STDIN_QUEUE_BYTES && refused > STDIN_QUEUE_BYTES - (2 << 20));
        stdin.abort();
    }
}
