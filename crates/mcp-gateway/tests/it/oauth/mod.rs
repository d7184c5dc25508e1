//! MCP authorization: the gateway as an OAuth resource server, against a real OpenID provider
//! (npm `oidc-provider`, started by each test from `provider.mjs`). Tokens come from its token
//! endpoint (client_credentials with an RFC 8707 resource, or authorization code + PKCE driven
//! by the official Python SDK's OAuth client); the ones it will not issue (expired, signed by a
//! key it never published) are signed by the provider process itself through its test
//! controls.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::front::client::{Mcp, text};
use crate::support::*;

/// The provider process; killed when dropped.
struct Provider {
    process: Child,
    issuer: String,
    http: reqwest::Client,
}

impl Provider {
    async fn start() -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/oauth/provider.mjs");
        let mut process = Command::new(peer("node22/node_modules/.bin/node"))
            .arg(script)
            .arg(peer("oidc"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the OpenID provider");
        let stdout = process.stdout.take().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(issuer) = line.strip_prefix("listening ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(issuer.trim().to_string());
                }
            }
        });
        let issuer = within(30, "the OpenID provider to listen", rx)
            .await
            .expect("the provider exited before listening");
        Self {
            process,
            issuer,
            http: reqwest::Client::builder()
                .timeout(scaled(30))
                .build()
                .unwrap(),
        }
    }

    /// An access token by client_credentials for `resource` with `scope`.
    async fn token(&self, scope: &str, resource: &str) -> String {
        let resp = within(
            30,
            "the token endpoint",
            self.http
                .post(format!("{}/token", self.issuer))
                .basic_auth("gateway-test", Some("gateway-test-secret"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("scope", scope),
                    ("resource", resource),
                ])
                .send(),
        )
        .await
        .unwrap();
        let body: Value = resp.json().await.unwrap();
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {body}"))
            .to_string()
    }

    /// A token with `claims`, signed by the provider's current key or by `"rogue"`, a key it
    /// never published.
    async fn mint(&self, claims: Value, key: &str) -> String {
        self.mint_alg(claims, key, "ES256").await
    }

    /// [`Self::mint`] with the header's `alg`: `HS256` is keyed with the published public
    /// key (the algorithm-confusion forgery), `none` is unsigned.
    async fn mint_alg(&self, claims: Value, key: &str, alg: &str) -> String {
        let body = self
            .control(
                "__mint",
                Some(json!({"claims": claims, "key": key, "alg": alg})),
            )
            .await;
        body["token"].as_str().unwrap().to_string()
    }

    /// A new signing key, published before the old one (which stays published).
    async fn rotate(&self) -> String {
        let body = self.control("__rotate", Some(json!({}))).await;
        body["kid"].as_str().unwrap().to_string()
    }

    /// How many times its JWKS was fetched.
    async fn jwks_fetches(&self) -> u64 {
        self.control("__stats", None).await["jwks"]
            .as_u64()
            .unwrap()
    }

    /// How many times its introspection endpoint was asked.
    async fn introspections(&self) -> u64 {
        self.control("__stats", None).await["introspections"]
            .as_u64()
            .unwrap()
    }

    async fn control(&self, what: &str, body: Option<Value>) -> Value {
        let url = format!("{}/{what}", self.issuer);
        let req = match body {
            Some(body) => self.http.post(url).json(&body),
            None => self.http.get(url),
        };
        let resp = within(30, what, req.send()).await.unwrap();
        assert_eq!(resp.status(), 200, "{what}");
        resp.json().await.unwrap()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn leak(token: String) -> &'static str {
    Box::leak(token.into_boxed_str())
}

/// `fx` and `fy`; scope `mcp:all` grants both, `mcp:fx` only fx, `mcp:none` nothing (the
/// provider issues it, the gateway grants nothing for it). Basic and the upstream token stay on.
fn oauth_config(provider: &Provider) -> Value {
    config(
        json!({"fx": fixture_service(&[]), "fy": fixture_service(&[])}),
        json!({"auth": {"oauth": {
            "authorization_servers": [provider.issuer],
            "grants": [
                {"scope": "mcp:all", "services": "*"},
                {"scope": "mcp:fx", "services": ["fx"]}
            ],
            "leeway_seconds": 0,
            "jwks_refresh_seconds": 3600
        }}}),
    )
}

