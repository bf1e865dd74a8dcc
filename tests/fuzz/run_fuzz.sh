#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fuzz every target of a libFuzzer build (cmake --preset fuzz && cmake --build --preset fuzz) for a
# bounded time each, two at a time (2 cores), with ASan+UBSan. New inputs go to BUILD/fuzz-run/corpus/
# (kept between runs), never into the source tree; a crash leaves BUILD/fuzz-run/NAME-crash-* and
# fails the run: add that file to tests/fuzz/corpus/NAME/ with the fix, so the replay test keeps it.
# Prints one line per target with its executions, and a total.
# Usage: tests/fuzz/run_fuzz.sh [BUILD_DIR (build-fuzz)] [SECONDS_PER_TARGET (25)]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-fuzz}
secs=${2:-25}
list=$build/fuzz-targets.txt
[ -f "$list" ] || { echo "run_fuzz: no $list (configure and build the fuzz preset first)" >&2; exit 2; }
out=$build/fuzz-run
mkdir -p "$out"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

fuzz_one() { # NAME BINARY SEEDS...
    local name=$1 bin=$2
    shift 2
    mkdir -p "$out/corpus/$name"
    local extra=() asan=$ASAN_OPTIONS
    if [ "$name" = command ]; then
        # Each input runs ECDSA (mbedTLS allocates a lot): a per-input leak scan and full malloc
        # stacks cost 4x the executions. Leaks are still checked once, at exit.
        extra=(-detect_leaks=0)
        asan=$asan:malloc_context_size=0:quarantine_size_mb=8
    fi
    ASAN_OPTIONS=$asan "$bin" "${extra[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1536 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$out/$name-" "$out/corpus/$name" "$@" \
        >"$out/$name.log" 2>&1
}

pids=()
names=()
while read -r name bin seeds; do
    [ -n "$name" ] || continue
    [ -x "$bin" ] || { echo "run_fuzz: $bin missing (build the fuzz preset)" >&2; exit 2; }
    # shellcheck disable=SC2086 # seeds: a space-separated list of directories without blanks
    fuzz_one "$name" "$bin" $seeds &
    pids+=($!)
    names+=("$name")
    if [ ${#pids[@]} -ge 2 ]; then
        wait "${pids[0]}" || true
        pids=("${pids[@]:1}")
    fi
done <"$list"
for p in "${pids[@]}"; do wait "$p" || true; done

status=0
total=0
printf '%-10s %12s %8s %8s  %s\n' target executions exec/s corpus result
for name in "${names[@]}"; do
    log=$out/$name.log
    runs=$(awk '/^stat::number_of_executed_units:/ { v = $NF } END { print v }' "$log")
    rate=$(awk '/^stat::average_exec_per_sec:/ { v = $NF } END { print v }' "$log")
    corpus=$(find "$out/corpus/$name" -type f | wc -l)
    result=ok
    if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|==ERROR|deadly signal|SUMMARY: ' "$log" ||
        [ -z "$runs" ]; then
        result="FAILED (see $log; inputs: $(ls "$out/$name"-* 2>/dev/null | tr '\n' ' ' || true))"
        status=1
    fi
    total=$((total + ${runs:-0}))
    printf '%-10s %12s %8s %8s  %s\n' "$name" "${runs:-?}" "${rate:-?}" "$corpus" "$result"
done
echo "total executions: $total in ${secs}s per target"
exit $status
