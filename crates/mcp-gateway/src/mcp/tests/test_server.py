"""A scriptable MCP stdio server for the client's process tests (src/mcp/tests.rs).

Flags (argv): notify_early, bad_version, slow_init, paginate, loop_cursor, ignore_eof,
ignore_term, version=<v>, log=<path> (every line received is appended there).
"""
import json
import os
import signal
import subprocess
import sys
import time

FLAGS = {a for a in sys.argv[1:] if "=" not in a}
OPTS = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
LOG = OPTS.get("log")
STDIN = sys.stdin.buffer
STDOUT = sys.stdout.buffer


def log(line):
    if LOG:
        with open(LOG, "ab") as f:
            f.write(line.rstrip(b"\n") + b"\n")


def raw(data):
    STDOUT.write(data)
    STDOUT.flush()


def send(obj):
    raw(json.dumps(obj).encode() + b"\n")


def read():
    """The next JSON message, or None at EOF."""
    while True:
        line = STDIN.readline()
        if not line:
            return None
        log(line)
        try:
            return json.loads(line)
        except ValueError:
            continue


def result(msg, value):
    send({"jsonrpc": "2.0", "id": msg["id"], "result": value})


def error(msg, code, message):
    send({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": code, "message": message}})


def text(msg, s, **extra):
    result(msg, dict(content=[{"type": "text", "text": s}], **extra))


TOOLS = [
    {"name": n, "description": "tool " + n, "inputSchema": {"type": "object"}, "x-extra": {"kept": True}}
    for n in "abcde"
]


def tools_list(msg):
    cursor = (msg.get("params") or {}).get("cursor")
    if "loop_cursor" in FLAGS:
        return result(msg, {"tools": TOOLS[:1], "nextCursor": "same"})
    if "paginate" not in FLAGS:
        return result(msg, {"tools": TOOLS})
    start, following = {None: (0, "p2"), "p2": (2, "p3"), "p3": (4, None)}[cursor]
    body = {"tools": TOOLS[start:start + 2]}
    if following:
        body["nextCursor"] = following
    result(msg, body)


def ask(msg):
    """Ask the client things (one request reusing the pending call's id); report its answers."""
    mine = msg["id"]
    send({"jsonrpc": "2.0", "id": mine, "method": "ping"})
    send({"jsonrpc": "2.0", "id": "roots-1", "method": "roots/list"})
    send({"jsonrpc": "2.0", "id": mine + 1000, "method": "sampling/createMessage",
          "params": {"messages": [], "maxTokens": 1}})
    answers = {}
    while len(answers) < 3:
        m = read()
        if m is None:
            sys.exit(0)
        if "method" not in m:
            answers[str(m.get("id"))] = m
    text(msg, json.dumps({"ping": answers[str(mine)], "roots": answers["roots-1"],
                          "sampling": answers[str(mine + 1000)]}))


def call(msg):
    params = msg.get("params") or {}
    name, args = params.get("name"), params.get("arguments") or {}
    if name == "echo":
        return text(msg, json.dumps(args), structuredContent=args)
    if name == "env":
        return text(msg, json.dumps({"HOME": os.environ.get("HOME"), "cwd": os.getcwd()}))
    if name == "crash":
        sys.stderr.write("fatal: boom\n")
        sys.stderr.flush()
        os._exit(3)
    if name == "hang":
        return
    if name == "sleep":
        time.sleep(args["seconds"])
        return text(msg, "slept")
    if name == "stderr_flood":
        chunk = b"x" * 1023 + b"\n"
        for _ in range(args["mb"] * 1024):
            sys.stderr.buffer.write(chunk)
        sys.stderr.buffer.write(b"flood done\n")
        sys.stderr.flush()
        return text(msg, "flooded")
    if name == "garbage":
        raw(b"this is not json\n")
        raw(b"\xff\xfe\xfd not utf-8 {\n")
        raw(b"[1, 2, 3]\n")
        raw(b'{"jsonrpc": "2.0"}\n')
        raw(b"\n")
        send({"jsonrpc": "2.0", "id": 987654, "result": {"stray": True}})
        send({"jsonrpc": "2.0", "id": "not-ours", "result": {"stray": True}})
        return text(msg, "after garbage")
    if name == "huge":
        return text(msg, "y" * args["bytes"])
    if name == "notify":
        send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        send({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "hello"}})
        return text(msg, "notified")
    if name == "ask":
        return ask(msg)
    if name == "grandchild":
        child = subprocess.Popen(["sleep", "1000"])
        return text(msg, str(child.pid))
    if name == "close_stdin":
        os.close(0)
        text(msg, "closed")
        while True:
            time.sleep(1)
    if name == "fail":
        return error(msg, -32602, "bad arguments")
    error(msg, -32602, "unknown tool " + str(name))


def main():
    if "ignore_term" in FLAGS:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        msg = read()
        if msg is None:
            if "ignore_eof" in FLAGS:
                while True:
                    time.sleep(1)
            return
        method = msg.get("method")
        if method is None or "id" not in msg:
            continue
        if method == "initialize":
            if "slow_init" in FLAGS:
                continue
            if "notify_early" in FLAGS:
                send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
                send({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "early"}})
                raw(b"early garbage\n")
            version = "1999-01-01" if "bad_version" in FLAGS else msg["params"]["protocolVersion"]
            result(msg, {"protocolVersion": OPTS.get("version", version),
                         "capabilities": {"tools": {"listChanged": True}},
                         "serverInfo": {"name": "py-fixture", "version": "1.0"},
                         "instructions": "test fixture"})
        elif method == "tools/list":
            tools_list(msg)
        elif method == "tools/call":
            call(msg)
        elif method == "ping":
            result(msg, {})
        else:
            error(msg, -32601, "method not found")


main()
