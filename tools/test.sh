#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite: installs what is missing, builds (dev preset, -Werror) and runs every test
# (unit, integration with a real Mosquitto), then does the same under ASan+UBSan.
# Usage: tools/test.sh [--no-asan]
set -euo pipefail
cd "$(dirname "$0")/.."
asan=1
for a in "$@"; do
  case $a in
    --no-asan) asan=0 ;;
    -h|--help) sed -n '3,5p' "$0"; exit 0 ;;
    *) echo "unknown option $a" >&2; exit 2 ;;
  esac
done

tools/install-deps.sh
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
if [ "$asan" = 1 ]; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 run_preset asan
fi
exit $status
