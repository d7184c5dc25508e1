#!/usr/bin/env bash
# Run the sandbox integration tests on a cgroup v2 kernel (Debian 12's 6.1) in an emulated VM
# (virtme-ng, no KVM), in three places users run the gateway:
#   root       root directly on the VM's cgroup v2 host (no systemd: the gateway is in `/`)
#   container  root inside what `docker run` gives by default: its own cgroup namespace rooted
#              in a non-root cgroup, cgroup2 mounted read-only, Docker's 14 default capabilities,
#              no user namespaces (Docker's seccomp profile refuses them)
#   user       an unprivileged user (uid/gid 65534) without a delegated cgroup
#   delegated  an unprivileged user whose gateways each start in a cgroup delegated to it, as
#              `systemd-run --user --scope -p Delegate=yes mcp-gateway ...` gives (no systemd in
#              the guest: the delegation is made by hand, as systemd makes it)
# and, on request only:
#   container-plain  the reference recipe as written: own cgroup and pid namespaces, the host's
#              cgroup mount remounted read-only, all capabilities
#   v1pids     control: root with a cgroup v1 pids hierarchy (as on this project's build
#              machines) but this kernel's older Landlock (ABI 2)
#
# One VM boot serves every mode. The test binary is built on the host; the guest sees the host's
# files read-only over 9p and writes its results to .test-peers/vm-test/ (git-ignored).
#
# Usage (from anywhere; root, as on this project's machines):
#   bash scripts/vm-test.sh                        # sandbox:: tests, the README example and
#                                                  # the reload load test,
#                                                  # modes root container user delegated
#   VM_TEST_MODES=user bash scripts/vm-test.sh sandbox::a_daemon_does_not_survive_its_session
#   bash scripts/vm-test.sh sandbox:: hardening::  # arguments replace the default filter
#                                                  # `sandbox::` and go to the test binary
# Environment:
#   VM_TEST_MODES         modes to run, in order, v1pids first (default "root container user")
#   VM_TEST_TIME_SCALE    MCP_TEST_TIME_SCALE in the guest: multiplies the tests' hang guards
#                         (default 10; emulation runs exec ~50x slower than the host)
#   VM_TEST_THREADS       --test-threads of the test binary (default 2)
#   VM_TEST_MODE_TIMEOUT  seconds per mode (default 420)
#   VM_TEST_TIMEOUT       seconds for the whole VM run, boot included (default 1200)
#   VM_TEST_KERNEL        kernel image to boot (default: the newest /boot/vmlinuz-*-amd64)
#   VM_TEST_MEMORY        guest memory (default 2G)
#   VM_TEST_BACKTRACE     RUST_BACKTRACE in the guest (default 0: short failure messages)
#   VM_TEST_BENCH         N > 0: after the tests, each mode also runs the release spawn_bench
#                         (N iterations per level) there, into <mode>.bench (default 0)
# Exit status: 0 when every mode passed, 1 when a mode failed, 2 when the VM did not finish.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

VNG_VERSION=1.42
venv="$root/.test-peers/vng"
results="$root/.test-peers/vm-test" # logs of the last run
modes=${VM_TEST_MODES:-root container user delegated}
scale=${VM_TEST_TIME_SCALE:-10}
threads=${VM_TEST_THREADS:-2}
mode_timeout=${VM_TEST_MODE_TIMEOUT:-420}
overall_timeout=${VM_TEST_TIMEOUT:-1200}
memory=${VM_TEST_MEMORY:-2G}
backtrace=${VM_TEST_BACKTRACE:-0}
bench=${VM_TEST_BENCH:-0}
if [ "$#" -eq 0 ]; then
  # The sandbox tests, the README's first command (the bundled example under the default
  # High level), and 20 config reloads under load (children start and exit all the time: as a
  # normal user it caught a child's cleanup killing another child whose new user namespace
  # got the freed one's number) on each kind of host.
  set -- sandbox:: cli::the_bundled_example_serves_its_tools reload::twenty_reloads_under_rest_and_mcp_load_fail_no_call
fi

