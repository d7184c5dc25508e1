//! Warm pools: per service, `warm_pool: N` children kept spawned and initialized, each handed
//! to exactly one new session's (session, service) slot and never reused afterwards.
//!
//! A pooled child holds a cap reservation from the moment it is spawned, so pools count
//! against `max_sessions_per_service` / `max_total_sessions` like any other child. It is
//! spawned by the same path as a session's child (`McpClient::connect`, with a synthetic session id
//! `pool-<n>` naming its private dir). One refill task per pool tops it up, one child at a time,
//! whenever a child is taken, a reservation is released, or every second; it stops the pooled
//! children at shutdown.
//!
//! A pool belongs to one spec of its service: a reload that changes the spec (or the pool's
//! size) or removes the service stops the pool's children and, if the service still has a
//! pool, starts a new one. A session takes only a child of its own generation's spec.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::SessionError;
use super::caps::Reservation;
use super::generation::{Generation, Service};
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
    service: Service,
    target: usize,
    /// Cancelled when the pool is dropped by a reload, or at shutdown: its refill task stops
    /// its children and ends.
    stop: CancellationToken,
    ready: Mutex<VecDeque<Pooled>>,
    wake: Notify,
    next_id: AtomicU64,
    /// Whether the pool has been full at least once since start (readiness: it may drain
    /// under load later without the replica becoming unready).
    filled: AtomicBool,
}

impl Pools {
    /// The pools of `generation`'s services. `previous`: the pools before a reload; each one
    /// whose spec is unchanged is kept as it is (children and all); a new one counts as filled
    /// (readiness waits for the pools of the startup only). `stop` is the parent of every
    /// pool's stop token.
    pub(super) fn new(
        generation: &Arc<Generation>,
        previous: Option<&Pools>,
        stop: &CancellationToken,
    ) -> Self {
        let by_service = generation
            .config
            .services
            .values()
            .filter(|s| s.warm_pool > 0)
            .filter_map(|s| {
                let service = generation.service(&s.name)?;
                let kept = previous
                    .and_then(|p| p.by_service.get(&s.name))
                    .filter(|pool| pool.service.same_spec(&service));
                let pool = match kept {
                    Some(pool) => pool.clone(),
                    None => Arc::new(Pool {
                        target: s.warm_pool,
                        service,
                        stop: stop.child_token(),
                        ready: Mutex::default(),
                        wake: Notify::new(),
                        next_id: AtomicU64::new(1),
                        filled: AtomicBool::new(previous.is_some()),
                    }),
                };
                Some((s.name.clone(), pool))
            })
            .collect();
        Self { by_service }
    }

    /// Stop the pools of `self` that `next` does not keep; returns the pools of `next` that are
    /// new (their refill tasks are to be started).
    pub(super) fn replace_with(&self, next: &Pools) -> Vec<Arc<Pool>> {
        for (name, pool) in &self.by_service {
            if !next
                .by_service
                .get(name)
                .is_some_and(|p| Arc::ptr_eq(p, pool))
            {
                tracing::info!(service = %name, "warm pool replaced by a reload: stopping its children");
                pool.stop.cancel();
            }
        }
        (next.by_service.iter())
            .filter(|(name, pool)| {
                !self
                    .by_service
                    .get(*name)
                    .is_some_and(|p| Arc::ptr_eq(p, pool))
            })
            .map(|(_, pool)| pool.clone())
            .collect()
    }

    pub(super) fn all(&self) -> impl Iterator<Item = &Arc<Pool>> {
        self.by_service.values()
    }

    /// A live pooled child of `service`'s spec (counted as a hit), or `None` (counted as a miss
    /// when the service has a pool).
    pub(super) fn take(&self, service: &Service) -> Option<Pooled> {
        let pool = self.by_service.get(&service.name)?;
        let taken = pool
            .service
            .same_spec(service)
            .then(|| pool.take())
            .flatten();
        metrics::pool(&service.name, taken.is_some());
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
            .map(|pool| pool.service.name.clone())
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
            tracing::warn!(service = %self.service.name, pid = p.client.pid(), "pooled child died while idle");
            metrics::child_exit(&self.service.name, ExitCause::unrequested(signal));
        }
    }
}

/// What starts a pooled child (the launcher): a cap reserved, then started and initialized
/// under the synthetic session id `id`.
pub(super) trait StartPooled: Send + Sync {
    fn start_pooled(
        &self,
        service: &Service,
        id: &str,
    ) -> impl std::future::Future<Output = Result<Pooled, SessionError>> + Send;
}

/// Keep `pool` full until its stop token is cancelled (shutdown, or a reload dropped it);
/// then stop its children and return.
pub(super) async fn refill<L: StartPooled>(pool: Arc<Pool>, launcher: Weak<L>) {
    let shutdown = pool.stop.clone();
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
                    stop_all(&pool.service.name, vec![pooled]).await
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
                    tracing::warn!(service = %pool.service.name, error = %err, failures, "warm pool child failed to start");
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
                stop_all(&pool.service.name, pooled).await;
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
