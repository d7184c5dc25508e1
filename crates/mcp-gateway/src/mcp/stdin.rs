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
