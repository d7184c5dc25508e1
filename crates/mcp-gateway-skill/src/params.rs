//! Skill parameters: the raw JSON map an agent passes, validated into [`SkillConfig`].
//!
//! Environment lookups go through [`EnvSource`] so tests never touch the process
//! environment.

use std::collections::HashMap;
use std::time::Duration;

use mcp_gateway_client::Auth;
use serde_json::{Map, Value};

pub const ENV_AUTH_TOKEN: &str = "MCP_GATEWAY_AUTH_TOKEN";
pub const ENV_AUTH_USER: &str = "MCP_GATEWAY_AUTH_USER";
pub const ENV_AUTH_PASSWORD: &str = "MCP_GATEWAY_AUTH_PASSWORD";

/// Upper bound the gateway accepts for a session's idle timeout (`docs/wire.md`).
const MAX_SESSION_TIMEOUT_SECS: f64 = 3600.0;
const MAX_RETRY_ATTEMPTS: u32 = 10;

/// Keys the skill understands; the SDK's generic keys are accepted too.
const KNOWN_KEYS: &[&str] = &[
    "gateway_url",
    "auth_token",
    "auth_user",
    "auth_password",
    "services",
    "session_timeout",
    "tool_prefix",
    "retry_attempts",
    "request_timeout",
    "verify_ssl",
    "swaig_fields",
    "skip_prompt",
    "tool_name",
];

/// Where environment variables come from.
pub trait EnvSource: Send + Sync {
    fn var(&self, key: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl EnvSource for HashMap<String, String> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).cloned()
    }
}

/// Which tools of a service become SWAIG functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolFilter {
    All,
    Only(Vec<String>),
}

impl ToolFilter {
    pub fn allows(&self, tool: &str) -> bool {
        match self {
            ToolFilter::All => true,
            ToolFilter::Only(names) => names.iter().any(|n| n == tool),
        }
    }
}

/// One entry of the `services` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSelection {
    pub name: String,
    pub tools: ToolFilter,
}

/// Validated skill configuration.
#[derive(Debug, Clone)]
pub struct SkillConfig {
    /// Without a trailing `/`.
    pub gateway_url: String,
    pub auth: Auth,
    /// Empty: every service the gateway lists.
    pub services: Vec<ServiceSelection>,
    /// Sent as `timeout` on every call: the session's idle timeout in seconds.
    pub session_timeout: f64,
    pub tool_prefix: String,
    /// Total attempts for a call that provably did not run (>= 1).
    pub retry_attempts: u32,
    pub request_timeout: Duration,
    pub verify_ssl: bool,
    /// Extra SWAIG fields merged into every generated function.
    pub swaig_fields: Map<String, Value>,
    pub skip_prompt: bool,
    /// Unknown keys, reported as a warning (upstream accepted anything).
    pub ignored_keys: Vec<String>,
}

/// A parameter that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    #[error("missing required parameter gateway_url")]
    MissingUrl,
    #[error("invalid gateway_url {0:?}: must be an http or https url")]
    InvalidUrl(String),
    #[error(
        "missing gateway credentials: set auth_token, or auth_user and auth_password \
         (or {ENV_AUTH_TOKEN}, or {ENV_AUTH_USER} and {ENV_AUTH_PASSWORD})"
    )]
    MissingCredentials,
    #[error("invalid parameter {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl SkillConfig {
    /// Validate `params`, reading credentials from `env` when the params have none.
    pub fn from_params(
        params: &Map<String, Value>,
        env: &dyn EnvSource,
    ) -> Result<Self, ParamError> {
        let gateway_url = match params.get("gateway_url") {
            None | Some(Value::Null) => return Err(ParamError::MissingUrl),
            Some(Value::String(s)) if s.trim().is_empty() => return Err(ParamError::MissingUrl),
            Some(Value::String(s)) => s.trim().trim_end_matches('/').to_owned(),
            Some(other) => return Err(ParamError::InvalidUrl(other.to_string())),
        };
        let lower = gateway_url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(ParamError::InvalidUrl(gateway_url));
        }

        let auth = credentials(params, env)?;

        let services = match params.get("services") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.iter().map(service).collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid("services", "must be a list")),
        };

        let session_timeout = number(params, "session_timeout", 300.0)?;
        if !(session_timeout > 0.0 && session_timeout <= MAX_SESSION_TIMEOUT_SECS) {
            return Err(invalid(
                "session_timeout",
                "must be a number of seconds in (0, 3600]",
            ));
        }
        let request_timeout = number(params, "request_timeout", 30.0)?;
        if !(request_timeout > 0.0 && request_timeout.is_finite()) {
            return Err(invalid(
                "request_timeout",
                "must be a positive number of seconds",
            ));
        }
        let retry_attempts = number(params, "retry_attempts", 3.0)?;
        if retry_attempts.fract() != 0.0
            || !(1.0..=f64::from(MAX_RETRY_ATTEMPTS)).contains(&retry_attempts)
        {
            return Err(invalid(
                "retry_attempts",
                "must be a whole number of attempts from 1 to 10",
            ));
        }

        let tool_prefix = match params.get("tool_prefix") {
            None | Some(Value::Null) => "mcp_".to_owned(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(invalid("tool_prefix", "must be a string")),
        };

        let swaig_fields = match params.get("swaig_fields") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            // The SDK's generic schema says "array"; an empty one means nothing.
            Some(Value::Array(a)) if a.is_empty() => Map::new(),
            Some(_) => return Err(invalid("swaig_fields", "must be an object")),
        };

        let mut ignored_keys: Vec<String> = params
            .keys()
            .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
            .cloned()
            .collect();
        ignored_keys.sort();

        Ok(SkillConfig {
            gateway_url,
            auth,
            services,
            session_timeout,
            tool_prefix,
            retry_attempts: retry_attempts as u32,
            request_timeout: Duration::from_secs_f64(request_timeout),
            verify_ssl: boolean(params, "verify_ssl", true)?,
            swaig_fields,
            skip_prompt: boolean(params, "skip_prompt", false)?,
            ignored_keys,
        })
    }

    /// The selection of `service`, if the configuration names it.
    pub fn selection(&self, service: &str) -> Option<&ServiceSelection> {
        self.services.iter().find(|s| s.name == service)
    }
}

