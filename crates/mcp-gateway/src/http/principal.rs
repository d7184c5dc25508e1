//! Who made a request, as auth found it: what a scoped key may see.

use std::sync::Arc;

use crate::config::ApiKey;

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    /// No credentials are configured (loopback or `allow_unauthenticated`).
    Anonymous,
    Basic(String),
    Bearer,
    /// A scoped key from `auth.keys`: sees only its services, tools and sessions.
    Key(Arc<ApiKey>),
}

impl Principal {
    /// The key, if this principal is scoped. The upstream credentials are not: they see all.
    pub(crate) fn key(&self) -> Option<&ApiKey> {
        match self {
            Principal::Key(key) => Some(key),
            _ => None,
        }
    }

    /// Who this is in the audit log: `anonymous`, `basic:<user>`, `bearer` or `key:<name>`.
    pub(crate) fn audit_name(&self) -> String {
        match self {
            Principal::Anonymous => "anonymous".into(),
            Principal::Basic(user) => format!("basic:{user}"),
            Principal::Bearer => "bearer".into(),
            Principal::Key(key) => format!("key:{}", key.name),
        }
    }

    /// The owner recorded on sessions this principal creates (`None` = unscoped).
    pub(crate) fn owner(&self) -> Option<&str> {
        self.key().map(|k| k.name.as_str())
    }

    pub(crate) fn allows_service(&self, service: &str) -> bool {
        self.key().is_none_or(|k| k.allows_service(service))
    }

    pub(crate) fn allows_tool(&self, service: &str, tool: &str) -> bool {
        self.key().is_none_or(|k| k.allows_tool(service, tool))
    }
}
