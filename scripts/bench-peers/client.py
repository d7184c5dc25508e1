#!/usr/bin/env python3
"""Session set-up and checks for scripts/bench-peers.sh (standard library only).

    client.py open  URL N AUTH      MCP: N sessions (initialize, notifications/initialized, one
                                    checked tools/call echo each); prints "PROTOCOL id1,id2,..."
    client.py rest  URL N AUTH      REST /services/{s}/call: N warm sessions; prints "- s1,s2,..."
    client.py mcpo  URL             mcpo's /echo answers; prints "- -"
    client.py leak  KIND URL AUTH   the fixture's `count` tool (a per-process counter): two calls
                                    on client A, then one on client B; prints what B saw
    client.py cpu PID[,PID...]      CPU seconds (user + system) used so far by these processes
                                    and all their descendants, live or reaped
    client.py ceiling FIXTURE N     the fixture alone: N tools/call echo written to its stdin in
                                    one go, all answers read back; prints calls/s

AUTH is an Authorization header value or "-". KIND is mcp, rest or mcpo. TOOL_PREFIX in the
environment is put before MCP tool names.
"""

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

ACCEPT = "application/json, text/event-stream"
# Tool names as the target spells them (ContextForge's gateway prefixes them: "fx-echo").
PREFIX = os.environ.get("TOOL_PREFIX", "")


class Client:
    def __init__(self, url, auth):
        self.parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(self.parts.hostname, self.parts.port, timeout=60)
        self.headers = {"Content-Type": "application/json", "Accept": ACCEPT}
        if auth and auth != "-":
            self.headers["Authorization"] = auth

    def post(self, body, extra=None, path=None):
        self.conn.request("POST", path or self.parts.path, json.dumps(body),
                          {**self.headers, **(extra or {})})
        resp = self.conn.getresponse()
        data = resp.read().decode()
        if resp.getheader("connection", "").lower() == "close":
            self.conn.close()
        return resp, data


def rpc_result(resp, data, want_id):
    """The JSON-RPC message with id want_id, from a JSON or an SSE answer."""
    if resp.status != 200:
        raise SystemExit(f"HTTP {resp.status}: {data[:300]}")
    kind = resp.getheader("content-type") or ""
    if kind.startswith("text/event-stream"):
        messages = [json.loads(line[5:]) for line in data.splitlines() if line.startswith("data:")]
    else:
        messages = [json.loads(data)]
    for message in messages:
        if isinstance(message, dict) and message.get("id") == want_id:
            if "error" in message:
                raise SystemExit(f"JSON-RPC error: {message['error']}")
            return message["result"]
    raise SystemExit(f"no answer with id {want_id} in {data[:300]}")


def text_of(result):
    return result["content"][0]["text"]


def mcp_session(url, auth):
    c = Client(url, auth)
    resp, data = c.post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "bench-peers", "version": "1"}}})
    result = rpc_result(resp, data, 1)
    session = resp.getheader("mcp-session-id")
    extra = {"MCP-Protocol-Version": result["protocolVersion"]}
    if session:  # (ContextForge's translate bridge answers without one: no sessions at all)
        extra["Mcp-Session-Id"] = session
    resp, data = c.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, extra)
    if resp.status not in (200, 202):
        raise SystemExit(f"{url}: notifications/initialized got HTTP {resp.status}")
    return c, extra, result["protocolVersion"]


