//! Session caps, reserved before anything is spawned.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::SessionError;

/// Live-children counters: per service and in all.
#[derive(Debug)]
pub(super) struct Caps {
    /// The limits: set again by a reload (children already over a lowered cap keep running;
    /// no new one starts until they are under it).
    per_service: AtomicUsize,
    total: AtomicUsize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_service: HashMap<String, usize>,
}

impl Caps {
    pub(super) fn new(per_service: usize, total: usize) -> Arc<Self> {
        Arc::new(Self {
            per_service: AtomicUsize::new(per_service),
            total: AtomicUsize::new(total),
            counts: Mutex::default(),
        })
    }

    pub(super) fn set_limits(&self, per_service: usize, total: usize) {
        self.per_service.store(per_service, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }

    /// Reserve one child slot of `service`, or say which cap is reached. `waiting` sessions
    /// without a child (MCP sessions between `initialize` and their first child) count
    /// against the total too.
    pub(super) fn reserve(
        self: &Arc<Self>,
        service: &str,
        waiting: usize,
    ) -> Result<Reservation, SessionError> {
        let (total, per_service) = (
            self.total.load(Ordering::Relaxed),
            self.per_service.load(Ordering::Relaxed),
        );
        let mut counts = self.counts.lock().expect("caps lock");
        if counts.total + waiting >= total {
            return Err(SessionError::SessionLimit(format!(
                "maximum session limit ({total}) reached"
            )));
        }
        let n = counts.by_service.get(service).copied().unwrap_or(0);
        if n >= per_service {
            return Err(SessionError::SessionLimit(format!(
                "max sessions limit ({per_service}) reached for service {service}"
            )));
        }
        counts.total += 1;
        *counts.by_service.entry(service.to_string()).or_default() += 1;
        Ok(Reservation {
            caps: self.clone(),
            service: service.to_string(),
        })
    }

    pub(super) fn live(&self) -> usize {
        self.counts.lock().expect("caps lock").total
    }
}

/// One reserved slot; released when dropped.
#[derive(Debug)]
pub(super) struct Reservation {
    caps: Arc<Caps>,
    service: String,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut counts = self.caps.counts.lock().expect("caps lock");
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_service.get_mut(&self.service) {
            *n = n.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_are_reserved_and_released() {
        let caps = Caps::new(2, 3);
        let a1 = caps.reserve("a", 0).unwrap();
        let _a2 = caps.reserve("a", 0).unwrap();
        let err = caps.reserve("a", 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "max sessions limit (2) reached for service a"
        );
        let _b1 = caps.reserve("b", 0).unwrap();
        let err = caps.reserve("b", 0).unwrap_err();
        assert_eq!(err.to_string(), "maximum session limit (3) reached");
        drop(a1);
        assert_eq!(caps.live(), 2);
        caps.reserve("b", 0).unwrap();
        // Sessions waiting for their first child count against the total.
        let caps = Caps::new(5, 3);
        let _c = caps.reserve("c", 1).unwrap();
        assert!(caps.reserve("c", 2).is_err(), "1 live + 2 waiting = 3");
    }
}
