//! OAuth 2.1 access tokens (MCP authorization): the gateway is a resource server. A JWT access
//! token is accepted when its signature verifies against its issuer's published keys
//! (`jwks`), and its claims (`claims`) name a configured issuer, this resource as audience
//! (RFC 8707), a subject, and a time window that holds now. What it may use comes from its
//! scopes (`auth.oauth.grants`). Tokens are only read here: nothing passes one on, to a child
//! or to a remote service.
//!
//! HTTP is spoken here as a client only (metadata and keys); the challenges and the metadata
//! this gateway serves are `http::oauth`'s.

mod claims;
mod error;
mod introspect;
mod jwks;
mod metadata;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::Validation;
use serde_json::{Map, Value};

use crate::config::{Grant, OAuthConfig};
pub(crate) use error::TokenError;
use introspect::Introspector;
use jwks::KeySet;

/// A token that passed: who it is and what it may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub issuer: String,
    pub subject: String,
    pub scopes: Vec<String>,
    /// The grants of its scopes, in config order; empty when it holds none.
    pub grants: Vec<Arc<Grant>>,
    /// Its verified claims (`auth.oauth.identity_env` passes some to children).
    pub claims: Arc<Map<String, Value>>,
}

/// Verifies access tokens for one gateway.
pub(crate) struct Verifier {
    /// The gateway's origin, e.g. `https://mcp.example.com` (no trailing slash).
    resource: String,
    issuers: Vec<KeySet>,
    introspectors: Vec<Introspector>,
    grants: Vec<Arc<Grant>>,
    scopes: Vec<String>,
    leeway: Duration,
    http: reqwest::Client,
}

