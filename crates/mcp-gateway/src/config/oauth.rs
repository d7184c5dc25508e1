//! `auth.oauth`: the gateway as an OAuth 2.1 resource server (MCP authorization, RFC 9728
//! metadata, RFC 8707 audience binding). See docs/auth.md.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::traffic::{Access, access};
use super::walk::{Diags, HOUR, Obj, Secs, kind, read_str};
use super::{KeyLimits, Names, ServiceConfig};

#[derive(Debug, Clone, PartialEq)]
pub struct OAuthConfig {
    /// `auth.oauth.resource`: the gateway's public origin as clients reach it
    /// (`https://mcp.example.com`), without a trailing slash. `None` only when the gateway
    /// listens on a loopback address: then it is `http(s)://<host>:<bound port>`.
    pub resource: Option<String>,
    /// `auth.oauth.authorization_servers`: the issuers whose tokens are accepted.
    pub authorization_servers: Vec<AuthorizationServer>,
    /// `auth.oauth.grants`: what each scope lets a token use (never empty).
    pub grants: Vec<Arc<Grant>>,
    /// `auth.oauth.leeway_seconds` (default 30, at most 300): clock skew allowed on `exp`/`nbf`.
    pub leeway: Duration,
    /// `auth.oauth.jwks_refresh_seconds` (default 10): a token signed by an unknown key makes
    /// the gateway fetch the issuer's keys again at most once per this interval.
    pub jwks_refresh: Duration,
    /// `auth.oauth.jwks_max_age_seconds` (default 3600): keys older than this are fetched
    /// again before use (the old ones stay if the fetch fails).
    pub jwks_max_age: Duration,
    /// `auth.oauth.introspection_cache_seconds` (default 60, 0 = none): how long an
    /// introspection's answer is reused (never past the token's `exp`).
    pub introspection_cache: Duration,
    /// `auth.oauth.identity_env`: service -> (environment variable -> claim). A child of such a
    /// service gets, at its start, those claims of the token that opened its session.
    pub identity_env: BTreeMap<String, BTreeMap<String, String>>,
}

/// One entry of `auth.oauth.authorization_servers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationServer {
    /// `issuer`: must equal the tokens' `iss` and the issuer of its metadata.
    pub issuer: String,
    /// `jwks_uri`: where its keys are; default: from its metadata (RFC 8414, or OpenID
    /// discovery).
    pub jwks_uri: Option<String>,
    /// `introspection`: check opaque (non-JWT) tokens at its introspection endpoint (RFC 7662).
    pub introspection: Option<Introspection>,
}

/// `authorization_servers[i].introspection`: how the gateway asks about an opaque token.
#[derive(Clone, PartialEq, Eq)]
pub struct Introspection {
    /// `endpoint`: default: `introspection_endpoint` of the issuer's metadata.
    pub endpoint: Option<String>,
    /// `client_id` and `client_secret`: the gateway's credentials there (HTTP Basic).
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for Introspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspection")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// One entry of `auth.oauth.grants`: a token holding `scope` may use what a scoped key with
/// the same `services`, `tools`, `rate_limits` and `metrics` may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `None` for `"scope": "*"`: every valid token for this resource, whatever its scopes
    /// (for issuers whose tokens carry none; the audience binding still applies).
    pub scope: Option<String>,
    pub services: Names,
    pub tools: Names,
    pub service_tools: BTreeMap<String, Names>,
    pub limits: KeyLimits,
    pub metrics: bool,
}

impl Grant {
    /// Whether a token with `scopes` holds this grant.
    pub fn held_by(&self, scopes: &[String]) -> bool {
        self.scope.as_ref().is_none_or(|s| scopes.contains(s))
    }

    pub fn allows_service(&self, service: &str) -> bool {
        self.services.allows(service)
    }

    pub fn allows_tool(&self, service: &str, tool: &str) -> bool {
        self.allows_service(service)
            && self
                .service_tools
                .get(service)
                .unwrap_or(&self.tools)
                .allows(tool)
    }
}

impl OAuthConfig {
    /// Every scope a grant names, in the order of `grants` (what the metadata advertises).
    pub fn scopes(&self) -> Vec<&str> {
        let mut seen = BTreeSet::new();
        self.grants
            .iter()
            .filter_map(|g| g.scope.as_deref())
            .filter(|s| seen.insert(*s))
            .collect()
    }
}

