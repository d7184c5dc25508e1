#!/usr/bin/env bash
# Install the third-party MCP servers the end-to-end tests run, into git-ignored .test-peers/.
# Idempotent: does nothing when they are already there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
peers="$root/.test-peers"
mkdir -p "$peers/node"
if [ ! -x "$peers/node/node_modules/.bin/mcp-server-everything" ] || [ ! -x "$peers/node/node_modules/.bin/mcp-server-memory" ]; then
  echo "installing npm test peers into $peers/node"
  npm install --prefix "$peers/node" --no-audit --no-fund --loglevel=error \
    @modelcontextprotocol/server-everything@2026.8.31 \
    @modelcontextprotocol/server-memory@2026.8.31
fi
# A real OpenID provider for the OAuth tests (tests/it/oauth/provider.js), in a folder of its own.
if [ ! -f "$peers/oidc/node_modules/oidc-provider/package.json" ] || ! grep -q '"version": "9.13.3"' "$peers/oidc/node_modules/oidc-provider/package.json"; then
  echo "installing oidc-provider into $peers/oidc"
  mkdir -p "$peers/oidc"
  npm install --prefix "$peers/oidc" --no-audit --no-fund --loglevel=error oidc-provider@9.13.3
fi
# playwright-core (no browser of its own: it drives Debian's chromium, which .ci/run installs)
# for the operator console's test (tests/it/console/drive.mjs).
if [ ! -f "$peers/browser/node_modules/playwright-core/package.json" ] || ! grep -q '"version": "1.65.1"' "$peers/browser/node_modules/playwright-core/package.json"; then
  echo "installing playwright-core into $peers/browser"
  mkdir -p "$peers/browser"
  npm install --prefix "$peers/browser" --no-audit --no-fund --loglevel=error playwright-core@1.65.1
fi
# The venv is made from the system's Python (Debian's /usr/bin/python3 with python3-venv),
# not from an interpreter under a private home such as pyenv's in /root: sandboxed children of
# a root gateway run as uids of their own and must be able to run it.
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
if [ -d "$peers/py" ] && [ "$(readlink -f "$peers/py/bin/python3")" != "$(readlink -f "$py")" ]; then
  echo "re-creating $peers/py with $py"
  rm -rf "$peers/py"
fi
if [ ! -x "$peers/py/bin/mcp-server-time" ]; then
  echo "installing PyPI test peers into $peers/py"
  "$py" -m venv "$peers/py"
  "$peers/py/bin/pip" install --quiet --disable-pip-version-check mcp-server-time==2026.10.19
fi
# kubernetes-validate bundles the Kubernetes schemas: the cluster tests validate deploy/k8s/
# with it offline.
if [ ! -x "$peers/py/bin/kubernetes-validate" ]; then
  echo "installing kubernetes-validate into $peers/py"
  "$peers/py/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate==1.37.0
fi
if [ ! -x "$peers/node22/node_modules/.bin/node" ] || [ ! -f "$peers/node22/node_modules/@modelcontextprotocol/conformance/dist/index.js" ]; then
  echo "installing Node 22 and the MCP conformance suite into $peers/node22"
  npm install --prefix "$peers/node22" --no-audit --no-fund --loglevel=error \
    node@22 @modelcontextprotocol/conformance@0.1.16
fi
# cargo-fuzz for scripts/fuzz.sh, built from crates.io (pinned, with its own lock file).
if [ "$(cat "$peers/cargo-fuzz/.version" 2>/dev/null)" != 0.13.2 ] || [ ! -x "$peers/cargo-fuzz/bin/cargo-fuzz" ]; then
  echo "installing cargo-fuzz into $peers/cargo-fuzz"
  cargo install --quiet --locked --force --root "$peers/cargo-fuzz" cargo-fuzz@0.13.2
  echo 0.13.2 >"$peers/cargo-fuzz/.version"
fi