# v1pids first: the pids controller moves to a v1 hierarchy only while no v2 cgroup uses it, and
# a gateway in another mode enables it.
read -ra listed <<<"$modes"
ordered=()
for mode in "${listed[@]}"; do
  if [ "$mode" = v1pids ]; then ordered=(v1pids "${ordered[@]}"); else ordered+=("$mode"); fi
done
modes="${ordered[*]}"
for mode in $modes; do
  case $mode in
    root | container | container-plain | user | delegated | v1pids) ;;
    *) echo "vm-test: unknown mode '$mode' (root, container, container-plain, user, delegated, v1pids)" >&2; exit 2 ;;
  esac
done

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
step() { printf '\n=== vm-test: %s\n' "$*"; }

# --- host packages: QEMU, a cgroup v2 kernel, the static busybox virtme-ng puts in its initramfs.
t0=$(now)
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
compgen -G '/boot/vmlinuz-*-amd64' >/dev/null || need+=(linux-image-amd64)
# virtme-ng refuses a dynamically linked busybox (Debian's `busybox`, which initramfs-tools pulls
# in); `busybox-static` replaces it and serves initramfs-tools as well.
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
command -v file >/dev/null || need+=(file) # virtme-ng runs `file` to check that busybox is static
if [ "${#need[@]}" -gt 0 ]; then
  step "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Recommends would add ~190 packages (systemd, a GUI for QEMU, firmware): none is needed.
  if ! apt-get install -y -qq --no-install-recommends "${need[@]}"; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}"
  fi
fi

# --- virtme-ng in a venv. Debian's Python first: pyenv's lives under /root (mode 0700).
if [ "$("$venv/bin/vng" --version 2>/dev/null)" != "virtme-ng $VNG_VERSION" ]; then
  step "installing virtme-ng $VNG_VERSION into $venv"
  rm -rf "$venv"
  made=
  for py in /usr/bin/python3 python3; do
    if command -v "$py" >/dev/null && "$py" -m venv "$venv" 2>/dev/null; then
      made=1
      break
    fi
    rm -rf "$venv"
  done
  if [ -z "$made" ]; then # Debian's python3 without ensurepip
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv
    /usr/bin/python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check "virtme-ng==$VNG_VERSION"
fi
t_setup=$(since "$t0")

kernel=${VM_TEST_KERNEL:-$(find /boot -maxdepth 1 -name 'vmlinuz-*-amd64' | sort -V | tail -n 1)}
[ -f "$kernel" ] || { echo "vm-test: no kernel image $kernel" >&2; exit 2; }