/// Read `auth.oauth`. `loopback`: whether `server.host` is a loopback address.
pub(super) fn oauth(
    mut o: Obj<'_>,
    services: &BTreeMap<String, ServiceConfig>,
    loopback: bool,
    d: &mut Diags<'_>,
) -> Option<OAuthConfig> {
    let resource = o.read(d, "resource", |v| read_str(v).and_then(parse_resource));
    if resource.is_none() && o.get("resource").is_none() && !loopback {
        d.error(
            &o.key("resource"),
            "required when server.host is not a loopback address: the gateway's public URL, e.g. \"https://mcp.example.com\"",
        );
    }
    let servers = authorization_servers(&mut o, d);
    let grants = grants(&mut o, services, d);
    let leeway = o.secs(
        d,
        "leeway_seconds",
        Duration::from_secs(30),
        Secs {
            zero_ok: true,
            max: Duration::from_secs(300),
        },
    );
    let jwks_refresh = o.secs(
        d,
        "jwks_refresh_seconds",
        Duration::from_secs(10),
        Secs {
            zero_ok: true,
            max: HOUR,
        },
    );
    let jwks_max_age = o.secs(
        d,
        "jwks_max_age_seconds",
        HOUR,
        Secs {
            zero_ok: false,
            max: 24 * HOUR,
        },
    );
    let introspection_cache = o.secs(
        d,
        "introspection_cache_seconds",
        Duration::from_secs(60),
        Secs {
            zero_ok: true,
            max: HOUR,
        },
    );
    let identity_env = identity_env(&mut o, services, d);
    o.finish(d);
    Some(OAuthConfig {
        resource,
        authorization_servers: servers?,
        grants: grants?,
        leeway,
        jwks_refresh,
        jwks_max_age,
        introspection_cache,
        identity_env,
    })
}

