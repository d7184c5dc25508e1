#!/usr/bin/env bash
# CPU time the gateway spends per new sandboxed session, for gateway binaries alternated in one
# sitting: the gateway's own utime+stime (from /proc/<pid>/stat; its children and their
# exec are not counted) over N new fixture sessions (spawn + initialize + one `echo` call,
# kept alive, 8 in flight, scripts/new-sessions.py), divided by N. Unlike sessions/s it
# barely moves with other load on the machine, so it shows what a change to the spawn path
# costs (BENCHMARKS.md).
#
#   bash scripts/cpu-per-session.sh [-n N] GATEWAY... 
#
# Needs a release fixture (cargo build --release -p mcp-fixture). Each binary runs once per
# round, in the order given, for 2 rounds; sandbox on (the default level), rate limits off,
# `session.sandbox_dir` ./sandbox in a fresh directory under /tmp.
set -euo pipefail
cd "$(dirname "$0")/.."
N=600
if [ "${1:-}" = -n ]; then N=$2; shift 2; fi
FIX=$(realpath target/release/mcp-fixture)
[ -x "$FIX" ] || { echo "$0: $FIX is missing: cargo build --release -p mcp-fixture" >&2; exit 2; }
LOAD=$(realpath scripts/new-sessions.py)
TICK=$(getconf CLK_TCK)

run() { # binary
  local bin; bin=$(realpath "$1")
  local d; d=$(mktemp -d); chmod 755 "$d"
  cat > "$d/config.json" <<JSON
{"server":{"host":"127.0.0.1","port":18080,"auth_token":"t","shutdown_grace":5},
 "services":{"fx":{"command":["$FIX"]}},
 "session":{"max_sessions_per_service":100000,"max_total_sessions":100000,"sandbox_dir":"./sandbox"},
 "rate_limiting":{"enabled":false},"logging":{"level":"WARNING"}}
JSON
  (cd "$d" && exec "$bin" -c config.json 2>/dev/null) & local pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:18080/health && break; sleep 0.1; done
  python3 "$LOAD" fx 50 2 >/dev/null # warm-up
  local before after out
  before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  out=$(python3 "$LOAD" fx "$N" 8)
  after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$d"
  echo "$(date -u +%T) $1: $out | gateway CPU $(( (after - before) * 1000000 / TICK / N )) us/session (load $(cut -d' ' -f1 /proc/loadavg))"
}

for round in 1 2; do
  for bin in "$@"; do run "$bin"; done
done
