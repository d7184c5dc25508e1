//! Scale-out: several replicas behind any balancer, each session owned by exactly one
//! (docs/scale-out.md). This module decides *which* replica owns a session; `http::cluster`
//! forwards a request there, and the owner's session table (`session::Table::enter`) decides
//! the rest, as on a single replica.
//! - `placement`: rendezvous hashing of a new REST session over the live members (pure);
//! - `seal`: MCP session ids carrying their owner, sealed with the cluster's key ring (pure);
//! - `hop`: the HMAC of a forwarded request (pure);
//! - `member`: a member's id (pure);
//! - `store`: membership leases and session pins in Redis.
//!
//! Without a `cluster` section none of this exists and a replica behaves exactly as one
//! gateway always has.

mod hop;
mod member;
mod placement;
mod seal;
mod store;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub(crate) use hop::{Hop, HopKey, now_ms};
pub(crate) use member::MemberId;
use seal::Sealer;
use store::Store;

use crate::config::{Advertise, ClusterConfig};

/// Where a request for a session is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owner {
    /// Here.
    Me,
    /// At another live member, reached at this address (`host:port`).
    Peer(MemberId, String),
    /// The owner's lease has expired (or it left): the session is gone.
    Gone,
}

/// Redis could not be asked.
#[derive(Debug, thiserror::Error)]
#[error("cluster store unreachable: {0}")]
pub(crate) struct StoreDown(String);

impl From<redis::RedisError> for StoreDown {
    fn from(e: redis::RedisError) -> Self {
        Self(e.to_string())
    }
}

pub(crate) struct Cluster {
    me: MemberId,
    advertise: Advertise,
    address: OnceLock<String>,
    member_ttl: Duration,
    sealer: Sealer,
    hop: HopKey,
    store: Store,
    /// The live members (this one included) as of the last heartbeat.
    view: Mutex<HashMap<MemberId, String>>,
    /// When this member last renewed its lease; `None` before it joined.
    renewed: Mutex<Option<Instant>>,
    leaving: AtomicBool,
}

impl Cluster {
    pub(crate) fn new(config: &ClusterConfig) -> Result<Self, String> {
        Ok(Self {
            me: MemberId::random(),
            advertise: config.advertise.clone(),
            address: OnceLock::new(),
            member_ttl: config.member_ttl,
            sealer: Sealer::new(&config.session_keys),
            hop: HopKey::new(&config.secret),
            store: Store::new(&config.redis_uri, &config.name, config.member_ttl / 3)?,
            view: Mutex::default(),
            renewed: Mutex::default(),
            leaving: AtomicBool::new(false),
        })
    }

    pub(crate) fn me(&self) -> MemberId {
        self.me
    }

    pub(crate) fn hop_key(&self) -> &HopKey {
        &self.hop
    }

    /// Learn the port the server bound (for an address not given in the config).
    pub(crate) fn bound(&self, port: u16) {
        let address = match &self.advertise {
            Advertise::Fixed(address) => address.clone(),
            Advertise::Bound(ip) => std::net::SocketAddr::new(*ip, port).to_string(),
        };
        let _ = self.address.set(address);
    }

    /// A new MCP session id owned by this member.
    pub(crate) fn mint_session_id(&self) -> String {
        self.sealer.seal(&self.me)
    }

    /// Whether this member takes traffic (`/ready`): it has joined once and is not leaving.
    /// A Redis outage later does not make it unready: every replica would be at once, and
    /// the sessions they hold need no Redis.
    pub(crate) fn is_ready(&self) -> bool {
        let joined = self.renewed.lock().expect("cluster lock").is_some();
        joined && !self.leaving.load(Ordering::Relaxed)
    }

    /// Whether this member holds its lease now: renewed within `member_ttl`.
    pub(crate) fn holds_lease(&self) -> bool {
        let renewed = *self.renewed.lock().expect("cluster lock");
        renewed.is_some_and(|at| at.elapsed() < self.member_ttl)
    }

    /// Whether this member has left (it drains): it takes no new session.
    pub(crate) fn is_leaving(&self) -> bool {
        self.leaving.load(Ordering::Relaxed)
    }

    /// The other live members, as of the last heartbeat.
    pub(crate) fn peers(&self) -> Vec<(MemberId, String)> {
        let view = self.view.lock().expect("cluster lock");
        let mut peers: Vec<_> = view
            .iter()
            .filter(|(id, _)| **id != self.me)
            .map(|(id, a)| (*id, a.clone()))
            .collect();
        peers.sort();
        peers
    }

    /// The owner of an MCP session id; a forged or foreign id is [`Owner::Gone`].
    pub(crate) async fn owner_of_mcp(&self, id: &str) -> Result<Owner, StoreDown> {
        match self.sealer.open(id) {
            Some(member) => self.resolve(member).await,
            None => Ok(Owner::Gone),
        }
    }

    /// Whether `id` is one this cluster's ring sealed (an MCP session id).
    pub(crate) fn is_sealed(&self, id: &str) -> bool {
        self.sealer.open(id).is_some()
    }