impl Verifier {
    /// `resource`: the configured `auth.oauth.resource`, or the origin the gateway listens on.
    pub(crate) fn new(config: &OAuthConfig, resource: String) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot make the OAuth HTTP client: {e}"))?;
        Ok(Self {
            resource,
            issuers: config
                .authorization_servers
                .iter()
                .map(|s| KeySet::new(s, config))
                .collect(),
            introspectors: config
                .authorization_servers
                .iter()
                .filter_map(|s| Introspector::new(s, config.introspection_cache))
                .collect(),
            grants: config.grants.clone(),
            scopes: config.scopes().into_iter().map(String::from).collect(),
            leeway: config.leeway,
            http,
        })
    }

    /// The gateway's origin (the REST API's resource identifier).
    pub(crate) fn origin(&self) -> &str {
        &self.resource
    }

    /// The resource identifier of a request path: `/mcp` and `/services/{name}/mcp` are
    /// resources of their own; every other path is the gateway's (its origin).
    pub(crate) fn resource_of(&self, path: &str) -> String {
        if is_mcp_path(path) {
            format!("{}{path}", self.resource)
        } else {
            self.resource.clone()
        }
    }

    pub(crate) fn issuers(&self) -> impl Iterator<Item = &str> {
        self.issuers.iter().map(|k| k.issuer.as_str())
    }

    /// Every scope a grant names.
    pub(crate) fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The scopes whose grants allow `service`.
    pub(crate) fn scopes_for(&self, service: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for scope in self
            .grants
            .iter()
            .filter(|g| g.allows_service(service))
            .filter_map(|g| g.scope.as_ref())
        {
            if !out.contains(scope) {
                out.push(scope.clone());
            }
        }
        out
    }

    /// Whether `token` looks like a JWT (three base64url parts): only those are tried here.
    pub(crate) fn looks_like_jwt(token: &str) -> bool {
        let parts: Vec<&str> = token.split('.').collect();
        parts.len() == 3
            && parts[..2].iter().all(|p| !p.is_empty())
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    }

    /// Whether opaque tokens are checked (some issuer has `introspection`).
    pub(crate) fn introspects(&self) -> bool {
        !self.introspectors.is_empty()
    }

    /// Verify a token presented for the resource `resource` (from [`Verifier::resource_of`]).
    /// A token for the gateway's origin is good on every path; one for an MCP endpoint only
    /// there. A JWT is checked here; anything else by the issuers' introspection endpoints.
    pub(crate) async fn verify(&self, token: &str, resource: &str) -> Result<Token, TokenError> {
        let (issuer, claims) = if Self::looks_like_jwt(token) {
            self.jwt_claims(token).await?
        } else {
            self.introspected_claims(token).await?
        };
        let mut audiences = vec![self.resource.clone(), format!("{}/", self.resource)];
        if resource != self.resource {
            audiences.push(resource.to_owned());
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let expect = claims::Expect {
            issuer,
            audiences: &audiences,
            now,
            leeway: self.leeway.as_secs(),
        };
        let checked = claims::check(&claims, &expect)?;
        let grants = self
            .grants
            .iter()
            .filter(|g| g.held_by(&checked.scopes))
            .cloned()
            .collect();
        Ok(Token {
            issuer: issuer.to_owned(),
            subject: checked.subject,
            scopes: checked.scopes,
            grants,
            claims: Arc::new(claims),
        })
    }

    /// A JWT's issuer and claims, its signature checked with a key its issuer publishes.
    async fn jwt_claims(&self, token: &str) -> Result<(&str, Map<String, Value>), TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed("bad header"))?;
        let alg = header.alg;
        if jwks::family_of(alg).is_none() {
            return Err(TokenError::Algorithm);
        }
        // The issuer is read before the signature is checked only to pick whose keys check it.
        let issuer = unverified_issuer(token)?;
        let keys = self
            .issuers
            .iter()
            .find(|k| k.issuer == issuer)
            .ok_or(TokenError::Issuer)?;
        let key = keys.key(&self.http, header.kid.as_deref(), alg).await?;
        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
        // The claims are checked by `claims::check`, with messages of our own.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::Signature,
                    _ => TokenError::Malformed("cannot be decoded"),
                }
            })?;
        Ok((&keys.issuer, data.claims))
    }

    /// An opaque token's issuer and claims: the first issuer that says it is active.
    async fn introspected_claims(
        &self,
        token: &str,
    ) -> Result<(&str, Map<String, Value>), TokenError> {
        if self.introspectors.is_empty() {
            return Err(TokenError::Malformed("not a JWT"));
        }
        let mut failed = None;
        for introspector in &self.introspectors {
            match introspector.claims(&self.http, token).await {
                Ok(Some(claims)) => return Ok((&introspector.issuer, claims)),
                Ok(None) => {}
                Err(err) => failed = Some(err),
            }
        }
        Err(failed.unwrap_or(TokenError::Inactive))
    }
}

/// `/mcp` or `/services/{name}/mcp` (a name without `/`).
pub(crate) fn is_mcp_path(path: &str) -> bool {
    path == "/mcp"
        || path
            .strip_prefix("/services/")
            .and_then(|rest| rest.strip_suffix("/mcp"))
            .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

fn unverified_issuer(token: &str) -> Result<String, TokenError> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or(TokenError::Malformed("not a JWT"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed("payload is not base64url"))?;
    let claims: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed("payload is not JSON"))?;
    match claims.get("iss") {
        Some(Value::String(iss)) => Ok(iss.clone()),
        _ => Err(TokenError::Issuer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_paths() {
        assert!(is_mcp_path("/mcp"));
        assert!(is_mcp_path("/services/fx/mcp"));
        assert!(!is_mcp_path("/services//mcp"));
        assert!(!is_mcp_path("/services/a/b/mcp"));
        assert!(!is_mcp_path("/services/fx/call"));
        assert!(!is_mcp_path("/mcp/"));
    }

    #[test]
    fn jwt_shape() {
        assert!(Verifier::looks_like_jwt("eyJhbGc.eyJzdWI.c2ln"));
        assert!(
            Verifier::looks_like_jwt("a.b."),
            "an unsigned shape is still tried (and refused)"
        );
        assert!(!Verifier::looks_like_jwt("test-token"));
        assert!(!Verifier::looks_like_jwt("a.b.c.d"));
        assert!(!Verifier::looks_like_jwt("a b.c.d"));
    }
}
