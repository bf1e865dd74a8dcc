#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Ingest benchmark (issue 5), not a test: no assertions on time. In one run, over one TLS Mosquitto
# on 127.0.0.1 and the same load (BENCH_DEVICES devices, QoS 1, one sample with three metrics per
# message (one row: its metrics are a JSON column), from iot-ingest-load processes with a 100-message window per connection).
# BENCH_MODE=drain (default): the load is published while the consumer is away (its persistent
# session queues it in the broker), then the consumer drains it alone, so on a 2-core machine the
# publishers do not compete with it for CPU. BENCH_MODE=live: publishers and consumer run together.
#   ceiling   a subscriber that only counts (iot-count-sub): what the broker delivers
#   sqlite    iot-cloud storing into SQLite, receipts on
#   overload  iot-cloud (SQLite) while another process holds the write lock for BENCH_STALL_S:
#             the load keeps coming (unbounded overload); RSS before, during and after
#   postgres  iot-cloud storing into a local PostgreSQL (durable settings), receipts on
# Figures: messages/s (and the ratio to the ceiling of this run: the mean of a ceiling measured
# first and one measured last), CPU us per message of the
# consumer (utime+stime from /proc/PID/stat over the run / messages), peak RSS (VmHWM).
# Prints a table and writes JSON (BENCH_OUT, default $IOT_BUILD/ingest_bench.json). Every process
# is started here and stopped by PID. Use an optimised build:
#   cmake --preset release && cmake --build build-release && IOT_BUILD=build-release tools/bench/ingest_bench.sh
# Knobs: BENCH_MESSAGES (200000 per phase), BENCH_DEVICES (100), BENCH_PROCS (4 load processes),
# BENCH_STALL_S (8), BENCH_PG (1; 0 skips PostgreSQL), BENCH_TIMEOUT_S (180 per phase).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
IOT_BUILD=${IOT_BUILD:-$root/build}
. "$root/tests/support/lib.sh"
iot_test_init bench-ingest

M=${BENCH_MESSAGES:-200000}
DEVICES=${BENCH_DEVICES:-100}
PROCS=${BENCH_PROCS:-4}
STALL_S=${BENCH_STALL_S:-8}
WITH_PG=${BENCH_PG:-1}
PHASE_S=${BENCH_TIMEOUT_S:-180}
MODE=${BENCH_MODE:-drain}
OUT=${BENCH_OUT:-$IOT_BUILD/ingest_bench.json}
LOAD_BIN=$IOT_BUILD/tools/bench/iot-ingest-load
SUB_BIN=$IOT_BUILD/tools/bench/iot-count-sub
for b in "$IOT_CLOUD_BIN" "$LOAD_BIN" "$SUB_BIN" "$IOT_PKI_BIN"; do
    [ -x "$b" ] || iot_fail "missing $b (build the tree first)"
done
[ $((DEVICES % PROCS)) -eq 0 ] || iot_fail "BENCH_DEVICES must be a multiple of BENCH_PROCS"
TICK=$(getconf CLK_TCK)

PORT=$(iot_free_port)
PKI=$IOT_WORK/pki
iot_pki_init "$PKI" "$PORT"
ids=()
for i in $(seq -f %03g 1 "$DEVICES"); do ids+=("load-$i"); done
"$IOT_PKI_BIN" device "$PKI" "${ids[@]}" >/dev/null
iot_broker_start "$PKI"

