#!/usr/bin/env bash
# CPU time the gateway spends per REST call, for two gateway binaries alternated in one sitting:
# the gateway's utime+stime (from /proc/<pid>/stat, its children excluded) over a 5 s wrk run,
# divided by the calls answered right. Unlike calls/s it barely moves with other load on the
# machine, so it shows what a change costs on the hot path (BENCHMARKS.md).
#
#   bash scripts/cpu-per-call.sh OLD_GATEWAY NEW_GATEWAY [ROUNDS]
#
# OLD_EXTRA / NEW_EXTRA: extra top-level config members for that side, e.g.
#   NEW_EXTRA='"telemetry": {"otlp_endpoint": "http://127.0.0.1:9", "sampling_ratio": 0},'
#
# Needs wrk (Debian `wrk`) and a release fixture (cargo build --release -p mcp-fixture). Each
# round: 8 connections on one session, then 64 connections on 64 sessions (fixture `echo`,
# sandbox on, rate limits off); every answer is checked (scripts/bench-peers/call.lua).
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$(realpath "$1"); NEW=$(realpath "$2"); ROUNDS=${3:-3}
FIX=$(realpath target/release/mcp-fixture)
[ -x "$FIX" ] || { echo "$0: $FIX is missing: cargo build --release -p mcp-fixture" >&2; exit 2; }
LUA=$(realpath scripts/bench-peers/call.lua)
AUTH="Basic $(printf 'bench:bench-pass' | base64)"
TICK=$(getconf CLK_TCK)

run() { # binary label conns sessions
  local bin=$1 label=$2 conns=$3 sessions=$4 port=$((20000 + RANDOM % 20000))
  local extra=""
  if [ "$label" = old ]; then extra=${OLD_EXTRA:-}; else extra=${NEW_EXTRA:-}; fi
  local d; d=$(mktemp -d); chmod 755 "$d"
  cat > "$d/config.json" <<JSON
{$extra "server":{"host":"127.0.0.1","port":$port,"auth_user":"bench","auth_password":"bench-pass","shutdown_grace":5},
 "services":{"fx":{"command":["$FIX"],"description":"bench","sandbox":{"enabled":true}}},
 "session":{"max_sessions_per_service":100000,"max_total_sessions":100000,"sandbox_dir":"./sandbox"},
 "rate_limiting":{"enabled":false},"logging":{"level":"WARNING"}}
JSON
  (cd "$d" && exec "$bin" -c config.json 2>/dev/null) & local pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
  local ids; ids=$(seq -s, -f 's%g' 1 "$sessions")
  local url="http://127.0.0.1:$port/services/fx/call"
  wrk -t1 -c"$conns" -d2s -s "$LUA" "$url" -- rest json "$ids" "$AUTH" - >/dev/null 2>&1 # warm
  local t0 t1 out ok wrong
  t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
  out=$(wrk -t1 -c"$conns" -d5s -s "$LUA" "$url" -- rest json "$ids" "$AUTH" - 2>&1)
  t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
  ok=$(grep -o 'ok=[0-9]*' <<<"$out" | head -1 | cut -d= -f2)
  wrong=$(grep -o 'wrong=[0-9]*' <<<"$out" | head -1 | cut -d= -f2)
  kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$d"
  printf '%s  %2d conns, %2d sessions  calls %7s  wrong %s  CPU per call %6.1f µs  (load %s)\n' \
    "$label" "$conns" "$sessions" "$ok" "$wrong" \
    "$(echo "($t1 - $t0) * 1000000 / $TICK / $ok" | bc -l)" "$(cut -d' ' -f1 /proc/loadavg)"
}

for _ in $(seq "$ROUNDS"); do
  for shape in "8 1" "64 64"; do
    # shellcheck disable=SC2086
    run "$OLD" old $shape
    # shellcheck disable=SC2086
    run "$NEW" new $shape
  done
done
