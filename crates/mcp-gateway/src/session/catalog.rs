//! Per-service tool lists, so `GET /services/{name}/tools` never spawns per request.
//!
//! Filled once per service by discovery: a short-lived child of the gateway's own, or the first
//! list of a fresh child asked before its session used it. A session's child never rewrites it:
//! a child's `notifications/tools/list_changed` changes that child's own list
//! (`record::Child::tools`), which governs only its session. Calls are refused from the catalog
//! only while the calling session has no live child of the service; after that, the child's own
//! list or the child itself decides.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use super::SessionError;
use crate::mcp::Tool;

pub(super) type Tools = Arc<Vec<Tool>>;

#[derive(Default)]
pub(super) struct Catalog {
    entries: Mutex<HashMap<String, Arc<Entry>>>,
}

#[derive(Default)]
struct Entry {
    tools: Mutex<Option<Tools>>,
    /// Single-flight discovery: one discovery per service at a time.
    discovery: tokio::sync::Mutex<()>,
}

impl Catalog {
    fn entry(&self, service: &str) -> Arc<Entry> {
        self.entries
            .lock()
            .expect("catalog lock")
            .entry(service.to_string())
            .or_default()
            .clone()
    }

    pub(super) fn cached(&self, service: &str) -> Option<Tools> {
        self.entry(service)
            .tools
            .lock()
            .expect("catalog entry lock")
            .clone()
    }

    pub(super) fn store(&self, service: &str, tools: Vec<Tool>) {
        *self
            .entry(service)
            .tools
            .lock()
            .expect("catalog entry lock") = Some(Arc::new(tools));
    }

    /// Forget `service`'s list (a reload changed or removed it): the next use discovers it
    /// again.
    pub(super) fn forget(&self, service: &str) {
        self.entries.lock().expect("catalog lock").remove(service);
    }

    /// The cached list, or the result of `discover` (run at most once at a time per service).
    pub(super) async fn get_or_discover<F>(
        &self,
        service: &str,
        discover: F,
    ) -> Result<Tools, SessionError>
    where
        F: Future<Output = Result<Vec<Tool>, SessionError>>,
    {
        let entry = self.entry(service);
        if let Some(tools) = entry.tools.lock().expect("catalog entry lock").clone() {
            return Ok(tools);
        }
        let _single = entry.discovery.lock().await;
        if let Some(tools) = entry.tools.lock().expect("catalog entry lock").clone() {
            return Ok(tools);
        }
        let tools = Arc::new(discover.await?);
        *entry.tools.lock().expect("catalog entry lock") = Some(tools.clone());
        Ok(tools)
    }
}
