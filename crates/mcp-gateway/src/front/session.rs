//! One MCP session's protocol state. It is attached to the shared session table's record, so
//! it lives exactly as long as the session (DELETE, idle reaping and shutdown end both).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::aggregate::{NameMap, Naming};

/// Messages a GET stream may queue before further ones are dropped.
pub const STREAM_BUFFER: usize = 256;

pub struct McpSession {
    pub id: String,
    /// Which endpoint created it (`/mcp` or `/services/{name}/mcp`); other endpoints get 404.
    pub endpoint: String,
    pub naming: Naming,
    pub protocol_version: String,
    pub tools: Mutex<NameMap>,
    pub prompts: Mutex<NameMap>,
    pub resources: Mutex<NameMap>,
    /// Client request id (as JSON text) -> cancels the relay serving it.
    inflight: Mutex<HashMap<String, CancellationToken>>,
    /// The open GET stream, if any: server notifications not tied to a request.
    stream: Mutex<Option<mpsc::Sender<Value>>>,
    /// Children (by pid) whose notifications are being forwarded.
    pub forwarded: Mutex<HashSet<u32>>,
    /// Service -> `tools/call`s in flight whose stream relays that child's log messages.
    calls_on: Mutex<HashMap<String, usize>>,
    pub log_level: Mutex<Option<String>>,
}

impl McpSession {
    pub fn new(id: String, endpoint: String, naming: Naming, protocol_version: String) -> Self {
        Self {
            id,
            endpoint,
            naming,
            protocol_version,
            tools: Mutex::default(),
            prompts: Mutex::default(),
            resources: Mutex::default(),
            inflight: Mutex::default(),
            stream: Mutex::default(),
            forwarded: Mutex::default(),
            calls_on: Mutex::default(),
            log_level: Mutex::default(),
        }
    }

    /// Register a request so `notifications/cancelled` can reach it; dropping the guard
    /// forgets it.
    pub fn track(self: &Arc<Self>, id: &Value) -> Tracked {
        let key = id.to_string();
        let token = CancellationToken::new();
        self.inflight
            .lock()
            .expect("inflight lock")
            .insert(key.clone(), token.clone());
        Tracked {
            session: self.clone(),
            key,
            token,
        }
    }

    /// Cancel the request the client knows as `id`; false if it is not in flight.
    pub fn cancel(&self, id: &Value) -> bool {
        let token = self
            .inflight
            .lock()
            .expect("inflight lock")
            .get(&id.to_string())
            .cloned();
        token.map(|t| t.cancel()).is_some()
    }

    /// Replace the GET stream (one at a time; the old one ends).
    pub fn open_stream(&self) -> mpsc::Receiver<Value> {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        *self.stream.lock().expect("stream lock") = Some(tx);
        rx
    }

    /// Send on the GET stream; dropped when none is open or it is full.
    pub fn push(&self, message: Value) {
        let mut stream = self.stream.lock().expect("stream lock");
        if let Some(tx) = stream.as_ref() {
            match tx.try_send(message) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(session = %self.id, "GET stream full: notification dropped");
                }
                Err(mpsc::error::TrySendError::Closed(_)) => *stream = None,
            }
        }
    }

    pub fn calls_on(&self, service: &str) -> usize {
        self.calls_on
            .lock()
            .expect("calls lock")
            .get(service)
            .copied()
            .unwrap_or(0)
    }

    pub fn call_started(&self, service: &str) -> CallOn<'_> {
        *self
            .calls_on
            .lock()
            .expect("calls lock")
            .entry(service.to_string())
            .or_default() += 1;
        CallOn {
            session: self,
            service: service.to_string(),
        }
    }
}

pub struct Tracked {
    session: Arc<McpSession>,
    key: String,
    pub token: CancellationToken,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.session
            .inflight
            .lock()
            .expect("inflight lock")
            .remove(&self.key);
    }
}

pub struct CallOn<'a> {
    session: &'a McpSession,
    service: String,
}

impl Drop for CallOn<'_> {
    fn drop(&mut self) {
        let mut calls = self.session.calls_on.lock().expect("calls lock");
        if let Some(n) = calls.get_mut(&self.service) {
            *n = n.saturating_sub(1);
        }
    }
}