now_ms() { date +%s%3N; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# load EPOCH: BENCH_PROCS load processes, BENCH_DEVICES devices, M messages in all; waits for them.
load() {
    local per=$((DEVICES / PROCS)) p pids=()
    for p in $(seq 0 $((PROCS - 1))); do
        "$LOAD_BIN" --port "$PORT" --pki "$PKI" --devices "$per" --first-device $((p * per + 1)) \
            --messages $((M / PROCS)) --window 100 --seconds "$PHASE_S" --epoch "$1" \
            >"$IOT_WORK/load-$1-$p.json" 2>>"$IOT_WORK/load.log" &
        pids+=($!)
        IOT_PIDS+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || iot_log "a load process failed (see load.log)"; done
}
load_rate() { cat "$IOT_WORK"/load-"$1"-*.json | jq -s '. as $a | ($a | map(.acked) | add) /
    ([($a | map(.seconds) | max), 0.001] | max) | floor'; }

# ---- ceiling: a subscriber that only counts ----
# Measured first and again last: on this kind of machine it moves by up to +-25% between runs
# minutes apart (its CPU per message depends on how many messages each wake-up finds), so every
# ratio is taken against the mean of the two, and both are printed.
MT=$(((M / PROCS) * PROCS))
# ceiling_phase EPOCH: the counting subscriber on a load of its own; prints its JSON line.
ceiling_phase() {
    local sub_args=(--port "$PORT" --pki "$PKI" --client-id iot-count-sub) sub out
    out=$IOT_WORK/sub-$1.out
    if [ "$MODE" = drain ]; then
        "$SUB_BIN" "${sub_args[@]}" --expiry 3600 --subscribe-only >/dev/null 2>>"$IOT_WORK/sub.log" ||
            iot_fail "count subscriber could not make its session"
        load "$1"
        sub_args+=(--clean 0)
    fi
    "$SUB_BIN" "${sub_args[@]}" --expect "$MT" --idle 15 >"$out" 2>>"$IOT_WORK/sub.log" &
    sub=$!
    IOT_PIDS+=("$sub")
    iot_wait_for 20 grep -q ready "$out" || iot_fail "count subscriber not ready"
    [ "$MODE" = drain ] || load "$1"
    wait "$sub" || iot_log "count subscriber saw fewer than $MT"
    iot_log "ceiling: $(tail -n 1 "$out") (publishers $(load_rate "$1") msg/s)"
    tail -n 1 "$out"
}
ceiling=$(ceiling_phase 1)
CEIL=$(jq -r .rate <<<"$ceiling")

# cloud_phase NAME STORAGE EPOCH [EXTRA_CONF]: iot-cloud on STORAGE under the load; sets RESULT.
cloud_phase() {
    local name=$1 storage=$2 epoch=$3 http pid t0 t1 c0 c1 first=0 last=0 n=0 target
    http=$(iot_free_port)
    {
        iot_cloud_conf "$PKI" "$PORT" "$storage" "$http" "bench-$name"
        printf '[mqtt]\nshare_group = bench-%s\nsession_expiry_s = 3600\n[log]\nlevel = warn\n%s\n' \
            "$name" "${4:-}"
    } >"$IOT_WORK/cloud-$name.conf"
    if [ "$MODE" = drain ]; then # make the session, leave, let the broker queue the load
        iot_bg "$IOT_WORK/cloud-$name.log" "$IOT_CLOUD_BIN" -c "$IOT_WORK/cloud-$name.conf"
        iot_wait_for 20 curl -fsS "http://127.0.0.1:$http/readyz" || iot_fail "iot-cloud ($name) not ready"
        iot_stop "$IOT_LAST_PID" TERM 30 || true
        load "$epoch"
    fi
    iot_bg "$IOT_WORK/cloud-$name.log" "$IOT_CLOUD_BIN" -c "$IOT_WORK/cloud-$name.conf"
    pid=$IOT_LAST_PID
    c0=$(cpu_ticks "$pid")
    t0=$(now_ms)
    local loader=
    if [ "$MODE" != drain ]; then
        iot_wait_for 20 curl -fsS "http://127.0.0.1:$http/readyz" || iot_fail "iot-cloud ($name) not ready"
        load "$epoch" &
        loader=$!
        IOT_PIDS+=("$loader")
    fi
    target=$MT
    local deadline=$((SECONDS + PHASE_S))
    while [ $SECONDS -lt $deadline ]; do
        n=$(iot_metric "$http" iot_cloud_samples_stored_total 2>/dev/null) || n=0
        n=${n:-0}
        [ "$n" -eq 0 ] || [ "$first" -ne 0 ] || first=$(now_ms)
        if [ "$n" -ge "$target" ]; then last=$(now_ms); break; fi
        if [ -n "${ON_POLL:-}" ]; then "$ON_POLL" "$pid" "$http"; fi
        sleep 0.1
    done
    [ -z "$loader" ] || wait "$loader" || true
    c1=$(cpu_ticks "$pid")
    t1=$(now_ms)
    [ "$last" -ne 0 ] || iot_log "$name: only $n of $target stored in ${PHASE_S}s"
    local secs rate us hwm receipts batches
    secs=$(awk -v a="$first" -v b="${last:-$t1}" 'BEGIN { printf "%.3f", (b - a) / 1000 }')
    rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%d", (s > 0 ? n / s : 0) }')
    us=$(awk -v c=$((c1 - c0)) -v t="$TICK" -v n="$n" 'BEGIN { printf "%.2f", (n ? c / t * 1e6 / n : 0) }')
    hwm=$(hwm_kb "$pid")
    receipts=$(iot_metric "$http" iot_cloud_receipts_sent_total)
    batches=$(iot_metric "$http" iot_cloud_batches_committed_total)
    iot_stop "$pid" TERM 30 || iot_log "iot-cloud ($name) exit status $?"
    # delete its session, so that later phases queue nothing for it
    "$SUB_BIN" --port "$PORT" --pki "$PKI" --client-id "iot-cloud-bench-$name" --forget \
        >/dev/null 2>&1 || true
    iot_log "$name: stored $n in ${secs}s, cpu $((c1 - c0)) ticks, hwm ${hwm} kB, receipts ${receipts}"
    local pub
    pub=$(load_rate "$epoch")
    RESULT=$(jq -nc --arg name "$name" --argjson stored "$n" --argjson seconds "$secs" \
        --argjson rate "$rate" --argjson us "$us" --argjson hwm "$hwm" \
        --argjson receipts "${receipts:-0}" --argjson ceil "$CEIL" --argjson pub "$pub" \
        --argjson batches "${batches:-0}" \
        '{phase: $name, stored: $stored, seconds: $seconds, rate: $rate,
          ratio: (if $ceil > 0 then ($rate / $ceil * 100 | floor) / 100 else 0 end),
          cpu_us_per_msg: $us, peak_rss_kb: $hwm, receipts_sent: $receipts, publish_rate: $pub,
          transactions: $batches,
          msgs_per_transaction: (if $batches > 0 then ($stored / $batches | floor) else 0 end)}')
    iot_log "$name: $RESULT"
}

cloud_phase sqlite "$IOT_WORK/bench-sqlite.db" 2
R_SQLITE=$RESULT

# ---- overload: the write lock held for STALL_S while the load keeps coming ----
OVL_DB=$IOT_WORK/bench-overload.db
rss_log=$IOT_WORK/overload-rss.txt
: >"$rss_log"
locked=0
overload_poll() { # iot-cloud PID, HTTP port: take the lock once ingestion runs; sample RSS
    local n
    if [ "$locked" -eq 0 ]; then
        n=$(iot_metric "$2" iot_cloud_samples_stored_total)
        if [ "${n:-0}" -gt 0 ]; then
            echo "before $(rss_kb "$1")" >>"$rss_log"
            { printf '.timeout 10000\nBEGIN IMMEDIATE;\n'; sleep "$STALL_S"; echo "COMMIT;"; } |
                sqlite3 "$OVL_DB" >/dev/null 2>&1 &
            IOT_PIDS+=($!)
            LOCK_PID=$!
            locked=1
        fi
    elif kill -0 "$LOCK_PID" 2>/dev/null; then
        echo "during $(rss_kb "$1") $(iot_metric "$2" iot_cloud_ingest_queue_depth)" >>"$rss_log"
    else
        echo "after $(rss_kb "$1")" >>"$rss_log"
    fi
}
ON_POLL=overload_poll cloud_phase overload "$OVL_DB" 3
R_OVL=$(jq -c --arg b "$(awk '$1 == "before" { print $2; exit }' "$rss_log")" \
    --arg d "$(awk '$1 == "during" && $2 > m { m = $2 } END { print m + 0 }' "$rss_log")" \
    --arg a "$(awk '$1 == "after" { v = $2 } END { print v + 0 }' "$rss_log")" \
    --arg q "$(awk '$1 == "during" && $3 > m { m = $3 } END { print m + 0 }' "$rss_log")" \
    --argjson stall "$STALL_S" \
    '. + {stall_s: $stall, rss_before_kb: ($b | tonumber? // 0), rss_max_during_kb: ($d | tonumber),
          rss_after_kb: ($a | tonumber), queue_depth_max: ($q | tonumber)}' <<<"$RESULT")
iot_log "overload: $R_OVL"

R_PG=null
if [ "$WITH_PG" = 1 ] && iot_pg_available; then
    IOT_PG_OPTS="" iot_pg_start "$IOT_WORK/pg" # durable: fsync and synchronous_commit on
    cloud_phase postgres "$(iot_pg_url "$IOT_PG_URL" bench)" 4
    R_PG=$RESULT
    iot_pg_stop "$IOT_WORK/pg"
fi

ceiling_end=$(ceiling_phase 5)
CEIL=$(jq -n --argjson a "$ceiling" --argjson b "$ceiling_end" '(($a.rate + $b.rate) / 2) | floor')
CEIL_US=$(jq -n --argjson a "$ceiling" --argjson b "$ceiling_end" \
    '(($a.us_per_msg + $b.us_per_msg) / 2 * 100 | floor) / 100')
ratio() { jq -c --argjson c "$CEIL" '.ratio = ((.rate / $c * 100 | floor) / 100)' <<<"$1"; }
R_SQLITE=$(ratio "$R_SQLITE")
R_OVL=$(ratio "$R_OVL")
[ "$R_PG" = null ] || R_PG=$(ratio "$R_PG")

jq -n --argjson first "$ceiling" --argjson last "$ceiling_end" --argjson ceil "$CEIL" \
    --argjson sqlite "$R_SQLITE" --argjson overload "$R_OVL" \
    --argjson postgres "$R_PG" --argjson messages "$MT" --argjson devices "$DEVICES" \
    --argjson procs "$PROCS" --arg host "$(uname -nr)" --argjson cores "$(nproc)" \
    --arg build "$IOT_BUILD" --argjson bytes "$(jq -s '.[0].bytes' "$IOT_WORK"/load-1-0.json)" \
    '{messages: $messages, devices: $devices, load_processes: $procs, message_bytes: $bytes,
      qos: 1, metrics_per_message: 3, cores: $cores, host: $host, build: $build,
      ceiling: {rate: $ceil, first: $first, last: $last},
      sqlite: $sqlite, overload: $overload, postgres: $postgres}' >"$OUT"

printf '\n%-10s %10s %7s %10s %10s %9s %9s\n' phase msg/s ratio us/msg peakRSS_MB receipts msgs/tx
printf '%-10s %10s %7s %10s %10s %9s %9s\n' ceiling "$CEIL" 1.00 "$CEIL_US" - - -
for r in "$R_SQLITE" "$R_OVL" "$R_PG"; do
    [ "$r" != null ] || continue
    jq -r '[.phase, .rate, .ratio, .cpu_us_per_msg, (.peak_rss_kb / 1024 | . * 10 | floor / 10),
            .receipts_sent, .msgs_per_transaction] | @tsv' <<<"$r" |
        awk -F'\t' '{ printf "%-10s %10s %7s %10s %10s %9s %9s\n", $1, $2, $3, $4, $5, $6, $7 }'
done
echo "ceiling: mean of $(jq -r .rate <<<"$ceiling") msg/s at $(jq -r .us_per_msg <<<"$ceiling") us (first) and $(jq -r .rate <<<"$ceiling_end") msg/s at $(jq -r .us_per_msg <<<"$ceiling_end") us (last)"
jq -r '"overload: write lock held \(.stall_s) s: RSS \(.rss_before_kb) kB before, max \(.rss_max_during_kb) kB during, \(.rss_after_kb) kB after; queue depth max \(.queue_depth_max)"' <<<"$R_OVL"
echo "($MT messages of $(jq -r .message_bytes "$OUT") B from $DEVICES devices in $PROCS processes; JSON: $OUT)"
