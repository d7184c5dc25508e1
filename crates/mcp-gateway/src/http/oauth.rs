//! OAuth on the wire (MCP authorization, RFC 9728, RFC 6750): the Protected Resource Metadata
//! this gateway serves, the `WWW-Authenticate: Bearer` challenges of a 401 or 403, and the
//! step of auth that checks an access token (`crate::oauth` verifies it).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_gateway_wire::code;
use serde_json::json;

use super::error::ApiError;
use super::principal::{Principal, TokenPrincipal};
use super::state::AppState;
use crate::oauth::{TokenError, Verifier, is_mcp_path};

/// Where RFC 9728 puts the metadata: this prefix, then the resource's path.
pub(super) const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// `GET /.well-known/oauth-protected-resource`: the gateway itself (the REST API).
pub(super) async fn metadata_root(State(state): State<AppState>) -> Response {
    metadata(&state, "")
}

/// `GET /.well-known/oauth-protected-resource/mcp`.
pub(super) async fn metadata_all(State(state): State<AppState>) -> Response {
    metadata(&state, "/mcp")
}

/// `GET /.well-known/oauth-protected-resource/services/{service}/mcp`.
pub(super) async fn metadata_one(
    State(state): State<AppState>,
    service: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    match service {
        Ok(Path(service)) if state.sessions.config().services.contains_key(&service) => {
            metadata(&state, &format!("/services/{service}/mcp"))
        }
        _ => ApiError::not_found("no such protected resource").into_response(),
    }
}

fn metadata(state: &AppState, path: &str) -> Response {
    let Some(verifier) = state.oauth.as_ref().map(|v| v.load_full()) else {
        return ApiError::not_found("not found").into_response();
    };
    let scopes = match service_of(path) {
        Some(service) => verifier.scopes_for(service),
        None => verifier.scopes().to_vec(),
    };
    let body = json!({
        "resource": format!("{}{path}", verifier.origin()),
        "authorization_servers": verifier.issuers().collect::<Vec<_>>(),
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": "mcp-gateway",
    });
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=300"),
    );
    response
}

/// The service of `/services/{name}/mcp`.
fn service_of(path: &str) -> Option<&str> {
    path.strip_prefix("/services/")?.strip_suffix("/mcp")
}

/// The metadata URL for a request path: the MCP endpoint's own, else the gateway's.
fn metadata_url(verifier: &Verifier, path: &str) -> String {
    if is_mcp_path(path) {
        format!("{}{WELL_KNOWN}{path}", verifier.origin())
    } else {
        format!("{}{WELL_KNOWN}", verifier.origin())
    }
}

/// A `Bearer` challenge (RFC 6750 §3, RFC 9728 §5.1). Every value is ours (scopes are checked
/// by config to hold no quote or backslash, descriptions are fixed texts), never the client's.
pub(crate) fn challenge(metadata: &str, error: Option<(&str, &str)>, scopes: &[String]) -> String {
    let mut out = String::from("Bearer ");
    let mut params = Vec::new();
    if let Some((error, description)) = error {
        params.push(format!("error=\"{error}\""));
        params.push(format!(
            "error_description=\"{}\"",
            description.replace(['"', '\\'], "'")
        ));
    }
    params.push(format!("resource_metadata=\"{metadata}\""));
    if !scopes.is_empty() {
        params.push(format!("scope=\"{}\"", scopes.join(" ")));
    }
    out.push_str(&params.join(", "));
    out
}

/// Put the Bearer challenge first on a 401 (clients read the first scheme), keeping the
/// others (Basic) after it.
pub(super) fn add_challenge(
    response: &mut Response,
    verifier: &Verifier,
    path: &str,
    error: Option<&TokenError>,
) {
    if response.status() != StatusCode::UNAUTHORIZED {
        return;
    }
    let value = challenge(
        &metadata_url(verifier, path),
        error
            .map(|e| ("invalid_token", e.to_string()))
            .as_ref()
            .map(|(e, d)| (*e, d.as_str())),
        &scopes_of(verifier, path),
    );
    let headers = response.headers_mut();
    let others: Vec<HeaderValue> = headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .cloned()
        .collect();
    headers.remove(header::WWW_AUTHENTICATE);
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.append(header::WWW_AUTHENTICATE, value);
    }
    for other in others {
        headers.append(header::WWW_AUTHENTICATE, other);
    }
}