/// An `http(s)` URL with a host and nothing after it: the gateway's origin. Plain `http`
/// only for a loopback host (tokens must not cross a network in clear).
fn parse_resource(s: &str) -> Result<String, String> {
    let url = parse_http_url(s)?;
    if !matches!(url.path(), "" | "/") {
        return Err(format!(
            "must be the gateway's origin without a path (the resources are its /mcp and /services/{{name}}/mcp), got {s:?}"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// An absolute `https` URL (or `http` to a loopback host) without query or fragment.
pub(super) fn parse_http_url(s: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(s.trim()).map_err(|e| format!("invalid URL {s:?}: {e}"))?;
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "must not have a query, a fragment or credentials, got {s:?}"
        ));
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(format!("must name a host, got {s:?}")),
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(format!(
            "must use https (http only for a loopback host), got {s:?}"
        )),
        other => Err(format!("expected an https URL, got scheme {other:?}")),
    }
}

fn authorization_servers(o: &mut Obj<'_>, d: &mut Diags<'_>) -> Option<Vec<AuthorizationServer>> {
    let path = o.key("authorization_servers");
    let Some(value) = o.get("authorization_servers") else {
        d.error(
            &path,
            "required: the issuer URL(s) of the authorization server(s) whose tokens are accepted",
        );
        return None;
    };
    let Value::Array(items) = value else {
        d.error(
            &path,
            format!("expected an array of issuers, got {}", kind(value)),
        );
        return None;
    };
    if items.is_empty() {
        d.error(&path, "must name at least one authorization server");
        return None;
    }
    let mut out: Vec<AuthorizationServer> = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let server = match item {
            Value::String(issuer) => parse_http_url(issuer)
                .map(|_| AuthorizationServer {
                    issuer: issuer.trim().to_owned(),
                    jwks_uri: None,
                    introspection: None,
                })
                .map_err(|m| d.error(&at, m))
                .ok(),
            _ => Obj::new(d, at.clone(), item).and_then(|mut s| {
                let issuer = s.read(d, "issuer", |v| {
                    let issuer = read_str(v)?;
                    parse_http_url(issuer).map(|_| issuer.trim().to_owned())
                });
                if issuer.is_none() && s.get("issuer").is_none() {
                    d.error(
                        &s.key("issuer"),
                        "required: the issuer URL (its tokens' iss)",
                    );
                }
                let jwks_uri = s.read(d, "jwks_uri", |v| {
                    read_str(v).and_then(parse_http_url).map(String::from)
                });
                let introspection = s
                    .object(d, "introspection")
                    .and_then(|o| introspection(o, d));
                s.finish(d);
                Some(AuthorizationServer {
                    issuer: issuer?,
                    jwks_uri,
                    introspection,
                })
            }),
        };
        match server {
            Some(s) if out.iter().any(|o| o.issuer == s.issuer) => {
                d.error(&at, format!("duplicate issuer {:?}", s.issuer));
                ok = false;
            }
            Some(s) => out.push(s),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `identity_env`: `{"<service>": {"<VAR>": "<claim>"}}`, for stdio services without a warm
/// pool (a pooled child is started before anyone asks for it).
fn identity_env(
    o: &mut Obj<'_>,
    services: &BTreeMap<String, ServiceConfig>,
    d: &mut Diags<'_>,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let Some(section) = o.object(d, "identity_env") else {
        return out;
    };
    for (name, vars) in section.entries() {
        let at = section.key(name);
        let Some(service) = services.get(name) else {
            d.warn(&at, format!("{name:?} is not an enabled service"));
            continue;
        };
        if service.remote.is_some() {
            d.error(&at, "a remote service has no child environment");
            continue;
        }
        if service.warm_pool > 0 {
            d.error(
                &at,
                "the service has a warm_pool: pooled children are started before anyone asks, so they cannot carry the caller's identity (set warm_pool to 0)",
            );
            continue;
        }
        let Value::Object(vars) = vars else {
            d.error(
                &at,
                format!(
                    "expected an object of variable -> claim, got {}",
                    kind(vars)
                ),
            );
            continue;
        };
        let mut map = BTreeMap::new();
        for (var, claim) in vars {
            let key = format!("{at}.{var}");
            let valid = !var.is_empty()
                && !var.starts_with(|c: char| c.is_ascii_digit())
                && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                d.error(&key, "expected a variable name (letters, digits, '_')");
                continue;
            }
            if var.starts_with("LD_") || var.starts_with("DYLD_") || service.env.contains_key(var) {
                d.error(
                    &key,
                    "names a loader variable or one the service's env already sets",
                );
                continue;
            }
            match claim {
                Value::String(c) if !c.is_empty() => {
                    map.insert(var.clone(), c.clone());
                }
                other => d.error(&key, format!("expected a claim name, got {}", kind(other))),
            }
        }
        out.insert(name.clone(), map);
    }
    out
}

fn introspection(mut o: Obj<'_>, d: &mut Diags<'_>) -> Option<Introspection> {
    let endpoint = o.read(d, "endpoint", |v| {
        read_str(v).and_then(parse_http_url).map(String::from)
    });
    let client_id = o.non_empty(d, "client_id");
    let client_secret = o.non_empty(d, "client_secret");
    for (name, value) in [("client_id", &client_id), ("client_secret", &client_secret)] {
        if value.is_none() {
            d.error(
                &o.key(name),
                "required: the gateway's credentials at the introspection endpoint",
            );
        }
    }
    o.finish(d);
    Some(Introspection {
        endpoint,
        client_id: client_id?,
        client_secret: client_secret?,
    })
}

fn grants(
    o: &mut Obj<'_>,
    services: &BTreeMap<String, ServiceConfig>,
    d: &mut Diags<'_>,
) -> Option<Vec<Arc<Grant>>> {
    let path = o.key("grants");
    let Some(value) = o.get("grants") else {
        d.error(
            &path,
            "required: which scopes grant which services and tools, e.g. [{\"scope\": \"mcp\", \"services\": \"*\"}]",
        );
        return None;
    };
    let Value::Array(items) = value else {
        d.error(
            &path,
            format!("expected an array of grants, got {}", kind(value)),
        );
        return None;
    };
    if items.is_empty() {
        d.error(&path, "must hold at least one grant");
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let Some(mut g) = Obj::new(d, format!("{path}[{i}]"), item) else {
            ok = false;
            continue;
        };
        let scope = g.read(d, "scope", |v| {
            read_str(v).and_then(|s| match s {
                "*" => Ok(None),
                s => parse_scope(s).map(Some),
            })
        });
        if scope.is_none() && g.get("scope").is_none() {
            d.error(
                &g.key("scope"),
                "required: the OAuth scope this grant is for (\"*\": every valid token)",
            );
        }
        let Access {
            services,
            tools,
            service_tools,
            limits,
            metrics,
        } = access(&mut g, services, d);
        g.finish(d);
        match scope {
            Some(scope) => out.push(Arc::new(Grant {
                scope,
                services,
                tools,
                service_tools,
                limits,
                metrics,
            })),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// A scope token (RFC 6749 §3.3: printable ASCII but space, `"` and `\`).
fn parse_scope(s: &str) -> Result<String, String> {
    let valid = !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
    if valid {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "expected one scope (printable ASCII without spaces, quotes or backslashes), got {s:?}"
        ))
    }
}
