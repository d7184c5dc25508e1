//! One authorization server's signing keys: found through its metadata (RFC 8414, or OpenID
//! discovery), cached, fetched again when they are older than `jwks_max_age` and when a token
//! names a key the cache lacks — at most once per `jwks_refresh`, whatever tokens arrive.

use std::sync::Mutex;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use tokio::time::Instant;

use super::error::TokenError;
use super::metadata;
use crate::config::{AuthorizationServer, OAuthConfig};

/// The signing keys of one issuer.
pub(super) struct KeySet {
    pub issuer: String,
    configured_jwks_uri: Option<String>,
    refresh: Duration,
    max_age: Duration,
    state: Mutex<State>,
    /// One fetch at a time; whoever waited on it looks at the cache again first.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    keys: Vec<Key>,
    jwks_uri: Option<String>,
    /// When the keys were last fetched (successfully), and how many fetches have succeeded.
    fetched: Option<Instant>,
    generation: u64,
    /// When a token's unknown key last made us fetch.
    unknown_refresh: Option<Instant>,
}

struct Key {
    kid: Option<String>,
    alg: Option<Algorithm>,
    family: Family,
    key: DecodingKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    Rsa,
    P256,
    P384,
    Ed25519,
}

/// The algorithms accepted, and the key family each needs. Symmetric ones and `none` are not
/// accepted (a public key must never be used as an HMAC secret).
pub(super) fn family_of(alg: Algorithm) -> Option<Family> {
    use Algorithm::*;
    Some(match alg {
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => Family::Rsa,
        ES256 => Family::P256,
        ES384 => Family::P384,
        EdDSA => Family::Ed25519,
        HS256 | HS384 | HS512 => return None,
    })
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

/// A JWK as a verification key; `None` for keys not for signatures or of a kind not used here.
fn key_of(jwk: Jwk) -> Option<Key> {
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return None;
    }
    let alg = match jwk.alg.as_deref() {
        None => None,
        Some(a) => Some(
            a.parse::<Algorithm>()
                .ok()
                .filter(|a| family_of(*a).is_some())?,
        ),
    };
    let (family, key) = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("RSA", _) => (
            Family::Rsa,
            DecodingKey::from_rsa_components(jwk.n.as_deref()?, jwk.e.as_deref()?).ok()?,
        ),
        ("EC", Some("P-256")) => (
            Family::P256,
            DecodingKey::from_ec_components(jwk.x.as_deref()?, jwk.y.as_deref()?).ok()?,
        ),
        ("EC", Some("P-384")) => (
            Family::P384,
            DecodingKey::from_ec_components(jwk.x.as_deref()?, jwk.y.as_deref()?).ok()?,
        ),
        ("OKP", Some("Ed25519")) => (
            Family::Ed25519,
            DecodingKey::from_ed_components(jwk.x.as_deref()?).ok()?,
        ),
        _ => return None,
    };
    if alg.is_some_and(|a| family_of(a) != Some(family)) {
        return None;
    }
    Some(Key {
        kid: jwk.kid,
        alg,
        family,
        key,
    })
}

impl State {
    /// The key a token signed with `alg` under `kid` is to be checked with.
    fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
        let family = family_of(alg)?;
        let fits = |k: &&Key| k.family == family && k.alg.is_none_or(|a| a == alg);
        let mut candidates = self.keys.iter().filter(fits);
        match kid {
            Some(kid) => candidates
                .find(|k| k.kid.as_deref() == Some(kid))
                .map(|k| k.key.clone()),
            // Without a kid only an unambiguous key will do.
            None => {
                let first = candidates.next()?;
                candidates.next().is_none().then(|| first.key.clone())
            }
        }
    }
}

