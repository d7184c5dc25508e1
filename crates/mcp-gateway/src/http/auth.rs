//! Basic and Bearer authentication, compared in constant time.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use crate::config::ServerConfig;

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No credentials are configured (loopback or `allow_unauthenticated`).
    Anonymous,
    Basic(String),
    Bearer,
}

/// The configured credentials, stored as SHA-256 digests so comparisons take the same time
/// whatever the presented length.
pub struct Authenticator {
    basic: Option<([u8; 32], [u8; 32], String)>,
    bearer: Option<[u8; 32]>,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Authenticator {
    pub fn new(server: &ServerConfig) -> Self {
        Self {
            basic: server.basic.as_ref().map(|b| {
                (
                    digest(b.user.as_bytes()),
                    digest(b.password.as_bytes()),
                    b.user.clone(),
                )
            }),
            bearer: server.bearer_token.as_ref().map(|t| digest(t.as_bytes())),
        }
    }

    pub fn is_open(&self) -> bool {
        self.basic.is_none() && self.bearer.is_none()
    }

    /// Check the `Authorization` header. Bearer (case-sensitive scheme, as upstream) first,
    /// then Basic; anything malformed or non-ASCII is simply a failure.
    pub fn check(&self, headers: &HeaderMap) -> Option<Principal> {
        if self.is_open() {
            return Some(Principal::Anonymous);
        }
        let value = headers.get(header::AUTHORIZATION)?.as_bytes();
        if let (Some(expected), Some(token)) = (&self.bearer, value.strip_prefix(b"Bearer "))
            && bool::from(digest(token).ct_eq(expected))
        {
            return Some(Principal::Bearer);
        }
        if let (Some((user_digest, password_digest, user)), Some(encoded)) =
            (&self.basic, value.strip_prefix(b"Basic "))
        {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim_ascii())
                .ok()?;
            let colon = decoded.iter().position(|&b| b == b':')?;
            let (u, p) = (&decoded[..colon], &decoded[colon + 1..]);
            if u.is_empty() || p.is_empty() {
                return None;
            }
            let ok = digest(u).ct_eq(user_digest) & digest(p).ct_eq(password_digest);
            if bool::from(ok) {
                return Some(Principal::Basic(user.clone()));
            }
        }
        None
    }
}

/// Middleware: reject unauthenticated requests with 401, else attach the [`Principal`].
pub async fn require_auth(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    match state.auth.check(request.headers()) {
        Some(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        None => {
            let ip = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string())
                .unwrap_or_default();
            tracing::warn!(
                target: "security",
                event_type = "auth_failed",
                ip = %ip,
                method = %request.method(),
                path = %request.uri().path(),
                "authentication failed"
            );
            ApiError::unauthorized().into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BasicCredentials;
    use axum::http::HeaderValue;

    fn auth(user: &str, password: &str, token: Option<&str>) -> Authenticator {
        Authenticator {
            basic: Some((
                digest(user.as_bytes()),
                digest(password.as_bytes()),
                user.to_string(),
            )),
            bearer: token.map(|t| digest(t.as_bytes())),
        }
    }

    fn check(a: &Authenticator, header: &[u8]) -> Option<Principal> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(header).unwrap(),
        );
        a.check(&headers)
    }

    fn basic(user: &str, password: &str) -> Vec<u8> {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {encoded}").into_bytes()
    }

    #[test]
    fn basic_and_bearer() {
        let a = auth("admin", "12345", Some("tok"));
        assert_eq!(
            check(&a, &basic("admin", "12345")),
            Some(Principal::Basic("admin".into()))
        );
        assert_eq!(check(&a, &basic("admin", "1234")), None);
        assert_eq!(check(&a, &basic("Admin", "12345")), None);
        assert_eq!(check(&a, b"Bearer tok"), Some(Principal::Bearer));
        assert_eq!(check(&a, b"Bearer tok "), None);
        assert_eq!(check(&a, b"bearer tok"), None);
        assert_eq!(check(&a, b"Basic !!!notbase64"), None);
        assert_eq!(check(&a, &basic("admin", "p\u{e9}ss")), None);
        assert_eq!(check(&a, "Bearer t\u{f6}k".as_bytes()), None);
    }

    #[test]
    fn password_with_colon_and_open_mode() {
        let a = auth("u", "a:b", None);
        assert_eq!(
            check(&a, &basic("u", "a:b")),
            Some(Principal::Basic("u".into()))
        );
        assert_eq!(check(&a, b"Bearer a:b"), None);
        let open = Authenticator {
            basic: None,
            bearer: None,
        };
        assert_eq!(open.check(&HeaderMap::new()), Some(Principal::Anonymous));
        let _ = BasicCredentials {
            user: String::new(),
            password: String::new(),
        };
    }
}
