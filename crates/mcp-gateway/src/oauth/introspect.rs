//! Opaque access tokens, asked about at the issuer's introspection endpoint (RFC 7662). An
//! answer is reused for `introspection_cache_seconds` (never past the token's `exp`), keyed by
//! the token's SHA-256: a revoked token may be accepted that long.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::error::TokenError;
use super::metadata;
use crate::config::{AuthorizationServer, Introspection};

/// Answers kept at most; past it the expired ones go, then all.
const MAX_CACHED: usize = 10_000;

/// An active token's claims, or `None` for an inactive one.
type Answer = Option<Map<String, Value>>;

pub(super) struct Introspector {
    pub issuer: String,
    config: Introspection,
    ttl: Duration,
    endpoint: Mutex<Option<String>>,
    /// Token digest -> (until, the active token's claims or `None` for inactive).
    cache: Mutex<HashMap<[u8; 32], (Instant, Answer)>>,
}

impl Introspector {
    pub(super) fn new(server: &AuthorizationServer, ttl: Duration) -> Option<Self> {
        let config = server.introspection.clone()?;
        Some(Self {
            issuer: server.issuer.clone(),
            endpoint: Mutex::new(config.endpoint.clone()),
            config,
            ttl,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The claims of `token` if the issuer says it is active, `None` if not.
    pub(super) async fn claims(
        &self,
        http: &reqwest::Client,
        token: &str,
    ) -> Result<Option<Map<String, Value>>, TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some((until, claims)) = self.cache.lock().unwrap().get(&digest)
            && *until > Instant::now()
        {
            return Ok(claims.clone());
        }
        let claims = self.ask(http, token).await.map_err(|why| {
            tracing::warn!(issuer = %self.issuer, error = %why, "cannot introspect a token");
            TokenError::AuthorizationServerUnavailable
        })?;
        let mut ttl = self.ttl;
        if let Some(exp) = claims
            .as_ref()
            .and_then(|c| c.get("exp"))
            .and_then(Value::as_u64)
        {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            ttl = ttl.min(Duration::from_secs(exp.saturating_sub(now)));
        }
        if !ttl.is_zero() {
            let mut cache = self.cache.lock().unwrap();
            if cache.len() >= MAX_CACHED {
                let now = Instant::now();
                cache.retain(|_, (until, _)| *until > now);
                if cache.len() >= MAX_CACHED {
                    cache.clear();
                }
            }
            cache.insert(digest, (Instant::now() + ttl, claims.clone()));
        }
        Ok(claims)
    }

    async fn ask(
        &self,
        http: &reqwest::Client,
        token: &str,
    ) -> Result<Option<Map<String, Value>>, String> {
        let known = self.endpoint.lock().unwrap().clone();
        let endpoint = match known {
            Some(endpoint) => endpoint,
            None => {
                let found =
                    metadata::endpoint(http, &self.issuer, "introspection_endpoint").await?;
                *self.endpoint.lock().unwrap() = Some(found.clone());
                found
            }
        };
        let response = http
            .post(&endpoint)
            .basic_auth(&self.config.client_id, Some(&self.config.client_secret))
            .header("accept", "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| format!("{endpoint}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{endpoint}: HTTP {}", response.status()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("{endpoint}: {e}"))?;
        let claims: Map<String, Value> =
            serde_json::from_slice(&body).map_err(|e| format!("{endpoint}: invalid JSON: {e}"))?;
        Ok(active(claims, &self.issuer))
    }
}

/// An introspection answer as the claims `claims::check` reads: `None` unless `active` is
/// true; `iss` defaults to the issuer asked, `sub` to `client_id` (RFC 7662 makes both
/// optional; a token without a user acts as its client).
fn active(mut claims: Map<String, Value>, issuer: &str) -> Option<Map<String, Value>> {
    if claims.get("active") != Some(&Value::Bool(true)) {
        return None;
    }
    claims
        .entry("iss")
        .or_insert_with(|| Value::String(issuer.to_owned()));
    if !claims.contains_key("sub")
        && let Some(client) = claims.get("client_id").cloned()
    {
        claims.insert("sub".into(), client);
    }
    Some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn of(v: Value) -> Option<Value> {
        active(v.as_object().unwrap().clone(), "https://idp").map(Value::Object)
    }

    #[test]
    fn only_active_answers_count() {
        assert_eq!(of(json!({"active": false, "sub": "a"})), None);
        assert_eq!(of(json!({"active": "true"})), None);
        assert_eq!(of(json!({})), None);
        assert_eq!(
            of(json!({"active": true, "client_id": "c"})),
            Some(json!({"active": true, "client_id": "c", "iss": "https://idp", "sub": "c"}))
        );
        assert_eq!(
            of(json!({"active": true, "iss": "https://other", "sub": "u", "client_id": "c"})),
            Some(json!({"active": true, "iss": "https://other", "sub": "u", "client_id": "c"})),
            "a stated issuer is kept (and checked like a JWT's)"
        );
    }
}
