// The official TypeScript MCP SDK (npm @modelcontextprotocol/sdk) against the gateway's /mcp.
// Usage: node ts_client.cjs URL TOKEN NODE_MODULES_DIR. Exits non-zero on the first failed check.
// Services behind the gateway: `everything` (server-everything) and `fx` (mcp-fixture).
const { createRequire } = require("node:module");
const [url, token, modules] = process.argv.slice(2);
const load = createRequire(modules + "/");
const { Client } = load("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = load("@modelcontextprotocol/sdk/client/streamableHttp.js");

function check(cond, what) {
  if (!cond) {
    console.error(`FAILED: ${what}`);
    process.exit(1);
  }
}
const text = (r) => (r.content && r.content[0] && r.content[0].text) || "";

async function connect() {
  const client = new Client({ name: "ts-it", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  check(client.getServerVersion().name === "mcp-gateway", "server name");
  check(transport.sessionId, "session id");
  return { client, transport };
}

async function main() {
  const { client, transport } = await connect();
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  check(names.includes("everything__echo") && names.includes("fx__echo"), `names ${names}`);
  const echo = await client.callTool({ name: "everything__echo", arguments: { message: "hi" } });
  check(text(echo) === "Echo: hi", `echo ${JSON.stringify(echo)}`);
  // State survives between calls of one MCP session.
  const on = await client.callTool({ name: "everything__toggle-simulated-logging", arguments: {} });
  const off = await client.callTool({ name: "everything__toggle-simulated-logging", arguments: {} });
  check(text(on).startsWith("Started") && text(off).startsWith("Stopped"), `toggles ${text(on)} / ${text(off)}`);
  // Progress.
  const seen = [];
  const done = await client.callTool(
    { name: "everything__trigger-long-running-operation", arguments: { duration: 1, steps: 3 } },
    undefined,
    { onprogress: (p) => seen.push(p.progress) },
  );
  check(seen.length === 3, `progress ${seen}`);
  check(text(done).toLowerCase().includes("completed"), `long op ${JSON.stringify(done)}`);
  // Cancel after the first progress notification: the SDK sends notifications/cancelled.
  const abort = new AbortController();
  const cancelled = client
    .callTool(
      { name: "everything__trigger-long-running-operation", arguments: { duration: 30, steps: 30 } },
      undefined,
      { signal: abort.signal, onprogress: () => abort.abort("enough") },
    )
    .then(
      () => "returned",
      (e) => "rejected",
    );
  check((await cancelled) === "rejected", "the cancelled call did not reject");
  const again = await client.callTool({ name: "fx__echo", arguments: { message: "still here" } });
  check(text(again) === "still here", "session works after the cancel");
  await transport.terminateSession();
  await client.close();

  // A new MCP session has its own child: the toggle starts again.
  const second = await connect();
  const fresh = await second.client.callTool({ name: "everything__toggle-simulated-logging", arguments: {} });
  check(text(fresh).startsWith("Started"), `new session toggle ${text(fresh)}`);
  await second.transport.terminateSession();
  await second.client.close();
  console.log("ts client: ok");
}

main().catch((e) => {
  console.error(`FAILED: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
