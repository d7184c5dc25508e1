//! The in-process store: one TAT per bucket under a mutex (never held across an await).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::bucket::{Bucket, Clock};
use super::gcra::{self, Verdict};

/// Buckets are swept when the map grows past this many since the last sweep.
const SWEEP_EVERY: usize = 4_096;

pub struct MemoryStore {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    tats: HashMap<String, u64>,
    sweep_at: usize,
}

impl MemoryStore {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            state: Mutex::new(State {
                tats: HashMap::new(),
                sweep_at: SWEEP_EVERY,
            }),
        }
    }

    pub fn check(&self, buckets: &[Bucket]) -> Vec<Verdict> {
        let now = self.clock.now_us();
        let mut state = self.state.lock().expect("rate limit store lock");
        let verdicts: Vec<Verdict> = buckets
            .iter()
            .map(|b| gcra::step(b.quota, state.tats.get(&b.key).copied().unwrap_or(0), now))
            .collect();
        if verdicts.iter().all(|v| v.allowed) {
            for (b, v) in buckets.iter().zip(&verdicts) {
                state.tats.insert(b.key.clone(), v.new_tat);
            }
        }
        if state.tats.len() >= state.sweep_at {
            // A TAT in the past is the same as no entry at all.
            state.tats.retain(|_, tat| *tat > now);
            state.sweep_at = state.tats.len() + SWEEP_EVERY;
        }
        verdicts
    }

    /// Buckets currently held (tests).
    pub fn len(&self) -> usize {
        self.state.lock().expect("rate limit store lock").tats.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
