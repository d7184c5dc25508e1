//! Warm pools: per service, `warm_pool: N` children kept spawned and initialized, each handed
//! to exactly one new session's (session, service) slot and never reused afterwards.
//!
//! A pooled child holds a cap reservation from the moment it is spawned, so pools count
//! against `max_sessions_per_service` / `max_total_sessions` like any other child. It is
//! spawned by the same path as a session's child (`McpClient::connect`, with a synthetic session id
//! `pool-<n>` naming its private dir). One refill task per pool tops it up, one child at a time,
//! whenever a child is taken, a reservation is released, or every second; it stops the pooled
//! children at shutdown.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::SessionError;
use super::caps::Reservation;
use crate::config::Config;
use crate::mcp::McpClient;
use crate::metrics::{self, ExitCause};

/// A ready child waiting in a pool, with the cap reservation it holds.
pub(super) struct Pooled {
    pub client: McpClient,
    pub reservation: Reservation,
}

/// Every service's pool (services with `warm_pool: 0` have none).
#[derive(Default)]
pub(super) struct Pools {
    by_service: BTreeMap<String, Arc<Pool>>,
}

pub(super) struct Pool {
    service: String,
    target: usize,
    ready: Mutex<VecDeque<Pooled>>,
    wake: Notify,
    next_id: AtomicU64,
    /// Whether the pool has been full at least once since start (readiness: it may drain
    /// under load later without the replica becoming unready).
    filled: AtomicBool,
}

impl Pools {
    pub(super) fn new(config: &Config) -> Self {
        let by_service = config
            .services
            .values()
            .filter(|s| s.warm_pool > 0)
            .map(|s| {
                let pool = Pool {
                    service: s.name.clone(),
                    target: s.warm_pool,
                    ready: Mutex::default(),
                    wake: Notify::new(),
                    next_id: AtomicU64::new(1),
                    filled: AtomicBool::new(false),
                };
                (s.name.clone(), Arc::new(pool))
            })
            .collect();
        Self { by_service }
    }

    pub(super) fn all(&self) -> impl Iterator<Item = &Arc<Pool>> {
        self.by_service.values()
    }

    /// A live pooled child of `service` (counted as a hit), or `None` (counted as a miss when
    /// the service has a pool).
    pub(super) fn take(&self, service: &str) -> Option<Pooled> {
        let pool = self.by_service.get(service)?;
        let taken = pool.take();
        metrics::pool(service, taken.is_some());
        taken
    }

    /// Wake every refill task (a reservation was released: a full cap may have room now).
    pub(super) fn wake_all(&self) {
        for pool in self.by_service.values() {
            pool.wake.notify_one();
        }
    }

    /// Services whose pool has not yet been full once since start.
    pub(super) fn never_filled(&self) -> Vec<String> {
        self.by_service
            .values()
            .filter(|pool| !pool.filled.load(Ordering::Relaxed))
            .map(|pool| pool.service.clone())
            .collect()
    }

    /// Ready children per service, for metrics.
    pub(super) fn ready_counts(&self) -> Vec<(String, usize)> {
        self.by_service
            .iter()
            .map(|(name, pool)| (name.clone(), pool.len()))
            .collect()
    }
}

impl Pool {
    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Pooled>> {
        self.ready.lock().expect("pool lock")
    }

    pub(super) fn len(&self) -> usize {
        self.queue().len()
    }

    fn take(&self) -> Option<Pooled> {
        let mut dead = Vec::new();
        let found = {
            let mut queue = self.queue();
            loop {
                match queue.pop_front() {
                    Some(p) if p.client.is_alive() => break Some(p),
                    Some(p) => dead.push(p),
                    None => break None,
                }
            }
        };
        self.forget_dead(dead);
        self.wake.notify_one();
        found
    }

    /// Drop children that died while waiting (the actor has reaped them; the reservation is
    /// released with them).
    fn purge_dead(&self) {
        let dead: Vec<Pooled> = {
            let mut queue = self.queue();
            let (alive, dead): (VecDeque<Pooled>, VecDeque<Pooled>) =
                queue.drain(..).partition(|p| p.client.is_alive());
            *queue = alive;
            dead.into()
        };
        self.forget_dead(dead);
    }

    fn forget_dead(&self, dead: Vec<Pooled>) {
        for p in dead {
            let signal = p.client.exit_status().and_then(|e| e.signal);
            tracing::warn!(service = %self.service, pid = p.client.pid(), "pooled child died while idle");
            metrics::child_exit(&self.service, ExitCause::unrequested(signal));
        }
    }
}

/// What starts a pooled child (the launcher): a cap reserved, then started and initialized
/// under the synthetic session id `id`.
pub(super) trait StartPooled: Send + Sync {
    fn start_pooled(
        &self,
        service: &str,
        id: &str,
    ) -> impl std::future::Future<Output = Result<Pooled, SessionError>> + Send;
}

/// Keep `pool` full until `shutdown`; then stop its children and return.
pub(super) async fn refill<L: StartPooled>(
    pool: Arc<Pool>,
    launcher: Weak<L>,
    shutdown: CancellationToken,
) {
    const RETRY: Duration = Duration::from_secs(1);
    const REFILL_DELAY: Duration = Duration::from_millis(20);
    // Consecutive failures to start a child (not counting a full cap): back off.
    let mut failures = 0u32;
    loop {
        pool.purge_dead();
        while pool.len() < pool.target && !shutdown.is_cancelled() {
            let Some(launcher) = launcher.upgrade() else {
                break;
            };
            let id = format!("pool-{}", pool.next_id.fetch_add(1, Ordering::Relaxed));
            match launcher.start_pooled(&pool.service, &id).await {
                Ok(pooled) if shutdown.is_cancelled() => {
                    stop_all(&pool.service, vec![pooled]).await
                }
                Ok(pooled) => {
                    failures = 0;
                    let mut queue = pool.queue();
                    queue.push_back(pooled);
                    if queue.len() >= pool.target {
                        pool.filled.store(true, Ordering::Relaxed);
                    }
                }
                Err(SessionError::SessionLimit(_)) => {
                    // The normal case: the pool refills when a child exits.
                    break;
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(service = %pool.service, error = %err, failures, "warm pool child failed to start");
                    break;
                }
            }
        }
        if failures > 0 {
            let backoff = RETRY * 2u32.saturating_pow(failures.min(6));
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.cancelled() => {}
            }
            if !shutdown.is_cancelled() {
                continue;
            }
        }
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                let pooled: Vec<Pooled> = pool.queue().drain(..).collect();
                stop_all(&pool.service, pooled).await;
                return;
            }
            _ = pool.wake.notified() => {
                // Let the session that just took a child get its answer out before we fork:
                // a fork stalls every thread of the gateway for a moment.
                tokio::time::sleep(REFILL_DELAY).await;
            }
            _ = tokio::time::sleep(RETRY) => {}
        }
    }
}

/// Stop pooled children concurrently; each reservation is released after its child is reaped.
async fn stop_all(service: &str, pooled: Vec<Pooled>) {
    let stops = pooled.into_iter().map(|p| async move {
        p.client.stop().await;
        drop(p.reservation);
        metrics::child_exit(service, ExitCause::Shutdown);
    });
    futures_util::future::join_all(stops).await;
}
