// The operator console: plain JavaScript, no build step. Everything it shows comes from the
// gateway's own API (GET /services, /services/{s}/tools, /sessions?memory=true,
// /audit/recent, /metrics; POST /services/{s}/call; DELETE /sessions/{id}) with the
// credentials signed in here, kept in this tab's sessionStorage only.
"use strict";

const $ = (selector) => document.querySelector(selector);
const el = (tag, { dataset, ...props } = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  Object.assign(node.dataset, dataset || {});
  for (const child of children) node.append(child);
  return node;
};

let auth = sessionStorage.getItem("mcp-gateway-auth");
const consoleSession = "console-" + Math.random().toString(36).slice(2, 10);

async function api(method, path, body) {
  const headers = { Authorization: auth };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = text;
  try { data = JSON.parse(text); } catch (_) { /* /metrics is text */ }
  if (response.status === 401) { signOut("the gateway refused these credentials"); }
  return { status: response.status, data };
}

function status(text) { $("#status").textContent = text; }

function signOut(why) {
  auth = null;
  sessionStorage.removeItem("mcp-gateway-auth");
  $("#app").hidden = true;
  $("#signout").hidden = true;
  status(why || "signed out");
}

$("#signin").addEventListener("submit", async (event) => {
  event.preventDefault();
  const secret = $("#secret").value;
  auth = $("#scheme").value === "basic"
    ? "Basic " + btoa($("#user").value + ":" + secret)
    : "Bearer " + secret;
  const check = await api("GET", "/services");
  if (check.status !== 200) { signOut("sign-in failed: " + check.status); return; }
  sessionStorage.setItem("mcp-gateway-auth", auth);
  start();
});
$("#signout").addEventListener("click", () => signOut());
$("#scheme").addEventListener("change", () => { $("#user").hidden = $("#scheme").value !== "basic"; });
$("#refresh-sessions").addEventListener("click", () => loadSessions());

async function loadServices() {
  const { status: code, data } = await api("GET", "/services");
  const box = $("#services");
  box.replaceChildren();
  if (code !== 200) { box.append("cannot list services: " + code); return; }
  for (const [name, info] of Object.entries(data)) {
    const section = el("div", { className: "service", id: "service-" + name },
      el("h3", { textContent: name }), el("div", { textContent: info.description || "" }));
    box.append(section);
    const tools = await api("GET", `/services/${encodeURIComponent(name)}/tools`);
    if (tools.status !== 200) { section.append("tools unavailable: " + (tools.data.error || tools.status)); continue; }
    for (const tool of tools.data.tools) section.append(toolForm(name, tool));
  }
}

function toolForm(service, tool) {
  const args = el("textarea", { name: "arguments", value: JSON.stringify(example(tool.inputSchema)) });
  const session = el("input", { name: "session", value: consoleSession });
  const result = el("pre", { className: "result", hidden: true });
  const form = el("form", {},
    el("label", {}, "arguments (JSON) ", args),
    el("label", {}, "session ", session),
    el("button", { type: "submit", textContent: "Call " + tool.name }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let parsed;
    try { parsed = JSON.parse(args.value || "{}"); } catch (e) { show(result, "arguments are not JSON: " + e.message, true); return; }
    const { status: code, data } = await api("POST", `/services/${encodeURIComponent(service)}/call`,
      { tool: tool.name, arguments: parsed, session_id: session.value });
    if (code === 200) show(result, typeof data.result === "string" ? data.result : JSON.stringify(data.result, null, 2), data.isError);
    else show(result, `${code} ${data.code || ""}: ${data.error || JSON.stringify(data)}`, true);
    loadSessions();
    loadCalls();
  });
  return el("details", { className: "tool", id: `tool-${service}-${tool.name}` },
    el("summary", {}, el("strong", { textContent: tool.name }), " ",
      el("span", { textContent: tool.description || "" })), form, result);
}

function show(node, text, error) {
  node.hidden = false;
  node.textContent = text;
  node.classList.toggle("error", Boolean(error));
}

/// Arguments to start from: each required property's default, or an empty value of its type.
function example(schema) {
  const out = {};
  const props = (schema && schema.properties) || {};
  for (const name of (schema && schema.required) || []) {
    const p = props[name] || {};
    out[name] = p.default !== undefined ? p.default
      : p.type === "number" || p.type === "integer" ? 0
      : p.type === "boolean" ? false
      : p.type === "object" ? {} : p.type === "array" ? [] : "";
  }
  return out;
}

function age(since) {
  const seconds = Math.max(0, (Date.now() - Date.parse(since)) / 1000);
  return seconds < 90 ? `${Math.round(seconds)} s` : `${Math.round(seconds / 60)} min`;
}