def mcp_call(c, extra, rid, tool, args):
    resp, data = c.post({"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                         "params": {"name": PREFIX + tool, "arguments": args}}, extra)
    return text_of(rpc_result(resp, data, rid))


def rest_call(c, session, tool, args):
    resp, data = c.post({"tool": tool, "session_id": session, "arguments": args})
    if resp.status != 200:
        raise SystemExit(f"REST {tool}: HTTP {resp.status}: {data[:300]}")
    return json.loads(data)["result"]


def mcpo_call(c, tool, args):
    resp, data = c.post(args, path=f"{c.parts.path.rstrip('/')}/{tool}")
    if resp.status != 200:
        raise SystemExit(f"mcpo {tool}: HTTP {resp.status}: {data[:300]}")
    value = json.loads(data)
    while isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict):
        value = value.get("text", value)
    return str(value)


def cmd_open(url, n, auth):
    ids, version = [], "-"
    for k in range(n):
        c, extra, version = mcp_session(url, auth)
        got = mcp_call(c, extra, 2, "echo", {"text": f"warm{k}"})
        if got != f"warm{k}":
            raise SystemExit(f"{url}: echo answered {got!r}")
        ids.append(extra.get("Mcp-Session-Id", ""))
    print(version, ",".join(ids) if all(ids) else "-")


def cmd_rest(url, n, auth):
    nonce = f"{os.getpid()}-{int(time.time())}"
    ids = []
    for k in range(n):
        session = f"bench-{nonce}-{k}"
        c = Client(url, auth)
        got = rest_call(c, session, "echo", {"text": f"warm{k}"})
        if got != f"warm{k}":
            raise SystemExit(f"{url}: echo answered {got!r}")
        ids.append(session)
    print("-", ",".join(ids))


def cmd_mcpo(url):
    got = mcpo_call(Client(url, "-"), "echo", {"text": "warm"})
    if got != "warm":
        raise SystemExit(f"{url}: echo answered {got!r}")
    print("- -")


def cmd_leak(kind, url, auth):
    """Two separate clients; A counts twice, then B once. 1 = own child, 3 = shared child."""
    if kind == "mcp":
        (a, ea, _), (b, eb, _) = mcp_session(url, auth), mcp_session(url, auth)
        first = [mcp_call(a, ea, 10 + i, "count", {}) for i in range(2)]
        seen = mcp_call(b, eb, 20, "count", {})
    elif kind == "rest":
        nonce = f"{os.getpid()}-{int(time.time())}"
        a, b = Client(url, auth), Client(url, auth)
        first = [rest_call(a, f"leak-a-{nonce}", "count", {}) for _ in range(2)]
        seen = rest_call(b, f"leak-b-{nonce}", "count", {})
    else:
        a, b = Client(url, "-"), Client(url, "-")
        first = [mcpo_call(a, "count", {}) for _ in range(2)]
        seen = mcpo_call(b, "count", {})
    verdict = "own child per session" if seen == "1" else "SHARED child: B sees A's state"
    print(f"A counted {','.join(first)}; B's first count answered {seen} -> {verdict}")


def cmd_ceiling(fixture, n):
    lines = [json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "bench-peers", "version": "1"}}}),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})]
    lines += [json.dumps({"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
                          "params": {"name": "echo", "arguments": {"text": f"e{i + 1}"}}})
              for i in range(n)]
    payload = ("\n".join(lines) + "\n").encode()
    proc = subprocess.Popen([fixture], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def feed():
        proc.stdin.write(payload)
        proc.stdin.close()

    started = time.perf_counter()
    writer = threading.Thread(target=feed)
    writer.start()
    out = proc.stdout.read()
    elapsed = time.perf_counter() - started
    writer.join()
    proc.wait()
    answers = [json.loads(line) for line in out.splitlines() if line.strip()]
    right = sum(1 for a in answers if a.get("id") and "result" in a
                and a["result"]["content"][0]["text"] == f"e{a['id']}")
    print(f"fixture alone, {n} pipelined tools/call echo over stdio: {right} right answers, "
          f"{right / elapsed:.0f} calls/s ({elapsed * 1e6 / max(right, 1):.1f} us per call)")


def cmd_cpu(roots):
    """utime+stime+cutime+cstime of every process in the trees under roots, in seconds."""
    procs, kids = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        pid, ppid = int(entry), int(fields[1])
        procs[pid] = sum(int(x) for x in fields[11:15])
        kids.setdefault(ppid, []).append(pid)
    total, todo = 0, [int(p) for p in roots.split(",") if p]
    while todo:
        pid = todo.pop()
        total += procs.get(pid, 0)
        todo.extend(kids.get(pid, []))
    print(f"{total / os.sysconf('SC_CLK_TCK'):.2f}")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "open":
        cmd_open(args[0], int(args[1]), args[2])
    elif cmd == "rest":
        cmd_rest(args[0], int(args[1]), args[2])
    elif cmd == "mcpo":
        cmd_mcpo(args[0])
    elif cmd == "leak":
        cmd_leak(args[0], args[1], args[2])
    elif cmd == "cpu":
        cmd_cpu(args[0])
    elif cmd == "ceiling":
        cmd_ceiling(args[0], int(args[1]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
