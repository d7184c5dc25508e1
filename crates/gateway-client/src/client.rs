//! [`GatewayClient`]: one pooled HTTP client per gateway, typed calls.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, Url, header};
use serde::de::DeserializeOwned;

use crate::error::{BuildError, GatewayError};
use crate::types::{
    CallRequest, CallResponse, Health, Services, SessionClosed, Sessions, ToolList,
};

/// Credentials sent on every authenticated route (`/health` is sent without).
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic { user: String, password: String },
    Bearer(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { user, .. } => write!(f, "Basic {{ user: {user:?}, password: \"***\" }}"),
            Auth::Bearer(_) => f.write_str("Bearer(\"***\")"),
        }
    }
}

/// How to reach a gateway.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `http(s)://host:port` with an optional path prefix; a trailing `/` is ignored.
    pub base_url: String,
    pub auth: Auth,
    /// Whole-request deadline (connect, send, wait, read). Past it the call fails with
    /// [`GatewayError::Timeout`] and the tool may still have run.
    pub request_timeout: Duration,
    /// `false` accepts any TLS certificate (self-signed gateways).
    pub verify_ssl: bool,
}

impl ClientConfig {
    /// No auth, 30 s request timeout, certificates verified.
    pub fn new(base_url: impl Into<String>) -> Self {
        ClientConfig {
            base_url: base_url.into(),
            auth: Auth::None,
            request_timeout: Duration::from_secs(30),
            verify_ssl: true,
        }
    }
}

/// The connect phase never gets more than this, so "gateway down" is reported fast
/// even with a long request timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A typed client of the gateway REST API. Cheap to clone: clones share one
/// connection pool (keep-alive connections are reused across calls).
#[derive(Debug, Clone)]
pub struct GatewayClient {
    http: reqwest::Client,
    base: Url,
    auth: Auth,
}

impl GatewayClient {
    pub fn new(config: ClientConfig) -> Result<Self, BuildError> {
        let base = parse_base_url(&config.base_url)?;
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(MAX_CONNECT_TIMEOUT))
            .danger_accept_invalid_certs(!config.verify_ssl)
            .tcp_nodelay(true)
            .user_agent(concat!("mcp-gateway-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(BuildError::Http)?;
        Ok(GatewayClient {
            http,
            base,
            auth: config.auth,
        })
    }

    /// The gateway's base URL, without credentials.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `GET /health` (unauthenticated).
    pub async fn health(&self) -> Result<Health, GatewayError> {
        self.send(Method::GET, &["health"], None::<&()>, false)
            .await
    }

    /// `GET /services`: every configured service, keyed by name.
    pub async fn services(&self) -> Result<Services, GatewayError> {
        self.send(Method::GET, &["services"], None::<&()>, true)
            .await
    }

    /// `GET /services/{service}/tools`.
    pub async fn tools(&self, service: &str) -> Result<ToolList, GatewayError> {
        self.send(
            Method::GET,
            &["services", service, "tools"],
            None::<&()>,
            true,
        )
        .await
    }

    /// `POST /services/{service}/call`. A tool that reports failure in its result is
    /// `Ok` with `is_error: true`; a JSON-RPC error is [`GatewayError::ToolRejected`].
    pub async fn call(
        &self,
        service: &str,
        request: &CallRequest,
    ) -> Result<CallResponse, GatewayError> {
        self.send(
            Method::POST,
            &["services", service, "call"],
            Some(request),
            true,
        )
        .await
    }

    /// `GET /sessions`, keyed by session id.
    pub async fn sessions(&self) -> Result<Sessions, GatewayError> {
        self.send(Method::GET, &["sessions"], None::<&()>, true)
            .await
    }

    /// `DELETE /sessions/{id}`; returns the gateway's confirmation message.
    pub async fn close_session(&self, id: &str) -> Result<String, GatewayError> {
        let closed: SessionClosed = self
            .send(Method::DELETE, &["sessions", id], None::<&()>, true)
            .await?;
        Ok(closed.message)
    }

    /// `POST /reload`: the gateway reads its config file again (its upstream credentials
    /// only). The report says what changed; an invalid file is a
    /// [`GatewayError::Validation`] (`invalid_config`) listing every problem.
    pub async fn reload(&self) -> Result<serde_json::Value, GatewayError> {
        self.send(Method::POST, &["reload"], None::<&()>, true)
            .await
    }

    /// The URL of `segments` below the base, each segment percent-encoded.
    pub fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("base url was checked to have a path")
            .pop_if_empty()
            .extend(segments);
        url
    }

