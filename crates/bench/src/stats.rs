//! Latency samples and their percentiles.

use std::time::Duration;

use serde_json::{Value, json};

/// Sorted latency samples.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    sorted: Vec<Duration>,
}

impl Stats {
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Self { sorted: samples }
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// The `q` quantile (0..=1), nearest rank; zero when empty.
    pub fn q(&self, q: f64) -> Duration {
        if self.sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((q * self.sorted.len() as f64).ceil() as usize).clamp(1, self.sorted.len());
        self.sorted[rank - 1]
    }

    pub fn p50(&self) -> Duration {
        self.q(0.50)
    }

    pub fn p99(&self) -> Duration {
        self.q(0.99)
    }

    pub fn p999(&self) -> Duration {
        self.q(0.999)
    }

    pub fn mean(&self) -> Duration {
        if self.sorted.is_empty() {
            return Duration::ZERO;
        }
        self.sorted.iter().sum::<Duration>() / self.sorted.len() as u32
    }

    pub fn json(&self) -> Value {
        json!({
            "n": self.len(),
            "p50_us": us(self.p50()),
            "p99_us": us(self.p99()),
            "p999_us": us(self.p999()),
            "mean_us": us(self.mean()),
            "max_us": us(self.q(1.0)),
        })
    }

    /// `p50 1.23 ms  p99 4.56 ms  p99.9 ...`
    pub fn summary(&self) -> String {
        format!(
            "p50 {}  p99 {}  p99.9 {}  (n={})",
            fmt(self.p50()),
            fmt(self.p99()),
            fmt(self.p999()),
            self.len()
        )
    }
}

pub fn us(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e7).round() / 10.0
}

/// A duration with a unit that fits it.
pub fn fmt(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1e-3 {
        format!("{:.1} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// Signed difference in microseconds, for "added latency".
pub fn diff_us(a: Duration, b: Duration) -> f64 {
    ((a.as_secs_f64() - b.as_secs_f64()) * 1e7).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s = Stats::new((1..=1000).rev().map(Duration::from_micros).collect());
        assert_eq!(s.p50(), Duration::from_micros(500));
        assert_eq!(s.p99(), Duration::from_micros(990));
        assert_eq!(s.p999(), Duration::from_micros(999));
        assert_eq!(Stats::default().p50(), Duration::ZERO);
    }
}