fn invalid(key: &'static str, reason: &str) -> ParamError {
    ParamError::Invalid {
        key,
        reason: reason.to_owned(),
    }
}

/// Explicit parameters win as a whole; the environment is used only when the params
/// carry no credential at all.
fn credentials(params: &Map<String, Value>, env: &dyn EnvSource) -> Result<Auth, ParamError> {
    let param = |key: &'static str| -> Result<Option<String>, ParamError> {
        match params.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            // Numeric passwords are a known upstream footgun: accept them as text.
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(invalid(key, "must be a string")),
        }
    };
    let from_params = (
        param("auth_token")?,
        param("auth_user")?,
        param("auth_password")?,
    );
    let env_var = |key: &str| env.var(key).filter(|v| !v.is_empty());
    let (token, user, password) = if from_params == (None, None, None) {
        (
            env_var(ENV_AUTH_TOKEN),
            env_var(ENV_AUTH_USER),
            env_var(ENV_AUTH_PASSWORD),
        )
    } else {
        from_params
    };
    match (token, user, password) {
        (Some(token), _, _) => Ok(Auth::Bearer(token)),
        (None, Some(user), Some(password)) => Ok(Auth::Basic { user, password }),
        _ => Err(ParamError::MissingCredentials),
    }
}

fn service(item: &Value) -> Result<ServiceSelection, ParamError> {
    let (name, tools) = match item {
        Value::String(name) => (name.clone(), None),
        Value::Object(m) => match m.get("name") {
            Some(Value::String(name)) => (name.clone(), m.get("tools")),
            _ => return Err(invalid("services", "every entry needs a string name")),
        },
        _ => return Err(invalid("services", "entries must be objects {name, tools}")),
    };
    if name.is_empty() {
        return Err(invalid("services", "service names must not be empty"));
    }
    let tools = match tools {
        None | Some(Value::Null) => ToolFilter::All,
        Some(Value::String(s)) if s == "*" => ToolFilter::All,
        Some(Value::Array(names)) => ToolFilter::Only(
            names
                .iter()
                .map(|n| {
                    n.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| invalid("services", "tool names must be strings"))
                })
                .collect::<Result<_, _>>()?,
        ),
        Some(_) => {
            return Err(invalid(
                "services",
                "tools must be \"*\" or a list of tool names",
            ));
        }
    };
    Ok(ServiceSelection { name, tools })
}

fn number(params: &Map<String, Value>, key: &'static str, default: f64) -> Result<f64, ParamError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n.as_f64().ok_or_else(|| invalid(key, "must be a number")),
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| invalid(key, "must be a number")),
        Some(_) => Err(invalid(key, "must be a number")),
    }
}

