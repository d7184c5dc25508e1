#!/usr/bin/env python3
"""Calculator MCP server over stdio (standard library only).

Four tools, each {a: number, b: number}: `add`, `subtract`, `multiply`, `divide`. The result
is the text of the number plus `structuredContent` {"result": n} (declared in `outputSchema`).
Dividing by zero, a missing or non-numeric argument, or a non-finite result is a tool error
(`isError: true`), not a protocol error. Unknown tools are refused with -32602.

Protocol: newline-delimited JSON-RPC 2.0 on stdin/stdout; stderr only on errors.
"""

import json
import math
import os
import sys
import traceback

SUPPORTED_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
LATEST_VERSION = "2025-11-25"
SERVER_INFO = {"name": "calculator-mcp", "version": "1.0.0"}


def _binary_tool(name, description):
    return {
        "name": name,
        "description": description,
        "inputSchema": {
            "type": "object",
            "properties": {
                "a": {"type": "number", "description": "First operand"},
                "b": {"type": "number", "description": "Second operand"},
            },
            "required": ["a", "b"],
        },
        "outputSchema": {
            "type": "object",
            "properties": {"result": {"type": "number"}},
            "required": ["result"],
        },
        "annotations": {"readOnlyHint": True, "idempotentHint": True, "openWorldHint": False},
    }


TOOLS = [
    _binary_tool("add", "Add two numbers: a + b"),
    _binary_tool("subtract", "Subtract b from a: a - b"),
    _binary_tool("multiply", "Multiply two numbers: a * b"),
    _binary_tool("divide", "Divide a by b: a / b (b must not be zero)"),
]


class RpcError(Exception):
    """Answered as a JSON-RPC error response."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class ToolError(Exception):
    """Answered as a tool result with isError: true."""


def number(args, key):
    value = args.get(key)
    if value is None:
        raise ToolError(f"missing required argument: {key}")
    # bool is an int in Python, but true + 1 is not arithmetic anyone means.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ToolError(f"argument {key} must be a number")
    return value


def divide(a, b):
    if b == 0:
        raise ToolError("Cannot divide by zero")
    # Exact integer quotients stay integers (6 / 3 = 2, not 2.0).
    if isinstance(a, int) and isinstance(b, int) and a % b == 0:
        return a // b
    return a / b


OPERATIONS = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "divide": divide,
}


def call_tool(params):
    name = params.get("name")
    arguments = params.get("arguments") or {}
    if not isinstance(arguments, dict):
        raise RpcError(-32602, "arguments must be an object")
    operation = OPERATIONS.get(name)
    if operation is None:
        raise RpcError(-32602, f"Unknown tool: {name}")
    try:
        result = operation(number(arguments, "a"), number(arguments, "b"))
        if isinstance(result, float) and not math.isfinite(result):
            raise ToolError("the result is not a finite number")
    except ToolError as e:
        return {"content": [{"type": "text", "text": str(e)}], "isError": True}
    return {"content": [{"type": "text", "text": str(result)}], "structuredContent": {"result": result}}


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
    line = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    sys.stdout.buffer.write(line.encode("utf-8") + b"\n")
    sys.stdout.buffer.flush()


def error_response(msg_id, code, message):
    return {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}


def handle_line(line):
    """The response to one input line, or None (notifications, responses)."""
    try:
        message = json.loads(line)
    except ValueError as e:
        print(f"calculator_mcp: unparsable input line: {e}", file=sys.stderr, flush=True)
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
