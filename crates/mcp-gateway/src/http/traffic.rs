//! What the traffic policy keeps between requests: the budgets' limiter, the memory of failed
//! credential checks, the concurrency gates.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;

use super::client_addr::budget_addr;
use crate::config::{Config, RateLimit};
use crate::ratelimit::{Clock, Gates, Limiter, Quota, StoreError};

/// Everything the traffic policy keeps between requests.
pub(crate) struct Traffic {
    pub limiter: Arc<Limiter>,
    /// Replaced by a reload that changes `auth.failure_limit` or `auth.block_seconds` (the
    /// blocks under way are forgotten then).
    pub failures: ArcSwap<FailureGuard>,
    pub gates: Arc<Gates>,
    clock: Arc<dyn Clock>,
}

impl Traffic {
    pub(crate) fn new(config: &Config, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        Ok(Self {
            limiter: Limiter::from_config(&config.rate_limiting)?,
            failures: ArcSwap::from_pointee(FailureGuard::new(
                config.traffic.failure_limit.as_ref(),
                config.traffic.block_for,
                clock.clone(),
            )),
            gates: Arc::new(Gates::default()),
            clock,
        })
    }

    /// Apply a reloaded configuration: the budgets and gates read theirs per request; the
    /// failure guard is replaced if its settings changed (the rate limits' storage is
    /// restart-only).
    pub(crate) fn reload(&self, old: &Config, new: &Config) {
        let (before, after) = (&old.traffic, &new.traffic);
        if before.failure_limit != after.failure_limit || before.block_for != after.block_for {
            self.failures.store(Arc::new(FailureGuard::new(
                after.failure_limit.as_ref(),
                after.block_for,
                self.clock.clone(),
            )));
        }
    }
}

/// Per-address memory of failed credential checks: past `auth.failure_limit` the address is
/// blocked for `auth.block_seconds`. Kept per process (not in Redis): see docs/traffic.md.
pub(crate) struct FailureGuard {
    quota: Option<Quota>,
    block_us: u64,
    clock: Arc<dyn Clock>,
    state: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Default, Clone, Copy)]
struct Failures {
    tat: u64,
    blocked_until: u64,
}

impl FailureGuard {
    pub(crate) fn new(
        limit: Option<&RateLimit>,
        block_for: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            quota: limit
                .filter(|_| !block_for.is_zero())
                .map(|r| Quota::new(r.count, r.period)),
            block_us: u64::try_from(block_for.as_micros()).unwrap_or(u64::MAX / 4),
            clock,
            state: Mutex::default(),
        }
    }

    /// Seconds left of the block of `ip`, if it is blocked.
    pub(crate) fn blocked(&self, ip: IpAddr) -> Option<u64> {
        self.quota?;
        let ip = budget_addr(ip);
        let now = self.clock.now_us();
        let state = self.state.lock().expect("failure guard lock");
        let until = state.get(&ip)?.blocked_until;
        (until > now).then(|| (until - now).div_ceil(1_000_000).max(1))
    }

    /// Count a failure of `ip`; true when this failure starts a block.
    pub(crate) fn record(&self, ip: IpAddr) -> bool {
        let Some(quota) = self.quota else {
            return false;
        };
        let ip = budget_addr(ip);
        let now = self.clock.now_us();
        let mut state = self.state.lock().expect("failure guard lock");
        if state.len() > 10_000 {
            state.retain(|_, f| f.tat > now || f.blocked_until > now);
        }
        let entry = state.entry(ip).or_default();
        let verdict = crate::ratelimit::gcra::step(quota, entry.tat, now);
        if verdict.allowed {
            entry.tat = verdict.new_tat;
            false
        } else {
            entry.blocked_until = now.saturating_add(self.block_us);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_block_for_a_while() {
        use std::sync::atomic::{AtomicU64, Ordering};
        struct Manual(AtomicU64);
        impl Clock for Manual {
            fn now_us(&self) -> u64 {
                1_000_000_000 + self.0.load(Ordering::SeqCst)
            }
        }
        let clock = Arc::new(Manual(AtomicU64::new(0)));
        let rate = crate::config::parse_rate("3 per minute").unwrap();
        let guard = FailureGuard::new(Some(&rate), Duration::from_secs(300), clock.clone());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(
            [guard.record(ip), guard.record(ip), guard.record(ip)],
            [false; 3]
        );
        assert_eq!(guard.blocked(ip), None);
        assert!(guard.record(ip), "the fourth failure in a minute blocks");
        assert_eq!(guard.blocked(ip), Some(300));
        assert_eq!(guard.blocked(other), None, "per address");
        clock.0.store(299_500_000, Ordering::SeqCst);
        assert_eq!(guard.blocked(ip), Some(1));
        clock.0.store(300_000_001, Ordering::SeqCst);
        assert_eq!(guard.blocked(ip), None, "the block ends");
        let off = FailureGuard::new(Some(&rate), Duration::ZERO, clock);
        assert!(
            !(0..10).any(|_| off.record(ip)),
            "block_seconds 0 never blocks"
        );
    }
}
