//! Per-process state shared between the stdin loop and handler threads.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;

use crate::jsonrpc::id_key;
use crate::tools::todo::TodoList;

#[derive(Default)]
pub struct State {
    /// The `count` tool's counter.
    pub counter: AtomicU64,
    pub todos: Mutex<TodoList>,
    /// Names of tools added with `add_tool`, in order.
    pub dynamic_tools: Mutex<Vec<String>>,
    pub cancels: Cancels,
    pub inbox: Inbox,
    /// Source of tokens that tell apart registrations made under the same request id.
    tokens: AtomicU64,
}

impl State {
    pub fn next_token(&self) -> u64 {
        self.tokens.fetch_add(1, Ordering::Relaxed)
    }
}

/// Lock, ignoring poisoning: a panicked handler thread must not wedge the others.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `notifications/cancelled` bookkeeping: every id ever cancelled, and a wake-up channel per
/// running threaded call.
#[derive(Default)]
pub struct Cancels {
    inner: Mutex<CancelsInner>,
}

#[derive(Default)]
struct CancelsInner {
    received: Vec<Value>,
    running: HashMap<String, (u64, Sender<()>)>,
}

impl Cancels {
    /// Register a running call. The receiver gets `()` when the call is cancelled.
    pub fn register(&self, id: &Value, token: u64) -> Receiver<()> {
        let (tx, rx) = mpsc::channel();
        lock(&self.inner).running.insert(id_key(id), (token, tx));
        rx
    }

    /// The call registered with `token` has finished.
    pub fn finish(&self, id: &Value, token: u64) {
        let mut inner = lock(&self.inner);
        let key = id_key(id);
        if inner.running.get(&key).is_some_and(|(t, _)| *t == token) {
            inner.running.remove(&key);
        }
    }

    /// Record a cancellation and wake the call if it is running. True if it was running.
    pub fn cancel(&self, id: Value) -> bool {
        let mut inner = lock(&self.inner);
        let running = inner.running.remove(&id_key(&id));
        inner.received.push(id);
        running.is_some_and(|(_, tx)| tx.send(()).is_ok())
    }

    /// Every request id received in `notifications/cancelled`, in arrival order.
    pub fn received(&self) -> Vec<Value> {
        lock(&self.inner).received.clone()
    }
}

/// Routes the client's responses to our own requests (from `ask_client`) to the waiting
/// thread, by id. Several waiters under one id are served in registration order.
#[derive(Default)]
pub struct Inbox {
    waiting: Mutex<HashMap<String, Waiters>>,
}

/// Waiters for one id: (registration token, where to send the response), oldest first.
type Waiters = VecDeque<(u64, Sender<Value>)>;

impl Inbox {
    /// Deliver responses with this id to `tx` (once).
    pub fn expect(&self, id: &Value, token: u64, tx: Sender<Value>) {
        lock(&self.waiting)
            .entry(id_key(id))
            .or_default()
            .push_back((token, tx));
    }

    /// Hand a response to its waiter. False if nobody was waiting for that id.
    pub fn deliver(&self, id: &Value, message: Value) -> bool {
        let mut waiting = lock(&self.waiting);
        let key = id_key(id);
        let Some(queue) = waiting.get_mut(&key) else {
            return false;
        };
        let mut message = Some(message);
        while let Some((_, tx)) = queue.pop_front() {
            match tx.send(message.take().expect("only taken on success")) {
                Ok(()) => break,
                Err(mpsc::SendError(back)) => message = Some(back),
            }
        }
        if queue.is_empty() {
            waiting.remove(&key);
        }
        message.is_none()
    }

    /// Stop waiting for everything registered with `token`.
    pub fn forget(&self, token: u64) {
        let mut waiting = lock(&self.waiting);
        waiting.retain(|_, queue| {
            queue.retain(|(t, _)| *t != token);
            !queue.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    #[test]
    fn cancelling_a_running_call_wakes_it_and_is_recorded() {
        let cancels = Cancels::default();
        let rx = cancels.register(&json!(5), 1);
        assert!(cancels.cancel(json!(5)));
        assert_eq!(rx.recv_timeout(Duration::from_secs(1)), Ok(()));
        assert!(
            !cancels.cancel(json!("5")),
            "string id 5 is another request"
        );
        assert_eq!(cancels.received(), vec![json!(5), json!("5")]);
    }

    #[test]
    fn finishing_only_removes_its_own_registration() {
        let cancels = Cancels::default();
        let _old = cancels.register(&json!(1), 1);
        let new = cancels.register(&json!(1), 2);
        cancels.finish(&json!(1), 1);
        assert!(cancels.cancel(json!(1)));
        assert_eq!(new.try_recv(), Ok(()));
    }

    #[test]
    fn inbox_routes_by_id_and_skips_gone_waiters() {
        let inbox = Inbox::default();
        let (gone_tx, gone_rx) = mpsc::channel();
        let (tx, rx) = mpsc::channel();
        inbox.expect(&json!("r-1"), 1, gone_tx);
        inbox.expect(&json!("r-1"), 2, tx.clone());
        inbox.expect(&json!(9999), 2, tx);
        drop(gone_rx);
        assert!(!inbox.deliver(&json!("other"), json!({})));
        assert!(inbox.deliver(&json!("r-1"), json!({"id": "r-1"})));
        assert_eq!(rx.try_recv(), Ok(json!({"id": "r-1"})));
        assert!(
            !inbox.deliver(&json!("r-1"), json!({})),
            "each waiter gets one response"
        );
        inbox.forget(2);
        assert!(!inbox.deliver(&json!(9999), json!({})));
    }
}
