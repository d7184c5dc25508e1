//! An authorization server's metadata (RFC 8414, or OpenID discovery) and the bounded GET
//! of a JSON document.

/// Responses larger than this are refused (a JWKS or a metadata document is a few KiB).
const MAX_DOCUMENT: usize = 1024 * 1024;

/// The endpoint `field` (`jwks_uri`, `introspection_endpoint`) of the issuer's metadata: RFC
/// 8414 (well-known path inserted before the issuer's path), then OpenID discovery (appended,
/// then inserted). The metadata must name the same issuer (RFC 8414 section 3.3).
pub(super) async fn endpoint(
    http: &reqwest::Client,
    issuer: &str,
    field: &str,
) -> Result<String, String> {
    let mut tried = Vec::new();
    for url in metadata_urls(issuer) {
        match get_json::<serde_json::Value>(http, &url).await {
            Ok(doc) => {
                if doc.get("issuer").and_then(|v| v.as_str()) != Some(issuer) {
                    tried.push(format!("{url}: names another issuer"));
                    continue;
                }
                if let Some(uri) = doc.get(field).and_then(|v| v.as_str()) {
                    return Ok(uri.to_owned());
                }
                tried.push(format!("{url}: no {field}"));
            }
            Err(why) => tried.push(why),
        }
    }
    Err(format!("no usable metadata ({})", tried.join("; ")))
}

/// Where an issuer's metadata may be, in the order to try.
fn metadata_urls(issuer: &str) -> Vec<String> {
    let issuer = issuer.trim_end_matches('/');
    let (origin, path) = match issuer.find("://").map(|i| i + 3) {
        Some(start) => match issuer[start..].find('/') {
            Some(slash) => issuer.split_at(start + slash),
            None => (issuer, ""),
        },
        None => (issuer, ""),
    };
    let mut urls = vec![format!(
        "{origin}/.well-known/oauth-authorization-server{path}"
    )];
    urls.push(format!("{issuer}/.well-known/openid-configuration"));
    if !path.is_empty() {
        urls.push(format!("{origin}/.well-known/openid-configuration{path}"));
    }
    urls
}

pub(super) async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    let mut response = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: {e}"))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_DOCUMENT {
            return Err(format!("{url}: larger than {MAX_DOCUMENT} bytes"));
        }
    }
    serde_json::from_slice(&body).map_err(|e| format!("{url}: invalid JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_insert_and_append() {
        assert_eq!(
            metadata_urls("https://kc.example.com/realms/acme"),
            [
                "https://kc.example.com/.well-known/oauth-authorization-server/realms/acme",
                "https://kc.example.com/realms/acme/.well-known/openid-configuration",
                "https://kc.example.com/.well-known/openid-configuration/realms/acme",
            ]
        );
        assert_eq!(
            metadata_urls("https://idp.example.com/"),
            [
                "https://idp.example.com/.well-known/oauth-authorization-server",
                "https://idp.example.com/.well-known/openid-configuration",
            ]
        );
    }
}
