//! The gateway the skill talks to in tests.

use mcp_gateway_client::testing::{FakeGateway, FakeOptions};
use serde_json::{Value, json};

/// A running gateway and the credentials to use it.
pub struct TestGateway {
    pub url: String,
    pub user: String,
    pub password: String,
    fake: Option<FakeGateway>,
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
        }
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
