//! A small hand-written Streamable HTTP client for protocol-level assertions.

use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

pub struct Mcp<'a> {
    pub gw: &'a TestGateway,
    pub path: String,
    pub session: Option<String>,
    pub version: String,
    pub next_id: u64,
    /// The Bearer token sent (the upstream token unless a test picks a scoped key).
    pub token: &'static str,
}

/// The JSON-RPC messages of an SSE body (`data:` lines of each event).
pub fn parse_sse(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            (!data.is_empty())
                .then(|| serde_json::from_str(&data.join("\n")).expect("SSE data is JSON"))
        })
        .collect()
}

/// Every message of a response, JSON or SSE.
pub async fn messages(resp: Response) -> Vec<Value> {
    let sse = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let text = within(60, "response body", resp.text()).await.unwrap();
    if sse {
        parse_sse(&text)
    } else if text.is_empty() {
        Vec::new()
    } else {
        vec![serde_json::from_str(&text).expect("JSON body")]
    }
}

impl<'a> Mcp<'a> {
    pub fn new(gw: &'a TestGateway, path: &str) -> Self {
        Self {
            gw,
            path: path.to_string(),
            session: None,
            version: "2025-11-25".into(),
            next_id: 1,
            token: TOKEN,
        }
    }

    /// initialize + notifications/initialized.
    pub async fn open(gw: &'a TestGateway, path: &str) -> Self {
        Self::open_as(gw, path, TOKEN).await
    }

    /// [`Self::open`] with the Bearer token `token`.
    pub async fn open_as(gw: &'a TestGateway, path: &str, token: &'static str) -> Self {
        let mut mcp = Self::new(gw, path);
        mcp.token = token;
        let (status, init) = mcp.initialize("2025-11-25").await;
        assert_eq!(status, 200, "{init:?}");
        let status = mcp
            .notify("notifications/initialized", json!({}))
            .await
            .status();
        assert_eq!(status, StatusCode::ACCEPTED);
        mcp
    }

    pub async fn initialize(&mut self, version: &str) -> (StatusCode, Value) {
        self.initialize_with(version, json!({})).await
    }

    /// `initialize` declaring the client `capabilities`.
    pub async fn initialize_with(
        &mut self,
        version: &str,
        capabilities: Value,
    ) -> (StatusCode, Value) {
        let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": version, "capabilities": capabilities, "clientInfo": {"name": "it", "version": "1"}}});
        let resp = self.builder().json(&body).send().await.unwrap();
        let status = resp.status();
        if let Some(id) = resp.headers().get("mcp-session-id") {
            self.session = Some(id.to_str().unwrap().to_string());
        }
        let mut messages = messages(resp).await;
        let message = messages.pop().unwrap_or(Value::Null);
        if let Some(v) = message["result"]["protocolVersion"].as_str() {
            self.version = v.to_string();
        }
        (status, message)
    }

    /// A POST with auth, Accept, session and version headers.
    pub fn builder(&self) -> RequestBuilder {
        self.with_headers(self.gw.http.post(self.gw.url(&self.path)))
    }

    pub fn with_headers(&self, req: RequestBuilder) -> RequestBuilder {
        let mut req = req
            .bearer_auth(self.token)
            .header("accept", "application/json, text/event-stream");
        if let Some(id) = &self.session {
            req = req
                .header("mcp-session-id", id)
                .header("mcp-protocol-version", &self.version);
        }
        req
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Send a request; the raw HTTP response.
    pub async fn send(&mut self, method: &str, params: Value) -> (u64, Response) {
        let id = self.next_id();
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let resp = within(60, method, self.builder().json(&body).send())
            .await
            .unwrap();
        (id, resp)
    }

    /// Every message answering one request (notifications first, the response last).
    pub async fn exchange(&mut self, method: &str, params: Value) -> Vec<Value> {
        let (_, resp) = self.send(method, params).await;
        assert_eq!(resp.status(), 200, "{method}");
        messages(resp).await
    }

    /// The `result` of a request that must succeed.
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let messages = self.exchange(method, params).await;
        let last = messages.last().cloned().unwrap_or(Value::Null);
        assert!(last.get("result").is_some(), "{method}: {messages:?}");
        last["result"].clone()
    }

    pub async fn notify(&self, method: &str, params: Value) -> Response {
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params});
        self.builder().json(&body).send().await.unwrap()
    }

    pub async fn call(&mut self, tool: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": tool, "arguments": arguments}))
            .await
    }

    pub async fn tool_names(&mut self) -> Vec<String> {
        let result = self.request("tools/list", json!({})).await;
        result["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    }

    pub async fn delete(&self) -> StatusCode {
        self.with_headers(self.gw.http.delete(self.gw.url(&self.path)))
            .send()
            .await
            .unwrap()
            .status()
    }
}

/// A 2026-07-28 (stateless) `tools/call` of `tool` on `path`, answered as JSON: `_meta` and the
/// mirrored headers as the revision wants them.
pub fn stateless_call(
    gw: &TestGateway,
    path: &str,
    id: u64,
    tool: &str,
    arguments: Value,
) -> RequestBuilder {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments,
                   "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                             "io.modelcontextprotocol/clientCapabilities": {}}}});
    gw.http
        .post(gw.url(path))
        .bearer_auth(TOKEN)
        .header("accept", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .json(&body)
}

pub fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
