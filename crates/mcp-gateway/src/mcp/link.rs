//! What a client handle and its actor share: the commands a handle sends, and the state it
//! reads without going through the actor (the end, the stderr tail, the event fan-out).

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;
use tokio::sync::{broadcast, oneshot, watch};

use super::jsonrpc;
use super::stderr::StderrTail;
use super::{ChildEvent, ExitInfo, McpError};

pub(super) type Reply = oneshot::Sender<Result<Value, McpError>>;

/// What handles ask of the actor.
pub(super) enum Command {
    Request {
        id: u64,
        method: String,
        params: Value,
        reply: Reply,
    },
    Notify {
        method: String,
        params: Value,
    },
    /// Answer a request the child made (relayed by a subscriber, see [`ChildEvent::Request`]).
    Respond {
        id: Value,
        outcome: Result<Value, (i64, String)>,
    },
    /// The caller gave up (timeout or dropped future): forget `id`, tell the child.
    Cancel {
        id: u64,
        reason: String,
    },
    Stop,
}

/// How the child ended, published once by the actor.
#[derive(Debug, Clone)]
pub(super) struct Ended {
    pub info: ExitInfo,
    /// Stopped on request (or because every handle was dropped), not died on its own.
    pub stopped: bool,
}

impl Ended {
    /// The error for a request made after the end.
    pub(super) fn error(&self) -> McpError {
        if self.stopped {
            McpError::Closed
        } else {
            self.info.to_error()
        }
    }
}

/// State the handles read without going through the actor.
#[derive(Debug)]
pub(super) struct Shared {
    pub exit: watch::Sender<Option<Ended>>,
    /// Set as soon as a stop is asked for or the child is seen dying.
    pub closing: AtomicBool,
    pub stderr: StderrTail,
    pub events: broadcast::Sender<ChildEvent>,
    /// Set by a subscriber that relays the child's sampling / elicitation / roots requests
    /// (and then must answer each with [`Command::Respond`]).
    pub relay_requests: AtomicBool,
}

impl Shared {
    pub(super) fn new(stderr_buffer_bytes: usize) -> Self {
        Self {
            exit: watch::Sender::new(None),
            closing: AtomicBool::new(false),
            stderr: StderrTail::new(stderr_buffer_bytes),
            events: broadcast::Sender::new(EVENTS),
            relay_requests: AtomicBool::new(false),
        }
    }

    /// Where a child's request with `method` goes: `Some(true)` to the relaying subscriber,
    /// `Some(false)` nowhere (it would be relayed, but so many events wait for a subscriber
    /// that it could be lost: refuse it with [`jsonrpc::BUSY`]), `None` answered by us.
    pub(super) fn relays(&self, method: &str) -> Option<bool> {
        (self.relay_requests.load(Ordering::Acquire)
            && jsonrpc::is_relayable(method)
            && self.events.receiver_count() > 0)
            .then(|| self.events.len() < EVENTS / 2)
    }
}

/// Events a slow subscriber may miss past; child requests are refused past half of it.
const EVENTS: usize = 64;