async function loadSessions() {
  const { status: code, data } = await api("GET", "/sessions?memory=true");
  const body = $("#sessions tbody");
  body.replaceChildren();
  if (code !== 200) { body.append(el("tr", {}, el("td", { textContent: "cannot list sessions: " + code }))); return; }
  for (const [id, s] of Object.entries(data)) {
    const children = Object.entries(s.children || {}).map(([name, c]) =>
      `${name}: ${c.pid} · ${c.calls} · ${age(c.started_at)} · ${c.rss_bytes ? (c.rss_bytes / 1048576).toFixed(1) + " MiB" : "?"}`);
    const close = el("button", { type: "button", textContent: "Close" });
    close.addEventListener("click", async () => {
      const r = await api("DELETE", `/sessions/${encodeURIComponent(id)}`);
      status(r.status === 200 ? `session ${id} closed` : `close failed: ${r.status}`);
      loadSessions();
      loadCalls();
    });
    body.append(el("tr", { dataset: { session: id } },
      el("td", { textContent: id }), el("td", { textContent: s.kind || "" }),
      el("td", { textContent: String(s.calls ?? "") }),
      el("td", { textContent: children.join("\n") || "none" }), el("td", {}, close)));
  }
}

async function loadCalls() {
  const { status: code, data } = await api("GET", "/audit/recent?limit=50");
  const body = $("#calls tbody");
  body.replaceChildren();
  if (code !== 200) { $("#calls-note").textContent = "The audit log is off (audit.file), or these credentials may not read it."; return; }
  $("#calls-note").textContent = "";
  for (const r of data.records.filter((r) => r.event === "tool_call")) {
    body.append(el("tr", {},
      ...[r.time, r.via, r.principal, r.service, r.tool, r.session].map((v) => el("td", { textContent: v ?? "" })),
      el("td", { className: "outcome-" + r.outcome, textContent: r.outcome + (r.error ? ` (${r.error})` : "") }),
      el("td", { textContent: String(r.duration_ms) })));
  }
}

// Metrics: a few series from the Prometheus text, sampled every 2 s, drawn as sparklines.
const series = {
  "tool calls / s": { samples: [], read: (m) => sum(m, "mcp_gateway_tool_call_seconds_count"), rate: true },
  "live sessions": { samples: [], read: (m) => sum(m, "mcp_gateway_sessions") },
  "live children": { samples: [], read: (m) => sum(m, "mcp_gateway_children") },
  "spawns / s": { samples: [], read: (m) => sum(m, "mcp_gateway_spawns_total"), rate: true },
};
let previous = null;

function sum(text, name) {
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(name + " ") || line.startsWith(name + "{")) total += Number(line.slice(line.lastIndexOf(" ") + 1)) || 0;
  }
  return total;
}

async function sampleMetrics() {
  const { status: code, data } = await api("GET", "/metrics");
  if (code !== 200 || typeof data !== "string") { $("#charts").textContent = "metrics unavailable: " + code; return; }
  const now = Date.now();
  const values = {};
  for (const [label, s] of Object.entries(series)) {
    values[label] = s.read(data);
    const point = !s.rate ? values[label]
      : previous ? (values[label] - previous.values[label]) / Math.max(0.001, (now - previous.time) / 1000) : 0;
    s.samples.push(Math.max(0, point));
    if (s.samples.length > 60) s.samples.shift();
  }
  previous = { time: now, values };
  drawCharts();
}

function drawCharts() {
  const box = $("#charts");
  if (!box.querySelector("canvas")) {
    box.replaceChildren();
    for (const label of Object.keys(series)) {
      box.append(el("figure", { className: "chart" },
        el("canvas", { width: 220, height: 60, id: "chart-" + label.replace(/\W+/g, "-") }),
        el("figcaption", { textContent: label })));
    }
  }
  for (const [label, s] of Object.entries(series)) {
    const canvas = document.getElementById("chart-" + label.replace(/\W+/g, "-"));
    const g = canvas.getContext("2d");
    g.clearRect(0, 0, canvas.width, canvas.height);
    const max = Math.max(1, ...s.samples);
    g.strokeStyle = "#0969da";
    g.beginPath();
    s.samples.forEach((v, i) => {
      const x = (i / 59) * (canvas.width - 2) + 1;
      const y = canvas.height - 2 - (v / max) * (canvas.height - 14);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
    g.fillStyle = "#57606a";
    g.font = "11px sans-serif";
    const current = s.samples[s.samples.length - 1] ?? 0;
    g.fillText(`${current.toFixed(current < 10 ? 1 : 0)} (max ${max.toFixed(0)})`, 4, 11);
  }
}

let timer = null;
async function start() {
  $("#app").hidden = false;
  $("#signout").hidden = false;
  status("signed in");
  const health = await fetch("/health").then((r) => r.json()).catch(() => ({}));
  $("#version").textContent = health.version ? "v" + health.version : "";
  await Promise.all([loadServices(), loadSessions(), loadCalls(), sampleMetrics()]);
  document.body.dataset.ready = "true";
  clearInterval(timer);
  timer = setInterval(() => { sampleMetrics(); loadSessions(); loadCalls(); }, 2000);
}

if (auth) start();
