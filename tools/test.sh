#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite: installs what is missing, builds (dev preset, -Werror) and runs every test
# (unit, fuzz corpus replays, integration with a real Mosquitto: faults, bad input, security), then
# does the same under ASan+UBSan, then cross-builds the device side for Raspberry Pi OS arm64 and
# armhf (32-bit) and runs their tests under qemu-user (emulated agent, native broker and cloud).
# Then (issue 7): libFuzzer on every decoder and parser for FUZZ_SECONDS (15) each (clang, ASan+UBSan,
# `fuzz` preset); the cloud's multi-threaded tests under ThreadSanitizer (`tsan` preset); the
# agent's end-to-end and hostile-input tests under valgrind memcheck (dev build). As root (CI), the
# fault tests that need namespaces and mounts run too; without root they fail, never skip.
# Usage: tools/test.sh [--no-asan] [--no-cross] [--no-fuzz] [--no-tsan] [--no-valgrind]
set -euo pipefail
cd "$(dirname "$0")/.."
asan=1
cross=1
fuzz=1
tsan=1
valgrind=1
for a in "$@"; do
  case $a in
    --no-asan) asan=0 ;;
    --no-cross) cross=0 ;;
    --no-fuzz) fuzz=0 ;;
    --no-tsan) tsan=0 ;;
    --no-valgrind) valgrind=0 ;;
    -h|--help) sed -n '3,12p' "$0"; exit 0 ;;
    *) echo "unknown option $a" >&2; exit 2 ;;
  esac
done

armhf=0 # 1: multiarch -dev packages; 2: a sysroot of them (IOT_CROSS_SYSROOT)
armhf_sysroot=$PWD/build-armhf-sysroot
if [ "$cross" = 1 ]; then
  tools/install-deps.sh --cross arm64
  # armhf's multiarch -dev packages must be the very versions of their amd64 twins; a Debian
  # mirror in the middle of a sync (seen here: a stale bookworm-security armhf index) makes that
  # impossible for a while. Then the same packages unpacked into a sysroot (no co-installation);
  # only when that fails too does the armhf stage not run, and the summary says so.
  if tools/install-deps.sh --cross armhf; then armhf=1; else
    echo "=== rpi-armhf: multiarch packages could not be installed (see apt above): a sysroot"
    if tools/install-deps.sh --cross-tools armhf && tools/cross-sysroot.sh armhf "$armhf_sysroot"
    then armhf=2; else echo "=== rpi-armhf: no sysroot either (see above)"; fi
  fi
else
  tools/install-deps.sh
fi
jobs=$(nproc)
status=0
# Integration tests run real brokers and processes two at a time on 2 cores; a few are sensitive to
# that load (timing of reconnects under ASan). A test that fails is run again, up to 3 times in all;
# ctest's output still shows every failed attempt.
retry="--repeat until-pass:3"

