//! Rate limits (GCRA, in memory or shared through Redis) and concurrency limits.
//!
//! Knows nothing of HTTP: the `http` layer decides which buckets a request spends and turns a
//! [`Decision`] into headers. See docs/traffic.md.

mod bucket;
mod concurrency;
pub mod gcra;
mod memory;
mod redis_store;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use bucket::{Bucket, Clock, StoreError, SystemClock};
pub use concurrency::{Gates, Permit, Refused};
pub use gcra::Quota;
pub use memory::MemoryStore;
pub use redis_store::RedisStore;

use crate::config::RateLimitConfig;

/// The outcome of spending one request from a set of buckets, as shown to the client: the
/// most restrictive bucket's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u64,
    pub period: Duration,
    pub remaining: u64,
    /// Seconds until the quota is fully restored (rounded up).
    pub reset_secs: u64,
    /// Seconds until a request would be allowed again (rounded up, at least 1 when refused).
    pub retry_after_secs: u64,
    /// The rate as configured ("10 per minute").
    pub text: String,
}

impl Decision {
    fn from_verdicts(buckets: &[Bucket], verdicts: &[gcra::Verdict]) -> Option<Self> {
        let pairs: Vec<(Quota, gcra::Verdict)> = buckets
            .iter()
            .map(|b| b.quota)
            .zip(verdicts.iter().copied())
            .collect();
        let (quota, verdict) = gcra::combine(&pairs)?;
        let index = pairs.iter().position(|p| *p == (quota, verdict))?;
        let allowed = verdicts.iter().all(|v| v.allowed);
        Some(Self {
            allowed,
            limit: quota.limit,
            period: Duration::from_micros(quota.period_us),
            remaining: verdict.remaining,
            reset_secs: verdict.reset_us.div_ceil(1_000_000),
            retry_after_secs: if allowed {
                0
            } else {
                verdict.retry_after_us.div_ceil(1_000_000).max(1)
            },
            text: buckets[index].text.clone(),
        })
    }
}

/// What the limiter answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Checked: allowed or refused, with the figures for the headers.
    Checked(Decision),
    /// Nothing to check (no buckets), or the storage is down and `fail_open` is set.
    Unchecked,
    /// The storage is down and `fail_open` is not set: refuse with 503.
    Unavailable,
}

enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
}

/// The rate limiter of one gateway process.
pub struct Limiter {
    store: Store,
    fail_open: bool,
    timeout: Duration,
    /// Whether the last storage operation failed (logged once per change).
    down: AtomicBool,
    /// While the storage is down, checks are not even tried until this instant (microseconds
    /// since `started`), so an outage costs no request a `storage_timeout` wait.
    retry_at: AtomicU64,
    started: Instant,
}

/// How long the storage is left alone after a failed check.
const RETRY_DOWN_STORAGE: Duration = Duration::from_millis(500);

impl Limiter {
    /// The limiter described by `rate_limiting` (`storage_uri`, `fail_open`, `storage_timeout`).
    pub fn from_config(config: &RateLimitConfig) -> Result<Arc<Self>, StoreError> {
        let store = if config.storage_uri.starts_with("redis://") {
            Store::Redis(RedisStore::new(
                &config.storage_uri,
                config.storage_timeout,
            )?)
        } else {
            Store::Memory(MemoryStore::new(Arc::new(SystemClock::default())))
        };
        Ok(Arc::new(Self {
            store,
            fail_open: config.fail_open,
            timeout: config.storage_timeout,
            down: AtomicBool::new(false),
            retry_at: AtomicU64::new(0),
            started: Instant::now(),
        }))
    }

    /// Whether the storage answers now, within `storage_timeout`: `None` for the in-memory
    /// store (nothing to reach), else the outcome of a Redis `PING` (readiness).
    pub async fn reachable(&self) -> Option<Result<(), StoreError>> {
        match &self.store {
            Store::Memory(_) => None,
            Store::Redis(redis) => Some(
                match tokio::time::timeout(self.timeout, redis.ping()).await {
                    Ok(answered) => answered,
                    Err(_) => Err(StoreError::Unreachable(format!(
                        "no answer to PING within {:?}",
                        self.timeout
                    ))),
                },
            ),
        }
    }

