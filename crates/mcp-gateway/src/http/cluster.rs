//! The internal hop between replicas (docs/scale-out.md): a request whose session another
//! replica owns is forwarded there once, streamed both ways, signed with the cluster's HMAC.
//!
//! Two layers: [`accept_hop`] (before auth) checks a forwarded request's signature and hands
//! auth the principal the edge found; [`route`] (after auth, before the rate limits) decides
//! where a request is served: here, at its owner (forwarded), or nowhere (404: the owner is
//! gone). A forwarded request is always served where it lands (the hop limit: one). Without
//! a `cluster` section both layers pass every request through untouched.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_gateway_wire::code;
use serde_json::{Map, Value};

use super::client_addr::ClientAddr;
use super::error::ApiError;
use super::principal::{Principal, TokenPrincipal};
use super::state::AppState;
use super::validate;
use crate::cluster::{Cluster, Hop, MemberId, Owner, StoreDown, now_ms};
use crate::config::Config;
use crate::session::SessionError;

const HOP_FROM: &str = "x-mcp-gateway-hop-from";
const HOP_TIME: &str = "x-mcp-gateway-hop-time";
const HOP_PRINCIPAL: &str = "x-mcp-gateway-hop-principal";
const HOP_CLIENT: &str = "x-mcp-gateway-hop-client";
const HOP_SIGNATURE: &str = "x-mcp-gateway-hop-signature";
const SESSION_HEADER: &str = "mcp-session-id";
/// How long `GET /sessions` waits for a peer's list before leaving it out.
const LIST_TIMEOUT: Duration = Duration::from_secs(5);
/// On a forwarded call's answer: this replica is leaving and took nothing; place it elsewhere.
const HOP_REFUSED: &str = "x-mcp-gateway-hop-refused";

/// Attached by [`accept_hop`] to a forwarded request whose signature holds.
#[derive(Debug, Clone)]
pub(crate) struct Forwarded {
    pub principal: Principal,
    pub client: IpAddr,
    /// A `GET /sessions` of another replica gathering every replica's list: its budget was
    /// spent at the edge.
    pub listing: bool,
}

/// The client of the internal hop.
pub(crate) fn hop_client() -> reqwest::Client {
    reqwest::Client::builder()
        .http2_prior_knowledge()
        .connect_timeout(Duration::from_secs(1))
        // A peer that vanished without closing its connections is found out in seconds.
        .http2_keep_alive_interval(Duration::from_secs(2))
        .http2_keep_alive_timeout(Duration::from_secs(2))
        .http2_keep_alive_while_idle(true)
        .pool_idle_timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("the hop client builds")
}

/// Middleware (before auth): a request carrying a hop signature is checked (the body is read
/// for it, within `server.max_body_bytes`); one that holds skips the credentials, one that
/// does not is refused (401).
pub(super) async fn accept_hop(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(cluster) = state.cluster.as_ref() else {
        return next.run(request).await;
    };
    let Some(signature) = header_str(request.headers(), HOP_SIGNATURE).map(str::to_owned) else {
        return next.run(request).await;
    };
    let config = state.sessions.config();
    let (mut parts, body) = request.into_parts();
    let body = match read_body(body, &config).await {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    let hop = Hop {
        from: header_str(&parts.headers, HOP_FROM)
            .unwrap_or("")
            .to_owned(),
        time_ms: header_str(&parts.headers, HOP_TIME)
            .and_then(|t| t.parse().ok())
            .unwrap_or(0),
        principal: header_str(&parts.headers, HOP_PRINCIPAL)
            .unwrap_or("")
            .to_owned(),
        client: header_str(&parts.headers, HOP_CLIENT)
            .unwrap_or("")
            .to_owned(),
    };
    let path = path_of(&parts);
    let verified = cluster.hop_key().verify(
        parts.method.as_str(),
        &path,
        &hop,
        &body,
        &signature,
        now_ms(),
    );
    let principal = decode_principal(&hop.principal, &config);
    let client = hop.client.parse::<IpAddr>().ok();
    let (Some(principal), Some(client), true) = (principal, client, verified) else {
        tracing::warn!(target: "security", event_type = "hop_refused", from = %hop.from, path = %path, "forwarded request with an invalid or stale signature");
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            code::UNAUTHORIZED,
            "invalid or stale replica hop signature",
        )
        .into_response();
    };
    let listing = parts.method == Method::GET && parts.uri.path() == "/sessions";
    parts.extensions.insert(Forwarded {
        principal,
        client,
        listing,
    });
    next.run(Request::from_parts(parts, Body::from(body))).await
}