passed=0
failed=0
summary=()
# ctest with its output kept, so the totals of every stage can be added up at the end.
run_ctest() {
  local name=$1 log
  shift
  log=$(mktemp)
  "$@" 2>&1 | tee "$log" || true
  local line total nfail
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  rm -f "$log"
  if [ -z "$line" ]; then
    echo "=== $name: ctest printed no summary"; status=1; failed=$((failed + 1)); return
  fi
  total=${line##* out of }
  nfail=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
  passed=$((passed + total - nfail))
  failed=$((failed + nfail))
  summary+=("$name: $line")
  [ "$nfail" -eq 0 ] || status=1
}

run_preset() {
  local preset=$1
  echo "=== $preset: configure and build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j"$jobs"
  echo "=== $preset: ctest"
  run_ctest "$preset" ctest --preset "$preset" -j"$jobs" $retry
}

run_preset dev
# The demo's build: an optimised -Werror build catches what only -O2 warns about.
echo "=== release: build"
cmake --preset release >/dev/null
cmake --build --preset release -j"$jobs"
if [ "$cross" = 1 ]; then
  run_preset rpi-arm64   # needs the dev build above (IOT_HOST_BUILD) for its end-to-end test
  if [ "$armhf" != 0 ]; then
    # Raspberry Pi OS 32-bit: the same tests under qemu-arm. --fresh: the compiler checks follow a
    # switch between multiarch and sysroot (IOT_CROSS_SYSROOT empty or set).
    stage_t0=$SECONDS
    [ "$armhf" = 2 ] && sysroot=$armhf_sysroot || sysroot=
    cmake --preset rpi-armhf --fresh -DIOT_CROSS_SYSROOT="$sysroot" >/dev/null
    run_preset rpi-armhf
    echo "=== rpi-armhf${sysroot:+ (sysroot)}: $((SECONDS - stage_t0)) s"
  else
    summary+=("rpi-armhf: NOT RUN (no armhf packages: neither multiarch nor a sysroot)")
  fi
fi
if [ "$asan" = 1 ]; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 run_preset asan
fi

stage_start() { stage_t0=$SECONDS; echo "=== $1"; }
stage_end() { echo "=== $1: $((SECONDS - stage_t0)) s"; }

if [ "$fuzz" = 1 ]; then
  # libFuzzer targets (tests/fuzz): replay their corpora, then fuzz each for a bounded time.
  stage_start "fuzz: configure, build, replay, fuzz ${FUZZ_SECONDS:-15} s per target"
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz -j"$jobs"
  run_ctest fuzz ctest --preset fuzz -j"$jobs" $retry
  tests/fuzz/run_fuzz.sh build-fuzz "${FUZZ_SECONDS:-15}" || status=1
  stage_end fuzz
fi
if [ "$tsan" = 1 ]; then
  # The cloud's threads (ingest worker, Paho, libmicrohttpd, webhooks) under ThreadSanitizer: its
  # unit tests and the end-to-end and API tests with a TSan-built iot-cloud (the test preset's list).
  stage_start "tsan: configure, build, test"
  cmake --preset tsan >/dev/null
  cmake --build --preset tsan -j"$jobs"
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" run_ctest tsan ctest --preset tsan -j"$jobs" $retry
  stage_end tsan
fi
if [ "$valgrind" = 1 ]; then
  # valgrind memcheck of the agent (dev build) in its end-to-end test and with hostile input: no
  # invalid access, nothing definitely lost (no suppressions needed so far).
  stage_start "valgrind: the agent's end-to-end and hostile-input tests"
  vg_dir=$PWD/build/valgrind
  rm -rf "$vg_dir"
  mkdir -p "$vg_dir"
  cat >"$vg_dir/iot-agent" <<VG
#!/bin/sh
# iot-agent under valgrind memcheck (tools/test.sh); one log per process in $vg_dir
exec valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite \\
  --errors-for-leak-kinds=definite --num-callers=30 --log-file=$vg_dir/agent.%p.log \\
  $PWD/build/device/iot-agent "\$@"
VG
  chmod +x "$vg_dir/iot-agent"
  for t in e2e_basic_test.sh badinput_mqtt_test.sh; do
    IOT_BUILD=$PWD/build IOT_AGENT_BIN=$vg_dir/iot-agent tests/integration/$t >"$vg_dir/$t.log" 2>&1 ||
      { echo "valgrind: $t failed (see $vg_dir/$t.log)"; tail -n 20 "$vg_dir/$t.log"; status=1; }
  done
  # Every agent that exited by itself has a summary: 0 errors, nothing definitely lost.
  n=0
  for f in "$vg_dir"/agent.*.log; do
    grep -q 'ERROR SUMMARY' "$f" || continue # killed with SIGKILL by the test: no summary
    n=$((n + 1))
    grep -q 'ERROR SUMMARY: 0 errors' "$f" || { echo "valgrind: errors in $f"; grep -A20 -m 3 '^==[0-9]*== [A-Z]' "$f"; status=1; }
  done
  [ "$n" -ge 2 ] || { echo "valgrind: only $n agent runs reported"; status=1; }
  echo "valgrind: $n agent runs checked"
  stage_end valgrind
fi
echo "=== summary"
for l in "${summary[@]}"; do echo "  $l"; done
[ "$status" -eq 0 ] || echo "some stage failed (see above)"
echo "$passed passed, $failed failed"
exit $status