/// The scopes to ask for at `path`: those granting its service, else every scope.
fn scopes_of(verifier: &Verifier, path: &str) -> Vec<String> {
    match service_of(path).filter(|_| is_mcp_path(path)) {
        Some(service) => verifier.scopes_for(service),
        None => verifier.scopes().to_vec(),
    }
}

/// The bearer token of the `Authorization` header, if it is one to check: a JWT, or any
/// token when opaque tokens are introspected.
pub(super) fn bearer_token<'h>(verifier: &Verifier, headers: &'h HeaderMap) -> Option<&'h str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?;
    (!token.is_empty() && (Verifier::looks_like_jwt(token) || verifier.introspects()))
        .then_some(token)
}

/// What a presented access token amounts to.
pub(super) enum Checked {
    Accepted(Principal),
    /// 401 with an `invalid_token` challenge.
    Invalid(TokenError),
    /// The answer to send as is (403 `insufficient_scope`, 503 keys unavailable).
    Refused(Response),
}

/// Verify `token` for a request to `path`. A valid token that grants nothing here, or not the
/// service of `/services/{name}/mcp`, is refused with 403 `insufficient_scope` naming the
/// scopes that would.
pub(super) async fn check(verifier: &Verifier, token: &str, path: &str) -> Checked {
    let resource = verifier.resource_of(path);
    let token = match verifier.verify(token, &resource).await {
        Ok(token) => token,
        Err(err @ (TokenError::KeysUnavailable | TokenError::AuthorizationServerUnavailable)) => {
            let mut error = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code::SERVICE_UNAVAILABLE,
                err.to_string(),
            );
            error.retry_after = Some(5);
            return Checked::Refused(error.into_response());
        }
        Err(err) => return Checked::Invalid(err),
    };
    let service = service_of(path).filter(|_| is_mcp_path(path));
    let allowed = match service {
        Some(service) => token.grants.iter().any(|g| g.allows_service(service)),
        None => !token.grants.is_empty(),
    };
    if !allowed {
        let scopes = scopes_of(verifier, path);
        let description = match service {
            Some(service) => format!("the token grants no access to service {service}"),
            None => "the token holds no scope this gateway grants access for".to_owned(),
        };
        tracing::warn!(
            target: "security",
            event_type = "insufficient_scope",
            subject = %token.subject,
            issuer = %token.issuer,
            scopes = %token.scopes.join(" "),
            path = %path,
            "access token lacks the scope for this resource"
        );
        let mut response = ApiError::new(
            StatusCode::FORBIDDEN,
            code::INSUFFICIENT_SCOPE,
            description.clone(),
        )
        .into_response();
        let value = challenge(
            &metadata_url(verifier, path),
            Some(("insufficient_scope", &description)),
            &scopes,
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        return Checked::Refused(response);
    }
    Checked::Accepted(Principal::Token(Arc::new(TokenPrincipal::new(token))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let meta = "https://gw.example.com/.well-known/oauth-protected-resource/mcp";
        assert_eq!(
            challenge(meta, None, &["mcp:a".into(), "mcp:b".into()]),
            format!("Bearer resource_metadata=\"{meta}\", scope=\"mcp:a mcp:b\"")
        );
        assert_eq!(
            challenge(meta, Some(("invalid_token", "token \"expired\"")), &[]),
            format!(
                "Bearer error=\"invalid_token\", error_description=\"token 'expired'\", resource_metadata=\"{meta}\""
            )
        );
    }

    #[test]
    fn services_of_paths() {
        assert_eq!(service_of("/services/fx/mcp"), Some("fx"));
        assert_eq!(service_of("/mcp"), None);
        assert_eq!(service_of(""), None);
    }
}
