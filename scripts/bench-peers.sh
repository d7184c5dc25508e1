#!/usr/bin/env bash
# Side-by-side warm `tools/call` throughput: our gateway and its peers, all fronting the SAME
# stdio child (the Rust fixture `target/release/mcp-fixture`, tool `echo`), all driven by the
# SAME load generator (Debian's `wrk`, one thread, 8 connections, scripts/bench-peers/call.lua),
# one target after another in one run (issue 12, item 2).
#
#   scripts/bench-peers.sh                       # install peers, build, run, print the table
#   DURATION=1 scripts/bench-peers.sh            # smoke run (1 s per target and scenario)
#   OUT=benchmarks/DATE-peers.txt scripts/bench-peers.sh   # also keep the raw output there
#   ONLY="ours-rest supergateway" scripts/bench-peers.sh   # a subset of the targets
#
# Peers are installed idempotently from npm and PyPI into .bench-peers/ (git-ignored):
# supergateway 4.0.0 on Node 22 (npm `node@22`), mcp-proxy 0.13.0, mcpo 0.0.20,
# signalwire-agents[mcp-gateway] 1.1.0 (upstream's `mcp-gateway`), mcp-contextforge-gateway 1.0.7.
# Needs: cargo, python3 (venv), npm, wrk (`apt-get install -y wrk`), curl.
#
# Scenarios, for each target: "1x8" = one session, 8 connections sending on it at once;
# "8" = 8 sessions, 8 connections, requests round-robin over the sessions. MCP targets are
# driven as a real client: initialize, Mcp-Session-Id, notifications/initialized, then
# tools/call with `Accept: application/json, text/event-stream` (or JSON only for the
# ours-mcp-json target). Every answer is checked (call.lua): 200, its JSON-RPC id one that is
# outstanding, and the echoed text "e<id>" for that id; ids are unique per request. A target
# with wrong answers is flagged in the table and not ranked.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
here=$root/scripts/bench-peers
peers=${PEERS_DIR:-$root/.bench-peers}
dur=${DURATION:-5}
conns=8
only=${ONLY:-}
gateway=$root/target/release/mcp-gateway
fixture=$root/target/release/mcp-fixture
auth_user=bench auth_pass=bench-password
basic="Basic $(printf '%s:%s' "$auth_user" "$auth_pass" | base64)"

if [ -n "${OUT:-}" ] && [ -z "${BENCH_PEERS_TEE:-}" ]; then
  mkdir -p "$(dirname "$OUT")"
  BENCH_PEERS_TEE=1 "$0" "$@" 2>&1 | tee "$OUT"
  exit "${PIPESTATUS[0]}"
fi

