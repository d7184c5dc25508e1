#!/usr/bin/env bash
# The whole test suite: installs the third-party test peers (git-ignored), checks formatting
# and lints, runs every test of the workspace against real processes, then the sandbox tests
# where they matter most: as a normal user on this kernel (scripts/sandbox-as-user.sh) and on a
# cgroup v2 kernel in a VM as root, in a container-like place and as a normal user
# (scripts/vm-test.sh; MCP_SKIP_VM=1 skips it for a quick local run), and the Docker deployment
# with a real dockerd of its own (scripts/docker-test.sh; MCP_SKIP_DOCKER=1 skips it). After the
# cargo tests, every fuzz target runs for FUZZ_SECONDS (scripts/fuzz.sh; MCP_SKIP_FUZZ=1 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-peers.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The layering of ARCHITECTURE.md: no circle of files, no import it does not list, processes
# built only by the sandbox.
python3 scripts/import-graph.py
# MCP_TEST_EXPECT_BOUND (set by .ci/run for its kind of machine) names the process bound the
# sandbox must get here; unset, any bound will do.
cargo test --workspace --locked "$@"
if [ "${MCP_SKIP_FUZZ:-0}" = 1 ]; then
  echo "test.sh: MCP_SKIP_FUZZ=1: the fuzz targets are skipped"
else
  bash scripts/fuzz.sh
fi
bash scripts/sandbox-as-user.sh
if [ "${MCP_SKIP_VM:-0}" = 1 ]; then
  echo "test.sh: MCP_SKIP_VM=1: the cgroup v2 VM tests are skipped"
else
  bash scripts/vm-test.sh
fi
if [ "${MCP_SKIP_DOCKER:-0}" = 1 ]; then
  echo "test.sh: MCP_SKIP_DOCKER=1: the Docker tests are skipped"
else
  bash scripts/docker-test.sh
fi
