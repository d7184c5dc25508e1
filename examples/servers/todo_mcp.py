#!/usr/bin/env python3
"""Todo list MCP server over stdio (standard library only).

The example service of mcp-gateway: the same tools, texts and errors as the upstream
gateway's test server (`add_todo`, `list_todos`, `complete_todo`, `delete_todo`,
`clear_todos`), with a complete MCP lifecycle: version negotiation, `ping`, notifications
never answered, unknown tools refused with -32602, exit on stdin EOF. State lives in this
process, so each gateway session gets its own list.

Protocol: newline-delimited JSON-RPC 2.0 on stdin/stdout; stderr only on errors.
"""

import json
import os
import sys
import traceback
from datetime import datetime

SUPPORTED_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
LATEST_VERSION = "2025-11-25"
SERVER_INFO = {"name": "todo-mcp", "version": "1.0.0"}

TOOLS = [
    {
        "name": "add_todo",
        "description": "Add a new todo item",
        "inputSchema": {
            "type": "object",
            "properties": {
                "text": {"type": "string", "description": "The todo item text"},
                "priority": {
                    "type": "string",
                    "description": "Priority level (low, medium, high)",
                    "enum": ["low", "medium", "high"],
                    "default": "medium",
                },
            },
            "required": ["text"],
        },
    },
    {
        "name": "list_todos",
        "description": "List all todo items",
        "inputSchema": {
            "type": "object",
            "properties": {
                "status": {
                    "type": "string",
                    "description": "Filter by status (all, pending, completed)",
                    "enum": ["all", "pending", "completed"],
                    "default": "all",
                }
            },
        },
    },
    {
        "name": "complete_todo",
        "description": "Mark a todo item as completed",
        "inputSchema": {
            "type": "object",
            "properties": {"id": {"type": "integer", "description": "The todo item ID"}},
            "required": ["id"],
        },
    },
    {
        "name": "delete_todo",
        "description": "Delete a todo item",
        "inputSchema": {
            "type": "object",
            "properties": {"id": {"type": "integer", "description": "The todo item ID"}},
            "required": ["id"],
        },
    },
    {
        "name": "clear_todos",
        "description": "Clear all todo items",
        "inputSchema": {"type": "object", "properties": {}},
    },
]


class RpcError(Exception):
    """Answered as a JSON-RPC error response."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class TodoList:
    def __init__(self):
        self.todos = []
        self.next_id = 1

    def add_todo(self, args):
        text = args.get("text")
        if not text:
            raise ValueError("Text is required")
        priority = args.get("priority", "medium")
        todo = {
            "id": self.next_id,
            "text": text,
            "priority": priority,
            "status": "pending",
            "created_at": datetime.now().isoformat(),
        }
        self.todos.append(todo)
        self.next_id += 1
        return f"Added todo #{todo['id']}: {text} (priority: {priority})"

    def list_todos(self, args):
        status = args.get("status", "all")
        todos = self.todos if status == "all" else [t for t in self.todos if t["status"] == status]
        if not todos:
            return f"No {status} todos found"
        lines = [f"Todo List ({status}):"]
        for todo in todos:
            icon = "✓" if todo["status"] == "completed" else "○"
            lines.append(f"{icon} #{todo['id']} [{todo['priority']}] {todo['text']}")
        return "\n".join(lines)

    def complete_todo(self, args):
        todo_id = args.get("id")
        if not todo_id:
            raise ValueError("ID is required")
        for todo in self.todos:
            if todo["id"] == todo_id:
                if todo["status"] == "completed":
                    return f"Todo #{todo_id} is already completed"
                todo["status"] = "completed"
                todo["completed_at"] = datetime.now().isoformat()
                return f"Completed todo #{todo_id}: {todo['text']}"
        raise ValueError(f"Todo #{todo_id} not found")

    def delete_todo(self, args):
        todo_id = args.get("id")
        if not todo_id:
            raise ValueError("ID is required")
        for i, todo in enumerate(self.todos):
            if todo["id"] == todo_id:
                deleted = self.todos.pop(i)
                return f"Deleted todo #{todo_id}: {deleted['text']}"
        raise ValueError(f"Todo #{todo_id} not found")

    def clear_todos(self, args):
        count = len(self.todos)
        self.todos.clear()
        self.next_id = 1
        return f"Cleared {count} todo(s)"


def call_tool(todos, params):
    name = params.get("name")
    arguments = params.get("arguments") or {}
    if not isinstance(arguments, dict):
        raise RpcError(-32602, "arguments must be an object")
    if name not in {tool["name"] for tool in TOOLS}:
        raise RpcError(-32602, f"Unknown tool: {name}")
    try:
        text = getattr(todos, name)(arguments)
    except ValueError as e:
        # As upstream: a failed todo operation is a JSON-RPC error, not an isError result.
        raise RpcError(-32603, str(e)) from None
    return {"content": [{"type": "text", "text": text}]}


def handle_request(todos, method, params):
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
        return call_tool(todos, params)
    raise RpcError(-32601, f"Method not found: {method}")


def send(message):
    line = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    sys.stdout.buffer.write(line.encode("utf-8") + b"\n")
    sys.stdout.buffer.flush()


def error_response(msg_id, code, message):
    return {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}


def handle_line(todos, line):
    """The response to one input line, or None (notifications, responses)."""
    try:
        message = json.loads(line)
    except ValueError as e:
        print(f"todo_mcp: unparsable input line: {e}", file=sys.stderr, flush=True)
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
        return {"jsonrpc": "2.0", "id": msg_id, "result": handle_request(todos, method, params)}
    except RpcError as e:
        return error_response(msg_id, e.code, e.message)
    except Exception as e:  # a bug here must not kill the session
        traceback.print_exc(file=sys.stderr)
        return error_response(msg_id, -32603, f"Internal error: {e}")


def main():
    todos = TodoList()
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            return 0  # EOF: the client is done with us
        if not line.strip():
            continue
        response = handle_line(todos, line)
        if response is not None:
            send(response)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BrokenPipeError, KeyboardInterrupt):
        # The client went away: exit quietly (and keep Python from flushing into a dead pipe).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
