#!/usr/bin/env bash
# Run mcp-gateway in Docker with Compose: the verbs of upstream's mcp-docker.sh, working with
# `docker compose` (v2) and `docker-compose` (v1). docs/docker.md explains every setting.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: ./mcp-docker.sh COMMAND [ARGS]

  build [ARGS]     build the image (ARGS go to `compose build`, e.g. --no-cache)
  start [-d]       start in the background, wait until it answers /health, print its URL
                   (-d is accepted for compatibility: start always detaches)
  stop             stop and remove the container (nothing is left running)
  restart          stop, then start (picks up changes to .env and the config)
  logs [-f] [ARGS] the gateway's log (ARGS go to `compose logs`)
  status           the container, its health, and a health check run inside it
  shell [ARGS]     a shell in the running container (ARGS go to sh, e.g. -c 'id')
  test             the README's curl checks against the running container
  config           validate the config inside a fresh container and show what would run
  clean [-y]       remove the container, its volumes and the image
  help             this text

Settings (environment or .env; see .env.example): MCP_PORT, MCP_BIND, MCP_DIR, MCP_CONFIG,
MCP_AUTH_USER, MCP_AUTH_PASSWORD, MCP_AUTH_TOKEN, MCP_IMAGE, MCP_IMAGE_TARGET,
MCP_ENV_FILE (another .env), MCP_COMPOSE (the compose command to use).
EOF
}

die() {
  echo "mcp-docker.sh: $*" >&2
  exit 1
}

