//! The gateway the skill talks to in tests.

use mcp_gateway_client::testing::{FakeGateway, FakeOptions};
use mcp_gateway_client::{Auth, ClientConfig, GatewayClient, SessionInfo};
use serde_json::{Value, json};

use super::real::{self, RealGateway};
use super::within;

/// A running gateway and the credentials to use it.
pub struct TestGateway {
    pub url: String,
    pub user: String,
    pub password: String,
    fake: Option<FakeGateway>,
    real: Option<RealGateway>,
}

impl TestGateway {
    /// The in-process fake (`docs/wire.md`, services `greeter` and `todo`).
    pub fn fake() -> Self {
        Self::fake_with(FakeOptions::default())
    }

    pub fn fake_with(options: FakeOptions) -> Self {
        let (user, password) = (options.user.clone(), options.password.clone());
        let fake = FakeGateway::start(options);
        TestGateway {
            url: fake.url(),
            user,
            password,
            fake: Some(fake),
            real: None,
        }
    }

    /// The real `mcp-gateway` binary with `services` (see [`real::fixture_service`]),
    /// on any free port.
    pub fn real(services: Value) -> Self {
        Self::real_on(services, 0)
    }

    /// The real gateway on a given port.
    pub fn real_on(services: Value, port: u16) -> Self {
        let gw = RealGateway::start(services, port);
        TestGateway {
            url: gw.url.clone(),
            user: real::USER.into(),
            password: real::PASSWORD.into(),
            fake: None,
            real: Some(gw),
        }
    }

    /// The real gateway's log (for failure messages).
    pub fn log(&self) -> String {
        self.real.as_ref().map(RealGateway::log).unwrap_or_default()
    }

    /// A client of this gateway (works for the fake and the real one alike).
    pub fn client(&self) -> GatewayClient {
        GatewayClient::new(ClientConfig {
            auth: Auth::Basic {
                user: self.user.clone(),
                password: self.password.clone(),
            },
            ..ClientConfig::new(&self.url)
        })
        .expect("test gateway client")
    }

    /// Ids of the open sessions, through `GET /sessions`.
    pub async fn session_ids(&self) -> Vec<String> {
        self.sessions().await.into_keys().collect()
    }

    /// One open session, through `GET /sessions`.
    pub async fn session(&self, id: &str) -> Option<SessionInfo> {
        self.sessions().await.remove(id)
    }

    async fn sessions(&self) -> std::collections::BTreeMap<String, SessionInfo> {
        within("GET /sessions", self.client().sessions())
            .await
            .expect("GET /sessions")
    }

    /// Fake-only observations (execution counts, forced 503s).
    pub fn fake_handle(&self) -> &FakeGateway {
        self.fake
            .as_ref()
            .expect("this test needs the fake gateway")
    }

    /// Skill parameters for this gateway with `extra` merged in.
    pub fn skill_params(&self, extra: Value) -> Value {
        let mut params = json!({
            "gateway_url": self.url,
            "auth_user": self.user,
            "auth_password": self.password,
        });
        if let Value::Object(extra) = extra {
            for (k, v) in extra {
                params[k] = v;
            }
        }
        params
    }
}