# --- build on the host. `cargo test` last, so target/debug/mcp-gateway is the one it built.
step "building mcp-fixture, mcp-gateway and the integration test binary"
t0=$(now)
cargo build -p mcp-fixture -p mcp-gateway
it_bin=$(cargo test -p mcp-gateway --test it --no-run --message-format=json |
  /usr/bin/python3 -c '
import json, sys
exe = None
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg["target"]["name"] == "it":
        exe = msg["executable"]
print(exe or "")
')
[ -x "$it_bin" ] || { echo "vm-test: no test binary found in cargo's output" >&2; exit 2; }
for bin in mcp-gateway mcp-fixture; do
  [ -x "target/debug/$bin" ] || { echo "vm-test: target/debug/$bin missing" >&2; exit 2; }
done
t_build=$(since "$t0")

# --- the guest's part: parameters, then the script.
# The guest's writable share. Not inside the checkout: the checkout's own share (below) would
# be mounted over it.
scratch=$(mktemp -d /tmp/mcp-vm-test.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
# A snapshot of the binaries (hard links: cargo and the linker replace files, they do not rewrite
# them), so a build on the host while the VM runs cannot change them under the tests. The guest
# mounts them over their paths, which the test binary has compiled in.
bins=("$it_bin" "$root/target/debug/mcp-gateway" "$root/target/debug/mcp-fixture")
if [ "$bench" -gt 0 ]; then
  cargo build --release -p mcp-fixture -p mcp-gateway --example spawn_bench
  bins+=("$root/target/release/examples/spawn_bench" "$root/target/release/mcp-fixture")
fi
mkdir "$scratch/bin"
for bin in "${bins[@]}"; do
  ln "$bin" "$scratch/bin/" 2>/dev/null || cp "$bin" "$scratch/bin/"
done
{
  printf 'scratch=%q\n' "$scratch"
  printf 'it_bin=%q\n' "$it_bin"
  printf 'manifest_dir=%q\n' "$root/crates/mcp-gateway"
  printf 'bins=('
  printf '%q ' "${bins[@]}"
  printf ')\n'
  printf 'bench=%q\n' "$bench"
  printf 'modes=%q\n' "$modes"
  printf 'scale=%q\n' "$scale"
  printf 'threads=%q\n' "$threads"
  printf 'mode_timeout=%q\n' "$mode_timeout"
  printf 'backtrace=%q\n' "$backtrace"
  printf 'test_args=('
  printf '%q ' "$@"
  printf ')\n'
} >"$scratch/params.sh"

cat >"$scratch/inner.sh" <<'GUEST'
# Runs in the guest, as root, as virtme-ng's --exec command.
# shellcheck disable=SC2154 # the variables come from params.sh
# shellcheck source=/dev/null
. "$(dirname "$0")/params.sh"
# Whatever happens, power off: a process left running must not keep the VM up.
trap 'sync; echo o > /proc/sysrq-trigger' EXIT
cut -d' ' -f1 /proc/uptime >"$scratch/boot.secs"
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
cd /

# The tests' temp dirs (TMPDIR) go on a tmpfs of their own. virtme-ng's /tmp is writable, but
# as an overlay on the host's /tmp; mounting over /tmp would hide a checkout that lives there.
mkdir -p /run/vm-test
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /run/vm-test

# virtme-ng mounts 9p without a cache, so each lookup of a path that nothing holds makes a new
# inode, and Landlock's rules (held by inode) stop matching: a sandboxed child gets EACCES under
# an allowed dir that the gateway does not itself pin (.test-peers/node, pyenv's Python). Real
# filesystems keep one inode per file. The host passes the checkout and /root as extra 9p shares
# (--rodir); mount them again with cache=loose, which keeps inodes. (Not the root share: a 9p
# channel takes one mount at a time.)
awk '$3 == "9p" && $1 ~ /^virtme\.initmount/ {print $1, $2}' /proc/mounts |
  while read -r tag target; do
    [ "$target" != "$scratch" ] || continue
    umount "$target" &&
      mount -t 9p -o ro,trans=virtio,version=9p2000.L,access=any,msize=524288,cache=loose "$tag" "$target" ||
      echo "vm-test: $target stays uncached: Landlock rules beneath it may not hold"
  done
for bin in "${bins[@]}"; do
  mount --bind "$scratch/bin/${bin##*/}" "$bin"
done
grep ' 9p ' /proc/mounts

{
  echo "kernel: $(uname -r)"
  echo "cgroup: $(stat -fc %T /sys/fs/cgroup) controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
  echo "own cgroup: $(cat /proc/self/cgroup)"
  echo "unprivileged_userns_clone: $(cat /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null || echo n/a)"
  echo "cpus: $(nproc) memory: $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
} >"$scratch/guest-info.txt"
cat "$scratch/guest-info.txt"

# PID 1 of a container's pid namespace: bash, which reaps the orphans reparented to it, as
# `docker run --init` (tini) does. Were the test binary PID 1, a killed daemon would stay a zombie
# of its uid. (A gateway that is itself PID 1 in a container would have to reap them.)
init=(bash -c '"$@" & wait $!' bash)

# Docker's default capabilities (moby's oci/caps/defaults.go).
docker_caps=-all,+chown,+dac_override,+fowner,+fsetid,+kill,+setgid,+setuid,+setpcap,+net_bind_service,+net_raw,+sys_chroot,+mknod,+audit_write,+setfcap

probe='
  echo "place: uid $(id -u), cgroup $(cut -d: -f2- /proc/self/cgroup | paste -sd " "), cgroup2 mount $(awk "\$3 == \"cgroup2\" {print substr(\$4, 1, 2)}" /proc/self/mounts)"
  echo "place: controllers: $(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null); pids.max: $(cat /sys/fs/cgroup/pids.max 2>/dev/null || echo none)"
  if mkdir /sys/fs/cgroup/vm-test-probe 2>/dev/null; then rmdir /sys/fs/cgroup/vm-test-probe; m=yes; else m=no; fi
  u=no; unshare -U true 2>/dev/null && u=yes
  n=no; unshare -n true 2>/dev/null && n=yes
  un=no; unshare -Urn true 2>/dev/null && un=yes
  echo "place: can mkdir a cgroup: $m; unshare -U: $u; unshare -n: $n; unshare -Urn: $un; $(grep CapEff /proc/self/status)"
'

# Kill what a mode left behind: processes running one of our binaries (a test killed by its
# timeout leaves its gateways; a sandbox that lets a daemon escape leaves that).
reap() {
  n=0
  for exe in /proc/[0-9]*/exe; do
    target=$(readlink "$exe" 2>/dev/null) || continue
    for bin in "${bins[@]}"; do
      if [ "$target" = "$bin" ]; then
        pid=${exe#/proc/}
        pid=${pid%/exe}
        kill -9 "$pid" 2>/dev/null && n=$((n + 1))
      fi
    done
  done
  [ "$n" -eq 0 ] || echo "vm-test: killed $n leftover processes of mode $1" | tee -a "$scratch/$1.log"
}

run_mode() {
  mode=$1
  if [ "$mode" != v1pids ] && ! grep -qw pids /sys/fs/cgroup/cgroup.controllers; then
    echo "vm-test: the pids controller is still in a v1 hierarchy (left by v1pids): mode $mode not run" |
      tee "$scratch/$mode.log"
    echo 0 >"$scratch/$mode.secs"
    echo 125 >"$scratch/$mode.rc"
    return
  fi
  work=/run/vm-test/$mode
  mkdir -p "$work/tmp" "$work/home"
  chmod 1777 "$work" "$work/tmp"
  wrapper=()
  extra_env=()
  # The process bound each kind of host must get (tests/it/sandbox.rs checks validate says so).
  case $mode in
    root | delegated) expect="pids cgroup v2" ;;
    container | container-plain) expect="own uid" ;;
    user) expect="own user namespace" ;;
    v1pids) expect="pids cgroup v1" ;;
  esac
  case $mode in
    root) ;;
    user)
      chown 65534:65534 "$work/home"
      wrapper=(setpriv --reuid=65534 --regid=65534 --clear-groups)
      ;;
    delegated)
      # What systemd does for a user's manager (user@.service, Delegate=pids ...): a cgroup
      # owned by the user, pids enabled for its children. The tests run in a leaf of it; each
      # gateway moves into a child cgroup of its own first, as a scope would hold it.
      chown 65534:65534 "$work/home"
      d=/sys/fs/cgroup/vm-test-delegated
      echo +pids >/sys/fs/cgroup/cgroup.subtree_control
      mkdir -p "$d/tests"
      echo +pids >"$d/cgroup.subtree_control"
      chown -R 65534:65534 "$d"
      cat >"$work/into-own-cgroup" <<'WRAP'