    async fn send<B: serde::Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&B>,
        authenticated: bool,
    ) -> Result<T, GatewayError> {
        let mut request = self
            .http
            .request(method, self.endpoint(segments))
            .header(header::ACCEPT, "application/json");
        if authenticated {
            request = match &self.auth {
                Auth::None => request,
                Auth::Basic { user, password } => request.basic_auth(user, Some(password)),
                Auth::Bearer(token) => request.bearer_auth(token),
            };
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(GatewayError::from_transport)?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let text = response
            .text()
            .await
            .map_err(GatewayError::from_transport)?;
        if !status.is_success() {
            return Err(GatewayError::from_response(
                status.as_u16(),
                retry_after,
                &text,
            ));
        }
        serde_json::from_str(&text).map_err(|e| GatewayError::Other {
            status: Some(status.as_u16()),
            message: format!("undecodable response body: {e}"),
        })
    }
}

fn parse_base_url(raw: &str) -> Result<Url, BuildError> {
    let invalid = |reason: &str| BuildError::InvalidUrl {
        url: raw.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(raw.trim()).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("scheme must be http or https"));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(invalid("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("query strings and fragments are not allowed"));
    }
    // Credentials in the URL are not sent implicitly: pass them as `Auth`.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("credentials in the url; pass them as auth instead"));
    }
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TimeoutOrigin;
    use crate::testing::{FakeGateway, FakeOptions};

    fn client_for(url: &str, auth: Auth) -> GatewayClient {
        GatewayClient::new(ClientConfig {
            auth,
            request_timeout: Duration::from_secs(5),
            ..ClientConfig::new(url)
        })
        .unwrap()
    }

    fn admin() -> Auth {
        Auth::Basic {
            user: "admin".into(),
            password: "changeme".into(),
        }
    }

    async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), fut)
            .await
            .unwrap_or_else(|_| panic!("{what} must not hang"))
    }

    #[test]
    fn endpoint_encodes_segments_and_keeps_prefix() {
        let c = client_for("http://127.0.0.1:8080/gw/", Auth::None);
        assert_eq!(
            c.endpoint(&["services", "a b/c?", "tools"]).as_str(),
            "http://127.0.0.1:8080/gw/services/a%20b%2Fc%3F/tools"
        );
        let c = client_for("http://127.0.0.1:8080", Auth::None);
        assert_eq!(
            c.endpoint(&["sessions", "call-1"]).as_str(),
            "http://127.0.0.1:8080/sessions/call-1"
        );
    }

    #[test]
    fn rejects_bad_base_urls() {
        for bad in [
            "ftp://x",
            "not a url",
            "http://u:p@host:1",
            "http://h/?q=1",
            "mailto:x@y",
        ] {
            assert!(
                GatewayClient::new(ClientConfig::new(bad)).is_err(),
                "{bad} must be rejected"
            );
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let shown = format!("{:?} {:?}", admin(), Auth::Bearer("s3cret-token".into()));
        assert!(
            !shown.contains("changeme") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn round_trips_every_route() {
        let gw = FakeGateway::start(FakeOptions::default());
        let c = client_for(&gw.url(), admin());

        let health = within("health", c.health()).await.unwrap();
        assert_eq!(health.status, "healthy");

        let services = within("services", c.services()).await.unwrap();
        assert!(services.contains_key("greeter"));

        let tools = within("tools", c.tools("greeter")).await.unwrap();
        assert!(tools.tools.iter().any(|t| t.name == "greet"));

        let reply = within(
            "call",
            c.call(
                "greeter",
                &CallRequest::new("greet", "sess-1").argument("name", "Ada"),
            ),
        )
        .await
        .unwrap();
        assert_eq!(reply.text(), "Hello, Ada!");
        assert_eq!(reply.session_id, "sess-1");
        assert!(!reply.is_error);

        let sessions = within("sessions", c.sessions()).await.unwrap();
        assert_eq!(sessions["sess-1"].services, vec!["greeter".to_string()]);

        let msg = within("close", c.close_session("sess-1")).await.unwrap();
        assert_eq!(msg, "Session sess-1 closed");
        let err = within("close again", c.close_session("sess-1"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, GatewayError::NotFound { ref code, .. } if code == "unknown_session")
        );
    }

    #[tokio::test]
    async fn typed_errors_from_a_live_server() {
        let gw = FakeGateway::start(FakeOptions::default());

        let wrong = client_for(
            &gw.url(),
            Auth::Basic {
                user: "admin".into(),
                password: "nope".into(),
            },
        );
        assert!(matches!(
            within("unauthorized", wrong.services()).await,
            Err(GatewayError::Unauthorized { .. })
        ));
        let bearer = client_for(&gw.url(), Auth::Bearer("token-1".into()));
        assert!(within("bearer", bearer.services()).await.is_ok());

        let c = client_for(&gw.url(), admin());
        assert!(matches!(
            within("unknown service", c.tools("nope")).await,
            Err(GatewayError::NotFound { ref code, .. }) if code == "unknown_service"
        ));
        let call = |tool: &str| CallRequest::new(tool, "s");
        match within("reject", c.call("greeter", &call("reject"))).await {
            Err(GatewayError::ToolRejected { code, message, .. }) => {
                assert_eq!(code, -32602);
                assert_eq!(message, "bad params here");
            }
            other => panic!("unexpected {other:?}"),
        }
        let failed = within("fail", c.call("greeter", &call("fail")))
            .await
            .unwrap();
        assert!(failed.is_error);
        assert!(matches!(
            within("crash", c.call("greeter", &call("crash"))).await,
            Err(GatewayError::ChildExited { .. })
        ));
        assert!(matches!(
            within("busy", c.call("greeter", &call("busy"))).await,
            Err(GatewayError::RateLimited { retry_after: Some(d) }) if d == Duration::from_secs(1)
        ));
        assert!(matches!(
            within("slow", c.call("greeter", &call("slow"))).await,
            Err(GatewayError::Timeout {
                origin: TimeoutOrigin::Gateway
            })
        ));
        let bad = CallRequest::new("", "s");
        assert!(matches!(
            within("invalid", c.call("greeter", &bad)).await,
            Err(GatewayError::Validation { .. })
        ));
    }

    #[tokio::test]
    async fn client_side_timeout_and_refused_connection() {
        let gw = FakeGateway::start(FakeOptions::default());
        let impatient = GatewayClient::new(ClientConfig {
            auth: admin(),
            request_timeout: Duration::from_millis(200),
            ..ClientConfig::new(gw.url())
        })
        .unwrap();
        let req = CallRequest::new("hang", "s");
        assert!(matches!(
            within("client timeout", impatient.call("greeter", &req)).await,
            Err(GatewayError::Timeout {
                origin: TimeoutOrigin::Client
            })
        ));

        // A port nobody listens on: bind, learn the port, close.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let down = client_for(&format!("http://127.0.0.1:{port}"), admin());
        let err = within("refused", down.services()).await.unwrap_err();
        assert!(matches!(err, GatewayError::Connect { .. }), "{err:?}");
        assert!(err.provably_not_executed());
    }

    #[tokio::test]
    async fn connections_are_reused() {
        let gw = FakeGateway::start(FakeOptions::default());
        let c = client_for(&gw.url(), admin());
        for _ in 0..5 {
            within("services", c.services()).await.unwrap();
        }
        assert_eq!(gw.connections(), 1, "keep-alive must reuse one connection");
    }
}
