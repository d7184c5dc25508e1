#!/usr/bin/env python3
"""Greeter MCP server over stdio (standard library only).

One tool, `greet` {name, style: plain|loud}: "Hello, Ada!" or "HELLO, ADA!".
A minimal, complete MCP server to copy from: version negotiation, `ping`, notifications never
answered, unknown tools refused with -32602, argument mistakes reported as tool errors
(`isError: true`), exit on stdin EOF.

Protocol: newline-delimited JSON-RPC 2.0 on stdin/stdout; stderr only on errors.
"""

import json
import os
import sys
import traceback

SUPPORTED_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
LATEST_VERSION = "2025-11-25"
SERVER_INFO = {"name": "greeter-mcp", "version": "1.0.0"}

TOOLS = [
    {
        "name": "greet",
        "description": "Greet someone by name",
        "inputSchema": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "Who to greet"},
                "style": {
                    "type": "string",
                    "enum": ["plain", "loud"],
                    "default": "plain",
                    "description": 'plain: "Hello, Ada!"; loud: "HELLO, ADA!"',
                },
            },
            "required": ["name"],
        },
        "annotations": {"readOnlyHint": True, "openWorldHint": False},
    }
]


class RpcError(Exception):
    """Answered as a JSON-RPC error response."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class ToolError(Exception):
    """Answered as a tool result with isError: true."""


def greet(args):
    name = args.get("name")
    if not isinstance(name, str) or not name:
        raise ToolError("missing required argument: name")
    style = args.get("style", "plain")
    greeting = f"Hello, {name}!"
    if style == "plain":
        return greeting
    if style == "loud":
        return greeting.upper()
    raise ToolError(f"style must be plain or loud, got {style!r}")


HANDLERS = {"greet": greet}


def call_tool(params):
    name = params.get("name")
    arguments = params.get("arguments") or {}
    if not isinstance(arguments, dict):
        raise RpcError(-32602, "arguments must be an object")
    handler = HANDLERS.get(name)
    if handler is None:
        raise RpcError(-32602, f"Unknown tool: {name}")
    try:
        return {"content": [{"type": "text", "text": handler(arguments)}]}
    except ToolError as e:
        return {"content": [{"type": "text", "text": str(e)}], "isError": True}


def handle_request(method, params):
    if method == "initialize":
        requested = params.get("protocolVersion")
        version = requested if requested in SUPPORTED_VERSIONS else LATEST_VERSION
        return {"protocolVersion": version, "capabilities": {"tools": {}}, "serverInfo": SERVER_INFO}
    if method == "ping":
        return {}
    if method == "tools/list":
        if params.get("cursor") is not None:
            raise RpcError(-32602, f"Invalid cursor: {params['cursor']}")
        return {"tools": TOOLS}
    if method == "tools/call":
        return call_tool(params)
    raise RpcError(-32601, f"Method not found: {method}")


def send(message):
    line = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    sys.stdout.buffer.write(line.encode("utf-8") + b"\n")
    sys.stdout.buffer.flush()


def error_response(msg_id, code, message):
    return {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}


def handle_line(line):
    """The response to one input line, or None (notifications, responses)."""
    try:
        message = json.loads(line)
    except ValueError as e:
        print(f"greeter_mcp: unparsable input line: {e}", file=sys.stderr, flush=True)
        return error_response(None, -32700, f"Parse error: {e}")
    if not isinstance(message, dict):
        return error_response(None, -32600, "Invalid request: not a JSON object")
    method = message.get("method")
    if method is None or "id" not in message:
        return None  # a notification (initialized, cancelled, ...) or a response: nothing to answer
    msg_id = message["id"]
    params = message.get("params") or {}
    try:
        if not isinstance(params, dict):
            raise RpcError(-32602, "params must be an object")
        return {"jsonrpc": "2.0", "id": msg_id, "result": handle_request(method, params)}
    except RpcError as e:
        return error_response(msg_id, e.code, e.message)
    except Exception as e:  # a bug here must not kill the session
        traceback.print_exc(file=sys.stderr)
        return error_response(msg_id, -32603, f"Internal error: {e}")


def main():
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            return 0  # EOF: the client is done with us
        if not line.strip():
            continue
        response = handle_line(line)
        if response is not None:
            send(response)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BrokenPipeError, KeyboardInterrupt):
        # The client went away: exit quietly (and keep Python from flushing into a dead pipe).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