/// Middleware (after auth, before the rate limits): serve here, forward to the owner, or
/// answer that the session is gone.
pub(super) async fn route(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(cluster) = state.cluster.as_ref() else {
        return next.run(request).await;
    };
    let forwarded = request.extensions().get::<Forwarded>().is_some();
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let method = request.method().clone();
    let result = match (&method, path.as_str()) {
        (&Method::POST, "/services/{service}/call") if forwarded => {
            arrive_call(&state, cluster, request, next).await
        }
        (_, _) if forwarded => return next.run(request).await,
        (&Method::POST, "/services/{service}/call") => call(&state, cluster, request, next).await,
        (&Method::DELETE, "/sessions/{id}") => delete(&state, cluster, request, next).await,
        (&Method::GET, "/sessions") => list(&state, cluster, request, next).await,
        (_, "/mcp" | "/services/{service}/mcp") => mcp(&state, cluster, request, next).await,
        _ => return next.run(request).await,
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// A REST call at the edge: its session's pin, else the rendezvous pick (a pick that cannot
/// be reached is left out and the next one tried).
async fn call(
    state: &AppState,
    cluster: &Arc<Cluster>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body, &state.sessions.config()).await?;
    let Some(id) = session_of_call(&body) else {
        return Ok(next.run(Request::from_parts(parts, Body::from(body))).await);
    };
    if state.sessions.is_live(&id) {
        return Ok(next.run(Request::from_parts(parts, Body::from(body))).await);
    }
    if let Some(owner) = cluster.pinned(&id).await.map_err(down)? {
        return match owner {
            Owner::Me => Ok(next.run(Request::from_parts(parts, Body::from(body))).await),
            Owner::Peer(member, address) => {
                match forward(state, cluster, (member, &address), &parts, body).await {
                    Some(response) => Ok(response),
                    None => Err(SessionError::UnknownSession(id).into()),
                }
            }
            Owner::Gone => Err(SessionError::UnknownSession(id).into()),
        };
    }
    let mut exclude: Vec<MemberId> = Vec::new();
    loop {
        match cluster.place(&id, &exclude).await.map_err(down)? {
            Owner::Me => return Ok(next.run(Request::from_parts(parts, Body::from(body))).await),
            Owner::Peer(member, address) => {
                match forward(state, cluster, (member, &address), &parts, body.clone()).await {
                    Some(response) => return Ok(response),
                    None => exclude.push(member),
                }
            }
            Owner::Gone => {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code::SERVICE_UNAVAILABLE,
                    "no replica can take a new session now: retry",
                );
                e.retry_after = Some(1);
                return Err(e);
            }
        }
    }
}

/// A forwarded REST call at its owner: a session not live here is pinned here first, unless
/// another replica pinned it meanwhile (then the client retries, and reaches that one).
async fn arrive_call(
    state: &AppState,
    cluster: &Arc<Cluster>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body, &state.sessions.config()).await?;
    if let Some(id) = session_of_call(&body)
        && !state.sessions.is_live(&id)
    {
        if cluster.is_leaving() {
            let mut refused = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code::SHUTTING_DOWN,
                "this replica is draining: it takes no new session",
            )
            .into_response();
            refused
                .headers_mut()
                .insert(HOP_REFUSED, HeaderValue::from_static("draining"));
            return Ok(refused);
        }
        match cluster.claim(&id).await.map_err(down)? {
            Owner::Me => {}
            Owner::Peer(..) | Owner::Gone => {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code::SERVICE_UNAVAILABLE,
                    format!("session {id} was just placed on another replica: retry"),
                );
                e.retry_after = Some(1);
                return Err(e);
            }
        }
    }
    Ok(next.run(Request::from_parts(parts, Body::from(body))).await)
}

