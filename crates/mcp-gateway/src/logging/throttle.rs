//! A rate limit for repeated warnings: at most `per_second` lines in any one-second window;
//! the rest are counted, and the count is reported with the next line logged (or at the end).

use std::time::{Duration, Instant};

/// Counts the lines of one kind of warning (per child, per session...). Pure: the caller
/// passes the time and does the logging.
#[derive(Debug)]
pub(crate) struct Throttle {
    per_second: u32,
    window_start: Option<Instant>,
    logged_in_window: u32,
    suppressed: u64,
}

impl Throttle {
    pub(crate) const fn new(per_second: u32) -> Self {
        Self {
            per_second,
            window_start: None,
            logged_in_window: 0,
            suppressed: 0,
        }
    }

    /// Whether one more line may be logged at `now`. `Some(n)`: log it, and first report that
    /// `n` lines (possibly 0) were not logged before it; `None`: it is counted instead.
    pub(crate) fn admit(&mut self, now: Instant) -> Option<u64> {
        let fresh = self
            .window_start
            .is_none_or(|start| now.duration_since(start) >= Duration::from_secs(1));
        if fresh {
            self.window_start = Some(now);
            self.logged_in_window = 0;
        }
        if self.logged_in_window >= self.per_second {
            self.suppressed += 1;
            return None;
        }
        self.logged_in_window += 1;
        Some(std::mem::take(&mut self.suppressed))
    }

    /// The lines not logged and not yet reported (to report at the end); resets the count.
    pub(crate) fn take_suppressed(&mut self) -> u64 {
        std::mem::take(&mut self.suppressed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_a_burst_then_counts_and_reports_the_rest() {
        let start = Instant::now();
        let mut throttle = Throttle::new(3);
        let verdicts: Vec<_> = (0..5).map(|_| throttle.admit(start)).collect();
        assert_eq!(verdicts, [Some(0), Some(0), Some(0), None, None]);
        // Still the same window.
        assert_eq!(throttle.admit(start + Duration::from_millis(999)), None);
        // A new window: logged, with the count of what was not.
        assert_eq!(throttle.admit(start + Duration::from_secs(1)), Some(3));
        assert_eq!(throttle.admit(start + Duration::from_secs(1)), Some(0));
        assert_eq!(throttle.take_suppressed(), 0);
    }

    #[test]
    fn the_count_left_at_the_end_is_taken_once() {
        let start = Instant::now();
        let mut throttle = Throttle::new(1);
        assert_eq!(throttle.admit(start), Some(0));
        assert_eq!(throttle.admit(start), None);
        assert_eq!(throttle.admit(start), None);
        assert_eq!(throttle.take_suppressed(), 2);
        assert_eq!(throttle.take_suppressed(), 0);
    }
}
