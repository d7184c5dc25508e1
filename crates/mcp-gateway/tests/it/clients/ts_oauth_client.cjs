// The official TypeScript MCP SDK's OAuth client (npm @modelcontextprotocol/sdk) against the
// gateway's /mcp, knowing only its URL: the 401 leads it to the protected resource metadata and
// the authorization server; it registers itself, runs authorization code + PKCE with the
// resource indicator, then calls a tool with the token. The browser is played headlessly (the
// provider's login and consent forms are posted; the redirect's code goes to finishAuth).
// Usage: node ts_oauth_client.cjs MCP_URL LOGIN NODE_MODULES_DIR. Prints `token <access token>`
// and `OK`; exits non-zero on the first failed check.
const { createRequire } = require("node:module");
const [url, login, modules] = process.argv.slice(2);
const load = createRequire(modules + "/");
const { Client } = load("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = load("@modelcontextprotocol/sdk/client/streamableHttp.js");
const { UnauthorizedError } = load("@modelcontextprotocol/sdk/client/auth.js");

const REDIRECT = "http://127.0.0.1:9/callback";

function check(cond, what) {
  if (!cond) {
    console.error(`FAILED: ${what}`);
    process.exit(1);
  }
}

/// Follow `start` through the provider's login and consent forms to the redirect; its code.
async function browse(start) {
  const cookies = new Map();
  const visited = [];
  const send = async (target, init = {}) => {
    const headers = { ...(init.headers || {}) };
    if (cookies.size) headers.cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await fetch(target, { ...init, headers, redirect: "manual" });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const eq = pair.indexOf("=");
      cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    visited.push(String(target));
    return res;
  };
  let res = await send(start);
  for (let i = 0; i < 20; i++) {
    if (res.status >= 300 && res.status < 400) {
      const location = new URL(res.headers.get("location"), res.url || visited.at(-1));
      if (location.href.startsWith(REDIRECT)) {
        const code = location.searchParams.get("code");
        check(code, `redirect without a code: ${location}`);
        return { code, visited };
      }
      res = await send(location);
      continue;
    }
    const page = await res.text();
    check(res.status === 200, `${visited.at(-1)}: ${res.status} ${page.slice(0, 300)}`);
    const action = /<form[^>]*action="([^"]+)"/.exec(page);
    check(action, `no form at ${visited.at(-1)}`);
    const target = new URL(action[1], visited.at(-1));
    const form = page.includes('name="login"')
      ? { prompt: "login", login, password: "any" }
      : { prompt: "consent" };
    res = await send(target, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form).toString(),
    });
  }
  check(false, `no redirect to the client after ${visited}`);
}

async function main() {
  const store = {};
  let signIn;
  const provider = {
    get redirectUrl() {
      return REDIRECT;
    },
    get clientMetadata() {
      return {
        client_name: "gateway-it-ts",
        redirect_uris: [REDIRECT],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "none",
      };
    },
    clientInformation: () => store.client,
    saveClientInformation: (info) => {
      store.client = info;
    },
    tokens: () => store.tokens,
    saveTokens: (tokens) => {
      store.tokens = tokens;
    },
    redirectToAuthorization: (authorizationUrl) => {
      signIn = browse(authorizationUrl);
    },
    saveCodeVerifier: (verifier) => {
      store.verifier = verifier;
    },
    codeVerifier: () => store.verifier,
  };
  const connect = async () => {
    const client = new Client({ name: "ts-oauth-it", version: "1.0.0" });
    const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
    await client.connect(transport);
    return { client, transport };
  };
  let first;
  try {
    first = await connect();
  } catch (err) {
    check(err instanceof UnauthorizedError, `expected the sign-in to be asked for, got ${err}`);
  }
  check(!first, "connected without signing in");
  check(signIn, "the SDK sent the user to the authorization server");
  const { code, visited } = await signIn;
  check(visited.some((v) => v.includes("/interaction/")), `signed in through the provider: ${visited}`);
  const retry = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  await retry.finishAuth(code);
  check(store.client && store.tokens, "registered and got a token");
  const { client, transport } = await connect();
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  check(names.includes("fx__echo"), `names ${names}`);
  const echo = await client.callTool({ name: "fx__echo", arguments: { text: `hello ${login}` } });
  check(echo.content[0].text === `hello ${login}`, `echo ${JSON.stringify(echo)}`);
  await transport.terminateSession();
  await client.close();
  console.log(`token ${store.tokens.access_token}`);
  console.log("OK");
}

main().catch((err) => {
  console.error("FAILED:", err);
  process.exit(1);
});
