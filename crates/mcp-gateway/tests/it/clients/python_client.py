"""The official Python MCP SDK (PyPI `mcp` 2.3.0) against the gateway's /mcp: legacy sessions
(ClientSession + initialize), then the SDK's default `Client`, which speaks 2026-07-28.

Usage: python_client.py URL TOKEN. Exits non-zero with a message on the first failed check.
Services behind the gateway: `everything` (server-everything) and `fx` (mcp-fixture), so tool
names carry the service prefix.
"""

import sys

import anyio
import httpx2
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def text(result):
    return result.content[0].text if result.content else ""



async def one_session(url, token, body):
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as s:
                init = await s.initialize()
                check(init.server_info.name == "mcp-gateway", f"serverInfo {init.server_info}")
                return await body(s)


async def main(url, token):
    async def first(s):
        tools = await s.list_tools()
        names = [t.name for t in tools.tools]
        check("everything__echo" in names and "fx__echo" in names, f"tool names {names}")
        check(all(len(n) <= 64 for n in names), "names within 64 characters")
        echo = await s.call_tool("everything__echo", {"message": "hi"})
        check(text(echo) == "Echo: hi", f"echo {echo}")
        # The child's state survives between calls of one MCP session.
        on = await s.call_tool("everything__toggle-simulated-logging", {})
        off = await s.call_tool("everything__toggle-simulated-logging", {})
        check(text(on).startswith("Started"), f"first toggle {on}")
        check(text(off).startswith("Stopped"), f"second toggle {off}")
        # Progress arrives with our token.
        seen = []

        async def on_progress(progress, total, message):
            seen.append(progress)

        done = await s.call_tool(
            "everything__trigger-long-running-operation",
            {"duration": 1, "steps": 3},
            progress_callback=on_progress,
        )
        check(len(seen) == 3 and seen == sorted(seen), f"progress {seen}")
        check("completed" in text(done).lower(), f"long op result {done}")
        # Cancel: after the first progress notification, give up on the call.
        first_progress = anyio.Event()

        async def on_progress2(progress, total, message):
            first_progress.set()

        async with anyio.create_task_group() as tg:
            async def long_call():
                await s.call_tool(
                    "everything__trigger-long-running-operation",
                    {"duration": 30, "steps": 30},
                    progress_callback=on_progress2,
                )
                check(False, "the cancelled call returned")

            tg.start_soon(long_call)
            with anyio.fail_after(20):
                await first_progress.wait()
            tg.cancel_scope.cancel()
        # The session still works after the cancel.
        again = await s.call_tool("fx__echo", {"message": "still here"})
        check(text(again) == "still here", f"after cancel {again}")

    await one_session(url, token, first)

    async def second(s):
        # A new MCP session has a new child: the toggle starts again.
        on = await s.call_tool("everything__toggle-simulated-logging", {})
        check(text(on).startswith("Started"), f"new session toggle {on}")

    await one_session(url, token, second)

    # The SDK's default mode probes server/discover: the stateless 2026-07-28 revision.
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        async with Client(streamable_http_client(url, http_client=http)) as modern:
            check(str(modern.protocol_version) == "2026-07-28", f"modern version {modern.protocol_version}")
            names = [t.name for t in (await modern.list_tools()).tools]
            check("fx__echo" in names, f"modern names {names}")
            echo = await modern.call_tool("fx__echo", {"message": "modern"})
            check(text(echo) == "modern", f"modern echo {echo}")
    print("python client: ok")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2])
