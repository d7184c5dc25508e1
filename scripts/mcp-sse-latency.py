#!/usr/bin/env python3
"""Sequential MCP `tools/call` answered as SSE, on one keep-alive connection (standard library).

Opens an MCP session on URL (initialize, notifications/initialized) as a spec-following client
(`Accept: application/json, text/event-stream`), then sends N `tools/call echo` one after the
other, checks each answer is `text/event-stream`, and prints calls/s, p50 and p99.

    scripts/mcp-sse-latency.py URL USER:PASSWORD N
    e.g. scripts/mcp-sse-latency.py http://127.0.0.1:18944/services/fx/mcp a:b 2000
"""

import base64
import http.client
import json
import sys
import time
from urllib.parse import urlsplit


def main() -> None:
    url, credentials, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    headers = {
        "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode(),
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }

    def post(body, extra=None):
        conn.request("POST", parts.path, json.dumps(body), {**headers, **(extra or {})})
        resp = conn.getresponse()
        resp.read()
        return resp

    init = post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "mcp-sse-latency", "version": "1"}}})
    session = {"mcp-session-id": init.getheader("mcp-session-id"),
               "mcp-protocol-version": "2025-11-25"}
    post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    latencies = []
    for i in range(count):
        started = time.perf_counter()
        resp = post({"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
                     "params": {"name": "echo", "arguments": {"text": "x"}}}, session)
        latencies.append(time.perf_counter() - started)
        kind = resp.getheader("content-type") or ""
        if resp.status != 200 or not kind.startswith("text/event-stream"):
            sys.exit(f"call {i}: HTTP {resp.status} {kind!r}, not an SSE answer")
    latencies.sort()
    n = len(latencies)
    print(f"{n} sequential SSE tools/call: {n / sum(latencies):.0f} calls/s, "
          f"p50 {latencies[n // 2] * 1000:.2f} ms, p99 {latencies[int(n * 0.99)] * 1000:.2f} ms")


if __name__ == "__main__":
    main()