# The compose project's directory (pure bash: the script must run to say that docker is missing).
case $0 in */*) cd "${0%/*}" ;; esac

# Read KEY=VALUE lines of the env file into the environment, without overriding what is
# already set (as compose does) and without running it as shell code.
load_env() {
  local file=${MCP_ENV_FILE:-.env} line key value
  [ -f "$file" ] || {
    [ -z "${MCP_ENV_FILE:-}" ] || die "MCP_ENV_FILE=$MCP_ENV_FILE: no such file"
    return 0
  }
  while IFS= read -r line || [ -n "$line" ]; do
    [[ $line =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
    key=${BASH_REMATCH[2]}
    value=${BASH_REMATCH[3]}
    if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then
      value=${BASH_REMATCH[1]}
    fi
    [ -n "${!key+set}" ] || export "$key=$value"
  done <"$file"
}

# Docker and a compose, with a clear word when either is missing or the daemon is down.
check_docker() {
  command -v docker >/dev/null 2>&1 ||
    die "docker is not installed (or not on PATH): install Docker Engine or Docker Desktop first"
  local err
  if ! err=$(docker info 2>&1 >/dev/null); then
    case $err in
      *"permission denied"*)
        die "no permission to use the Docker daemon (${DOCKER_HOST:-/var/run/docker.sock}): add your user to the docker group, or run with sudo" ;;
      *)
        die "the Docker daemon is not reachable at ${DOCKER_HOST:-unix:///var/run/docker.sock}: is it running? (e.g. sudo systemctl start docker)
docker said: $(printf '%s' "$err" | tail -n 1)" ;;
    esac
  fi
  if [ -n "${MCP_COMPOSE:-}" ]; then
    read -ra COMPOSE <<<"$MCP_COMPOSE"
  elif docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
  elif command -v docker-compose >/dev/null 2>&1; then
    COMPOSE=(docker-compose)
  else
    die "neither 'docker compose' (Compose v2) nor 'docker-compose' (v1) is installed: install the docker-compose-plugin (or docker-compose) package"
  fi
  if [ -n "${MCP_ENV_FILE:-}" ]; then
    COMPOSE+=(--env-file "$MCP_ENV_FILE")
  fi
  export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-mcp-gateway}
}

compose() {
  "${COMPOSE[@]}" "$@"
}

# The config the container serves: MCP_CONFIG, else ./config.json when there is one (as
# upstream), else the bundled example. Relative to MCP_DIR, which is /app in the container.
choose_config() {
  export MCP_DIR=${MCP_DIR:-.}
  if [ -z "${MCP_CONFIG:-}" ]; then
    if [ -f "$MCP_DIR/config.json" ]; then
      export MCP_CONFIG=config.json
    else
      export MCP_CONFIG=examples/config.json
    fi
  fi
  [ -f "$MCP_DIR/$MCP_CONFIG" ] ||
    die "no config at $MCP_DIR/$MCP_CONFIG (MCP_DIR=$MCP_DIR, MCP_CONFIG=$MCP_CONFIG): copy examples/config.json to config.json, or set MCP_CONFIG"
  # The mount point of the private sandbox dirs inside the read-only /app.
  mkdir -p "$MCP_DIR/sandbox" ||
    die "cannot create $MCP_DIR/sandbox (the mount point of the sandbox's private dirs)"
}

container_id() {
  compose ps -q mcp-gateway 2>/dev/null | head -n 1
}

warn_exposure() {
  case ${MCP_BIND:-127.0.0.1} in
    127.* | localhost | ::1 | "[::1]") return 0 ;;
  esac
  if [ -z "${MCP_AUTH_TOKEN:-}" ] && [ "${MCP_AUTH_PASSWORD:-changeme}" = changeme ]; then
    echo "mcp-docker.sh: WARNING: publishing on ${MCP_BIND} with the example password 'changeme'; set MCP_AUTH_PASSWORD or MCP_AUTH_TOKEN in .env" >&2
  fi
}

wait_healthy() {
  local id state deadline=$((SECONDS + ${MCP_START_TIMEOUT:-90}))
  id=$(container_id)
  [ -n "$id" ] || die "compose started no mcp-gateway container"
  while :; do
    state=$(docker inspect -f '{{.State.Status}} {{.RestartCount}}' "$id" 2>/dev/null || echo gone)
    case $state in
      "running 0" | "created 0") state=${state% 0} ;;
      *)
        compose logs --tail 30 mcp-gateway >&2 || true
        die "the container stopped while starting (state: $state); its log is above"
        ;;
    esac
    if [ "$state" = running ] && compose exec -T mcp-gateway mcp-gateway health >/dev/null 2>&1; then
      return 0
    fi
    if [ $SECONDS -ge $deadline ]; then
      compose logs --tail 30 mcp-gateway >&2 || true
      die "no answer on /health after ${MCP_START_TIMEOUT:-90} s; its log is above"
    fi
    sleep 0.5
  done
}

cmd_start() {
  choose_config
  warn_exposure
  compose up -d
  wait_healthy
  echo "mcp-gateway is up: http://127.0.0.1:${MCP_PORT:-8080} (config $MCP_DIR/$MCP_CONFIG; ./mcp-docker.sh logs -f)"
}

cmd_stop() {
  compose down --remove-orphans --timeout 30
}

cmd_status() {
  compose ps
  local id
  id=$(container_id)
  if [ -z "$id" ]; then
    echo "mcp-gateway is not running"
    return 1
  fi
  echo "docker health: $(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")"
  compose exec -T mcp-gateway mcp-gateway health
}

cmd_shell() {
  local tty=()
  [ -t 0 ] && [ -t 1 ] || tty=(-T)
  compose exec "${tty[@]}" mcp-gateway /bin/sh "$@"
}

# The README's curl checks, against the published port.
cmd_test() {
  command -v curl >/dev/null 2>&1 || die "test needs curl on this host"
  local url=${MCP_URL:-http://127.0.0.1:${MCP_PORT:-8080}}
  local auth=(-u "${MCP_AUTH_USER:-admin}:${MCP_AUTH_PASSWORD:-changeme}")
  [ -z "${MCP_AUTH_TOKEN:-}" ] || auth=(-H "Authorization: Bearer $MCP_AUTH_TOKEN")
  local session="mcp-docker-test-$$" failed=0 body
  check() { # check NAME EXPECTED-STATUS EXPECTED-TEXT CURL-ARGS...
    local name=$1 want=$2 text=$3 status
    shift 3
    body=$(curl -sS -m 30 -w '\n%{http_code}' "$@" 2>&1) || true
    status=${body##*$'\n'}
    body=${body%$'\n'*}
    if [ "$status" = "$want" ] && [[ $body == *"$text"* ]]; then
      echo "ok    $name"
    else
      echo "FAIL  $name: status $status, body: $body"
      failed=1
    fi
  }
  check "GET /health" 200 '"healthy"' "$url/health"
  check "GET /services" 200 '{' "${auth[@]}" "$url/services"
  if [[ $body == *'"todo"'* ]]; then
    check "GET /services/todo/tools" 200 add_todo "${auth[@]}" "$url/services/todo/tools"
    check "POST /services/todo/call add_todo" 200 'Added todo' "${auth[@]}" \
      -H 'Content-Type: application/json' \
      -d "{\"tool\":\"add_todo\",\"arguments\":{\"text\":\"milk\"},\"session_id\":\"$session\"}" \
      "$url/services/todo/call"
    check "POST /services/todo/call list_todos" 200 milk "${auth[@]}" \
      -H 'Content-Type: application/json' \
      -d "{\"tool\":\"list_todos\",\"arguments\":{},\"session_id\":\"$session\"}" \
      "$url/services/todo/call"
    check "GET /sessions" 200 "$session" "${auth[@]}" "$url/sessions"
    check "DELETE /sessions/$session" 200 closed "${auth[@]}" -X DELETE "$url/sessions/$session"
  else
    echo "skip  tool calls: the config has no todo service"
  fi
  [ "$failed" = 0 ] || die "some checks failed"
  echo "all checks passed against $url"
}

cmd_clean() {
  if [ "${1:-}" != -y ]; then
    [ -t 0 ] || die "clean removes the container, its volumes and the image: run it with -y"
    read -r -p "Remove the mcp-gateway container, its volumes and the image ${MCP_IMAGE:-mcp-gateway:latest}? [y/N] " answer
    [[ $answer == [yY]* ]] || exit 0
  fi
  compose down --volumes --remove-orphans --timeout 30
  if docker image inspect "${MCP_IMAGE:-mcp-gateway:latest}" >/dev/null 2>&1; then
    docker image rm "${MCP_IMAGE:-mcp-gateway:latest}"
  fi
}

command=${1:-help}
[ $# -eq 0 ] || shift
case $command in
  help | -h | --help) usage; exit 0 ;;
  build | start | stop | restart | logs | status | shell | test | config | clean) ;;
  *) usage >&2; die "unknown command: $command" ;;
esac

load_env
check_docker
case $command in
  build) compose build "$@" ;;
  start) [ "${1:-}" != -d ] || shift; [ $# -eq 0 ] || die "start takes no arguments but -d"; cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  logs) compose logs "$@" ;;
  status) cmd_status ;;
  shell) cmd_shell "$@" ;;
  test) cmd_test ;;
  config) choose_config; compose run --rm --no-deps -T mcp-gateway validate ;;
  clean) cmd_clean "$@" ;;
esac
