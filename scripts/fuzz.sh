#!/usr/bin/env bash
# Build every cargo-fuzz target in fuzz/ and run each for a bounded time (docs/fuzzing.md).
# Fails on any crash, failed assertion, hang (-timeout) or runaway memory (-rss_limit_mb), and
# when a saved reproducer in fuzz/regressions/<target>/ fails again.
#
#   FUZZ_SECONDS   how long each target runs (default 60)
#   FUZZ_JOBS      how many targets run side by side (default: the number of cores)
#   FUZZ_TARGETS   which targets, space-separated (default: all of `cargo fuzz list`)
#
# New inputs found on the way go to the git-ignored fuzz/target/corpus/<target>/ (kept between
# local runs); the committed seeds in fuzz/corpus/<target>/ are only read. A failing input is
# saved as fuzz/artifacts/<target>/crash-* (or timeout-*, oom-*).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-$(nproc)}
# One input may take this long (seconds) and the process this much memory (MiB), or it fails
# (-rss_limit_mb; -malloc_limit_mb only bites in a build with a sanitizer).
per_input_timeout=10
rss_mb=2048

bash scripts/install-test-peers.sh
export PATH="$root/.test-peers/cargo-fuzz/bin:$PATH"
# Nightly when rustup has it; else the default toolchain, which builds these targets too: with
# no sanitizer, cargo-fuzz passes rustc no nightly-only flag.
toolchain=(+nightly)
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: no nightly toolchain: building with the default one"
  toolchain=()
fi

# Release with debug assertions and overflow checks. No sanitizer: the fuzzed code is safe Rust,
# and ASan would double the build; panics, hangs and memory are caught without it.
cargo fmt --manifest-path fuzz/Cargo.toml --check
flags=(-O --debug-assertions --sanitizer none --codegen-units 16)
start=$(date +%s)
cargo "${toolchain[@]}" fuzz build "${flags[@]}"
echo "fuzz.sh: built in $(($(date +%s) - start)) s"
bin="fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release"
read -r -a targets <<<"${FUZZ_TARGETS:-$(cargo "${toolchain[@]}" fuzz list | tr '\n' ' ')}"

failed=()
# Saved reproducers of past findings: each is run once and must pass now.
for t in "${targets[@]}"; do
  dir="fuzz/regressions/$t"
  if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
    if ! "$bin/$t" "$dir"/* >"fuzz/target/regressions-$t.log" 2>&1; then
      echo "fuzz.sh: $t: a saved reproducer in $dir fails again:" >&2
      tail -n 30 "fuzz/target/regressions-$t.log" >&2
      failed+=("$t (regressions)")
    fi
  fi
done

run() {
  local t=$1
  mkdir -p "fuzz/target/corpus/$t" "fuzz/artifacts/$t"
  "$bin/$t" "fuzz/target/corpus/$t" "fuzz/corpus/$t" \
    -max_total_time="$seconds" -timeout="$per_input_timeout" -rss_limit_mb="$rss_mb" \
    -malloc_limit_mb="$rss_mb" -max_len=16384 -artifact_prefix="fuzz/artifacts/$t/" \
    -print_final_stats=1 >"fuzz/target/$t.log" 2>&1
}

echo "fuzz.sh: ${targets[*]}: ${seconds} s each, $jobs at a time"
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
    wait -n || true
  done
  rm -f "fuzz/target/$t.rc"
  (
    rc=0
    run "$t" || rc=$?
    echo "$rc" >"fuzz/target/$t.rc"
  ) &
done
wait
for t in "${targets[@]}"; do
  if [ "$(cat "fuzz/target/$t.rc")" = 0 ]; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "fuzz/target/$t.log")
    echo "fuzz.sh: $t: ok, ${runs:-?} inputs"
  else
    echo "fuzz.sh: $t FAILED (input saved in fuzz/artifacts/$t/):" >&2
    grep -v '^#[0-9]' "fuzz/target/$t.log" | tail -n 40 >&2
    failed+=("$t")
  fi
done
echo "fuzz.sh: done in $(($(date +%s) - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]}" >&2
  exit 1
fi