    /// The owner a REST session is pinned to; `None` when it is pinned nowhere. A pin naming
    /// a member whose lease is gone is dropped, and the session is [`Owner::Gone`].
    pub(crate) async fn pinned(&self, session: &str) -> Result<Option<Owner>, StoreDown> {
        let Some(member) = self.store.pin(session).await? else {
            return Ok(None);
        };
        let owner = self.resolve(member).await?;
        if owner == Owner::Gone {
            self.store.unpin(session, &member).await?;
        }
        Ok(Some(owner))
    }

    /// Where a new REST session (pinned nowhere, see [`Self::pinned`]) goes: the rendezvous
    /// pick among the live members not in `exclude`, never this member once it is leaving.
    /// A pick of this member is pinned here at once (or yields to a pin won meanwhile);
    /// another member pins it when the forwarded call arrives. [`Owner::Gone`]: no member
    /// can take it.
    pub(crate) async fn place(
        &self,
        session: &str,
        exclude: &[MemberId],
    ) -> Result<Owner, StoreDown> {
        let leaving = self.is_leaving();
        let pick = {
            let view = self.view.lock().expect("cluster lock");
            let members = view
                .keys()
                .chain(std::iter::once(&self.me))
                .filter(|m| !(exclude.contains(m) || (leaving && **m == self.me)));
            placement::pick(session, members)
        };
        match pick {
            Some(member) if member != self.me => self.resolve(member).await,
            Some(_) => self.claim(session).await,
            None => Ok(Owner::Gone),
        }
    }

    /// Pin `session` here unless another member holds it: [`Owner::Me`], or that member.
    pub(crate) async fn claim(&self, session: &str) -> Result<Owner, StoreDown> {
        let holder = self.store.claim(session, &self.me, self.pin_ttl()).await?;
        match holder {
            Some(member) => self.resolve(member).await,
            None => Ok(Owner::Me),
        }
    }

    /// How long a pin lives without renewal: several heartbeats, so a slow beat never drops
    /// the pin of a live session.
    fn pin_ttl(&self) -> Duration {
        self.member_ttl * 3
    }

    /// Whether `member` holds its lease now (asked of Redis; `true` when Redis cannot tell).
    pub(crate) async fn is_member(&self, member: &MemberId) -> bool {
        *member == self.me || !matches!(self.store.member(member).await, Ok(None))
    }

    async fn resolve(&self, member: MemberId) -> Result<Owner, StoreDown> {
        if member == self.me {
            return Ok(Owner::Me);
        }
        let known = self
            .view
            .lock()
            .expect("cluster lock")
            .get(&member)
            .cloned();
        if let Some(address) = known {
            return Ok(Owner::Peer(member, address));
        }
        // Not seen at the last beat: ask (it may have joined since).
        Ok(match self.store.member(&member).await? {
            Some(address) => Owner::Peer(member, address),
            None => Owner::Gone,
        })
    }

    /// Heartbeat until `stop`: renew this member's lease every third of `member_ttl`, learn
    /// the live members, and renew the pins of the REST sessions `sessions` lists. Then leave.
    pub(crate) async fn run(&self, sessions: impl Fn() -> Vec<String>, stop: CancellationToken) {
        let Some(address) = self.address.get().cloned() else {
            tracing::error!("cluster: no address to advertise; not joining");
            return;
        };
        let mut tick = tokio::time::interval(self.member_ttl / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Logged when it changes (joined, failing, back), not at every beat.
        let mut healthy = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.cancelled() => break,
            }
            match self.beat(&address, &sessions).await {
                Ok(members) => {
                    if healthy != Some(true) {
                        tracing::info!(member = %self.me, %address, members, "cluster: joined");
                    }
                    healthy = Some(true);
                }
                Err(e) => {
                    if healthy != Some(false) {
                        tracing::warn!(member = %self.me, error = %e, "cluster: heartbeat failed (not ready until it succeeds)");
                    } else {
                        tracing::debug!(member = %self.me, error = %e, "cluster: heartbeat failed");
                    }
                    healthy = Some(false);
                }
            }
        }
        self.leave().await;
    }

    async fn beat(
        &self,
        address: &str,
        sessions: &impl Fn() -> Vec<String>,
    ) -> Result<usize, StoreDown> {
        let started = Instant::now();
        let live = self.store.beat(&self.me, address, self.member_ttl).await?;
        *self.renewed.lock().expect("cluster lock") = Some(started);
        let n = live.len();
        *self.view.lock().expect("cluster lock") = live.into_iter().collect();
        self.store
            .renew(&sessions(), &self.me, self.pin_ttl())
            .await?;
        Ok(n)
    }

    /// Stop being a member (SIGTERM): not ready, and every other replica answers this one's
    /// sessions as unknown from now on. Idempotent.
    pub(crate) async fn leave(&self) {
        if self.leaving.swap(true, Ordering::Relaxed) {
            return;
        }
        match self.store.leave(&self.me).await {
            Ok(()) => tracing::info!(member = %self.me, "cluster: left"),
            Err(e) => {
                tracing::warn!(member = %self.me, error = %e, "cluster: cannot leave (the lease will expire)")
            }
        }
    }
}
