//! Generations of the configuration. New sessions start in the current one; a reload makes
//! the next one current, and each live session keeps the one it was created in (so the spawn
//! spec of every service it knew) until it ends. A service added by a reload is found in the
//! current generation by older sessions too.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{Config, ServiceConfig};
use crate::mcp::Launch;

pub(crate) struct Generation {
    /// 1 at startup, one more per reload.
    pub number: u64,
    pub config: Arc<Config>,
    services: HashMap<String, Arc<ServiceConfig>>,
    /// Each stdio service's sandbox, prepared for this generation's spec.
    pub launch: Launch,
}

impl Generation {
    pub(super) fn new(number: u64, config: Arc<Config>, launch: Launch) -> Arc<Self> {
        let services = (config.services.iter())
            .map(|(name, service)| (name.clone(), Arc::new(service.clone())))
            .collect();
        Arc::new(Self {
            number,
            config,
            services,
            launch,
        })
    }

    pub(super) fn service(self: &Arc<Self>, name: &str) -> Option<Service> {
        Some(Service {
            spec: self.services.get(name)?.clone(),
            generation: self.clone(),
        })
    }
}

/// A service as one generation specifies it.
#[derive(Clone)]
pub(crate) struct Service {
    pub spec: Arc<ServiceConfig>,
    pub generation: Arc<Generation>,
}

impl Service {
    /// Whether `other` starts children the same way (same generation, or an equal spec).
    pub(super) fn same_spec(&self, other: &Service) -> bool {
        Arc::ptr_eq(&self.spec, &other.spec) || self.spec == other.spec
    }
}

impl std::ops::Deref for Service {
    type Target = ServiceConfig;

    fn deref(&self) -> &ServiceConfig {
        &self.spec
    }
}

/// The current generation's configuration, as read by one request (a reload swaps the
/// generation under it without waiting for it).
pub(crate) struct CurrentConfig(pub(super) arc_swap::Guard<Arc<Generation>>);

impl std::ops::Deref for CurrentConfig {
    type Target = Config;

    fn deref(&self) -> &Config {
        &self.0.config
    }
}
