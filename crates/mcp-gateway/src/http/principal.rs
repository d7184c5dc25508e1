//! Who made a request, as auth found it: what a scoped key or an OAuth token may see.

use std::sync::Arc;

use crate::config::{ApiKey, KeyLimits};
use crate::oauth::Token;

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    /// No credentials are configured (loopback or `allow_unauthenticated`).
    Anonymous,
    Basic(String),
    Bearer,
    /// A scoped key from `auth.keys`: sees only its services, tools and sessions.
    Key(Arc<ApiKey>),
    /// An OAuth access token's subject: sees what its scopes grant, and its own sessions.
    Token(Arc<TokenPrincipal>),
}

/// The subject of a verified access token and what its scopes grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenPrincipal {
    /// `<sub>@<issuer>`: the owner of its sessions, its rate-limit budgets, the security log's
    /// name for it (key names cannot hold `@`, so the two never collide).
    pub owner: String,
    pub token: Token,
    /// For each limit, the first of its grants (in config order) that sets one.
    pub limits: KeyLimits,
}

impl TokenPrincipal {
    pub(crate) fn new(token: Token) -> Self {
        let first = |pick: fn(&KeyLimits) -> Option<&Vec<crate::config::RateLimit>>| {
            token.grants.iter().find_map(|g| pick(&g.limits).cloned())
        };
        let limits = KeyLimits {
            default_limits: first(|l| l.default_limits.as_ref()),
            tools_limit: first(|l| l.tools_limit.as_ref()),
            call_limit: first(|l| l.call_limit.as_ref()),
            session_delete_limit: first(|l| l.session_delete_limit.as_ref()),
        };
        Self {
            owner: format!("{}@{}", token.subject, token.issuer),
            token,
            limits,
        }
    }
}

impl Principal {
    /// The owner recorded on sessions this principal creates (`None` = unscoped).
    pub(crate) fn owner(&self) -> Option<&str> {
        match self {
            Principal::Key(key) => Some(&key.name),
            Principal::Token(t) => Some(&t.owner),
            _ => None,
        }
    }

    /// Who this is in the audit log: `anonymous`, `basic:<user>`, `bearer`, `key:<name>` or
    /// `token:<sub>@<issuer>`.
    pub(crate) fn audit_name(&self) -> String {
        match self {
            Principal::Anonymous => "anonymous".into(),
            Principal::Basic(user) => format!("basic:{user}"),
            Principal::Bearer => "bearer".into(),
            Principal::Key(key) => format!("key:{}", key.name),
            Principal::Token(t) => format!("token:{}", t.owner),
        }
    }

    /// Its own rate limits (each replaces the `rate_limiting` value of the same name).
    pub(crate) fn limits(&self) -> Option<&KeyLimits> {
        match self {
            Principal::Key(key) => Some(&key.limits),
            Principal::Token(t) => Some(&t.limits),
            _ => None,
        }
    }

    /// The verified claims of an OAuth token (for `auth.oauth.identity_env`).
    pub(crate) fn identity(&self) -> Option<crate::session::Identity> {
        match self {
            Principal::Token(t) => Some(t.token.claims.clone()),
            _ => None,
        }
    }

    /// May read `GET /metrics` (unscoped principals may).
    pub(crate) fn may_read_metrics(&self) -> bool {
        match self {
            Principal::Key(key) => key.metrics,
            Principal::Token(t) => t.token.grants.iter().any(|g| g.metrics),
            _ => true,
        }
    }

    pub(crate) fn allows_service(&self, service: &str) -> bool {
        match self {
            Principal::Key(key) => key.allows_service(service),
            Principal::Token(t) => t.token.grants.iter().any(|g| g.allows_service(service)),
            _ => true,
        }
    }

    pub(crate) fn allows_tool(&self, service: &str, tool: &str) -> bool {
        match self {
            Principal::Key(key) => key.allows_tool(service, tool),
            Principal::Token(t) => t.token.grants.iter().any(|g| g.allows_tool(service, tool)),
            _ => true,
        }
    }
}