/// `DELETE /sessions/{id}` from any replica.
async fn delete(
    state: &AppState,
    cluster: &Arc<Cluster>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let id = request
        .uri()
        .path()
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_owned();
    if validate::session_id(&id).is_err() || state.sessions.is_live(&id) {
        return Ok(next.run(request).await);
    }
    let owner = if cluster.is_sealed(&id) {
        Some(cluster.owner_of_mcp(&id).await.map_err(down)?)
    } else {
        cluster.pinned(&id).await.map_err(down)?
    };
    match owner {
        Some(Owner::Peer(member, address)) => {
            let (parts, body) = request.into_parts();
            let body = read_body(body, &state.sessions.config()).await?;
            match forward(state, cluster, (member, &address), &parts, body).await {
                Some(response) => Ok(response),
                None => Err(SessionError::UnknownSession(id).into()),
            }
        }
        _ => Ok(next.run(request).await),
    }
}

/// An MCP request naming a session: served by the member sealed in its id. A forged id, one
/// of another cluster, or one whose owner is gone is served here, where it is unknown (404).
async fn mcp(
    state: &AppState,
    cluster: &Arc<Cluster>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(id) = header_str(request.headers(), SESSION_HEADER).map(str::to_owned) else {
        return Ok(next.run(request).await);
    };
    if state.sessions.is_live(&id) {
        return Ok(next.run(request).await);
    }
    match cluster.owner_of_mcp(&id).await.map_err(down)? {
        Owner::Peer(member, address) => {
            let (parts, body) = request.into_parts();
            let body = read_body(body, &state.sessions.config()).await?;
            match forward(state, cluster, (member, &address), &parts, body.clone()).await {
                Some(response) => Ok(response),
                None => Ok(next.run(Request::from_parts(parts, Body::from(body))).await),
            }
        }
        Owner::Me | Owner::Gone => Ok(next.run(request).await),
    }
}

/// `GET /sessions` from any replica: this one's list and every live peer's, merged. A peer
/// that does not answer is left out (its sessions are gone or about to be).
async fn list(
    state: &AppState,
    cluster: &Arc<Cluster>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let local = next
        .run(Request::from_parts(parts.clone(), Body::empty()))
        .await;
    if local.status() != StatusCode::OK {
        return Ok(local);
    }
    let (local_parts, local_body) = local.into_parts();
    let mut merged = json_map(local_body).await;
    let peers = cluster.peers();
    let answers = futures_util::future::join_all(peers.iter().map(|(member, address)| {
        let ask = async {
            let response =
                forward(state, cluster, (*member, address), &parts, Bytes::new()).await?;
            (response.status() == StatusCode::OK).then_some(())?;
            Some(json_map(response.into_body()).await)
        };
        async move { tokio::time::timeout(LIST_TIMEOUT, ask).await.ok().flatten() }
    }))
    .await;
    for ((member, _), answer) in peers.iter().zip(answers) {
        match answer {
            Some(sessions) => merged.extend(sessions),
            None => {
                tracing::warn!(%member, "cluster: a replica's sessions are left out of the list")
            }
        }
    }
    let mut response = axum::Json(Value::Object(merged)).into_response();
    for name in [
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "ratelimit-policy",
    ] {
        if let Some(v) = local_parts.headers.get(name) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), v.clone());
        }
    }
    Ok(response)
}