#!/bin/sh
# Start the gateway alone in a cgroup of its own under the delegated one (exec: same pid).
d=/sys/fs/cgroup/vm-test-delegated/gw-$$
mkdir "$d" && echo $$ >"$d/cgroup.procs" && exec "$@"
WRAP
      chmod 755 "$work/into-own-cgroup"
      extra_env=(MCP_TEST_GATEWAY_WRAPPER="$work/into-own-cgroup")
      wrapper=(sh -c 'echo $$ >/sys/fs/cgroup/vm-test-delegated/tests/cgroup.procs && exec "$@"' sh
        setpriv --reuid=65534 --regid=65534 --clear-groups)
      ;;
    container)
      # dockerd puts a container in a cgroup of its own (controllers enabled above it) and
      # mounts a fresh cgroup2 there read-only, so the namespace's root is that cgroup.
      echo "+cpu +memory +pids +io" >/sys/fs/cgroup/cgroup.subtree_control
      mkdir -p /sys/fs/cgroup/vm-test-container
      userns=$(cat /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null || true)
      [ -z "$userns" ] || echo 0 >/proc/sys/kernel/unprivileged_userns_clone
      wrapper=(sh -c 'echo $$ >/sys/fs/cgroup/vm-test-container/cgroup.procs && exec "$@"' sh
        unshare --cgroup --mount --pid --fork --kill-child --mount-proc
        sh -c 'umount /sys/fs/cgroup && mount -t cgroup2 -o ro,nosuid,nodev,noexec cgroup2 /sys/fs/cgroup && exec "$@"' sh
        setpriv --bounding-set="$docker_caps" --inh-caps=-all "${init[@]}")
      ;;
    v1pids)
      # Control: the cgroup v1 pids hierarchy this project's build machines have, on this
      # kernel (its older Landlock), in a mount namespace of its own. Possible while no v2
      # cgroup has pids enabled in cgroup.subtree_control.
      # Afterwards it removes every cgroup made in it, or the hierarchy, and the controller with
      # it, outlives the namespace (the other modes check).
      wrapper=(unshare --mount sh -c '
        mount -t tmpfs tmpfs /sys/fs/cgroup && mkdir /sys/fs/cgroup/pids &&
          mount -t cgroup -o pids cgroup /sys/fs/cgroup/pids || exit 2
        "$@"
        rc=$?
        for try in 1 2 3 4 5 6 7 8 9 10; do
          find /sys/fs/cgroup/pids -mindepth 2 -name cgroup.procs -exec cat {} + | xargs -r kill -9 2>/dev/null
          find /sys/fs/cgroup/pids -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
          [ -z "$(find /sys/fs/cgroup/pids -mindepth 1 -type d)" ] && break
          sleep 1
        done
        exit $rc' sh)
      ;;
    container-plain)
      wrapper=(unshare --cgroup --mount --pid --fork --kill-child --mount-proc
        sh -c 'mount -o remount,ro,bind /sys/fs/cgroup && exec "$@"' sh "${init[@]}")
      ;;
  esac
  printf '\n===== mode %s: %s %s (timeout %ss) =====\n' "$mode" "${it_bin##*/}" "${test_args[*]}" "$mode_timeout"
  # What the place looks like from inside, as the tests will see it.
  timeout 60 "${wrapper[@]}" sh -c "$probe" 2>&1 | tee "$scratch/$mode.env"
  start=$(cut -d' ' -f1 /proc/uptime)
  (
    cd "$manifest_dir" || exit 2 # where `cargo test` runs an integration test
    exec timeout --kill-after=10 "$mode_timeout" "${wrapper[@]}" \
      env -i PATH="$PATH" HOME="$work/home" TMPDIR="$work/tmp" LANG=C.UTF-8 \
      MCP_TEST_TIME_SCALE="$scale" RUST_BACKTRACE="$backtrace" \
      MCP_TEST_EXPECT_BOUND="$expect" "${extra_env[@]}" \
      "$it_bin" "${test_args[@]}" --test-threads="$threads"
  ) 2>&1 | tee "$scratch/$mode.log"
  rc=${PIPESTATUS[0]}
  end=$(cut -d' ' -f1 /proc/uptime)
  if [ "$bench" -gt 0 ]; then
    # The spawn cost of this place's mechanisms (in the delegated mode, alone in a cgroup of
    # its own, like a gateway started by systemd-run --scope).
    own=()
    [ "$mode" != delegated ] || own=("$work/into-own-cgroup")
    (
      cd "$work/tmp" || exit 2
      exec timeout "$mode_timeout" "${wrapper[@]}" env -i PATH="$PATH" HOME="$work/home" \
        TMPDIR="$work/tmp" "${own[@]}" "${bins[3]}" "$bench" "${bins[4]}"
    ) >"$scratch/$mode.bench" 2>&1 || echo "vm-test: spawn_bench failed in mode $mode" | tee -a "$scratch/$mode.bench"
  fi
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f\n", b - a }' >"$scratch/$mode.secs"
  echo "$rc" >"$scratch/$mode.rc"
  reap "$mode"
  case $mode in
    delegated)
      # Leaves first; a cgroup goes once its processes are gone.
      find /sys/fs/cgroup/vm-test-delegated -depth -mindepth 1 -type d -exec rmdir {} + 2>/dev/null || true
      rmdir /sys/fs/cgroup/vm-test-delegated 2>/dev/null || true
      ;;
    container)
      [ -z "$userns" ] || echo "$userns" >/proc/sys/kernel/unprivileged_userns_clone
      rmdir /sys/fs/cgroup/vm-test-container 2>/dev/null || true
      # Back to the bare root the other modes expect (fails while a gateway's cgroup uses one).
      echo "-cpu -memory -pids -io" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
      ;;
  esac
  printf '===== mode %s: exit %s after %ss =====\n' "$mode" "$rc" "$(cat "$scratch/$mode.secs")"
}