fn boolean(
    params: &Map<String, Value>,
    key: &'static str,
    default: bool,
) -> Result<bool, ParamError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(invalid(key, "must be true or false")),
        },
        Some(_) => Err(invalid(key, "must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(params: Value, env: &[(&str, &str)]) -> Result<SkillConfig, ParamError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SkillConfig::from_params(params.as_object().expect("object"), &env)
    }

    #[test]
    fn defaults_match_the_seed() {
        let c = parse(
            json!({"gateway_url": "http://127.0.0.1:8080/", "auth_user": "admin", "auth_password": "changeme"}),
            &[],
        )
        .unwrap();
        assert_eq!(c.gateway_url, "http://127.0.0.1:8080");
        assert_eq!(
            c.auth,
            Auth::Basic {
                user: "admin".into(),
                password: "changeme".into()
            }
        );
        assert!(c.services.is_empty());
        assert_eq!(c.session_timeout, 300.0);
        assert_eq!(c.tool_prefix, "mcp_");
        assert_eq!(c.retry_attempts, 3);
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        assert!(c.verify_ssl);
        assert!(!c.skip_prompt);
    }

    #[test]
    fn token_wins_and_env_fills_in_only_when_params_have_no_credentials() {
        let url = json!("https://gw.example");
        let c = parse(
            json!({"gateway_url": url, "auth_token": "t", "auth_user": "u", "auth_password": "p"}),
            &[],
        )
        .unwrap();
        assert_eq!(c.auth, Auth::Bearer("t".into()));

        let c = parse(
            json!({"gateway_url": url}),
            &[(ENV_AUTH_USER, "eu"), (ENV_AUTH_PASSWORD, "ep")],
        )
        .unwrap();
        assert_eq!(
            c.auth,
            Auth::Basic {
                user: "eu".into(),
                password: "ep".into()
            }
        );
        let c = parse(json!({"gateway_url": url}), &[(ENV_AUTH_TOKEN, "et")]).unwrap();
        assert_eq!(c.auth, Auth::Bearer("et".into()));

        let c = parse(
            json!({"gateway_url": url, "auth_user": "u", "auth_password": 1234}),
            &[(ENV_AUTH_TOKEN, "et")],
        )
        .unwrap();
        assert_eq!(
            c.auth,
            Auth::Basic {
                user: "u".into(),
                password: "1234".into()
            }
        );

        assert_eq!(
            parse(json!({"gateway_url": url, "auth_user": "u"}), &[]).unwrap_err(),
            ParamError::MissingCredentials
        );
        assert_eq!(
            parse(json!({"gateway_url": url}), &[]).unwrap_err(),
            ParamError::MissingCredentials
        );
    }

    #[test]
    fn services_and_tool_filters() {
        let c = parse(
            json!({"gateway_url": "http://h", "auth_token": "t", "services": [
                {"name": "todo", "tools": ["add_todo", "list_todos"]},
                {"name": "calculator", "tools": "*"},
                {"name": "greeter"},
                "weather"
            ]}),
            &[],
        )
        .unwrap();
        assert_eq!(
            c.services,
            vec![
                ServiceSelection {
                    name: "todo".into(),
                    tools: ToolFilter::Only(vec!["add_todo".into(), "list_todos".into()])
                },
                ServiceSelection {
                    name: "calculator".into(),
                    tools: ToolFilter::All
                },
                ServiceSelection {
                    name: "greeter".into(),
                    tools: ToolFilter::All
                },
                ServiceSelection {
                    name: "weather".into(),
                    tools: ToolFilter::All
                },
            ]
        );
        assert!(c.services[0].tools.allows("add_todo"));
        assert!(!c.services[0].tools.allows("delete_todo"));
    }

    #[test]
    fn rejects_what_cannot_work() {
        let base = |extra: Value| {
            let mut p = json!({"gateway_url": "http://h", "auth_token": "t"});
            for (k, v) in extra.as_object().unwrap() {
                p[k] = v.clone();
            }
            parse(p, &[])
        };
        assert_eq!(
            parse(json!({"auth_token": "t"}), &[]).unwrap_err(),
            ParamError::MissingUrl
        );
        assert!(matches!(
            parse(json!({"gateway_url": "ftp://h", "auth_token": "t"}), &[]),
            Err(ParamError::InvalidUrl(_))
        ));
        for bad in [
            json!({"session_timeout": 0}),
            json!({"session_timeout": 7200}),
            json!({"request_timeout": -1}),
            json!({"retry_attempts": 0}),
            json!({"retry_attempts": 1.5}),
            json!({"services": "todo"}),
            json!({"services": [{"tools": "*"}]}),
            json!({"services": [{"name": "x", "tools": "some"}]}),
            json!({"verify_ssl": "maybe"}),
        ] {
            assert!(base(bad.clone()).is_err(), "{bad} must be rejected");
        }
        let c = base(json!({"session_timeout": "600", "verify_ssl": "false", "retry_attempts": 1, "colour": "blue"}))
            .unwrap();
        assert_eq!(c.session_timeout, 600.0);
        assert!(!c.verify_ssl);
        assert_eq!(c.retry_attempts, 1);
        assert_eq!(c.ignored_keys, vec!["colour".to_string()]);
    }
}
