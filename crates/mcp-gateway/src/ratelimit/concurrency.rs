//! Concurrency limits: calls in flight per session and per service, with a bounded queue.
//!
//! A call takes a place in its gate; when all are taken it waits in line, and when the line is
//! full too it is refused (429). Waiting is bounded because every call in flight is bounded by
//! its service's `call_timeout`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Concurrency;

struct Gate {
    places: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// Gates by name (`session:<id>`, `service:<name>`); a gate exists only while in use.
#[derive(Default)]
pub struct Gates {
    gates: Mutex<HashMap<String, Arc<Gate>>>,
}

/// A place in a gate, released on drop.
pub struct Permit {
    gates: Arc<Gates>,
    name: String,
    gate: Arc<Gate>,
    permit: Option<OwnedSemaphorePermit>,
}

/// The gate and its queue are full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub name: String,
    pub max_in_flight: usize,
}

impl Gates {
    /// Take a place in gate `name`, waiting in line if needed. `None` from an unlimited policy.
    pub async fn enter(
        self: &Arc<Self>,
        name: String,
        policy: Concurrency,
    ) -> Result<Option<Permit>, Refused> {
        let Some(max) = policy.max_in_flight else {
            return Ok(None);
        };
        let gate = self
            .gates
            .lock()
            .expect("gates lock")
            .entry(name.clone())
            .or_insert_with(|| {
                Arc::new(Gate {
                    places: Arc::new(Semaphore::new(max)),
                    waiting: AtomicUsize::new(0),
                })
            })
            .clone();
        let mut permit = Permit {
            gates: self.clone(),
            name,
            gate: gate.clone(),
            permit: None,
        };
        if let Ok(p) = gate.places.clone().try_acquire_owned() {
            permit.permit = Some(p);
            return Ok(Some(permit));
        }
        if gate.waiting.fetch_add(1, Ordering::SeqCst) >= policy.max_queued {
            gate.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Refused {
                name: permit.name.clone(),
                max_in_flight: max,
            });
        }
        // The place in line is given back however the wait ends, including when the caller
        // gives up (its request future is dropped while it waits).
        let in_line = InLine(&gate.waiting);
        let acquired = gate.places.clone().acquire_owned().await;
        drop(in_line);
        permit.permit = acquired.ok();
        Ok(Some(permit))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.gates.lock().expect("gates lock").len()
    }
}

/// One place in a gate's queue, released on drop.
struct InLine<'a>(&'a AtomicUsize);

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut gates = self.gates.gates.lock().expect("gates lock");
        // The map and this permit hold the only references: nobody is in or waiting.
        if Arc::strong_count(&self.gate) == 2
            && gates
                .get(&self.name)
                .is_some_and(|g| Arc::ptr_eq(g, &self.gate))
        {
            gates.remove(&self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_caller_that_gives_up_while_queued_frees_its_place() {
        let gates = Arc::new(Gates::default());
        let policy = Concurrency {
            max_in_flight: Some(1),
            max_queued: 1,
        };
        let busy = gates.enter("s".into(), policy).await.unwrap();
        // Queue one caller, then drop its future while it waits (a client that disconnects).
        let queued =
            tokio::time::timeout(Duration::from_millis(20), gates.enter("s".into(), policy)).await;
        assert!(queued.is_err(), "the second caller must wait");
        // Its place in line is free again: another caller may queue.
        let gates2 = gates.clone();
        let waiter =
            tokio::spawn(async move { gates2.enter("s".into(), policy).await.map(|_| ()) });
        tokio::task::yield_now().await;
        drop(busy);
        let entered = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("queued caller admitted")
            .unwrap();
        assert!(
            entered.is_ok(),
            "queue was wrongly full: {:?}",
            entered.err().map(|r| r.name)
        );
    }

    #[tokio::test]
    async fn in_flight_queue_and_refusal() {
        let gates = Arc::new(Gates::default());
        let policy = Concurrency {
            max_in_flight: Some(2),
            max_queued: 1,
        };
        let a = gates.enter("s".into(), policy).await.unwrap();
        let b = gates.enter("s".into(), policy).await.unwrap();
        // The third waits in line...
        let g = gates.clone();
        let queued =
            tokio::spawn(async move { g.enter("s".into(), policy).await.map(|p| p.is_some()) });
        tokio::time::timeout(Duration::from_secs(5), async {
            while gates.gates.lock().unwrap()["s"]
                .waiting
                .load(Ordering::SeqCst)
                == 0
            {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the third call must queue");
        // ...the fourth finds the line full.
        let refused = gates.enter("s".into(), policy).await.err().unwrap();
        assert_eq!(refused.max_in_flight, 2);
        // Another gate is independent.
        assert!(gates.enter("t".into(), policy).await.unwrap().is_some());
        drop(a);
        let third = tokio::time::timeout(Duration::from_secs(5), queued)
            .await
            .expect("the queued call must get the freed place")
            .unwrap();
        assert_eq!(third, Ok(true));
        drop(b);
        assert_eq!(gates.len(), 0, "idle gates are forgotten");
        let unlimited = Concurrency::default();
        assert!(gates.enter("u".into(), unlimited).await.unwrap().is_none());
    }
}