async fn json_map(body: Body) -> Map<String, Value> {
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Send the request to `owner` (a member and its address), signed, and stream its answer
/// back. `None` when the owner cannot be reached (nothing was delivered), refused as it
/// drains, or failed under the request and is no member any more: the caller answers for it.
async fn forward(
    state: &AppState,
    cluster: &Cluster,
    (owner, address): (MemberId, &str),
    parts: &Parts,
    body: Bytes,
) -> Option<Response> {
    let path = path_of(parts);
    let principal = parts
        .extensions
        .get::<Principal>()
        .map_or_else(|| "anonymous".to_owned(), encode_principal);
    let client = parts
        .extensions
        .get::<ClientAddr>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0);
    let hop = Hop {
        from: cluster.me().to_string(),
        time_ms: now_ms(),
        principal,
        client: client.to_string(),
    };
    let signature = cluster
        .hop_key()
        .sign(parts.method.as_str(), &path, &hop, &body);
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if !skip_request_header(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    for (name, value) in [
        (HOP_FROM, hop.from.as_str()),
        (HOP_TIME, &hop.time_ms.to_string()),
        (HOP_PRINCIPAL, hop.principal.as_str()),
        (HOP_CLIENT, hop.client.as_str()),
        (HOP_SIGNATURE, signature.as_str()),
    ] {
        let value = HeaderValue::from_str(value).ok()?;
        headers.insert(HeaderName::from_static(name), value);
    }
    let sent = state
        .hop
        .as_ref()?
        .request(parts.method.clone(), format!("http://{address}{path}"))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let upstream = match sent {
        Ok(upstream) => upstream,
        Err(e) if e.is_connect() => {
            tracing::info!(%address, error = %e, "cluster: owner unreachable");
            return None;
        }
        Err(e) if !cluster.is_member(&owner).await => {
            tracing::info!(%address, error = %e, "cluster: the owner left under the request");
            return None;
        }
        Err(e) => {
            tracing::warn!(%address, error = %e, "cluster: forwarding failed");
            let e = ApiError::new(
                StatusCode::BAD_GATEWAY,
                code::SERVICE_UNAVAILABLE,
                "the replica owning this session did not answer",
            );
            return Some(e.into_response());
        }
    };
    if upstream.headers().contains_key(HOP_REFUSED) {
        tracing::info!(%address, "cluster: the owner is draining");
        return None;
    }
    let mut response = Response::builder().status(upstream.status());
    for (name, value) in upstream.headers() {
        if !is_hop_by_hop(name) {
            response = response.header(name, value);
        }
    }
    let stream = futures_util::stream::unfold(upstream, |mut upstream| async move {
        match upstream.chunk().await {
            Ok(Some(chunk)) => Some((Ok::<_, reqwest::Error>(chunk), upstream)),
            Ok(None) => None,
            Err(e) => Some((Err(e), upstream)),
        }
    });
    response.body(Body::from_stream(stream)).ok()
}

fn skip_request_header(name: &HeaderName) -> bool {
    is_hop_by_hop(name)
        || name == header::HOST
        || name == header::AUTHORIZATION
        || name == header::CONTENT_LENGTH
        || name.as_str().starts_with("x-mcp-gateway-hop-")
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "transfer-encoding" | "te" | "upgrade" | "proxy-connection"
    )
}

fn path_of(parts: &Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn read_body(body: Body, config: &Config) -> Result<Bytes, ApiError> {
    to_bytes(body, config.server.max_body_bytes)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                code::PAYLOAD_TOO_LARGE,
                "request body too large",
            )
        })
}

/// The `session_id` of a call body, when it is a valid one (else the handler here answers
/// what is wrong with the body).
fn session_of_call(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Call {
        session_id: Option<String>,
    }
    let id = serde_json::from_slice::<Call>(body).ok()?.session_id?;
    validate::session_id(&id).is_ok().then_some(id)
}

fn down(e: StoreDown) -> ApiError {
    tracing::warn!(error = %e, "cluster: cannot place a session");
    let mut error = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        code::SERVICE_UNAVAILABLE,
        "the cluster's session store is unreachable: retry",
    );
    error.retry_after = Some(1);
    error
}

/// The principal as the hop carries it.
fn encode_principal(principal: &Principal) -> String {
    match principal {
        Principal::Anonymous => "anonymous".into(),
        Principal::Bearer => "bearer".into(),
        Principal::Basic(user) => format!("basic:{user}"),
        Principal::Key(key) => format!("key:{}", key.name),
        // What the edge verified, for the owner to apply its own grants to (the hop is
        // signed, so the owner does not verify the token again; the token itself never
        // travels).
        Principal::Token(t) => {
            let verified = serde_json::json!({
                "iss": t.token.issuer,
                "sub": t.token.subject,
                "scopes": t.token.scopes,
                "claims": *t.token.claims,
            });
            format!("token:{}", URL_SAFE_NO_PAD.encode(verified.to_string()))
        }
    }
}

