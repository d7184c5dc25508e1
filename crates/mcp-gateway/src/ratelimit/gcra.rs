//! GCRA, the Generic Cell Rate Algorithm: a smooth limit with no window edges.
//!
//! A quota of `limit` requests per `period` spaces requests `T = period / limit` apart and
//! tolerates a burst of `limit` at once. The whole state of a bucket is one number, its
//! theoretical arrival time (TAT): the instant at which the bucket would be full again. A
//! request at `now` moves the TAT to `max(TAT, now) + T` and is allowed when that is no more than
//! `period` ahead of `now`. A client that has spent its budget therefore gets one request back
//! every `T`, instead of the whole budget back at a fixed window edge (which would allow twice
//! the limit around the edge).
//!
//! Pure arithmetic on microseconds: the memory store applies it under a lock, the Redis store
//! runs the same steps in a Lua script (see `redis.rs`).

/// One rate, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u64,
    pub period_us: u64,
}

impl Quota {
    pub fn new(limit: u64, period: std::time::Duration) -> Self {
        let period_us = u64::try_from(period.as_micros()).unwrap_or(u64::MAX / 4);
        Self {
            limit: limit.max(1),
            period_us: period_us.max(1),
        }
    }

    /// The emission interval `T`: the steady-state spacing of requests.
    pub fn interval_us(&self) -> u64 {
        (self.period_us / self.limit).max(1)
    }
}

/// What one quota says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// Requests still allowed right now after this one.
    pub remaining: u64,
    /// Until the bucket is full again (the quota fully restored).
    pub reset_us: u64,
    /// Until the next request would be allowed (0 when allowed).
    pub retry_after_us: u64,
    /// The TAT to store if every quota of the check allows the request.
    pub new_tat: u64,
}

/// Apply one request at `now` to a bucket whose stored TAT is `tat` (0 = empty bucket).
pub fn step(quota: Quota, tat: u64, now: u64) -> Verdict {
    let t = quota.interval_us();
    let start = tat.max(now);
    let new_tat = start.saturating_add(t);
    let ahead = new_tat - now;
    if ahead <= quota.period_us {
        Verdict {
            allowed: true,
            remaining: (quota.period_us - ahead) / t,
            reset_us: ahead,
            retry_after_us: 0,
            new_tat,
        }
    } else {
        Verdict {
            allowed: false,
            remaining: 0,
            reset_us: start - now,
            retry_after_us: ahead - quota.period_us,
            new_tat: tat,
        }
    }
}

/// The verdict of several quotas checked together: allowed only if each allows. The one shown to
/// the client is the most restrictive: on a refusal the one that must be waited for longest,
/// otherwise the one with the fewest requests left.
pub fn combine(verdicts: &[(Quota, Verdict)]) -> Option<(Quota, Verdict)> {
    let denied = verdicts
        .iter()
        .filter(|(_, v)| !v.allowed)
        .max_by_key(|(_, v)| v.retry_after_us);
    denied
        .or_else(|| verdicts.iter().min_by_key(|(_, v)| v.remaining))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const SEC: u64 = 1_000_000;

    /// Run requests at the given instants (seconds) through one bucket; return which passed.
    fn run(quota: Quota, at: &[f64]) -> Vec<bool> {
        let mut tat = 0;
        at.iter()
            .map(|&s| {
                let v = step(quota, tat, (s * SEC as f64) as u64 + 1_000 * SEC);
                if v.allowed {
                    tat = v.new_tat;
                }
                v.allowed
            })
            .collect()
    }

    fn ten_per_minute() -> Quota {
        Quota::new(10, Duration::from_secs(60))
    }

    #[test]
    fn burst_of_limit_then_one_per_interval() {
        let q = ten_per_minute();
        // 10 at once pass, the 11th does not.
        let mut at = vec![0.0; 11];
        assert_eq!(run(q, &at), [vec![true; 10], vec![false]].concat());
        // One more every 6 s, not before.
        at.extend([5.9, 6.0, 6.1, 12.0]);
        assert_eq!(
            run(q, &at)[11..],
            [false, true, false, true],
            "one request back every T = 6 s"
        );
    }

    #[test]
    fn no_double_burst_at_a_window_edge() {
        // A fixed window allows 10 at 59.9 s and 10 more at 60.1 s. GCRA allows 10 then 0.
        let q = ten_per_minute();
        let mut at = vec![59.9; 10];
        at.extend(vec![60.1; 10]);
        let passed = run(q, &at).iter().filter(|&&ok| ok).count();
        assert_eq!(passed, 10);
        // Spread evenly across the minute, at exactly the rate, all pass.
        let even: Vec<f64> = (0..20).map(|i| f64::from(i) * 6.0).collect();
        assert!(run(q, &even).iter().all(|&ok| ok));
    }

    #[test]
    fn remaining_reset_and_retry_after() {
        let q = ten_per_minute();
        let now = 1_000 * SEC;
        let first = step(q, 0, now);
        assert_eq!(
            (first.allowed, first.remaining, first.reset_us),
            (true, 9, 6 * SEC)
        );
        let mut tat = first.new_tat;
        for _ in 0..9 {
            tat = step(q, tat, now).new_tat;
        }
        let refused = step(q, tat, now);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.retry_after_us, 6 * SEC);
        assert_eq!(refused.reset_us, 60 * SEC);
        assert_eq!(refused.new_tat, tat, "a refusal does not spend anything");
        // Half way through the interval the wait has halved.
        assert_eq!(step(q, tat, now + 3 * SEC).retry_after_us, 3 * SEC);
        // After a full period the bucket is full again.
        assert_eq!(step(q, tat, now + 60 * SEC).remaining, 9);
    }

    #[test]
    fn combine_reports_the_most_restrictive() {
        let hour = Quota::new(50, Duration::from_secs(3_600));
        let day = Quota::new(200, Duration::from_secs(86_400));
        let now = 1_000 * SEC;
        let a = (hour, step(hour, 0, now));
        let b = (day, step(day, 0, now));
        assert_eq!(combine(&[a, b]).unwrap().0, hour, "49 left beats 199 left");
        let refused = (hour, step(hour, now + 3_600 * SEC, now));
        assert_eq!(combine(&[b, refused]).unwrap().0, hour);
        assert!(!combine(&[b, refused]).unwrap().1.allowed);
        assert!(combine(&[]).is_none());
    }
}
