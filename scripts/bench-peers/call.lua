-- wrk script for scripts/bench-peers.sh: one `echo` tool call per request, every answer checked.
--
--   wrk -t1 -c8 -d5s --latency -s call.lua URL -- MODE ACCEPT SESSIONS AUTH PROTOCOL [TOOL]
--
-- MODE      mcp  : JSON-RPC `tools/call` on a Streamable HTTP endpoint (Mcp-Session-Id header)
--           rest : gateway REST body {"tool","session_id","arguments"} (ours and upstream's)
--           mcpo : OpenAPI body {"text": ...} POSTed to mcpo's /echo
-- ACCEPT    sse  : `Accept: application/json, text/event-stream` (what the spec tells clients)
--           json : `Accept: application/json`
-- SESSIONS  comma-separated session ids (MCP session ids, or REST session_id values); requests
--           go round-robin over them ("-" for none)
-- AUTH      the Authorization header value, or "-"
-- PROTOCOL  the MCP-Protocol-Version the session negotiated, or "-"
-- TOOL      the MCP tool name (default "echo"; ContextForge's gateway calls it "fx-echo")
--
-- Every request carries a unique id (thread number * 1e9 + counter): the JSON-RPC id, and the
-- echoed text "e<id>". An answer is right when it is a 200 whose body carries an id that is
-- still outstanding (issued, not yet answered) and the text "e<id>" for that same id. Anything
-- else (other status, no id, an id never issued or answered twice, the wrong text) is wrong.
-- done() prints one line, `RESULT key=value ...`, that bench-peers.sh parses.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local function split(s, sep)
  local out = {}
  for part in string.gmatch(s, "[^" .. sep .. "]+") do
    table.insert(out, part)
  end
  return out
end

local mode, sessions, headers, tool
local counter = 0
local outstanding = {}
ok, wrong, sse, json, unmatched, bad_status = 0, 0, 0, 0, 0, 0
first_wrong = ""

function init(args)
  mode = args[1]
  tool = args[6] or "echo"
  local accept = args[2]
  sessions = (args[3] and args[3] ~= "-") and split(args[3], ",") or {}
  headers = { ["Content-Type"] = "application/json" }
  if accept == "sse" then
    headers["Accept"] = "application/json, text/event-stream"
  else
    headers["Accept"] = "application/json"
  end
  if args[4] and args[4] ~= "-" then
    headers["Authorization"] = args[4]
  end
  if args[5] and args[5] ~= "-" then
    headers["MCP-Protocol-Version"] = args[5]
  end
end

function request()
  counter = counter + 1
  local id = string.format("%d", tid * 1000000000 + counter)
  outstanding[id] = true
  local session = sessions[(counter % math.max(#sessions, 1)) + 1]
  local body
  if mode == "mcp" then
    headers["Mcp-Session-Id"] = session
    body = '{"jsonrpc":"2.0","id":' .. id ..
      ',"method":"tools/call","params":{"name":"' .. tool .. '","arguments":{"text":"e' .. id .. '"}}}'
  elseif mode == "rest" then
    body = '{"tool":"echo","session_id":"' .. session .. '","arguments":{"text":"e' .. id .. '"}}'
  else
    body = '{"text":"e' .. id .. '"}'
  end
  return wrk.format("POST", nil, headers, body)
end

local function fail(why, body)
  wrong = wrong + 1
  if first_wrong == "" then
    first_wrong = (why .. ": " .. string.sub(body or "", 1, 200)):gsub("[\r\n\t ]+", "_")
  end
end

function response(status, hdrs, body)
  local kind = hdrs["Content-Type"] or hdrs["content-type"] or ""
  if string.find(kind, "text/event-stream", 1, true) then
    sse = sse + 1
  else
    json = json + 1
  end
  if status ~= 200 then
    bad_status = bad_status + 1
    return fail("status " .. status, body)
  end
  local id
  if mode == "mcp" then
    id = string.match(body, '"id"%s*:%s*(%d+)')
  else
    id = string.match(body, '"e(%d+)"')
  end
  if id == nil then
    return fail("no id", body)
  end
  if not outstanding[id] then
    unmatched = unmatched + 1
    return fail("id " .. id .. " not outstanding", body)
  end
  outstanding[id] = nil
  if not string.find(body, '"e' .. id .. '"', 1, true) then
    return fail("text of " .. id .. " missing", body)
  end
  ok = ok + 1
end

function done(summary, latency, requests)
  local t = { ok = 0, wrong = 0, sse = 0, json = 0, unmatched = 0, bad_status = 0 }
  local first = ""
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do
      t[k] = t[k] + thread:get(k)
    end
    if first == "" then
      first = thread:get("first_wrong")
    end
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d ok=%d wrong=%d unmatched=%d " ..
    "bad_status=%d sse=%d json=%d sock_errors=%d first_wrong=%s\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    t.ok, t.wrong, t.unmatched, t.bad_status, t.sse, t.json,
    e.connect + e.read + e.write + e.timeout, first == "" and "-" or first))
end
