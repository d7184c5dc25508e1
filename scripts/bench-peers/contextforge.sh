# shellcheck shell=bash disable=SC2154 # (peers, work, fixture, pid_of: set by bench-peers.sh)
# Sourced by scripts/bench-peers.sh: ContextForge's way of fronting a stdio server, the
# `mcpgateway.translate` bridge (one child, its output fanned out to every client), exposed
# as Streamable HTTP at /mcp with SSE answers (its default).
launch_contextforge() {
  local port dir py=$peers/contextforge/bin/python
  [ -x "$py" ] || { log "ContextForge is not installed"; return 1; }
  port=$(free_port); dir=$work/contextforge
  # Settings are validated at import: a JWT secret must be set even though the bridge does
  # not use it.
  start contextforge "$dir" env JWT_SECRET_KEY="bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    "$py" -m mcpgateway.translate --stdio "$fixture" --expose-streamable-http \
    --host 127.0.0.1 --port "$port" --logLevel warning
  if wait_port "$port" 90; then
    want contextforge && add_target contextforge mcp "http://127.0.0.1:$port/mcp" - sse "ONE child shared by all sessions" "" "${pid_of[contextforge]}"
    want contextforge-gw && { launch_contextforge_gateway "http://127.0.0.1:$port/mcp" \
      || log "ContextForge gateway: skipped"; }
    return 0
  else
    log "ContextForge translate did not start"; tail -5 "$dir/contextforge.log" >&2; return 1
  fi
}

# ContextForge's gateway proper (`mcpgateway`, FastAPI + SQLite, JWT auth) in front of that
# bridge, as its docs set it up: the bridge registered as a gateway (STREAMABLEHTTP), its
# `fx-echo` and `fx-count` tools put in a virtual server, clients on /servers/{id}/mcp.
# Its rate limits (100 tool calls a minute, then a 15-minute lock-out) are lifted, as ours
# and upstream's are.
launch_contextforge_gateway() { # bridge-url
  local port dir py=$peers/contextforge/bin/python secret token ids server
  port=$(free_port); dir=$work/contextforge-gw
  secret="bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  mkdir -p "$dir"
  start contextforge-gw "$dir" env JWT_SECRET_KEY="$secret" \
    BASIC_AUTH_PASSWORD="Bx9-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    PLATFORM_ADMIN_PASSWORD="Px9-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')Q" \
    DATABASE_URL="sqlite:///$dir/cf.db" MCPGATEWAY_UI_ENABLED=false MCPGATEWAY_ADMIN_API_ENABLED=true \
    SSRF_ALLOW_LOCALHOST=true LOG_LEVEL=WARNING RATE_LIMITING_ENABLED=false \
    TOOL_RATE_LIMIT=1000000 RATE_LIMIT_MEDIUM_RPM=1000000 RATE_LIMIT_MEDIUM_BURST=1000000 \
    "$peers/contextforge/bin/mcpgateway" --host 127.0.0.1 --port "$port"
  wait_port "$port" 120 || { log "ContextForge gateway did not start"; tail -5 "$dir/contextforge-gw.log" >&2; return 1; }
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" > /dev/null && break; sleep 0.3; done
  token=$(JWT_SECRET_KEY="$secret" "$py" -m mcpgateway.utils.create_jwt_token --username admin@example.com \
    --admin --exp 120 --secret "$secret" 2>/dev/null | tail -1)
  curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"name\":\"fx\",\"url\":\"$1\",\"transport\":\"STREAMABLEHTTP\"}" "http://127.0.0.1:$port/gateways" > /dev/null \
    || { log "ContextForge gateway: registering the bridge failed"; return 1; }
  ids=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/tools?limit=0" | python3 -c '
import json, sys
d = json.load(sys.stdin); d = d if isinstance(d, list) else d.get("items", d)
print(json.dumps([t["id"] for t in d if t["name"] in ("fx-echo", "fx-count")]))')
  server=$(curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"server\":{\"name\":\"fxs\",\"associated_tools\":$ids}}" "http://127.0.0.1:$port/servers" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])') \
    || { log "ContextForge gateway: creating the virtual server failed"; return 1; }
  add_target contextforge-gw mcp "http://127.0.0.1:$port/servers/$server/mcp" "Bearer $token" sse \
    "ONE child shared by all sessions (behind the bridge)" fx- "${pid_of[contextforge-gw]},${pid_of[contextforge]}"
}