/// The principal a hop carries; a key this replica does not know is refused.
fn decode_principal(text: &str, config: &Config) -> Option<Principal> {
    match text.split_once(':') {
        None if text == "anonymous" => Some(Principal::Anonymous),
        None if text == "bearer" => Some(Principal::Bearer),
        Some(("basic", user)) => Some(Principal::Basic(user.to_owned())),
        Some(("key", name)) => config
            .traffic
            .keys
            .iter()
            .find(|k| k.name == name)
            .map(|k| Principal::Key(Arc::new(k.clone()))),
        Some(("token", verified)) => {
            let oauth = config.traffic.oauth.as_ref()?;
            let verified: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(verified).ok()?).ok()?;
            let scopes: Vec<String> = serde_json::from_value(verified["scopes"].clone()).ok()?;
            let grants = oauth
                .grants
                .iter()
                .filter(|g| g.held_by(&scopes))
                .cloned()
                .collect();
            let token = crate::oauth::Token {
                issuer: verified["iss"].as_str()?.to_owned(),
                subject: verified["sub"].as_str()?.to_owned(),
                scopes,
                grants,
                claims: Arc::new(verified["claims"].as_object()?.clone()),
            };
            Some(Principal::Token(Arc::new(TokenPrincipal::new(token))))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_with_grants() -> Config {
        let text = r#"{"server": {"host": "127.0.0.1", "auth_token": "t"},
            "services": {"a": {"command": ["a"]}, "b": {"command": ["b"]}},
            "auth": {"oauth": {"resource": "http://127.0.0.1:8080",
                "authorization_servers": ["https://idp.example.com"],
                "grants": [{"scope": "mcp:a", "services": ["a"]}, {"scope": "mcp:b", "services": ["b"]}]}}}"#;
        let env: std::collections::HashMap<String, String> = Default::default();
        crate::config::load_str(text, std::path::Path::new("c.json"), &env)
            .expect("config")
            .config
    }

    /// An OAuth subject crosses the hop as what the edge verified, and the owner applies its
    /// own grants to the scopes (the token never travels).
    #[test]
    fn a_token_principal_crosses_the_hop_with_its_scopes_and_claims() {
        let config = config_with_grants();
        let oauth = config.traffic.oauth.as_ref().unwrap();
        let scopes = vec!["mcp:a".to_string()];
        let mut claims = Map::new();
        claims.insert("email".into(), Value::String("alice@example.com".into()));
        let token = crate::oauth::Token {
            issuer: "https://idp.example.com".into(),
            subject: "alice".into(),
            grants: oauth
                .grants
                .iter()
                .filter(|g| g.held_by(&scopes))
                .cloned()
                .collect(),
            scopes,
            claims: Arc::new(claims),
        };
        let sent = Principal::Token(Arc::new(TokenPrincipal::new(token)));
        let text = encode_principal(&sent);
        assert!(text.starts_with("token:") && !text.contains(' '), "{text}");
        let got = decode_principal(&text, &config).expect("decoded");
        assert_eq!(got.owner(), Some("alice@https://idp.example.com"));
        assert!(got.allows_service("a") && !got.allows_service("b"));
        assert_eq!(got, sent);
        // Without `auth.oauth` on the owner, or garbled: refused.
        let plain = crate::config::load_str(
            r#"{"server": {"host": "127.0.0.1"}, "services": {"a": {"command": ["a"]}}}"#,
            std::path::Path::new("c.json"),
            &std::collections::HashMap::<String, String>::new(),
        )
        .unwrap()
        .config;
        assert_eq!(decode_principal(&text, &plain), None);
        assert_eq!(decode_principal("token:!!!", &config), None);
    }

    #[test]
    fn only_a_valid_session_id_of_a_call_is_placed() {
        assert_eq!(
            session_of_call(br#"{"tool":"t","session_id":"call-1"}"#),
            Some("call-1".into())
        );
        for body in [
            &br#"{"tool":"t"}"#[..],
            br#"{"session_id":"a b"}"#,
            br#"{"session_id":1}"#,
            b"not json",
        ] {
            assert_eq!(
                session_of_call(body),
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
