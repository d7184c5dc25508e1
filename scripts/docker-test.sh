#!/usr/bin/env bash
# The Docker deployment, for real. Starts a dockerd of its own in a temp dir (no registry is
# reachable: base images are made from Debian's packages with mmdebstrap and imported under the
# tags the Dockerfile's FROM lines name), builds the image from the project's Dockerfile, runs
# it with ./mcp-docker.sh (Compose v2 and v1) and with plain `docker run`, and checks: the
# README's curl examples, `mcp-docker.sh test|status|logs|shell|config|restart|stop|clean`, the
# healthcheck, secrets from an env file never in the image, escape attempts under the default
# sandbox, what `network: "none"` needs from Docker, PID 1 reaping, SIGTERM within
# shutdown_grace with an in-flight call, uid leases shared between containers, the script's
# errors without Docker, and that nothing is left running. The daemon is stopped and the temp
# dir removed at the end, also on failure. Root only (it starts dockerd).
#
# Two modes:
#   default (CI, ~2-3 min): the Dockerfile's `builder` stage is replaced by a two-line stage
#     that copies the mcp-gateway binary cargo built on this host (the debug build `cargo test
#     --workspace` has already made; debug info stripped). Every other line of the Dockerfile
#     is used as it is.
#   MCP_DOCKER_FULL=1: the Dockerfile unchanged, builder stage included (`./mcp-docker.sh
#     build`), on a stand-in for the official rust:<version>-slim-bookworm image made from
#     Debian's packages and this host's Rust toolchain; crates come from crates.io. Adds a
#     release build inside Docker (~5 min on 2 cores).
# shellcheck disable=SC2016 # single-quoted code runs in the container or in mmdebstrap's hook
set -euo pipefail
cd "$(dirname "$0")/.."
FULL=${MCP_DOCKER_FULL:-0}
STARTED=$EPOCHREALTIME

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
step() { printf '\n== [%6ss] %s\n' "$(since "$STARTED")" "$*"; }
PASSED=0
FAILED=0
ok() {
  PASSED=$((PASSED + 1))
  echo "ok    $*"
}
fail() {
  FAILED=1
  echo "FAIL  $*" >&2
  exit 1
}
# poll SECS CMD...: run CMD until it succeeds; false if it never did within SECS.
poll() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}
# wait_for SECS WHAT CMD...: poll, and fail naming WHAT (a hang guard, not a sleep).
wait_for() {
  local secs=$1 what=$2
  shift 2
  poll "$secs" "$@" || fail "waited ${secs} s for $what"
}
contains() { # contains NAME TEXT NEEDLE
  [[ $2 == *"$3"* ]] || fail "$1: expected $3 in: $2"
  ok "$1"
}

[ "$(id -u)" = 0 ] || fail "scripts/docker-test.sh starts its own dockerd: run it as root"

step "requirements: dockerd, mmdebstrap, docker-compose (v1) from Debian; Compose v2"
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v docker >/dev/null || fail "no docker CLI after installing docker.io"

