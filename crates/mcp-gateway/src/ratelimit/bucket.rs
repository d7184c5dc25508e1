//! What a rate-limit store works with: the buckets a request spends, the clock, and why a
//! check could not be made.

use std::time::{Duration, Instant};

use super::gcra::Quota;
use crate::config::RateLimit;

/// Microseconds on a monotonic clock; injectable so tests control time.
pub trait Clock: Send + Sync {
    fn now_us(&self) -> u64;
}

/// The real clock: microseconds since the process started (plus one hour, so 0 is never "now").
pub struct SystemClock(Instant);

impl Default for SystemClock {
    fn default() -> Self {
        Self(Instant::now())
    }
}

impl Clock for SystemClock {
    fn now_us(&self) -> u64 {
        3_600_000_000 + u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX / 2)
    }
}

/// One quota to spend, in a named bucket (e.g. `key:alice:call`).
#[derive(Debug, Clone)]
pub struct Bucket {
    pub key: String,
    pub quota: Quota,
    /// The rate as configured, for messages.
    pub text: String,
}

impl Bucket {
    /// The bucket of `rate` for `subject` (who) and `route` (what). The quota is part of the
    /// name, so a changed configuration starts a fresh bucket instead of misreading an old TAT.
    pub fn new(subject: &str, route: &str, rate: &RateLimit) -> Self {
        let quota = Quota::new(rate.count, rate.period);
        Self {
            key: format!(
                "{subject}:{route}:{}/{}",
                quota.limit,
                rate.period.as_secs()
            ),
            quota,
            text: rate.text.clone(),
        }
    }
}

/// Why a check could not be made.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("rate limit storage unreachable: {0}")]
    Unreachable(String),
    #[error("rate limit storage timed out after {0:?}")]
    Timeout(Duration),
}