    /// An in-memory limiter on the given clock (tests).
    pub fn memory(clock: Arc<dyn Clock>) -> Self {
        Self {
            store: Store::Memory(MemoryStore::new(clock)),
            fail_open: false,
            timeout: Duration::from_secs(1),
            down: AtomicBool::new(false),
            retry_at: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// Spend one request from every bucket, atomically: either all are charged or none.
    pub async fn check(&self, buckets: &[Bucket]) -> Outcome {
        if buckets.is_empty() {
            return Outcome::Unchecked;
        }
        let now = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        if self.down.load(Ordering::Relaxed) && now < self.retry_at.load(Ordering::Relaxed) {
            return self.storage_down();
        }
        let verdicts = match &self.store {
            Store::Memory(m) => Ok(m.check(buckets)),
            Store::Redis(r) => match tokio::time::timeout(self.timeout, r.check(buckets)).await {
                Ok(result) => result,
                Err(_) => Err(StoreError::Timeout(self.timeout)),
            },
        };
        match verdicts {
            Ok(verdicts) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::warn!(target: "security", event_type = "rate_limit_storage_recovered", "rate limit storage reachable again");
                }
                Decision::from_verdicts(buckets, &verdicts)
                    .map_or(Outcome::Unchecked, Outcome::Checked)
            }
            Err(err) => {
                let retry = u64::try_from(RETRY_DOWN_STORAGE.as_micros()).unwrap_or(0);
                self.retry_at
                    .store(now.saturating_add(retry), Ordering::Relaxed);
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        target: "security",
                        event_type = "rate_limit_storage_down",
                        error = %err,
                        fail_open = self.fail_open,
                        "rate limit storage unreachable: {}",
                        if self.fail_open { "allowing requests unchecked" } else { "refusing requests with 503" }
                    );
                } else {
                    tracing::debug!(error = %err, "rate limit storage still unreachable");
                }
                self.storage_down()
            }
        }
    }

    fn storage_down(&self) -> Outcome {
        if self.fail_open {
            Outcome::Unchecked
        } else {
            Outcome::Unavailable
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// A clock that moves only when told to.
    #[derive(Default)]
    pub(super) struct ManualClock(AtomicU64);

    impl ManualClock {
        pub(super) fn advance(&self, d: Duration) {
            self.0
                .fetch_add(u64::try_from(d.as_micros()).unwrap(), Ordering::SeqCst);
        }
    }

    impl Clock for ManualClock {
        fn now_us(&self) -> u64 {
            1_000_000_000 + self.0.load(Ordering::SeqCst)
        }
    }

    fn rate(text: &str) -> crate::config::RateLimit {
        crate::config::parse_rate(text).unwrap()
    }

    async fn spend(limiter: &Limiter, buckets: &[Bucket], n: usize) -> Vec<Decision> {
        let mut out = Vec::new();
        for _ in 0..n {
            match limiter.check(buckets).await {
                Outcome::Checked(d) => out.push(d),
                other => panic!("memory store must always check, got {other:?}"),
            }
        }
        out
    }

    #[tokio::test]
    async fn window_edge_gives_no_second_burst() {
        let clock = Arc::new(ManualClock::default());
        let limiter = Limiter::memory(clock.clone());
        let call = [Bucket::new("key:a", "call", &rate("10 per minute"))];
        clock.advance(Duration::from_millis(59_900));
        let first = spend(&limiter, &call, 11).await;
        assert!(first[..10].iter().all(|d| d.allowed));
        assert_eq!(
            first.iter().map(|d| d.remaining).collect::<Vec<_>>(),
            [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0]
        );
        let refused = &first[10];
        assert!(!refused.allowed);
        assert_eq!((refused.retry_after_secs, refused.reset_secs), (6, 60));
        // Just past the minute boundary a fixed window would hand out 10 more: GCRA gives none.
        clock.advance(Duration::from_millis(200));
        assert!(!spend(&limiter, &call, 1).await[0].allowed);
        // One comes back every 6 s.
        clock.advance(Duration::from_millis(5_800));
        let again = spend(&limiter, &call, 2).await;
        assert_eq!(
            (again[0].allowed, again[0].remaining, again[1].allowed),
            (true, 0, false)
        );
    }

    #[tokio::test]
    async fn all_or_nothing_across_limits_and_separate_buckets() {
        let clock = Arc::new(ManualClock::default());
        let limiter = Limiter::memory(clock.clone());
        let both = [
            Bucket::new("key:a", "services", &rate("200 per day")),
            Bucket::new("key:a", "services", &rate("3 per hour")),
        ];
        let d = spend(&limiter, &both, 4).await;
        assert_eq!(
            d.iter().map(|d| d.allowed).collect::<Vec<_>>(),
            [true, true, true, false]
        );
        assert_eq!(d[0].limit, 3, "the tighter limit is the one shown");
        assert_eq!(d[3].text, "3 per hour");
        // The refused request did not spend the daily bucket: 197 left, not 196.
        let day = [Bucket::new("key:a", "services", &rate("200 per day"))];
        assert_eq!(spend(&limiter, &day, 1).await[0].remaining, 196);
        // Another subject has its own buckets.
        let other = [Bucket::new("key:b", "services", &rate("3 per hour"))];
        assert!(spend(&limiter, &other, 1).await[0].allowed);
    }
}