T=$(mktemp -d /tmp/mcp-docker-test.XXXXXX)
DOCKERD_PID=
BRIDGES_BEFORE=$(ip -o link show type bridge 2>/dev/null | awk -F': ' '{ print $2 }' | sort)
cleanup() {
  local status=$?
  set +e
  trap - EXIT
  if [ -n "$DOCKERD_PID" ]; then
    if [ $status -ne 0 ]; then
      echo "--- containers at the failure:" >&2
      for c in $(docker ps -aq 2>/dev/null); do
        docker inspect -f '{{.Name}} {{.State.Status}} exit={{.State.ExitCode}}' "$c" >&2
        docker logs --tail 40 "$c" 2>&1 | sed 's/^/    /' >&2
      done
      echo "--- dockerd log (tail):" >&2
      tail -n 20 "$T/dockerd.log" >&2
    fi
    docker ps -aq 2>/dev/null | xargs -r docker rm -f >/dev/null 2>&1
    kill "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 150); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$DOCKERD_PID" 2>/dev/null && { echo "dockerd did not stop: SIGKILL" >&2; kill -9 "$DOCKERD_PID"; }
  fi
  # A bridge this daemon made (none should be: every network here is the host's or none).
  for bridge in $(comm -13 <(echo "$BRIDGES_BEFORE") <(ip -o link show type bridge 2>/dev/null | awk -F': ' '{ print $2 }' | sort)); do
    case $bridge in
      br-* | docker0)
        echo "removed a bridge this run's daemon left: $bridge" >&2
        ip link delete "$bridge"
        status=${status/#0/1}
        ;;
    esac
  done
  # Whatever still runs from the temp dir (a containerd or shim of this dockerd), by pid.
  for pid in $(pgrep -f "$T/" 2>/dev/null); do
    echo "left running, killed: $(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null)" >&2
    kill -9 "$pid" 2>/dev/null
    status=${status/#0/1}
  done
  awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null
  done
  rm -rf "$T"
  [ -e "$T" ] && echo "could not remove $T" >&2
  if [ "$status" -eq 0 ]; then
    printf '\n== [%6ss] docker-test: all checks passed; dockerd stopped, %s removed\n' "$(since "$STARTED")" "$T"
  else
    printf '\n== docker-test FAILED (exit %s); dockerd stopped, %s removed\n' "$status" "$T" >&2
    [ "$FAILED" = 1 ] || FAILED=1
  fi
  echo "docker-test: $PASSED passed, $FAILED failed"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Compose v2: the system's plugin if there is one, else Debian's docker-compose 2.x package
# (trixie) unpacked into this run's own DOCKER_CONFIG, leaving the system as it was.
export DOCKER_CONFIG=$T/docker-config
mkdir -p "$DOCKER_CONFIG/cli-plugins"
if ! docker compose version >/dev/null 2>&1 && [ ! -x /usr/libexec/docker/cli-plugins/docker-compose ]; then
  mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '/^deb / { print $2; exit }' /etc/apt/sources.list)
  apt_dir=$T/apt
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
  echo "deb $mirror trixie main" >"$apt_dir/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives"
    -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" -qq update
  (cd "$apt_dir" && apt-get "${apt_opts[@]}" -qq download docker-compose/trixie)
  dpkg-deb -x "$apt_dir"/docker-compose_*.deb "$apt_dir/x"
  cp "$apt_dir/x/usr/libexec/docker/cli-plugins/docker-compose" "$DOCKER_CONFIG/cli-plugins/"
fi
ok "$(docker compose version), $(docker-compose version --short 2>/dev/null | sed 's/^/docker-compose /'), $(docker --version)"
for compose in "docker compose" docker-compose; do
  # shellcheck disable=SC2086
  $compose --profile redis config -q || fail "$compose: docker-compose.yml (with the redis profile) is invalid"
done
ok "docker-compose.yml is valid for both, redis profile included (the profile is not started: see docs/docker.md)"

step "static: every workspace member has its manifest and stub in the Dockerfile's builder"
for member in $(python3 -c 'import tomllib; print(" ".join(tomllib.load(open("Cargo.toml", "rb"))["workspace"]["members"]))'); do
  grep -q "^COPY $member/Cargo.toml " Dockerfile || fail "Dockerfile: no 'COPY $member/Cargo.toml' line"
  grep -q "for crate in .*\b${member#crates/}\b" Dockerfile || fail "Dockerfile: ${member#crates/} missing from the stub loop"
done
ok "workspace members"

step "dockerd of our own in $T (--bridge=none --iptables=false: no host network changes)"
dockerd --data-root "$T/root" --exec-root "$T/exec" -H "unix://$T/docker.sock" \
  --pidfile "$T/docker.pid" --iptables=false --bridge=none >"$T/dockerd.log" 2>&1 &
DOCKERD_PID=$!
export DOCKER_HOST=unix://$T/docker.sock
wait_for 60 "dockerd to answer" docker version
ok "dockerd $(docker version -f '{{.Server.Version}}') up (pid $DOCKERD_PID)"

step "base image debian:bookworm-slim from Debian's packages (mmdebstrap)"
# What the official image is: minbase, merged /usr, no docs, man pages or locales.
slim_opts=(--variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --aptopt='APT::Install-Recommends "false"'
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*'
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin')
# MCP_DOCKER_CACHE=DIR keeps the base images' tarballs between runs (for working on this
# script; CI makes them afresh).
base_tar() { # base_tar NAME MMDEBSTRAP-ARGS...: the tarball's path
  local name=$1 tar
  shift
  tar=${MCP_DOCKER_CACHE:-$T}/$name.tar
  if [ ! -s "$tar" ]; then
    mkdir -p "$(dirname "$tar")"
    mmdebstrap --format=tar "${slim_opts[@]}" "$@" bookworm "$tar.part" >"$T/mmdebstrap-$name.log" 2>&1 ||
      { tail -20 "$T/mmdebstrap-$name.log" >&2; fail "mmdebstrap $name"; }
    mv "$tar.part" "$tar"
  fi
  echo "$tar"
}
docker import -c 'CMD ["bash"]' "$(base_tar bookworm-slim)" debian:bookworm-slim >/dev/null
ok "debian:bookworm-slim $(docker image inspect -f '{{.Size}}' debian:bookworm-slim | awk '{ printf "%.1f MB", $1 / 1e6 }')"

TARGET_DIR=$(cargo metadata --no-deps --format-version 1 | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
# The workspace's binaries as `cargo test --workspace` builds them (a no-op after it; building
# `-p mcp-gateway` alone would unify other features and replace target/debug/mcp-gateway
# under the tests' feet).
cargo build --workspace --bins --locked -q
FIXTURE=$TARGET_DIR/debug/mcp-fixture

if [ "$FULL" = 1 ]; then
  rust_version=$(sed -n 's/^ARG RUST_VERSION=//p' Dockerfile)
  host_version=$(rustc --version | awk '{ split($2, v, "."); print v[1] "." v[2] }')
  if [ "$rust_version" != "$host_version" ]; then
    echo "note  the Dockerfile builds with Rust $rust_version, this host has $host_version: the stand-in is rust:$host_version-slim-bookworm, built with --build-arg RUST_VERSION=$host_version"
    rust_version=$host_version
  fi
  step "base image rust:$rust_version-slim-bookworm: Debian's gcc and libc6-dev + this host's Rust $host_version"
  sysroot=$(rustc --print sysroot)
  # This machine's own certificate authorities come along (a TLS-inspecting proxy between
  # it and crates.io would otherwise fail cargo's downloads): part of the stand-in, not of the
  # Dockerfile; docs/docker.md says how a user behind such a proxy builds.
  rust_tar=$(base_tar "rust-$host_version" --include=ca-certificates,gcc,libc6-dev \
    --customize-hook="mkdir -p \"\$1/usr/local/cargo\" && cp -a '$sysroot/bin' '$sysroot/lib' '$sysroot/libexec' \"\$1/usr/local/cargo/\"" \
    --customize-hook='cp -a /usr/local/share/ca-certificates/. "$1/usr/local/share/ca-certificates/" && chroot "$1" update-ca-certificates')
  docker import -c 'ENV CARGO_HOME=/usr/local/cargo' \
    -c 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$rust_tar" "rust:$rust_version-slim-bookworm" >/dev/null
  ok "rust:$rust_version-slim-bookworm ($(docker run --rm "rust:$rust_version-slim-bookworm" cargo --version))"

  step "build: ./mcp-docker.sh build (the Dockerfile as it is; build network: host)"
  t=$(now)
  if [ "$rust_version" = "$(sed -n 's/^ARG RUST_VERSION=//p' Dockerfile)" ]; then
    MCP_BUILD_NETWORK=host timeout 3600 ./mcp-docker.sh build >"$T/build.log" 2>&1 ||
      { tail -40 "$T/build.log"; fail "./mcp-docker.sh build"; }
  else
    timeout 3600 docker build --network host --build-arg "RUST_VERSION=$rust_version" -t mcp-gateway:latest . \
      >"$T/build.log" 2>&1 || { tail -40 "$T/build.log"; fail "docker build --build-arg RUST_VERSION=$rust_version"; }
  fi
  BUILD_FULL=$(since "$t")
  # The same builder again (its cache), for the slim target.
  t=$(now)
  if [ "$rust_version" = "$(sed -n 's/^ARG RUST_VERSION=//p' Dockerfile)" ]; then
    MCP_BUILD_NETWORK=host MCP_IMAGE_TARGET=slim MCP_IMAGE=mcp-gateway:slim timeout 3600 \
      ./mcp-docker.sh build >"$T/build-slim.log" 2>&1 || { tail -40 "$T/build-slim.log"; fail "build --target slim"; }
  else
    timeout 3600 docker build --network host --build-arg "RUST_VERSION=$rust_version" --target slim \
      -t mcp-gateway:slim . >"$T/build-slim.log" 2>&1 || { tail -40 "$T/build-slim.log"; fail "build --target slim"; }
  fi
  BUILD_SLIM=$(since "$t")
  ok "built mcp-gateway:latest in ${BUILD_FULL} s (builder stage included), mcp-gateway:slim then in ${BUILD_SLIM} s"
else
  step "build: the Dockerfile with its builder stage replaced by this host's binary"
  ctx=$T/context
  mkdir -p "$ctx/examples"
  cp -r examples/config.json examples/servers "$ctx/examples/"
  objcopy --strip-debug "$TARGET_DIR/debug/mcp-gateway" "$ctx/mcp-gateway"
  # Lines before the first FROM (global ARGs), the stand-in builder, then every line from
  # the runtime's first stage on, unchanged.
  awk '
    /^FROM / && !seen { seen = 1; print "FROM scratch AS builder"; print "COPY mcp-gateway /usr/local/bin/mcp-gateway"; print "" }
    /^FROM debian:/ { runtime = 1 }
    !seen || runtime { print }
  ' Dockerfile >"$ctx/Dockerfile"
  grep -q '^COPY --from=builder /usr/local/bin/mcp-gateway ' "$ctx/Dockerfile" ||
    fail "the runtime stages no longer copy /usr/local/bin/mcp-gateway from the builder: update this script's stand-in"
  t=$(now)
  timeout 1800 docker build --network host -t mcp-gateway:latest "$ctx" >"$T/build.log" 2>&1 ||
    { tail -40 "$T/build.log"; fail "docker build"; }
  BUILD_FULL=$(since "$t")
  t=$(now)
  timeout 1800 docker build --network host --target slim -t mcp-gateway:slim "$ctx" >"$T/build-slim.log" 2>&1 ||
    { tail -40 "$T/build-slim.log"; fail "docker build --target slim"; }
  BUILD_SLIM=$(since "$t")
  ok "built mcp-gateway:latest in ${BUILD_FULL} s, mcp-gateway:slim then in ${BUILD_SLIM} s (debug-profile binary, $(stat -c %s "$ctx/mcp-gateway" | awk '{ printf "%.1f MB", $1 / 1e6 }'))"
fi
size() { docker image inspect -f '{{.Size}}' "$1" | awk '{ printf "%.1f MB", $1 / 1e6 }'; }
SIZE_FULL=$(size mcp-gateway:latest)
SIZE_SLIM=$(size mcp-gateway:slim)
ok "image sizes: mcp-gateway:latest $SIZE_FULL, mcp-gateway:slim $SIZE_SLIM"
image_env=$(docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' mcp-gateway:latest)
[[ $image_env != *AUTH* ]] || fail "credentials in the image's environment: $image_env"
ok "no credentials in the image's environment"

# ---------------------------------------------------------------------------------------
# Compose, the user's way. The bridge network and published ports are untested here (the
# daemon runs with --bridge=none): an override file puts the service on the host's network
# and binds the gateway to 127.0.0.1 on a free port; the rest is docker-compose.yml as is.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
cat >"$T/host-network.yml" <<'EOF'
services:
  mcp-gateway:
    network_mode: host
    environment:
      - MCP_HOST=127.0.0.1
networks:
  default:
    external: true
    name: host
EOF
: >"$T/empty.env"
export MCP_PORT=$PORT MCP_IMAGE=mcp-gateway:latest MCP_CONTAINER_NAME=mcp-gateway-test
export COMPOSE_PROJECT_NAME=mcp-gateway-test COMPOSE_FILE="docker-compose.yml:$T/host-network.yml"
export MCP_ENV_FILE=$T/empty.env # not a developer's .env
URL=http://127.0.0.1:$PORT
project_containers() { docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"; }
cid() { docker ps -q --filter "name=^/$MCP_CONTAINER_NAME\$"; }
health_status() { docker inspect -f '{{.State.Health.Status}}' "$1"; }
# No process of the container is left on this host (its cgroup names the container id).
assert_no_processes() {
  local id=$1 left
  left=$(grep -l "$id" /proc/[0-9]*/cgroup 2>/dev/null || true)
  [ -z "$left" ] || fail "processes of container ${id:0:12} still running: $left"
}

step "compose v2: ./mcp-docker.sh start (the example config, port $PORT)"
t=$(now)
timeout 180 ./mcp-docker.sh start >"$T/start.log" 2>&1 || { cat "$T/start.log"; fail "./mcp-docker.sh start"; }
START_UP=$(since "$t")
contains "start answers /health (${START_UP} s)" "$(cat "$T/start.log")" "mcp-gateway is up"
A=$(cid)
is_healthy() { [ "$(health_status "$A")" = healthy ]; }
wait_for 120 "docker to report the container healthy" is_healthy
START_HEALTHY=$(since "$t")
ok "docker reports healthy ${START_HEALTHY} s after start (first probe at the 10 s interval)"

step "the README's curl examples against the container"
readme=$(awk '/^## Try it/ { f = 1 } f && /^```sh/ { b = 1; next } b && /^```/ { exit } b { print }' README.md)
[[ $readme == *"curl"* ]] || fail "no curl block under '## Try it' in README.md"
out=$(timeout 120 bash -euo pipefail -c "${readme//localhost:8080/localhost:$PORT}")
contains "GET /health" "$out" '"status":"healthy"'
contains "GET /services" "$out" '"todo":{"description"'
contains "GET /services/todo/tools" "$out" '"name":"add_todo"'
contains "POST add_todo" "$out" 'Added todo #1: milk (priority: medium)'
contains "POST list_todos" "$out" '#1 [medium] milk'
contains "GET /sessions" "$out" '"call-1":{'
contains "DELETE /sessions/call-1" "$out" 'Session call-1 closed'

step "./mcp-docker.sh test | status | logs | shell | config"
contains "test" "$(timeout 120 ./mcp-docker.sh test 2>&1)" "all checks passed"
contains "status" "$(timeout 60 ./mcp-docker.sh status 2>&1)" "healthy: http://127.0.0.1:$PORT"
contains "logs" "$(timeout 60 ./mcp-docker.sh logs 2>&1)" "listening on http://127.0.0.1:$PORT"
contains "shell: root in the container, the gateway inside" "$(timeout 60 ./mcp-docker.sh shell -c 'id -u; mcp-gateway --version' </dev/null 2>&1)" "0
mcp-gateway "
contains "config" "$(timeout 120 ./mcp-docker.sh config 2>&1)" "examples/config.json: OK"
probes=$(docker inspect -f '{{range .State.Health.Log}}{{.ExitCode}} {{end}}' "$A")
[[ $probes =~ ^(0 )+$ ]] || fail "healthcheck probes did not all pass: $probes"
ok "every healthcheck probe so far passed ($probes)"

step "SIGTERM (docker stop) with a live child: exits 0 within shutdown_grace (10 s)"
curl -sf -u admin:changeme -H 'Content-Type: application/json' \
  -d '{"tool":"add_todo","arguments":{"text":"tea"},"session_id":"term-1"}' "$URL/services/todo/call" >/dev/null
t=$(now)
timeout 60 docker stop -t 30 "$A" >/dev/null
STOP_A=$(since "$t")
exit_code=$(docker inspect -f '{{.State.ExitCode}}' "$A")
[ "$exit_code" = 0 ] || fail "exit code $exit_code after SIGTERM"
awk -v s="$STOP_A" 'BEGIN { exit !(s < 10) }' || fail "SIGTERM took ${STOP_A} s"
contains "stopped in ${STOP_A} s, exit 0, children stopped" "$(docker logs "$A" 2>&1)" "stopped"
assert_no_processes "$A"
ok "no process of the container left on the host"
timeout 120 ./mcp-docker.sh stop >/dev/null 2>&1
[ -z "$(project_containers)" ] || fail "./mcp-docker.sh stop left containers: $(project_containers)"
ok "./mcp-docker.sh stop: no container left"

step "compose v1 (docker-compose): secrets from an env file, restart, stop"
# v1 refuses published ports with the host's network, and an override file cannot remove a
# list entry: v1 runs docker-compose.yml minus its two `ports` lines (MCP_DIR absolute, as
# the copy lives in the temp dir).
sed '/^    ports:$/,/^      - /d' docker-compose.yml >"$T/docker-compose.v1.yml"
[ "$(diff docker-compose.yml "$T/docker-compose.v1.yml" | grep -c '^<')" = 2 ] ||
  fail "docker-compose.yml's ports section is not the two lines this script strips for v1"
export COMPOSE_FILE="$T/docker-compose.v1.yml:$T/host-network.yml" MCP_DIR=$PWD
SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
printf 'MCP_AUTH_PASSWORD=%s\n' "$SECRET" >"$T/secret.env"
export MCP_COMPOSE=docker-compose MCP_ENV_FILE=$T/secret.env
timeout 180 ./mcp-docker.sh start -d >"$T/start-v1.log" 2>&1 || { cat "$T/start-v1.log"; fail "docker-compose: start -d"; }
ok "docker-compose: start -d (upstream's spelling)"
follow=$(timeout 5 ./mcp-docker.sh logs -f 2>&1 || true)
contains "logs -f (followed for 5 s)" "$follow" "listening on http://127.0.0.1:$PORT"
[ "$(curl -s -o /dev/null -w '%{http_code}' -u admin:changeme "$URL/services")" = 401 ] || fail "the example password still works"
[ "$(curl -s -o /dev/null -w '%{http_code}' -u "admin:$SECRET" "$URL/services")" = 200 ] || fail "the env file's password does not work"
ok "the env file's password replaces the example's"
contains "test (credentials from the env file)" "$(timeout 120 ./mcp-docker.sh test 2>&1)" "all checks passed"
docker history --no-trunc mcp-gateway:latest | grep -q "$SECRET" && fail "the secret is in the image's history"
ok "the secret is in neither the image's environment nor its history"
timeout 240 ./mcp-docker.sh restart >/dev/null 2>&1 || fail "docker-compose: restart"
contains "restart" "$(timeout 60 ./mcp-docker.sh status 2>&1)" "healthy"
B=$(cid)
timeout 120 ./mcp-docker.sh stop >/dev/null 2>&1
[ -z "$(project_containers)" ] || fail "docker-compose: stop left containers"
assert_no_processes "$B"
ok "docker-compose: stop, no container or process left"
unset MCP_COMPOSE MCP_DIR
export MCP_ENV_FILE=$T/empty.env COMPOSE_FILE="docker-compose.yml:$T/host-network.yml"

step "a config the gateway refuses: start fails at once with the gateway's reason"
mkdir -p "$T/bad"
echo '{"server": {"port": "abc"}, "services": {}}' >"$T/bad/config.json"
t=$(now)
bad=$(MCP_DIR=$T/bad MCP_CONFIG=config.json timeout 120 ./mcp-docker.sh start 2>&1 || true)
contains "start names the bad key (after $(since "$t") s)" "$bad" "server.port"
contains "and says the container stopped" "$bad" "the container stopped while starting"
timeout 120 ./mcp-docker.sh stop >/dev/null 2>&1
[ -z "$(project_containers)" ] || fail "stop after a failed start left containers"
ok "stop after a failed start: nothing left"

step "a fresh clone (HEAD), plain \`docker compose up -d\` without mcp-docker.sh"
# What a user who never runs the script gets: the sandbox mount point must come from git.
git clone -q "$PWD" "$T/checkout"
cd "$T/checkout"
[ -d sandbox ] || fail "a fresh clone has no sandbox/ (the tmpfs mount point)"
timeout 120 docker compose up -d >"$T/clone-up.log" 2>&1 || { cat "$T/clone-up.log"; fail "docker compose up -d in a fresh clone"; }
wait_for 60 "the fresh clone's gateway to answer /health" docker compose exec -T mcp-gateway mcp-gateway health
contains "GET /health from a fresh clone" "$(curl -s "$URL/health")" '"status":"healthy"'
timeout 120 docker compose down --timeout 30 >/dev/null 2>&1
cd "$OLDPWD"
[ -z "$(project_containers)" ] || fail "docker compose down left containers"
ok "docker compose down: nothing left"

# ---------------------------------------------------------------------------------------
# Plain `docker run`, default flags (no --privileged, no added capability), no network:
# everything goes through the operator CLI inside the container. Servers mounted from a
# directory of the test's own: the Rust fixture's escape tools, a Node.js server, the Python
# example.
H=$T/hostile
mkdir -p "$H/bin" "$H/node" "$H/sandbox" "$H/examples"
cp "$FIXTURE" "$H/bin/mcp-fixture"
cp scripts/docker-test/calc_mcp.js "$H/node/"
cp scripts/docker-test/config.json "$H/config.json"
cp -r examples/servers "$H/examples/"
PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
GATEWAY_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
# run_gateway NAME [docker run flags...] [-- command]: start the image, wait until it answers
run_gateway() {
  local name=$1 flags=()
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    flags+=("$1")
    shift
  done
  [ $# -eq 0 ] || shift
  docker run -d --name "$name" --network none -e "MCP_AUTH_PASSWORD=$PASSWORD" \
    -e "MCP_TEST_SECRET=$GATEWAY_SECRET" -e MCP_GATEWAY_CONFIG=config.json -v "$H:/app:ro" \
    --tmpfs /app/sandbox:mode=0711,exec,size=64m "${flags[@]}" mcp-gateway:latest "$@" >/dev/null
  wait_for 60 "$name to answer /health" docker exec "$name" mcp-gateway health
}
# call CONTAINER SERVICE TOOL [ARGS...]: print the tool's text (or the CLI's error); the CLI's
# exit code is then in $T/call.rc (call runs in command substitutions: a subshell).
call() {
  local c=$1 status=0
  shift
  timeout 60 docker exec "$c" mcp-gateway call --user admin --password "$PASSWORD" "$@" 2>&1 || status=$?
  echo "$status" >"$T/call.rc"
}
denied() { # denied NAME CONTAINER SERVICE TOOL ARGS...: the tool must fail (isError: exit 1)
  local name=$1 text
  shift
  text=$(call "$@")
  rc=$(<"$T/call.rc")
  [ "$rc" = 1 ] || fail "$name: expected a refused tool (exit 1), got exit $rc: $text"
  ok "$name: $text"
}
processes() { # pid state comm of every process in the container
  docker exec "$1" sh -c 'for p in /proc/[0-9]*; do read -r s < "$p/stat" 2>/dev/null && echo "$s"; done' |
    awk '{ print $1, $3, $2 }'
}

step "docker run with nothing but the image: the bundled example as /app/config.json"
docker run -d --name mcp-plain --network none mcp-gateway:latest >/dev/null
wait_for 60 "the plain container to answer /health" docker exec mcp-plain mcp-gateway health
plain=$(timeout 60 docker exec mcp-plain mcp-gateway call --user admin --password changeme todo add_todo --arg text=milk 2>&1)
contains "todo add_todo" "$plain" "Added todo #1: milk"
docker rm -f mcp-plain >/dev/null

step "docker run (default flags): escape attempts under the default High sandbox"
run_gateway mcp-hostile
who=$(call mcp-hostile hostile whoami --session s1 --json)
uid=$(python3 -c 'import json, sys; print(json.loads(json.loads(sys.argv[1])["result"])["uid"])' "$who")
gateway_pid=$(python3 -c 'import json, sys; print(json.loads(json.loads(sys.argv[1])["result"])["ppid"])' "$who")
{ [ "$uid" -ge 60000 ] && [ "$uid" -le 60999 ]; } || fail "child uid $uid not from session.child_uids"
ok "the child runs as uid $uid of its own (gateway pid $gateway_pid, root)"
denied "read the gateway's config" mcp-hostile hostile read_file --arg path=/app/config.json --session s1
denied "read the gateway's environment" mcp-hostile hostile read_file --arg path="/proc/$gateway_pid/environ" --session s1
denied "read PID 1's environment" mcp-hostile hostile read_file --arg path=/proc/1/environ --session s1
denied "a secret of the gateway's environment" mcp-hostile hostile read_env --arg name=MCP_TEST_SECRET --session s1
denied "the API password" mcp-hostile hostile read_env --arg name=MCP_AUTH_PASSWORD --session s1
denied "write outside the private dir" mcp-hostile hostile write_file --arg path=/tmp/x --arg bytes=10 --session s1
denied "list other sessions' dirs" mcp-hostile hostile list_dir --arg path=/app/sandbox --session s1
denied "ptrace the gateway" mcp-hostile hostile ptrace --arg pid="$gateway_pid" --session s1
other=$(call mcp-hostile todo add_todo --arg text=x --session s2 >/dev/null; processes mcp-hostile | awk '$3 == "(python3)" { print $1; exit }')
denied "ptrace another session's child" mcp-hostile hostile ptrace --arg pid="$other" --session s1
home=$(python3 -c 'import json, sys; print(json.loads(json.loads(sys.argv[1])["result"])["env"]["HOME"])' "$who")
contains "write in its own private dir" "$(call mcp-hostile hostile write_file --arg path="$home/f" --arg bytes=100 --session s1)" "wrote 100 bytes"
forks=$(call mcp-hostile hostile fork_many --arg count=1000 --session s1)
started=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["started"])' "$forks")
[ "$started" -lt 10 ] || fail "fork_many started $started processes under max_processes 10"
ok "a fork bomb stops at max_processes 10 (RLIMIT_NPROC of its uid): $forks"
contains "Node.js server (High sandbox)" "$(call mcp-hostile calc add --arg a=2 --arg b=3)" "5"
contains "Node.js version" "$(call mcp-hostile calc node_version)" "v"
contains "Python server (High sandbox)" "$(call mcp-hostile todo add_todo --arg text=milk)" "Added todo #1: milk"
daemon=$(call mcp-hostile hostile spawn_daemon --session d1)
timeout 30 docker exec mcp-hostile mcp-gateway close d1 --user admin --password "$PASSWORD" >/dev/null
gone() { ! processes mcp-hostile | awk -v p="$daemon" '$1 == p { found = 1 } END { exit !found }'; }
wait_for 30 "the setsid daemon $daemon to be killed and reaped" gone
zombies=$(processes mcp-hostile | awk '$2 == "Z"')
[ -z "$zombies" ] || fail "zombies in the container: $zombies"
ok "a setsid daemon is killed at DELETE and reaped by tini (no zombie)"
isolated=$(call mcp-hostile isolated whoami)
rc=$(<"$T/call.rc")
[ "$rc" = 8 ] || fail "network none without CAP_SYS_ADMIN: expected 503 (exit 8), got $rc: $isolated"
ok "network none without CAP_SYS_ADMIN: 503, $isolated"

step "the healthcheck under upstream's default limits (50 per hour): 120 probes, then a limited route"
probes=$(timeout 120 docker exec mcp-hostile sh -c 'n=0; while [ $n -lt 120 ]; do mcp-gateway health >/dev/null || break; n=$((n + 1)); done; echo $n')
[ "$probes" = 120 ] || fail "only $probes of 120 health probes passed"
ok "120 of 120 probes healthy (upstream's /health is limited to 50 per hour)"
limited=$(timeout 120 docker exec mcp-hostile sh -c "n=0; while [ \$n -lt 60 ]; do mcp-gateway services --user admin --password $PASSWORD >/dev/null 2>&1 || { echo \"\$n exit \$?\"; exit; }; n=\$((n + 1)); done; echo none")
[[ $limited =~ ^[0-9]+\ exit\ 8$ ]] || fail "GET /services was not limited within 60 requests: $limited"
ok "GET /services is limited after $limited (429), /health never"

step "SIGTERM with a call in flight: it finishes, then the container exits 0 within shutdown_grace"
timeout 60 docker exec mcp-hostile mcp-gateway call --user admin --password "$PASSWORD" \
  hostile sleep --arg ms=3000 --session drain >"$T/drain.out" 2>&1 &
drain=$!
in_flight() { docker logs mcp-hostile 2>&1 | grep -q 'child started service=hostile session=drain'; }
wait_for 30 "the in-flight call's child" in_flight
t=$(now)
timeout 60 docker stop -t 30 mcp-hostile >/dev/null
STOP_B=$(since "$t")
wait "$drain" || fail "the in-flight call failed: $(cat "$T/drain.out")"
contains "the in-flight call completed" "$(cat "$T/drain.out")" "slept 3000"
[ "$(docker inspect -f '{{.State.ExitCode}}' mcp-hostile)" = 0 ] || fail "exit code after SIGTERM"
awk -v s="$STOP_B" 'BEGIN { exit !(s < 10) }' || fail "SIGTERM took ${STOP_B} s"
ok "exit 0 ${STOP_B} s after SIGTERM (3 s of it the call)"
assert_no_processes "$(docker inspect -f '{{.Id}}' mcp-hostile)"
docker rm mcp-hostile >/dev/null
ok "no process left"

step "network: \"none\" needs --cap-add SYS_ADMIN (and nothing else: not seccomp=unconfined, not NET_ADMIN)"
for variant in "--security-opt seccomp=unconfined" "--cap-add NET_ADMIN"; do
  # shellcheck disable=SC2086
  run_gateway mcp-variant $variant
  text=$(call mcp-variant isolated whoami)
  rc=$(<"$T/call.rc")
  [ "$rc" = 8 ] || fail "$variant: network none expected to stay unavailable, got exit $rc: $text"
  ok "$variant: network none still unavailable"
  docker rm -f mcp-variant >/dev/null
done
run_gateway mcp-netadmin --cap-add SYS_ADMIN
docker exec -d mcp-netadmin python3 -m http.server --bind 127.0.0.1 9999
listening() { docker exec mcp-netadmin python3 -c 'import socket; socket.create_connection(("127.0.0.1", 9999), 1)'; }
wait_for 30 "a listener on the container's 127.0.0.1:9999" listening
contains "network host reaches 127.0.0.1" "$(call mcp-netadmin hostile connect --arg addr=127.0.0.1:9999)" "connected"
denied "network none reaches nothing" mcp-netadmin isolated connect --arg addr=127.0.0.1:9999
own=$(call mcp-netadmin hostile list_dir --arg path=/proc --session p1 | grep -E '^[0-9]+$' | tr '\n' ' ')
[ "$(wc -w <<<"$own")" = 1 ] || fail "with CAP_SYS_ADMIN a child should see only its own pid in /proc, saw: $own"
ok "with CAP_SYS_ADMIN the child's /proc shows only itself (hidepid): $own"
docker rm -f mcp-netadmin >/dev/null

step "PID 1: the gateway itself does not reap re-parented orphans (why the image runs tini)"
run_gateway mcp-pid1 --entrypoint mcp-gateway -- serve
daemon=$(call mcp-pid1 hostile spawn_daemon --session d1)
timeout 30 docker exec mcp-pid1 mcp-gateway close d1 --user admin --password "$PASSWORD" >/dev/null
zombie() { processes mcp-pid1 | awk -v p="$daemon" '$1 == p && $2 == "Z" { found = 1 } END { exit !found }'; }
if poll 30 zombie; then
  ok "without tini the killed daemon $daemon stays a zombie of the gateway as PID 1: tini is needed"
else
  echo "note  without tini no zombie was seen: the gateway may reap orphans now; see docs/docker.md"
fi
docker rm -f mcp-pid1 >/dev/null

step "uid leases: two gateways on one kernel share /run/mcp-gateway/uids (compose mounts it)"
mkdir -p "$T/uids"
uids_of() { # the uids of two live sessions' children in container $1
  local s who
  for s in u1 u2; do
    who=$(call "$1" hostile whoami --session "$s" --json)
    python3 -c 'import json, sys; print(json.loads(json.loads(sys.argv[1])["result"])["uid"])' "$who"
  done
}
run_gateway mcp-lease-a -v "$T/uids:/run/mcp-gateway/uids"
run_gateway mcp-lease-b -v "$T/uids:/run/mcp-gateway/uids"
a=$(uids_of mcp-lease-a | sort)
b=$(uids_of mcp-lease-b | sort)
[ -z "$(comm -12 <(echo "$a") <(echo "$b"))" ] || fail "shared leases, yet both containers use uid(s) $(comm -12 <(echo "$a") <(echo "$b"))"
ok "with the lock dir shared, the containers' children have distinct uids: ${a//$'\n'/ } / ${b//$'\n'/ }"
docker rm -f mcp-lease-a mcp-lease-b >/dev/null

step "mcp-docker.sh without Docker, without a daemon, without compose"
mkdir -p "$T/only-docker"
ln -s "$(command -v docker)" "$T/only-docker/docker"
contains "no docker" "$(PATH=/nonexistent /bin/bash ./mcp-docker.sh status 2>&1 || true)" "docker is not installed"
contains "daemon down" "$(DOCKER_HOST=unix://$T/none.sock ./mcp-docker.sh status 2>&1 || true)" "the Docker daemon is not reachable"
if DOCKER_CONFIG=$T/empty-config docker compose version >/dev/null 2>&1; then
  echo "skip  no compose: this system has a Compose v2 plugin of its own"
else
  contains "no compose" "$(DOCKER_CONFIG=$T/empty-config PATH=$T/only-docker /bin/bash ./mcp-docker.sh status 2>&1 || true)" "neither 'docker compose' (Compose v2) nor 'docker-compose' (v1)"
fi
contains "unknown command" "$(./mcp-docker.sh frobnicate 2>&1 || true)" "unknown command: frobnicate"
contains "clean asks first" "$(./mcp-docker.sh clean </dev/null 2>&1 || true)" "run it with -y"

step "./mcp-docker.sh clean -y: the container, its volumes and the image are gone"
timeout 180 ./mcp-docker.sh start >/dev/null 2>&1 || fail "start before clean"
timeout 180 ./mcp-docker.sh clean -y >/dev/null 2>&1 || fail "clean -y"
[ -z "$(project_containers)" ] || fail "clean left containers"
docker image inspect mcp-gateway:latest >/dev/null 2>&1 && fail "clean left the image"
[ -z "$(docker ps -aq)" ] || fail "containers left: $(docker ps -a)"
ok "nothing left in the daemon"

step "summary"
mode=$([ "$FULL" = 1 ] && echo "full Dockerfile" || echo "builder stage replaced by the host's debug binary")
echo "mode:                      $mode"
echo "build mcp-gateway:latest:  ${BUILD_FULL} s; then :slim ${BUILD_SLIM} s"
echo "image sizes:               latest $SIZE_FULL, slim $SIZE_SLIM"
echo "start -> /health answers:  ${START_UP} s (./mcp-docker.sh start)"
echo "start -> docker healthy:   ${START_HEALTHY} s"
echo "SIGTERM -> exit 0:         ${STOP_A} s idle, ${STOP_B} s with a 3 s call in flight"
