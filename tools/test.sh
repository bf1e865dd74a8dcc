#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite: installs what is missing, builds (dev preset, -Werror) and runs every test
# (unit, integration with a real Mosquitto), then does the same under ASan+UBSan, then cross-builds
# the device side for Raspberry Pi OS arm64 and runs its tests under qemu-user (the emulated agent
# against a native Mosquitto and iot-cloud).
# Usage: tools/test.sh [--no-asan] [--no-cross]
set -euo pipefail
cd "$(dirname "$0")/.."
asan=1
cross=1
for a in "$@"; do
  case $a in
    --no-asan) asan=0 ;;
    --no-cross) cross=0 ;;
    -h|--help) sed -n '3,8p' "$0"; exit 0 ;;
    *) echo "unknown option $a" >&2; exit 2 ;;
  esac
done

if [ "$cross" = 1 ]; then tools/install-deps.sh --cross arm64; else tools/install-deps.sh; fi
jobs=$(nproc)
status=0

run_preset() {
  local preset=$1
  echo "=== $preset: configure and build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j"$jobs"
  echo "=== $preset: ctest"
  ctest --preset "$preset" -j"$jobs" || status=1
}

run_preset dev
if [ "$cross" = 1 ]; then
  run_preset rpi-arm64   # needs the dev build above (IOT_HOST_BUILD) for its end-to-end test
fi
if [ "$asan" = 1 ]; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 run_preset asan
fi
exit $status
