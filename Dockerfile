# mcp-gateway image: the gateway, Python 3 and Node.js for the MCP servers it runs, and tini.
#
#   docker build -t mcp-gateway .                  # default: with Node.js (~230 MB)
#   docker build -t mcp-gateway:slim --target slim .   # Python only (~136 MB)
#   docker run -p 127.0.0.1:8080:8080 mcp-gateway  # serves the bundled example (admin/changeme)
#
# The default sandbox level (High) works in a default `docker run`, as root in the
# container, without --privileged: each MCP server runs as a uid of its own. `network: "none"`
# services need `--cap-add SYS_ADMIN`. docs/docker.md has the details, compose and
# mcp-docker.sh.
#
# Plain Dockerfile syntax: builds with the classic builder and with BuildKit alike.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# --- builder: the release binary, from the workspace's lock file ----------------------------
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
WORKDIR /src
# No debug info in the image's binary (the workspace keeps it for profiling).
ENV CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    CARGO_TERM_COLOR=never
# Dependencies first, in their own layer, so editing the gateway's code does not rebuild
# them: the manifests, stub sources for every workspace member, one build. A new workspace
# member needs a line here (scripts/docker-test.sh checks).
COPY Cargo.toml Cargo.lock ./
COPY crates/mcp-gateway/Cargo.toml crates/mcp-gateway/
COPY crates/gateway-client/Cargo.toml crates/gateway-client/
COPY crates/mcp-fixture/Cargo.toml crates/mcp-fixture/
COPY crates/gateway-wire/Cargo.toml crates/gateway-wire/
COPY crates/mcp-gateway-skill/Cargo.toml crates/mcp-gateway-skill/
COPY crates/bench/Cargo.toml crates/bench/
RUN set -eu; \
    for crate in mcp-gateway gateway-client gateway-wire mcp-fixture mcp-gateway-skill bench; do \
        mkdir -p "crates/$crate/src" "crates/$crate/tests/it"; \
        echo 'fn main() {}' > "crates/$crate/src/main.rs"; \
        touch "crates/$crate/src/lib.rs"; \
        echo 'fn main() {}' > "crates/$crate/tests/it/main.rs"; \
    done; \
    cargo build --release --locked -p mcp-gateway; \
    rm -rf crates
COPY crates crates
# The copied sources may be older than the stubs' build: make cargo see them as changed.
RUN find crates -name '*.rs' -exec touch {} + \
    && cargo build --release --locked -p mcp-gateway \
    && install -m 0755 target/release/mcp-gateway /usr/local/bin/mcp-gateway \
    && mcp-gateway --version

# --- the runtime without Node.js -------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS base-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates python3 tini \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
# The bundled example as /app/config.json, so `docker run mcp-gateway` serves something and
# `-v $PWD/config.json:/app/config.json` swaps in another (as upstream's image); compose
# mounts the host's directory over /app instead. Private sandbox dirs go to /app/sandbox.
WORKDIR /app
COPY examples/config.json config.json
COPY examples/servers examples/servers
RUN mkdir -m 0711 sandbox
ENV MCP_HOST=0.0.0.0 \
    MCP_PORT=8080
EXPOSE 8080
# `mcp-gateway health` reads the address from the same config (no curl in the image);
# /health is never rate limited, so this can run forever.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["mcp-gateway", "health"]
# SIGTERM: the gateway stops accepting, lets in-flight calls finish for server.shutdown_grace
# (default 10 s), then stops every child. Give `docker stop` more than that (-t 30;
# compose: stop_grace_period).
STOPSIGNAL SIGTERM
# tini is PID 1: it reaps processes re-parented to it (the gateway does not reap strangers)
# and forwards signals to the gateway.
ENTRYPOINT ["/usr/bin/tini", "--", "mcp-gateway"]
CMD ["serve"]
LABEL org.opencontainers.image.title="mcp-gateway" \
      org.opencontainers.image.description="Runs MCP servers as sandboxed per-session children behind a REST API and an MCP endpoint" \
      org.opencontainers.image.licenses="MIT"

FROM base-slim AS slim
COPY --from=builder /usr/local/bin/mcp-gateway /usr/local/bin/mcp-gateway

# --- the default image: with Node.js ---------------------------------------------------------
FROM base-slim AS base-node
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

FROM base-node AS full
COPY --from=builder /usr/local/bin/mcp-gateway /usr/local/bin/mcp-gateway
