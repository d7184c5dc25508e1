//! Basic and Bearer credentials, compared in constant time: the upstream single credentials,
//! and the scoped keys of `auth.keys` (Bearer secret, or Basic name:secret).

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::principal::Principal;
use crate::config::{ApiKey, ServerConfig};

/// The configured credentials, stored as SHA-256 digests so comparisons take the same time
/// whatever the presented length.
pub(crate) struct Authenticator {
    basic: Option<([u8; 32], [u8; 32], String)>,
    bearer: Option<[u8; 32]>,
    keys: Vec<(Arc<ApiKey>, [u8; 32])>,
    /// OAuth access tokens are accepted (checked by `http::oauth`): the gateway is not open.
    oauth: bool,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Authenticator {
    pub(crate) fn new(server: &ServerConfig) -> Self {
        Self {
            basic: server.basic.as_ref().map(|b| {
                (
                    digest(b.user.as_bytes()),
                    digest(b.password.as_bytes()),
                    b.user.clone(),
                )
            }),
            bearer: server.bearer_token.as_ref().map(|t| digest(t.as_bytes())),
            keys: Vec::new(),
            oauth: false,
        }
    }

    /// OAuth access tokens are accepted too: no request is anonymous any more.
    pub(crate) fn with_oauth(mut self, on: bool) -> Self {
        self.oauth = on;
        self
    }

    /// Also accept the scoped keys of `auth.keys`.
    pub(crate) fn with_keys(mut self, keys: &[ApiKey]) -> Self {
        self.keys = keys
            .iter()
            .map(|k| (Arc::new(k.clone()), digest(k.name.as_bytes())))
            .collect();
        self
    }

    pub(crate) fn is_open(&self) -> bool {
        self.basic.is_none() && self.bearer.is_none() && self.keys.is_empty() && !self.oauth
    }

    /// The key whose secret digests to `secret`, comparing with every key in constant time.
    fn key_by_secret(&self, secret: &[u8; 32], name: Option<&[u8; 32]>) -> Option<Principal> {
        let mut found = None;
        for (key, name_digest) in &self.keys {
            let mut ok = secret.ct_eq(&key.secret_sha256);
            if let Some(name) = name {
                ok &= name.ct_eq(name_digest);
            }
            if bool::from(ok) {
                found = Some(Principal::Key(key.clone()));
            }
        }
        found
    }

    /// Check the `Authorization` header. Bearer (case-sensitive scheme, as upstream) first,
    /// then Basic; anything malformed or non-ASCII is simply a failure.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Option<Principal> {
        if self.is_open() {
            return Some(Principal::Anonymous);
        }
        let value = headers.get(header::AUTHORIZATION)?.as_bytes();
        if let Some(token) = value.strip_prefix(b"Bearer ") {
            let token = digest(token);
            if let Some(expected) = &self.bearer
                && bool::from(token.ct_eq(expected))
            {
                return Some(Principal::Bearer);
            }
            if let Some(key) = self.key_by_secret(&token, None) {
                return Some(key);
            }
        }
        if let Some(encoded) = value.strip_prefix(b"Basic ") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim_ascii())
                .ok()?;
            let colon = decoded.iter().position(|&b| b == b':')?;
            let (u, p) = (&decoded[..colon], &decoded[colon + 1..]);
            if u.is_empty() || p.is_empty() {
                return None;
            }
            let (u, p) = (digest(u), digest(p));
            if let Some((user_digest, password_digest, user)) = &self.basic
                && bool::from(u.ct_eq(user_digest) & p.ct_eq(password_digest))
            {
                return Some(Principal::Basic(user.clone()));
            }
            return self.key_by_secret(&p, Some(&u));
        }
        None
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
            keys: Vec::new(),
            oauth: false,
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
            keys: Vec::new(),
            oauth: false,
        };
        assert_eq!(open.check(&HeaderMap::new()), Some(Principal::Anonymous));
        let _ = BasicCredentials {
            user: String::new(),
            password: String::new(),
        };
    }

    #[test]
    fn scoped_keys_by_bearer_secret_or_basic_name_and_secret() {
        use crate::config::{ApiKey, KeyLimits, Names};
        let key = |name: &str, secret: &str| ApiKey {
            name: name.into(),
            secret_sha256: digest(secret.as_bytes()),
            services: Names::All,
            tools: Names::All,
            service_tools: Default::default(),
            limits: KeyLimits::default(),
            metrics: false,
        };
        let a = auth("admin", "12345", Some("tok"))
            .with_keys(&[key("alpha", "alpha-secret"), key("beta", "beta-secret")]);
        let name = |p: Option<Principal>| p.and_then(|p| p.owner().map(str::to_owned));
        assert_eq!(
            name(check(&a, b"Bearer alpha-secret")),
            Some("alpha".into())
        );
        assert_eq!(name(check(&a, b"Bearer beta-secret")), Some("beta".into()));
        assert_eq!(
            name(check(&a, &basic("beta", "beta-secret"))),
            Some("beta".into())
        );
        assert_eq!(
            check(&a, &basic("alpha", "beta-secret")),
            None,
            "name and secret must match"
        );
        assert_eq!(check(&a, b"Bearer alpha-secre"), None);
        assert_eq!(
            check(&a, b"Bearer tok"),
            Some(Principal::Bearer),
            "upstream token still works"
        );
        assert_eq!(
            check(&a, b"Bearer tok").unwrap().owner(),
            None,
            "and is unscoped"
        );
        let keys_only = Authenticator {
            basic: None,
            bearer: None,
            keys: Vec::new(),
            oauth: false,
        }
        .with_keys(&[key("alpha", "alpha-secret")]);
        assert!(!keys_only.is_open(), "keys alone close the gateway");
        let oauth_only = Authenticator {
            basic: None,
            bearer: None,
            keys: Vec::new(),
            oauth: false,
        }
        .with_oauth(true);
        assert!(!oauth_only.is_open(), "OAuth alone closes the gateway");
        assert_eq!(oauth_only.check(&HeaderMap::new()), None);
        assert_eq!(keys_only.check(&HeaderMap::new()), None);
    }
}
