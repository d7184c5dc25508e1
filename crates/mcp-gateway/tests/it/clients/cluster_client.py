"""The official Python MCP SDK through a balancer in front of several gateway replicas: N MCP
sessions at once, each calling the fixture's `count` tool CALLS times; every session must see
its own child's counter go 1, 2, 3, ... whichever replica each request lands on.

Usage: cluster_client.py URL TOKEN N CALLS CONCURRENCY. Prints "ok <n> sessions"; exits
non-zero with every failure listed otherwise.
"""

import sys

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def one_session(url, token, calls, failures, limit):
    async with limit:
        try:
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
                async with streamable_http_client(url, http_client=http) as (read, write):
                    async with ClientSession(read, write) as s:
                        await s.initialize()
                        for k in range(1, calls + 1):
                            result = await s.call_tool("count", {})
                            got = result.content[0].text if result.content else ""
                            if got != str(k):
                                failures.append(f"call {k} answered {got!r}")
                                return
        except Exception as e:  # noqa: BLE001 - every failure is reported
            failures.append(f"{type(e).__name__}: {e}")


async def main(url, token, n, calls, concurrency):
    failures = []
    limit = anyio.Semaphore(concurrency)
    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one_session, url, token, calls, failures, limit)
    if failures:
        print(f"{len(failures)} of {n} sessions failed:", file=sys.stderr)
        for f in failures[:20]:
            print(f"  {f}", file=sys.stderr)
        sys.exit(1)
    print(f"ok {n} sessions")


if __name__ == "__main__":
    url, token, n, calls, concurrency = sys.argv[1:6]
    anyio.run(main, url, token, int(n), int(calls), int(concurrency))