work=$(mktemp -d /tmp/bench-peers.XXXXXX)
chmod 755 "$work" # our sandboxed children run as their own uid and must reach sandbox_dir
pids=()
declare -A pid_of
cleanup() {
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

log() { printf '%s\n' "$*" >&2; }
want() { [ -z "$only" ] || [[ " $only " == *" $1 "* ]]; }

# ---------------------------------------------------------------- install (idempotent)
install_venv() { # dir "spec ..." : a venv per peer; reinstalled only when the spec changes
  local stamp=$peers/$1/.bench-peers-spec
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$2" ]; then return; fi
  log "installing $2 into $peers/$1"
  rm -rf "${peers:?}/$1"
  python3 -m venv "$peers/$1"
  local -a specs
  read -ra specs <<< "$2"
  "$peers/$1/bin/pip" install -q --disable-pip-version-check "${specs[@]}" > "$peers/$1.install.log" 2>&1 \
    || { log "pip install $2 failed (see $peers/$1.install.log)"; return 1; }
  printf '%s' "$2" > "$stamp"
}
install_peers() {
  mkdir -p "$peers"
  local sg=$peers/node/node_modules/supergateway/package.json
  if [ ! -f "$sg" ] || ! grep -q '"version": "4.0.0"' "$sg" || [ ! -x "$peers/node/node_modules/.bin/node" ]; then
    log "installing supergateway@4.0.0 node@22 into $peers/node"
    npm install --no-fund --no-audit --prefix "$peers/node" supergateway@4.0.0 node@22 > "$peers/node.install.log" 2>&1
  fi
  install_venv mcp-proxy 'mcp-proxy==0.13.0'
  # mcpo 0.0.20 imports `streamablehttp_client`, gone from the mcp 2.x SDK, and passes
  # `ssl_certfile` to FastAPI(), which FastAPI >= 0.129 refuses: pin both to what it was built on
  install_venv mcpo 'mcpo==0.0.20 mcp<2 fastapi<0.129'
  install_venv upstream 'signalwire-agents[mcp-gateway]==1.1.0'
  install_venv contextforge 'mcp-contextforge-gateway==1.0.7' \
    || log "ContextForge not installed: skipped"
}

# ---------------------------------------------------------------- targets
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # port seconds
  for _ in $(seq $(($2 * 10))); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
start() { # name dir command... ; each target in its own process group
  local name=$1 dir=$2; shift 2
  mkdir -p "$dir"
  (cd "$dir" && exec setsid "$@" > "$dir/$name.log" 2>&1) &
  pids+=($!)
  pid_of[$name]=$!
}

gateway_config() { # port: the same config for ours and upstream's
  cat <<JSON
{"server": {"host": "127.0.0.1", "port": $1, "auth_user": "$auth_user", "auth_password": "$auth_pass"},
 "services": {"fx": {"command": ["$fixture"], "description": "fixture"}},
 "session": {"max_sessions_per_service": 100000, "max_total_sessions": 100000, "sandbox_dir": "./sandbox"},
 "rate_limiting": {"enabled": false, "default_limits": ["1000000 per minute"], "tools_limit": "1000000 per minute",
                   "call_limit": "1000000 per minute", "session_delete_limit": "1000000 per minute"},
 "logging": {"level": "WARNING"}}
JSON
}

# name|kind|url|auth|accept|child model|tool prefix|pids  (kind: mcp, rest, mcpo; pids: the
# processes whose trees make up the target, for its CPU time)
targets=()
add_target() { targets+=("$1|$2|$3|$4|$5|$6|${7:-}|${8:-}"); }

launch_all() {
  local port dir
  if want ours-rest || want ours-mcp-sse || want ours-mcp-json; then
    port=$(free_port); dir=$work/ours
    mkdir -p "$dir"; gateway_config "$port" > "$dir/config.json"
    start ours "$dir" "$gateway" -c config.json
    wait_port "$port" 30 || { log "ours did not start"; cat "$dir/ours.log" >&2; exit 1; }
    want ours-rest && add_target ours-rest rest "http://127.0.0.1:$port/services/fx/call" "$basic" sse "child per session" "" "${pid_of[ours]}"
    want ours-mcp-sse && add_target ours-mcp-sse mcp "http://127.0.0.1:$port/services/fx/mcp" "$basic" sse "child per session" "" "${pid_of[ours]}"
    want ours-mcp-json && add_target ours-mcp-json mcp "http://127.0.0.1:$port/services/fx/mcp" "$basic" json "child per session" "" "${pid_of[ours]}"
  fi
  if want supergateway; then
    port=$(free_port); dir=$work/supergateway
    start supergateway "$dir" env PATH="$peers/node/node_modules/.bin:$PATH" \
      supergateway --stdio "$fixture" --outputTransport streamableHttp --stateful \
      --port "$port" --logLevel none
    if wait_port "$port" 30; then
      add_target supergateway mcp "http://127.0.0.1:$port/mcp" - sse "child per session" "" "${pid_of[supergateway]}"
    else log "supergateway did not start: skipped"; fi
  fi
  if want mcp-proxy; then
    port=$(free_port); dir=$work/mcp-proxy
    start mcp-proxy "$dir" "$peers/mcp-proxy/bin/mcp-proxy" --host 127.0.0.1 --port "$port" \
      --log-level WARNING "$fixture"
    if wait_port "$port" 30; then
      add_target mcp-proxy mcp "http://127.0.0.1:$port/mcp" - sse "ONE child shared by all sessions" "" "${pid_of[mcp-proxy]}"
    else log "mcp-proxy did not start: skipped"; fi
  fi
  if want mcpo; then
    port=$(free_port); dir=$work/mcpo
    start mcpo "$dir" "$peers/mcpo/bin/mcpo" --host 127.0.0.1 --port "$port" \
      --log-level warning -- "$fixture"
    if wait_port "$port" 30; then
      add_target mcpo mcpo "http://127.0.0.1:$port" - sse "ONE child shared by all clients" "" "${pid_of[mcpo]}"
    else log "mcpo did not start: skipped"; fi
  fi
  if want upstream; then
    port=$(free_port); dir=$work/upstream
    mkdir -p "$dir"; gateway_config "$port" > "$dir/config.json"
    start upstream "$dir" "$peers/upstream/bin/mcp-gateway" -c config.json
    if wait_port "$port" 60; then
      add_target upstream rest "http://127.0.0.1:$port/services/fx/call" "$basic" sse "child per session" "" "${pid_of[upstream]}"
    else log "upstream did not start: skipped"; fi
  fi
  if want contextforge || want contextforge-gw; then
    launch_contextforge || log "ContextForge: skipped (see above)"
  fi
}

launch_contextforge() { :; }
[ -f "$here/contextforge.sh" ] && . "$here/contextforge.sh"

# ---------------------------------------------------------------- load
results=$work/results.tsv
leaks=$work/leaks.txt
: > "$results"; : > "$leaks"

children_cpu() { # file with the output of `times`: CPU seconds of the shell's reaped children
  tail -1 "$1" | awk '{ n = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); n += a[1] * 60 + a[2] } printf "%.2f", n }'
}

run_target() { # spec
  local name kind url auth accept model prefix tpids
  IFS='|' read -r name kind url auth accept model prefix tpids <<< "$1"
  export TOOL_PREFIX=$prefix
  local scenario n setup version sessions out line cpu0 cpu1
  for scenario in 1x8 8; do
    n=${scenario%x8}
    case $kind in
      mcp) setup=$(python3 "$here/client.py" open "$url" "$n" "$auth") ;;
      rest) setup=$(python3 "$here/client.py" rest "$url" "$n" "$auth") ;;
      mcpo) setup=$(python3 "$here/client.py" mcpo "$url"); url=${url%/}/echo ;;
    esac || { log "$name: set-up failed"; printf '%s\t%s\t%s\tsetup-failed\n' "$name" "$model" "$scenario" >> "$results"; continue; }
    read -r version sessions <<< "$setup"
    log "== $name, scenario $scenario: wrk -t1 -c$conns -d${dur}s --latency $url"
    cpu0=$(python3 "$here/client.py" cpu "$tpids"); times > "$work/times0"
    out=$(wrk -t1 -c"$conns" -d"${dur}s" --timeout 10s --latency -s "$here/call.lua" "$url" \
      -- "$kind" "$accept" "$sessions" "$auth" "$version" "${prefix}echo" 2>&1) || true
    printf '%s\n' "$out" | grep -E 'Requests/sec|Latency  |^ +(50|99)%|Non-2xx|Socket errors|RESULT' >&2 || true
    times > "$work/times1"; cpu1=$(python3 "$here/client.py" cpu "$tpids")
    line=$(printf '%s\n' "$out" | grep '^RESULT ' || echo "RESULT failed")
    line="$line sessions=$([ "$sessions" = - ] && echo 0 || echo "$n") target_cpu_s=$(awk "BEGIN { printf \"%.2f\", $cpu1 - $cpu0 }")"
    line="$line wrk_cpu_s=$(awk "BEGIN { printf \"%.2f\", $(children_cpu "$work/times1") - $(children_cpu "$work/times0") }")"
    printf '%s\t%s\t%s\t%s\n' "$name" "$model" "$scenario" "${line#RESULT }" >> "$results"
    [ "$kind" = mcpo ] && url=${url%/echo}
  done
  [ "$name" = ours-mcp-json ] && return # same sessions as ours-mcp-sse
  local seen
  seen=$(python3 "$here/client.py" leak "$kind" "$url" "$auth" 2>&1) || seen="leak check failed: $seen"
  printf '%s\t%s\n' "$name" "$(printf '%s' "$seen" | tr '\n' ' ')" >> "$leaks"
}

# ---------------------------------------------------------------- main
command -v wrk > /dev/null || { log "wrk is missing: apt-get install -y wrk"; exit 1; }
[ -n "${SKIP_INSTALL:-}" ] || install_peers
[ -n "${SKIP_BUILD:-}" ] || (cd "$root" && cargo build --release -q -p mcp-gateway -p mcp-fixture)

echo "# bench-peers $(date -u +%FT%TZ), commit $(git -C "$root" rev-parse --short HEAD)"
echo "# machine: nproc $(nproc),$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# load: wrk -t1 -c$conns -d${dur}s --latency -s scripts/bench-peers/call.lua; child: $fixture (echo)"
launch_all
for spec in "${targets[@]}"; do run_target "$spec"; done
echo "# child-bound ceiling: $(python3 "$here/client.py" ceiling "$fixture" 200000)"
echo "# load after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
sed 's/^/# tsv\t/' "$results"  # the raw figures, for scripts/bench-peers/table.py
echo
python3 "$here/table.py" "$results" "$leaks"