impl KeySet {
    pub(super) fn new(server: &AuthorizationServer, config: &OAuthConfig) -> Self {
        Self {
            issuer: server.issuer.clone(),
            configured_jwks_uri: server.jwks_uri.clone(),
            refresh: config.jwks_refresh,
            max_age: config.jwks_max_age,
            state: Mutex::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The key for a token's header, fetching the keys first when there are none yet or they
    /// are stale, and again for an unknown key when the last such fetch is old enough.
    pub(super) async fn key(
        &self,
        http: &reqwest::Client,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, TokenError> {
        let (generation, stale) = {
            let state = self.state.lock().unwrap();
            let stale = state.fetched.is_none_or(|at| at.elapsed() >= self.max_age);
            if !stale && let Some(key) = state.find(kid, alg) {
                return Ok(key);
            }
            (state.generation, stale)
        };
        if stale {
            // Keys kept from before answer if this fetch fails.
            let fetched = self.fetch(http, generation).await;
            let state = self.state.lock().unwrap();
            if let Some(key) = state.find(kid, alg) {
                return Ok(key);
            }
            if state.keys.is_empty() {
                return Err(fetched.err().unwrap_or(TokenError::UnknownKey));
            }
            if fetched.is_ok() {
                return Err(TokenError::UnknownKey);
            }
        }
        // An unknown key: fetch again, at most once per `refresh`. The lock is held from the
        // decision to the end of the fetch, so tokens with the same new key that arrive
        // meanwhile wait for that fetch and then find the key.
        let _one = self.fetching.lock().await;
        {
            let mut state = self.state.lock().unwrap();
            if let Some(key) = state.find(kid, alg) {
                return Ok(key);
            }
            if state
                .unknown_refresh
                .is_some_and(|at| at.elapsed() < self.refresh)
            {
                tracing::debug!(target: "security", issuer = %self.issuer, kid = kid.unwrap_or(""), "token names an unknown key; keys were fetched again too recently");
                return Err(TokenError::UnknownKey);
            }
            state.unknown_refresh = Some(Instant::now());
        }
        tracing::info!(issuer = %self.issuer, kid = kid.unwrap_or(""), "token names an unknown key: fetching the issuer's keys again");
        let _ = self.fetch_locked(http).await;
        self.state
            .lock()
            .unwrap()
            .find(kid, alg)
            .ok_or(TokenError::UnknownKey)
    }

    /// Fetch the keys, unless someone did since `seen` (the generation the caller looked at).
    async fn fetch(&self, http: &reqwest::Client, seen: u64) -> Result<(), TokenError> {
        let _one = self.fetching.lock().await;
        if self.state.lock().unwrap().generation != seen {
            return Ok(());
        }
        self.fetch_locked(http).await
    }

    /// Fetch the keys; the caller holds `fetching`.
    async fn fetch_locked(&self, http: &reqwest::Client) -> Result<(), TokenError> {
        let jwks_uri = {
            let state = self.state.lock().unwrap();
            state.jwks_uri.clone().or(self.configured_jwks_uri.clone())
        };
        let result = async {
            let jwks_uri = match jwks_uri {
                Some(uri) => uri,
                None => metadata::endpoint(http, &self.issuer, "jwks_uri").await?,
            };
            let jwks: Jwks = metadata::get_json(http, &jwks_uri).await?;
            let keys: Vec<Key> = jwks
                .keys
                .into_iter()
                .filter_map(|k| serde_json::from_value(k).ok())
                .filter_map(key_of)
                .collect();
            Ok::<_, String>((jwks_uri, keys))
        }
        .await;
        match result {
            Ok((jwks_uri, keys)) => {
                tracing::info!(issuer = %self.issuer, keys = keys.len(), "fetched the issuer's signing keys");
                let mut state = self.state.lock().unwrap();
                state.keys = keys;
                state.jwks_uri = Some(jwks_uri);
                state.fetched = Some(Instant::now());
                state.generation += 1;
                Ok(())
            }
            Err(why) => {
                tracing::warn!(issuer = %self.issuer, error = %why, "cannot fetch the issuer's signing keys");
                Err(TokenError::KeysUnavailable)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jwk(v: serde_json::Value) -> Option<Key> {
        key_of(serde_json::from_value(v).unwrap())
    }

    // A P-256 public key (RFC 7515 appendix A.3).
    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    #[test]
    fn keys_are_matched_by_kid_family_and_alg() {
        let ec = |kid: &str| json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": X, "y": Y});
        let state = State {
            keys: [ec("a"), ec("b")].into_iter().filter_map(jwk).collect(),
            ..State::default()
        };
        assert!(state.find(Some("a"), Algorithm::ES256).is_some());
        assert!(state.find(Some("c"), Algorithm::ES256).is_none());
        assert!(
            state.find(Some("a"), Algorithm::RS256).is_none(),
            "wrong family"
        );
        assert!(
            state.find(Some("a"), Algorithm::HS256).is_none(),
            "never symmetric"
        );
        assert!(
            state.find(None, Algorithm::ES256).is_none(),
            "ambiguous without kid"
        );
        let one = State {
            keys: [ec("a")].into_iter().filter_map(jwk).collect(),
            ..State::default()
        };
        assert!(one.find(None, Algorithm::ES256).is_some());
    }

    #[test]
    fn unusable_jwks_entries_are_skipped() {
        assert!(jwk(json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "use": "enc"})).is_none());
        assert!(
            jwk(json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "alg": "RS256"})).is_none()
        );
        assert!(
            jwk(json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "alg": "HS256"})).is_none()
        );
        assert!(jwk(json!({"kty": "oct", "k": "c2VjcmV0"})).is_none());
        assert!(
            jwk(json!({"kty": "RSA", "n": "AQAB"})).is_none(),
            "no exponent"
        );
        assert!(
            jwk(json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "alg": "ES256"})).is_some()
        );
    }
}
