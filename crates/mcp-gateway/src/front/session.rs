//! One MCP session's protocol state. It is attached to the shared session table's record, so
//! it lives exactly as long as the session (DELETE, idle reaping and shutdown end both).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::aggregate::{NameMap, Naming};
use crate::http::principal::Principal;
use crate::logging::Throttle;
use crate::mcp::{ChildId, McpClient};

/// The session layer with the front door's state beside each MCP session.
pub(crate) type Sessions = crate::session::SessionManager<McpSession>;

/// Messages a GET stream may queue before further ones are dropped.
pub(crate) const STREAM_BUFFER: usize = 256;
/// Children's requests relayed to the client and not answered yet, per session; past it a
/// child's request is refused at once.
pub(crate) const MAX_RELAYED_REQUESTS: usize = 64;
/// "GET stream full" warnings logged per second per session; the others are counted.
const STREAM_FULL_WARNINGS_PER_SECOND: u32 = 5;

/// One call in flight: its number and its response stream (none in JSON response mode).
type CallStream = (u64, Option<mpsc::Sender<Value>>);

pub(crate) struct McpSession {
    id: String,
    /// Which endpoint created it (`/mcp` or `/services/{name}/mcp`); other endpoints get 404.
    endpoint: String,
    naming: Naming,
    /// Who initialized it: a scoped key sees only its services (`naming`) and tools.
    principal: Principal,
    tools: Mutex<NameMap>,
    prompts: Mutex<NameMap>,
    resources: Mutex<NameMap>,
    /// Client request id (as JSON text) -> cancels the relay serving it.
    inflight: Mutex<HashMap<String, CancellationToken>>,
    /// The open GET stream, if any: server notifications not tied to a request.
    stream: Mutex<Option<mpsc::Sender<Value>>>,
    /// Children whose notifications are being forwarded.
    forwarded: Mutex<HashSet<ChildId>>,
    /// Service -> the response streams of its `tools/call`s in flight (newest last): they
    /// carry that child's log messages and requests.
    call_streams: Mutex<HashMap<String, Vec<CallStream>>>,
    next_call: std::sync::atomic::AtomicU64,
    /// Our id of a child's request relayed to the client -> (the child, its own id); at most
    /// [`MAX_RELAYED_REQUESTS`].
    client_requests: Mutex<HashMap<String, (McpClient, Value)>>,
    stream_full: Mutex<Throttle>,
    /// `capabilities` the client declared in `initialize`.
    client_capabilities: Value,
    log_level: Mutex<Option<String>>,
}

