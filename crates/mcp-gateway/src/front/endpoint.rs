//! Which endpoint a request came to: `/mcp` (every service) or `/services/{name}/mcp` (one).

use axum::extract::{FromRequestParts, MatchedPath, Path};
use axum::http::request::Parts;
use axum::response::Response;

use super::aggregate::Naming;
use super::reply;
use crate::http::principal::Principal;
use crate::http::state::AppState;

/// The aggregate path; the other is `/services/{service}/mcp`.
pub(super) const ALL: &str = "/mcp";
pub(super) const ONE: &str = "/services/{service}/mcp";

#[derive(Debug, Clone)]
pub(super) enum Endpoint {
    All,
    One(String),
}

impl Endpoint {
    pub(super) fn path(&self) -> String {
        match self {
            Endpoint::All => ALL.into(),
            Endpoint::One(s) => format!("/services/{s}/mcp"),
        }
    }

    /// The services this endpoint serves to `principal`: a scoped key sees the gateway as if
    /// only the services it may use were configured (names and prefixes included).
    pub(super) fn naming(&self, state: &AppState, principal: &Principal) -> Naming {
        let config = state.sessions.config();
        match self {
            Endpoint::All => Naming::all(
                config
                    .services
                    .keys()
                    .filter(|s| principal.allows_service(s))
                    .cloned()
                    .collect(),
                &config.mcp,
            ),
            Endpoint::One(service) => Naming::one(service.clone(), &config.mcp),
        }
    }
}

/// The endpoint of the route that matched; a service name that is not UTF-8 once
/// percent-decoded (`/services/%FF/mcp`) is answered 400.
impl<S: Send + Sync> FromRequestParts<S> for Endpoint {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let route = parts.extensions.get::<MatchedPath>();
        if route.is_none_or(|route| route.as_str() == ALL) {
            return Ok(Endpoint::All);
        }
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(service)) => Ok(Endpoint::One(service)),
            Err(_) => Err(reply::bad_service_path()),
        }
    }
}
