#!/usr/bin/env bash
# Run the sandbox integration tests as an unprivileged user (uid/gid 65534) on this machine's
# own kernel: the path a developer's gateway takes (no delegated cgroup: a user namespace per
# child bounds its processes). scripts/test.sh runs it after the suite; scripts/vm-test.sh does
# the same on a cgroup v2 kernel. Arguments replace the default filter: `sandbox::` and the
# reload load test (children starting and exiting all the time, each in its own namespace).
# As a normal user already, the suite itself ran that way: nothing to do here.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ "$(id -u)" -ne 0 ]; then
  echo "sandbox-as-user: not root; the suite already ran as a normal user"
  exit 0
fi
if [ "$#" -eq 0 ]; then
  set -- sandbox:: reload::twenty_reloads_under_rest_and_mcp_load_fail_no_call
fi
cargo build --workspace --locked --quiet
bin=$(cargo test -p mcp-gateway --test it --no-run --locked --message-format=json 2>/dev/null |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "it" and m.get("executable"):
        print(m["executable"])')
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
chmod 1777 "$scratch"
echo "sandbox-as-user: $bin $* as uid 65534"
cd "$scratch"
# No delegated cgroup here: a user namespace per child must bound its processes.
setpriv --reuid=65534 --regid=65534 --clear-groups \
  env HOME="$scratch" TMPDIR="$scratch" MCP_TEST_EXPECT_BOUND="own user namespace" "$bin" "$@"