impl McpSession {
    pub(crate) fn new(
        id: String,
        endpoint: String,
        naming: Naming,
        principal: Principal,
        client_capabilities: Value,
    ) -> Self {
        Self {
            id,
            endpoint,
            naming,
            principal,
            tools: Mutex::default(),
            prompts: Mutex::default(),
            resources: Mutex::default(),
            inflight: Mutex::default(),
            stream: Mutex::default(),
            forwarded: Mutex::default(),
            call_streams: Mutex::default(),
            next_call: Default::default(),
            client_requests: Mutex::default(),
            stream_full: Mutex::new(Throttle::new(STREAM_FULL_WARNINGS_PER_SECOND)),
            client_capabilities,
            log_level: Mutex::default(),
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Which endpoint created it (`/mcp` or `/services/{name}/mcp`).
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub(crate) fn naming(&self) -> &Naming {
        &self.naming
    }

    /// Who initialized it.
    pub(crate) fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Exposed tool name -> (service, the child's name).
    pub(crate) fn tools(&self) -> &Mutex<NameMap> {
        &self.tools
    }

    /// Exposed prompt name -> (service, the child's name).
    pub(crate) fn prompts(&self) -> &Mutex<NameMap> {
        &self.prompts
    }

    /// Exposed resource URI -> (service, the child's URI).
    pub(crate) fn resources(&self) -> &Mutex<NameMap> {
        &self.resources
    }

    /// Whether the client declared `capability` in `initialize`.
    pub(crate) fn declares(&self, capability: &str) -> bool {
        self.client_capabilities.get(capability).is_some()
    }

    /// The level the client chose with `logging/setLevel`, if any.
    pub(crate) fn log_level(&self) -> Option<String> {
        self.log_level.lock().expect("level lock").clone()
    }

    pub(crate) fn set_log_level(&self, level: &str) {
        *self.log_level.lock().expect("level lock") = Some(level.to_string());
    }

    /// Note that the notifications of the child `child` are forwarded; false if they already
    /// were.
    pub(crate) fn start_forwarding(&self, child: ChildId) -> bool {
        self.forwarded.lock().expect("forwarded lock").insert(child)
    }

    pub(crate) fn stop_forwarding(&self, child: ChildId) {
        self.forwarded
            .lock()
            .expect("forwarded lock")
            .remove(&child);
    }

    /// Register a request so `notifications/cancelled` can reach it; dropping the guard
    /// forgets it.
    pub(crate) fn track(self: &Arc<Self>, id: &Value) -> Tracked {
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
    pub(crate) fn cancel(&self, id: &Value) -> bool {
        let token = self
            .inflight
            .lock()
            .expect("inflight lock")
            .get(&id.to_string())
            .cloned();
        token.map(|t| t.cancel()).is_some()
    }

    /// Replace the GET stream (one at a time; the old one ends).
    pub(crate) fn open_stream(&self) -> mpsc::Receiver<Value> {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        *self.stream.lock().expect("stream lock") = Some(tx);
        rx
    }

    /// Send on the GET stream; dropped when none is open or it is full. True if queued.
    pub(crate) fn push(&self, message: Value) -> bool {
        let mut stream = self.stream.lock().expect("stream lock");
        let Some(tx) = stream.as_ref() else {
            return false;
        };
        match tx.try_send(message) {
            Ok(()) => return true,
            Err(mpsc::error::TrySendError::Full(_)) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => {
                *stream = None;
                return false;
            }
        }
        drop(stream);
        let admitted = self
            .stream_full
            .lock()
            .expect("throttle lock")
            .admit(std::time::Instant::now());
        if let Some(suppressed) = admitted {
            report_unlogged(&self.id, suppressed);
            tracing::warn!(session = %self.id, "GET stream full: message dropped");
        }
        false
    }

    /// Remember a child's request relayed to the client under our id `ours`; false (nothing
    /// remembered) when [`MAX_RELAYED_REQUESTS`] already wait for an answer.
    pub(crate) fn relaying(&self, ours: String, client: McpClient, id: Value) -> bool {
        let mut requests = self.client_requests.lock().expect("requests lock");
        if requests.len() >= MAX_RELAYED_REQUESTS {
            return false;
        }
        requests.insert(ours, (client, id));
        true
    }

    /// The child and its id of a relayed request, forgotten.
    pub(crate) fn relayed(&self, ours: &str) -> Option<(McpClient, Value)> {
        self.client_requests
            .lock()
            .expect("requests lock")
            .remove(ours)
    }

    /// Forget the relayed requests of a child that is gone.
    pub(crate) fn forget_relayed_of(&self, client: &McpClient) {
        self.client_requests
            .lock()
            .expect("requests lock")
            .retain(|_, (c, _)| !c.is_same(client));
    }

    /// Whether a `tools/call` on `service` is in flight.
    pub(crate) fn calls_on(&self, service: &str) -> bool {
        self.call_streams
            .lock()
            .expect("calls lock")
            .get(service)
            .is_some_and(|calls| !calls.is_empty())
    }

    /// The newest open response stream of a call on `service`.
    pub(crate) fn call_stream(&self, service: &str) -> Option<mpsc::Sender<Value>> {
        let calls = self.call_streams.lock().expect("calls lock");
        calls
            .get(service)?
            .iter()
            .rev()
            .filter_map(|(_, out)| out.clone())
            .find(|out| !out.is_closed())
    }

    pub(crate) fn call_started(
        self: &Arc<Self>,
        service: &str,
        out: Option<mpsc::Sender<Value>>,
    ) -> CallOn {
        let n = self
            .next_call
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.call_streams
            .lock()
            .expect("calls lock")
            .entry(service.to_string())
            .or_default()
            .push((n, out));
        CallOn {
            session: self.clone(),
            service: service.to_string(),
            n,
        }
    }
}

impl Drop for McpSession {
    fn drop(&mut self) {
        let suppressed = self
            .stream_full
            .get_mut()
            .map_or(0, |throttle| throttle.take_suppressed());
        report_unlogged(&self.id, suppressed);
    }
}

fn report_unlogged(session: &str, suppressed: u64) {
    if suppressed > 0 {
        tracing::warn!(%session, suppressed, "GET stream full: warnings not logged (rate limit)");
    }
}

pub(crate) struct Tracked {
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

pub(crate) struct CallOn {
    session: Arc<McpSession>,
    service: String,
    n: u64,
}

impl Drop for CallOn {
    fn drop(&mut self) {
        let mut calls = self.session.call_streams.lock().expect("calls lock");
        if let Some(list) = calls.get_mut(&self.service) {
            list.retain(|(n, _)| *n != self.n);
            if list.is_empty() {
                calls.remove(&self.service);
            }
        }
    }
}