for mode in $modes; do
  run_mode "$mode"
done
touch "$scratch/done"
GUEST

# --- boot. The checkout and /root also as shares of their own, for the guest to cache (above).
shares=(--rodir "$root")
case $root in /root | /root/*) ;; *) shares+=(--rodir /root) ;; esac

step "booting $kernel (TCG, $memory, 2 cpus); modes: $modes; tests: $*"
t0=$(now)
set +e
PATH="$venv/bin:$PATH" timeout --kill-after=20 "$overall_timeout" \
  vng --run "$kernel" --disable-kvm --force-9p --memory "$memory" --cpus 2 --cwd / \
  "${shares[@]}" --rwdir "$scratch" --exec "bash $scratch/inner.sh" </dev/null 2>&1 | tee "$scratch/console.log"
vng_rc=${PIPESTATUS[0]}
set -e
t_vm=$(since "$t0")

# --- summary.
rm -rf "$results"
cp -r "$scratch" "$results"
rm -rf "${results:?}/bin" # copies of the binaries, not hard links any more
chmod 755 "$results"
step "summary"
printf 'setup %ss, build %ss, VM %ss (boot to the first command %ss)\n' \
  "$t_setup" "$t_build" "$t_vm" "$(cat "$results/boot.secs" 2>/dev/null || echo '?')"
status=0
if [ ! -e "$results/done" ]; then
  if [ "$vng_rc" -eq 124 ] || [ "$vng_rc" -eq 137 ]; then
    echo "vm-test: the VM did not finish within ${overall_timeout}s"
  else
    echo "vm-test: the VM stopped before the last mode finished (vng exit $vng_rc)"
  fi
  status=2
fi
failed_modes=()
for mode in $modes; do
  log="$results/$mode.log"
  if [ ! -e "$results/$mode.rc" ]; then
    if [ -e "$log" ]; then
      printf '%-16s FAIL (did not finish)\n' "$mode"
    else
      printf '%-16s not run\n' "$mode"
    fi
    failed_modes+=("$mode")
    continue
  fi
  rc=$(cat "$results/$mode.rc")
  result=$(grep -E '^test result:' "$log" | tail -n 1 || true)
  case $rc in
    0) verdict=PASS ;;
    124 | 137) verdict="FAIL (timed out after ${mode_timeout}s)" ;;
    125) verdict="NOT RUN (the pids controller was left in a v1 hierarchy)" ;;
    *) verdict="FAIL (exit $rc)" ;;
  esac
  printf '%-16s %s in %ss  %s\n' "$mode" "$verdict" "$(cat "$results/$mode.secs")" "$result"
  if [ "$rc" != 0 ]; then
    failed_modes+=("$mode")
    # Each failed test with the first line of its panic message.
    awk '
      /^---- .* stdout ----$/ { name = $2; want = 0; next }
      name != "" && / panicked at / { want = 1; next }
      want { printf "    FAILED %s: %s\n", name, substr($0, 1, 220); name = ""; want = 0 }
    ' "$log"
  fi
done
for mode in "${failed_modes[@]}"; do
  [ -e "$results/$mode.log" ] || continue
  printf '\n--- tail of %s (full log: %s) ---\n' "$mode" "$results/$mode.log"
  tail -n 60 "$results/$mode.log"
done
if [ "${#failed_modes[@]}" -gt 0 ] && [ "$status" -eq 0 ]; then
  status=1
fi
exit "$status"