fn www_authenticate(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// A POST of `initialize` to `path` with `token`: the status, the challenges and the body.
async fn initialize_with(
    gw: &TestGateway,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Vec<String>, Value) {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "it", "version": "1"}}});
    let mut req = gw
        .http
        .post(gw.url(path))
        .header("accept", "application/json, text/event-stream")
        .json(&body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = within(30, "initialize", req.send()).await.unwrap();
    let (status, challenges) = (resp.status(), www_authenticate(&resp));
    let text = resp.text().await.unwrap();
    (
        status,
        challenges,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_challenges_point_clients_to_the_provider() {
    let provider = Provider::start().await;
    let gw = TestGateway::start(oauth_config(&provider)).await;
    let base = gw.base.clone();

    // RFC 9728 metadata, one document per resource.
    for (path, resource, scopes) in [
        ("", base.clone(), json!(["mcp:all", "mcp:fx"])),
        ("/mcp", format!("{base}/mcp"), json!(["mcp:all", "mcp:fx"])),
        (
            "/services/fx/mcp",
            format!("{base}/services/fx/mcp"),
            json!(["mcp:all", "mcp:fx"]),
        ),
        (
            "/services/fy/mcp",
            format!("{base}/services/fy/mcp"),
            json!(["mcp:all"]),
        ),
    ] {
        let resp = gw
            .http
            .get(gw.url(&format!("/.well-known/oauth-protected-resource{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let doc: Value = resp.json().await.unwrap();
        assert_eq!(doc["resource"], json!(resource), "{doc}");
        assert_eq!(doc["authorization_servers"], json!([provider.issuer]));
        assert_eq!(doc["scopes_supported"], scopes, "{path}");
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }
    let resp = gw
        .http
        .get(gw.url("/.well-known/oauth-protected-resource/services/nope/mcp"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // No token: 401, the Bearer challenge first (clients read the first), Basic kept after it.
    let (status, challenges, body) = initialize_with(&gw, "/mcp", None).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "unauthorized");
    let resp = gw
        .http
        .post(gw.url("/mcp"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()
            .get("connection")
            .map(|v| v.to_str().unwrap()),
        Some("close"),
        "a refusal before the body is read ends its connection"
    );
    assert_eq!(
        challenges,
        [
            format!(
                "Bearer resource_metadata=\"{base}/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:all mcp:fx\""
            ),
            "Basic realm=\"MCP Gateway\"".to_string()
        ]
    );
    let (status, challenges, _) = initialize_with(&gw, "/services/fy/mcp", None).await;
    assert_eq!(status, 401);
    assert_eq!(
        challenges[0],
        format!(
            "Bearer resource_metadata=\"{base}/.well-known/oauth-protected-resource/services/fy/mcp\", scope=\"mcp:all\""
        )
    );
    // REST points to the gateway's own metadata, and its credentials work as before.
    let resp = gw.http.get(gw.url("/services")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        www_authenticate(&resp)[0].starts_with(&format!(
            "Bearer resource_metadata=\"{base}/.well-known/oauth-protected-resource\""
        )),
        "{:?}",
        www_authenticate(&resp)
    );
    let resp = gw
        .http
        .get(gw.url("/services"))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (status, _) = gw.get("/services").await;
    assert_eq!(status, 200, "the upstream bearer token still works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_token_calls_tools_as_its_subject() {
    let provider = Provider::start().await;
    let gw = TestGateway::start(oauth_config(&provider)).await;
    let all = leak(provider.token("mcp:all", &format!("{}/mcp", gw.base)).await);
    let mut mcp = Mcp::open_as(&gw, "/mcp", all).await;
    let names = mcp.tool_names().await;
    assert!(names.contains(&"fx__echo".to_string()) && names.contains(&"fy__echo".to_string()));
    let result = mcp.call("fx__echo", json!({"text": "signed in"})).await;
    assert_eq!(result["content"][0]["text"], "signed in", "{result}");

    // A token for the fx endpoint with only mcp:fx works there (and /mcp shows it only fx).
    let fx_only = leak(
        provider
            .token("mcp:fx", &format!("{}/services/fx/mcp", gw.base))
            .await,
    );
    let mut one = Mcp::open_as(&gw, "/services/fx/mcp", fx_only).await;
    let result = one.call("echo", json!({"text": "one"})).await;
    assert_eq!(result["content"][0]["text"], "one", "{result}");
    let fx_everywhere = leak(provider.token("mcp:fx", &format!("{}/mcp", gw.base)).await);
    let mut narrow = Mcp::open_as(&gw, "/mcp", fx_everywhere).await;
    let names = narrow.tool_names().await;
    assert!(
        names.contains(&"echo".to_string()) && !names.iter().any(|n| n.contains("__")),
        "only fx, so its tools unprefixed: {names:?}"
    );

    // REST takes tokens for the gateway's origin, with the same grants.
    let rest = provider.token("mcp:fx", &gw.base).await;
    let call = |service: &str| {
        gw.http
            .post(gw.url(&format!("/services/{service}/call")))
            .bearer_auth(&rest)
            .json(&json!({"tool": "echo", "session_id": "rest-1", "arguments": {"text": "rest"}}))
            .send()
    };
    let resp = call("fx").await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"], "rest", "{body}");
    let resp = call("fy").await.unwrap();
    assert_eq!(
        resp.status(),
        404,
        "a service the token may not use is unknown, as for keys"
    );

    // Its sessions are the subject's: another subject's token (signed by the same provider
    // key) does not see them; the upstream credentials see all.
    let sessions = |token: String| {
        let req = gw.http.get(gw.url("/sessions")).bearer_auth(token);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let bob = provider
        .mint(
            json!({"iss": provider.issuer, "sub": "bob", "aud": gw.base, "exp": now + 600, "scope": "mcp:all"}),
            "current",
        )
        .await;
    assert!(sessions(rest.clone()).await.get("rest-1").is_some());
    let bobs = sessions(bob).await;
    assert!(bobs.get("rest-1").is_none(), "{bobs}");
    assert_eq!(
        bobs,
        json!({}),
        "bob has no session; the token's own are hidden from him"
    );
    assert!(sessions(TOKEN.to_string()).await.get("rest-1").is_some());
    assert!(!gw.log().contains(all), "a token was logged");
    // The security log names the subject for each tool call.
    let subject = format!("gateway-test@{}", provider.issuer);
    assert!(
        gw.log()
            .lines()
            .any(|l| l.contains("event_type=\"tool_call\"") && l.contains(&subject)),
        "no tool_call event names {subject}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_tokens_get_their_challenge_and_reach_no_child() {
    let provider = Provider::start().await;
    let gw = TestGateway::start(oauth_config(&provider)).await;
    // The startup discovery of each service's tools runs a short-lived child: let it end, so
    // that any child seen below would be one a refused request started.
    wait_until(60, "the startup discovery to end", || {
        let log = gw.log();
        log.contains("service ready service=fx")
            && log.contains("service ready service=fy")
            && procs::children_of(gw.pid()).is_empty()
    })
    .await;
    let base = gw.base.clone();
    let mcp_resource = format!("{base}/mcp");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |exp: u64, aud: &str| json!({"iss": provider.issuer, "sub": "mallory", "aud": aud, "exp": exp, "iat": now - 600, "scope": "mcp:all"});

    let other_audience = provider.token("mcp:all", "http://127.0.0.1:1/mcp").await;
    let for_fx_endpoint = provider
        .token("mcp:all", &format!("{base}/services/fx/mcp"))
        .await;
    let expired = provider
        .mint(claims(now - 60, &mcp_resource), "current")
        .await;
    let unknown_key = provider
        .mint(claims(now + 600, &mcp_resource), "rogue")
        .await;
    // The same claims by the provider's key pass: the two above fail for their one flaw.
    let control = provider
        .mint(claims(now + 600, &mcp_resource), "current")
        .await;
    let hmac = provider
        .mint_alg(claims(now + 600, &mcp_resource), "current", "HS256")
        .await;
    let unsigned = provider
        .mint_alg(claims(now + 600, &mcp_resource), "current", "none")
        .await;
    let mut tampered = control.clone();
    tampered.truncate(tampered.len() - 4);
    tampered.push_str("AAAA");
    let opaque = "-ScoDInoxkWff3nP2b9WPHBe5DVIzYZgMqG_4EEAbaR";

    let meta = format!("{base}/.well-known/oauth-protected-resource/mcp");
    for (what, token, description) in [
        (
            "another audience",
            other_audience.as_str(),
            "token audience is not this resource",
        ),
        (
            "another endpoint's audience",
            for_fx_endpoint.as_str(),
            "token audience is not this resource",
        ),
        ("expired", expired.as_str(), "token expired"),
        (
            "an unknown key",
            unknown_key.as_str(),
            "token signed by an unknown key",
        ),
        (
            "a bad signature",
            tampered.as_str(),
            "token signature is invalid",
        ),
        (
            "HS256 keyed with the public key",
            hmac.as_str(),
            "token signed with an algorithm not accepted here",
        ),
        (
            "no signature (alg none)",
            unsigned.as_str(),
            "malformed token: bad header",
        ),
    ] {
        let (status, challenges, body) = initialize_with(&gw, "/mcp", Some(token)).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["code"], "unauthorized", "{what}");
        assert_eq!(
            challenges[0],
            format!(
                "Bearer error=\"invalid_token\", error_description=\"{description}\", resource_metadata=\"{meta}\", scope=\"mcp:all mcp:fx\""
            ),
            "{what}"
        );
    }
    let (status, challenges, _) = initialize_with(&gw, "/mcp", Some(opaque)).await;
    assert_eq!(
        status, 401,
        "opaque tokens are not accepted (no introspection)"
    );
    assert!(
        challenges[0].starts_with("Bearer resource_metadata="),
        "{challenges:?}"
    );

    // Valid but granting nothing here, or not this service: 403 with the scope to ask for.
    let none = provider.token("mcp:none", &mcp_resource).await;
    let (status, challenges, body) = initialize_with(&gw, "/mcp", Some(&none)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "insufficient_scope");
    assert_eq!(
        challenges,
        [format!(
            "Bearer error=\"insufficient_scope\", error_description=\"the token holds no scope this gateway grants access for\", resource_metadata=\"{meta}\", scope=\"mcp:all mcp:fx\""
        )]
    );
    let fx_only = provider
        .token("mcp:fx", &format!("{base}/services/fy/mcp"))
        .await;
    let (status, challenges, body) = initialize_with(&gw, "/services/fy/mcp", Some(&fx_only)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        challenges,
        [format!(
            "Bearer error=\"insufficient_scope\", error_description=\"the token grants no access to service fy\", resource_metadata=\"{base}/.well-known/oauth-protected-resource/services/fy/mcp\", scope=\"mcp:all\""
        )]
    );

    // Nothing got past auth: no session, no child.
    let (_, sessions) = gw.get("/sessions").await;
    assert_eq!(sessions, json!({}), "no session was made");
    assert!(
        procs::children_of(gw.pid()).is_empty(),
        "no child was started"
    );

    // The control token is good (so the refusals above were for their flaw).
    let (status, _, body) = initialize_with(&gw, "/mcp", Some(&control)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_refetch_the_keys_at_a_bounded_rate() {
    let provider = Provider::start().await;
    let mut config = oauth_config(&provider);
    // This test fails auth on purpose, more often than an address may before it is blocked.
    config["auth"]["block_seconds"] = json!(0);
    let gw = TestGateway::start(config).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let rogue = provider
        .mint(
            json!({"iss": provider.issuer, "sub": "mallory", "aud": format!("{}/mcp", gw.base), "exp": now + 600}),
            "rogue",
        )
        .await;
    let before = provider.jwks_fetches().await;
    for _ in 0..20 {
        let (status, _, _) = initialize_with(&gw, "/mcp", Some(&rogue)).await;
        assert_eq!(status, 401);
    }
    let fetched = provider.jwks_fetches().await - before;
    // The first use fetches the keys; the first unknown key may fetch them once more; then
    // nothing more for jwks_refresh_seconds (3600 here), whatever arrives.
    assert!(
        fetched <= 2,
        "{fetched} fetches for 20 tokens by an unknown key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_while_calls_run_fails_no_call() {
    let provider = Arc::new(Provider::start().await);
    let gw = Arc::new(TestGateway::start(oauth_config(&provider)).await);
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let counts: Arc<Vec<AtomicUsize>> = Arc::new((0..3).map(|_| AtomicUsize::new(0)).collect());
    let mut tasks = Vec::new();
    for worker in 0..3 {
        let (provider, gw, stop, failures, counts) = (
            provider.clone(),
            gw.clone(),
            stop.clone(),
            failures.clone(),
            counts.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                // A fresh token each time: after the rotation they are signed by the new key.
                let token = provider.token("mcp:all", &gw.base).await;
                let resp = gw
                    .http
                    .post(gw.url("/services/fx/call"))
                    .bearer_auth(&token)
                    .json(&json!({"tool": "echo", "session_id": format!("rotation-{worker}"), "arguments": {"text": "x"}}))
                    .send()
                    .await
                    .unwrap();
                if resp.status() != 200 {
                    let status = resp.status();
                    let body = resp.text().await.unwrap();
                    failures.lock().unwrap().push(format!("{status}: {body}"));
                }
                counts[worker].fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let at_least = |n: usize| {
        let counts = counts.clone();
        move || counts.iter().all(|c| c.load(Ordering::SeqCst) >= n)
    };
    wait_until(60, "calls before the rotation", at_least(3)).await;
    let done: Vec<usize> = counts.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    provider.rotate().await;
    let counts_after = counts.clone();
    wait_until(60, "calls after the rotation", move || {
        counts_after
            .iter()
            .zip(&done)
            .all(|(c, before)| c.load(Ordering::SeqCst) >= before + 5)
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        within(60, "a worker to stop", task).await.unwrap();
    }
    assert!(
        failures.lock().unwrap().is_empty(),
        "{:?}",
        failures.lock().unwrap()
    );
    assert_eq!(
        provider.jwks_fetches().await,
        2,
        "the keys were fetched once at first use and once for the new key"
    );
}

/// An official SDK's OAuth client signs in as `login` through the provider and calls a tool;
/// returns the access token it got.
async fn sdk_sign_in(gw: &TestGateway, sdk: Sdk, login: &str) -> String {
    let script = |name: &str| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/it/clients")
            .join(name)
            .display()
            .to_string()
    };
    let (url, login) = (gw.url("/mcp"), login.to_string());
    let (program, args, what) = match sdk {
        Sdk::Python => (
            peer("py/bin/python"),
            vec![script("python_oauth_client.py"), url, login],
            "python_oauth_client.py",
        ),
        Sdk::TypeScript => (
            "node".to_string(),
            vec![
                script("ts_oauth_client.cjs"),
                url,
                login,
                peer("node/node_modules"),
            ],
            "ts_oauth_client.cjs",
        ),
    };
    let output = within(
        120,
        what,
        tokio::task::spawn_blocking(move || {
            Command::new(program)
                .args(args)
                .output()
                .expect("run the SDK client")
        }),
    )
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("OK"),
        "{what} failed\nstdout:\n{stdout}\nstderr:\n{}\ngateway log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        gw.log()
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("token "))
        .expect("the client printed its token")
        .to_string()
}

#[derive(Clone, Copy)]
enum Sdk {
    Python,
    TypeScript,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_and_typescript_sdks_sign_in_with_only_the_url() {
    let provider = Provider::start().await;
    let gw = TestGateway::start(oauth_config(&provider)).await;
    // Discovery from the 401, registration, authorization code + PKCE, token, tool call.
    let alice = sdk_sign_in(&gw, Sdk::Python, "alice").await;
    let bob = sdk_sign_in(&gw, Sdk::TypeScript, "bob").await;
    assert_ne!(alice, bob);
    // Each token is for this resource and its user; each user's MCP session is its own.
    let claims = |token: &str| -> Value {
        use base64::Engine;
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(claims(&alice)["aud"], json!(gw.url("/mcp")));
    assert_eq!(claims(&alice)["sub"], "alice");
    assert_eq!(claims(&bob)["sub"], "bob");
    let alice = leak(alice);
    let mut mcp = Mcp::open_as(&gw, "/mcp", alice).await;
    let bobs_view = Mcp {
        token: leak(bob),
        session: mcp.session.clone(),
        ..Mcp::new(&gw, "/mcp")
    };
    let resp = bobs_view
        .notify("notifications/initialized", json!({}))
        .await;
    assert_eq!(resp.status(), 404, "alice's session is unknown to bob");
    let result = mcp.call("fy__echo", json!({"text": "still mine"})).await;
    assert_eq!(result["content"][0]["text"], "still mine");
}

#[test]
fn validate_describes_oauth_and_names_each_problem() {
    let good = json!({
        "server": {"host": "0.0.0.0"},
        "services": {"fx": {"command": [fixture_bin()]}},
        "auth": {"oauth": {"resource": "https://mcp.example.com",
            "authorization_servers": ["https://login.example.com/realms/acme"],
            "grants": [{"scope": "mcp:all", "services": "*"}]}}
    });
    let (code, stdout) = validate("cfg.json", &good);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("OAuth access tokens for https://mcp.example.com from https://login.example.com/realms/acme (1 grants)"),
        "{stdout}"
    );
    let bad = json!({
        "server": {"host": "0.0.0.0", "auth_token": "t"},
        "services": {"fx": {"command": [fixture_bin()]}},
        "auth": {"oauth": {"resource": "http://mcp.example.com",
            "authorization_servers": [{"jwks_uri": "https://k.example.com"}],
            "grants": [{"scope": "two words"}], "relax_audience": true}}
    });
    let (code, stdout) = validate("cfg.json", &bad);
    assert_eq!(code, Some(1), "{stdout}");
    for needle in [
        "error: cfg.json: auth.oauth.resource: must use https",
        "error: cfg.json: auth.oauth.authorization_servers[0].issuer: required",
        "error: cfg.json: auth.oauth.grants[0].scope: expected one scope",
        "warning: cfg.json: auth.oauth.relax_audience: unknown key",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaque_tokens_are_introspected_with_a_short_cache() {
    let provider = Provider::start().await;
    let mut config = oauth_config(&provider);
    config["auth"]["oauth"]["authorization_servers"] = json!([{
        "issuer": provider.issuer,
        "introspection": {"client_id": "gateway-rs", "client_secret": "gateway-rs-secret"}
    }]);
    let gw = TestGateway::start(config).await;
    let mcp_resource = format!("{}/mcp", gw.base);
    // `mcp:opaque` makes the provider issue an opaque token (its RFC 8707 audience recorded).
    let opaque = provider.token("mcp:all mcp:opaque", &mcp_resource).await;
    assert!(!opaque.contains('.'), "not a JWT: {opaque}");
    let before = provider.introspections().await;
    let mut mcp = Mcp::open_as(&gw, "/mcp", leak(opaque.clone())).await;
    let result = mcp.call("fx__echo", json!({"text": "opaque"})).await;
    assert_eq!(result["content"][0]["text"], "opaque", "{result}");
    assert_eq!(
        provider.introspections().await - before,
        1,
        "initialize, initialized, tools/call: one introspection, then the cache"
    );

    // Its audience is checked as a JWT's; an unknown token is not active; JWTs still work.
    let elsewhere = provider
        .token("mcp:all mcp:opaque", "http://127.0.0.1:1/mcp")
        .await;
    let meta = format!("{}/.well-known/oauth-protected-resource/mcp", gw.base);
    for (token, description) in [
        (elsewhere.as_str(), "token audience is not this resource"),
        ("made-up-token", "token is not active"),
    ] {
        let (status, challenges, body) = initialize_with(&gw, "/mcp", Some(token)).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(
            challenges[0],
            format!(
                "Bearer error=\"invalid_token\", error_description=\"{description}\", resource_metadata=\"{meta}\", scope=\"mcp:all mcp:fx\""
            )
        );
    }
    let jwt = provider.token("mcp:all", &mcp_resource).await;
    let (status, _, _) = initialize_with(&gw, "/mcp", Some(&jwt)).await;
    assert_eq!(status, 200);
    // The static token is still the static token, never sent to the provider.
    let asked = provider.introspections().await;
    let (status, _) = gw.get("/services").await;
    assert_eq!(status, 200);
    assert_eq!(provider.introspections().await, asked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_child_gets_its_callers_identity_and_no_token() {
    let provider = Provider::start().await;
    let mut config = oauth_config(&provider);
    config["auth"]["oauth"]["identity_env"] =
        json!({"fx": {"MCP_USER": "sub", "MCP_USER_EMAIL": "email"}});
    let gw = TestGateway::start(config).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Users' tokens signed by the provider's key (its token endpoint has no users without a
    // browser; the Python test covers that path).
    let token = |sub: &str, aud: String| {
        let claims = json!({"iss": provider.issuer, "sub": sub, "email": format!("{sub}@example.com"),
            "aud": aud, "exp": now + 600, "scope": "mcp:all"});
        provider.mint(claims, "current")
    };
    let alice = leak(token("alice", gw.url("/mcp")).await);
    let bob = leak(token("bob", gw.url("/mcp")).await);
    let mut as_alice = Mcp::open_as(&gw, "/mcp", alice).await;
    let mut as_bob = Mcp::open_as(&gw, "/mcp", bob).await;
    let env = |name: &str| json!({"name": name});
    for (mcp, who) in [(&mut as_alice, "alice"), (&mut as_bob, "bob")] {
        let user = mcp.call("fx__read_env", env("MCP_USER")).await;
        assert_eq!(text(&user), who, "{user}");
        let email = mcp.call("fx__read_env", env("MCP_USER_EMAIL")).await;
        assert_eq!(text(&email), format!("{who}@example.com"), "{email}");
        // fy is not in identity_env: its child knows nobody.
        let none = mcp.call("fy__read_env", env("MCP_USER")).await;
        assert_eq!(none["isError"], true, "{none}");
    }
    // REST: the same for a session a token opens there (audience: the gateway).
    let carol = token("carol", gw.base.clone()).await;
    let resp = gw
        .http
        .post(gw.url("/services/fx/call"))
        .bearer_auth(&carol)
        .json(&json!({"tool": "read_env", "session_id": "carol-1", "arguments": {"name": "MCP_USER"}}))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"], "carol", "{body}");

    // No child's environment holds any token, or anything of another user.
    for (mcp, who, other) in [
        (&mut as_alice, "alice", "bob"),
        (&mut as_bob, "bob", "alice"),
    ] {
        for service in ["fx", "fy"] {
            let environ = mcp
                .call(
                    &format!("{service}__read_file"),
                    json!({"path": "/proc/self/environ"}),
                )
                .await;
            let environ = text(&environ);
            assert!(environ.contains("HOME="), "{environ}");
            for secret in [alice, bob, carol.as_str(), TOKEN] {
                assert!(
                    !environ.contains(secret),
                    "{service} of {who} holds a credential"
                );
            }
            assert!(
                !environ.contains(other),
                "{service} of {who} knows {other}: {environ}"
            );
        }
    }
}

#[test]
fn identity_env_is_refused_where_it_cannot_work() {
    let cfg = json!({
        "server": {"host": "127.0.0.1"},
        "services": {
            "pooled": {"command": [fixture_bin()], "warm_pool": 1},
            "remote": {"url": "https://mcp.example.com/mcp"},
            "plain": {"command": [fixture_bin()], "env": {"TEAM": "x"}}
        },
        "auth": {"oauth": {
            "authorization_servers": ["http://127.0.0.1:9"],
            "grants": [{"scope": "*"}],
            "identity_env": {
                "pooled": {"MCP_USER": "sub"},
                "remote": {"MCP_USER": "sub"},
                "plain": {"TEAM": "groups", "LD_PRELOAD": "sub", "9X": "sub", "OK": 5}
            }
        }}
    });
    let (code, stdout) = validate("cfg.json", &cfg);
    assert_eq!(code, Some(1), "{stdout}");
    for needle in [
        "auth.oauth.identity_env.pooled: the service has a warm_pool",
        "auth.oauth.identity_env.remote: a remote service has no child environment",
        "auth.oauth.identity_env.plain.TEAM: names a loader variable or one the service's env already sets",
        "auth.oauth.identity_env.plain.LD_PRELOAD: names a loader variable",
        "auth.oauth.identity_env.plain.9X: expected a variable name",
        "auth.oauth.identity_env.plain.OK: expected a claim name",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_subject_spends_its_own_budget_and_grants_set_limits() {
    let provider = Provider::start().await;
    let mut config = oauth_config(&provider);
    config["rate_limiting"] = json!({"enabled": true, "call_limit": "2 per minute"});
    // mcp:fx's grant sets its own, larger, call limit.
    config["auth"]["oauth"]["grants"][1]["rate_limits"] = json!({"call_limit": "3 per minute"});
    let gw = TestGateway::start(config).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = |sub: &str, scope: &str| {
        let claims = json!({"iss": provider.issuer, "sub": sub, "aud": gw.base, "exp": now + 600, "scope": scope});
        provider.mint(claims, "current")
    };
    let call = |token: String| {
        let req = gw
            .http
            .post(gw.url("/services/fx/call"))
            .bearer_auth(token)
            .json(&json!({"tool": "echo", "session_id": format!("budget-{}", fresh_id()), "arguments": {"text": "x"}}));
        async move { req.send().await.unwrap().status() }
    };
    let (alice, bob) = (
        token("alice", "mcp:all").await,
        token("bob", "mcp:all").await,
    );
    assert_eq!(call(alice.clone()).await, 200);
    assert_eq!(call(alice.clone()).await, 200);
    assert_eq!(
        call(alice.clone()).await,
        429,
        "alice spent her 2 per minute"
    );
    // A new token of the same subject spends the same budget; another subject has its own.
    assert_eq!(call(token("alice", "mcp:all").await).await, 429);
    assert_eq!(call(bob).await, 200, "bob's budget is his own");
    let carol = token("carol", "mcp:fx").await;
    for _ in 0..3 {
        assert_eq!(
            call(carol.clone()).await,
            200,
            "her grant allows 3 per minute"
        );
    }
    assert_eq!(call(carol).await, 429);
}

/// A session id unique in this test binary.
fn fresh_id() -> u64 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst) as u64
}

/// A reload that changes `auth.oauth` applies at once (a new verifier); removing it is named
/// as needing a restart and the running one stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_changes_the_grants_at_once() {
    let provider = Provider::start().await;
    let mut cfg = oauth_config(&provider);
    let gw = TestGateway::start(cfg.clone()).await;
    let fx_only = leak(provider.token("mcp:fx", &format!("{}/mcp", gw.base)).await);
    let mut before = Mcp::open_as(&gw, "/mcp", fx_only).await;
    assert!(!before.tool_names().await.iter().any(|n| n.contains("__")));

    let empty = json!({});
    let reload = |cfg: &Value| {
        std::fs::write(
            gw.path().join("config.json"),
            serde_json::to_vec_pretty(cfg).unwrap(),
        )
        .unwrap();
        gw.post("/reload", &empty)
    };
    // `mcp:fx` now grants both services: a new session of the same token sees them.
    cfg["auth"]["oauth"]["grants"][1]["services"] = json!(["fx", "fy"]);
    let (status, report) = reload(&cfg).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["restart_required"], json!([]), "{report}");
    let mut after = Mcp::open_as(&gw, "/mcp", fx_only).await;
    let names = after.tool_names().await;
    assert!(
        names.contains(&"fx__echo".to_string()) && names.contains(&"fy__echo".to_string()),
        "{names:?}"
    );

    // Removing `auth.oauth` needs a restart: named, and tokens still work.
    let mut without = cfg.clone();
    without["auth"].as_object_mut().unwrap().remove("oauth");
    let (status, report) = reload(&without).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        report["restart_required"],
        json!(["auth.oauth"]),
        "{report}"
    );
    let mut still = Mcp::open_as(&gw, "/mcp", fx_only).await;
    assert!(still.tool_names().await.contains(&"fy__echo".to_string()));
}
