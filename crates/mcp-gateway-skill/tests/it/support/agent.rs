//! An SDK agent with the skill, served by the SDK's own HTTP server.

use std::time::Duration;

use serde_json::{Value, json};
use signalwire::agent::{AgentBase, AgentOptions};

use super::{free_port, within};

const AGENT_USER: &str = "agent";
const AGENT_PASSWORD: &str = "agent-secret";

/// A fresh agent named `name` on a free local port (not yet serving).
pub fn new_agent(name: &str) -> AgentBase {
    let mut options = AgentOptions::new(name);
    options.host = Some("127.0.0.1".into());
    options.port = Some(free_port());
    options.basic_auth_user = Some(AGENT_USER.into());
    options.basic_auth_password = Some(AGENT_PASSWORD.into());
    let mut agent = AgentBase::new(options);
    agent.prompt_add_section("Role", "You are a test agent.", vec![]);
    agent
}

/// An agent served over HTTP by `AgentBase::run` on a background thread (which the
/// SDK gives no way to stop; it ends with the test process).
pub struct AgentUnderTest {
    base: String,
    http: reqwest::Client,
}

impl AgentUnderTest {
    pub async fn serve(agent: AgentBase) -> Self {
        let base = format!("http://127.0.0.1:{}", agent.port());
        std::thread::Builder::new()
            .name("agent-under-test".into())
            .spawn(move || agent.run())
            .expect("spawn agent thread");
        let this = AgentUnderTest {
            base,
            http: reqwest::Client::new(),
        };
        within("agent startup", async {
            loop {
                let up = this.http.get(format!("{}/health", this.base)).send().await;
                if up.is_ok_and(|r| r.status().is_success()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        this
    }

    /// `127.0.0.1:<port>` of the agent's HTTP server.
    pub fn host_port(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// The SWML document, as the platform fetches it (POST /).
    pub async fn swml(&self) -> Value {
        let response = within(
            "swml request",
            self.http
                .post(format!("{}/", self.base))
                .basic_auth(AGENT_USER, Some(AGENT_PASSWORD))
                .json(&json!({"call": {"call_id": "swml-fetch"}}))
                .send(),
        )
        .await
        .expect("swml request");
        assert!(
            response.status().is_success(),
            "swml: {}",
            response.status()
        );
        within("swml body", response.json())
            .await
            .expect("swml json")
    }

    /// POST /swaig as the platform does; the whole JSON answer.
    pub async fn swaig(&self, function: &str, args: Value, call_id: Option<&str>) -> Value {
        let mut body = json!({
            "function": function,
            "argument": {"parsed": [args], "raw": args.to_string()},
            "global_data": {},
        });
        if let Some(id) = call_id {
            body["call_id"] = json!(id);
        }
        let response = within(
            "swaig request",
            self.http
                .post(format!("{}/swaig", self.base))
                .basic_auth(AGENT_USER, Some(AGENT_PASSWORD))
                .json(&body)
                .send(),
        )
        .await
        .expect("swaig request");
        assert!(
            response.status().is_success(),
            "swaig {function}: {}",
            response.status()
        );
        within("swaig body", response.json())
            .await
            .expect("swaig json")
    }

    /// The `response` text of a SWAIG call.
    pub async fn say(&self, function: &str, args: Value, call_id: Option<&str>) -> String {
        let answer = self.swaig(function, args, call_id).await;
        answer["response"]
            .as_str()
            .unwrap_or_else(|| panic!("no response text in {answer}"))
            .to_owned()
    }
}

/// The `ai` verb of a SWML document.
pub fn ai(swml: &Value) -> &Value {
    swml["sections"]["main"]
        .as_array()
        .and_then(|verbs| verbs.iter().find(|v| v.get("ai").is_some()))
        .map(|v| &v["ai"])
        .expect("an ai verb")
}

/// Names of the SWAIG functions in a SWML document, in order.
pub fn function_names(swml: &Value) -> Vec<String> {
    ai(swml)["SWAIG"]["functions"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .filter_map(|f| f["function"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// One SWAIG function definition of a SWML document.
pub fn function(swml: &Value, name: &str) -> Value {
    ai(swml)["SWAIG"]["functions"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["function"] == json!(name)))
        .cloned()
        .unwrap_or_else(|| panic!("no function {name} in the SWML"))
}
