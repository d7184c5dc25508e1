#!/usr/bin/env bash
# External view of warm tools/call throughput with `hey` (Debian package `hey`), the client
# upstream's baseline was measured with: our release gateway and, when installed, upstream's
# Python gateway, same Python child, one session, 1 and 8 workers, 5 s each. Then `wrk`
# (Debian `wrk`) against ours with the Rust fixture child: 8 connections on 8 sessions.
#
#   cargo build --release -p mcp-gateway
#   scripts/bench-hey.sh [path/to/upstream/mcp-gateway]   # default /tmp/upstream-venv/bin/mcp-gateway
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
gateway=${GATEWAY:-$root/target/release/mcp-gateway}
fixture=${FIXTURE:-$(dirname "$gateway")/mcp-fixture}
upstream=${1:-/tmp/upstream-venv/bin/mcp-gateway}
greeter=$root/examples/servers/greeter_mcp.py
dur=${DURATION:-5s}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

config() { # port
  cat <<JSON
{"server": {"host": "127.0.0.1", "port": $1, "auth_user": "bench", "auth_password": "bench-password"},
 "services": {"py": {"command": ["python3", "$greeter"], "description": "greeter"},
              "fx": {"command": ["$fixture"], "description": "fixture"}},
 "session": {"max_sessions_per_service": 100000, "max_total_sessions": 100000, "sandbox_dir": "./sandbox"},
 "rate_limiting": {"enabled": false, "default_limits": ["1000000 per minute"], "tools_limit": "1000000 per minute",
                   "call_limit": "1000000 per minute", "session_delete_limit": "1000000 per minute"},
 "logging": {"level": "WARNING"}}
JSON
}

run() { # name binary
  local name=$1 bin=$2 port dir
  port=$(free_port); dir=$work/$name; mkdir -p "$dir"
  config "$port" > "$dir/config.json"
  (cd "$dir" && exec "$bin" -c config.json >/dev/null 2>&1) & pids+=($!)
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.05; done
  local body='{"tool":"greet","session_id":"hey","arguments":{"name":"Ada"}}'
  local url="http://127.0.0.1:$port/services/py/call"
  curl -sf -u bench:bench-password -H 'content-type: application/json' -d "$body" "$url" >/dev/null
  for c in 1 8; do
    echo "== $name: hey -z $dur -c $c (warm greet, one session)"
    # (hey's -a is not sent with -m POST here: pass the header ourselves)
    hey -z "$dur" -c "$c" -m POST -H "Authorization: Basic $(printf bench:bench-password | base64)" \
      -T application/json -d "$body" "$url" \
      | grep -E 'Requests/sec|  50% in|  99% in|^  \[[0-9]{3}\]' || true
  done
  if [ "$name" = ours ]; then
    cat > "$dir/post.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  local body = '{"tool":"echo","session_id":"wrk-' .. (n % 8) .. '","arguments":{"text":"hello"}}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json",
    ["Authorization"] = "Basic YmVuY2g6YmVuY2gtcGFzc3dvcmQ="}, body)
end
LUA
    echo "== $name: wrk -t1 -c8 -d$dur --latency (fixture echo, 8 sessions)"
    wrk -t1 -c8 -d"$dur" --latency -s "$dir/post.lua" "http://127.0.0.1:$port/services/fx/call" \
      | grep -E 'Requests/sec|^ +50%|^ +99%|Non-2xx' || true
  fi
}

echo "machine: $(nproc) cpu, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
run ours "$gateway"
if [ -x "$upstream" ]; then run upstream "$upstream"; else echo "upstream not found at $upstream: skipped"; fi
