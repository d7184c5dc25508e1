#!/usr/bin/env bash
# The whole test suite: installs the third-party test peers (git-ignored), checks formatting
# and lints, then runs every test of the workspace against real processes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-peers.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked "$@"
