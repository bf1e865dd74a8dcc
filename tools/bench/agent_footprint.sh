#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Footprint and throughput of the device agent beside a minimal Paho MQTTAsync TLS publisher
# (iot-min-publisher) and mosquitto_pub, over one TLS Mosquitto on 127.0.0.1 with a real iot-cloud.
# Not a test (no assertions on time): prints a table and writes JSON (BENCH_OUT, default
# $IOT_BUILD/agent_footprint.json). Every process is started here and stopped by PID.
#   IOT_BUILD=build tools/bench/agent_footprint.sh
# Knobs: BENCH_SAMPLES (100000 backlog), BENCH_BATCH (batch_max, 10), BENCH_INFLIGHT (50),
# BENCH_LIVE_MS (live sampling interval during the drain, 100), BENCH_CALLGRIND (1; 0 skips).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
IOT_BUILD=${IOT_BUILD:-$root/build}
. "$root/tests/support/lib.sh"
iot_test_init bench-footprint

N=${BENCH_SAMPLES:-100000}
BATCH=${BENCH_BATCH:-10}
INFLIGHT=${BENCH_INFLIGHT:-50}
LIVE_MS=${BENCH_LIVE_MS:-100}
CG=${BENCH_CALLGRIND:-1}
OUT=${BENCH_OUT:-$IOT_BUILD/agent_footprint.json}
BENCH_BIN=$IOT_BUILD/tools/bench
PUB_COUNT=20000
for b in "$IOT_AGENT_BIN" "$IOT_CLOUD_BIN" "$BENCH_BIN/iot-store-bench" "$BENCH_BIN/iot-min-publisher"; do
    [ -x "$b" ] || iot_fail "missing $b (build the tree first)"
done

port=$(iot_free_port)
http=$(iot_free_port)
pki=$IOT_WORK/pki
db=$IOT_WORK/cloud.db
iot_pki_init "$pki" "$port"
"$IOT_PKI_BIN" device "$pki" dev-bench dev-cg-a dev-cg-b dev-minpub dev-mospub >/dev/null
iot_broker_start "$pki"
iot_cloud_conf "$pki" "$port" "$db" "$http" | sed 's/^level = info/level = warn/' >"$IOT_WORK/cloud.conf"
iot_bg "$IOT_WORK/cloud.log" "$IOT_CLOUD_BIN" -c "$IOT_WORK/cloud.conf"
iot_wait_for 15 curl -fsS "http://127.0.0.1:$http/readyz" || iot_fail "iot-cloud not ready"

now_ms() { date +%s%3N; }

# mem_sample PID FILE: every 50 ms append "rss_kb private_dirty_kb hwm_kb" until PID exits.
mem_sample() {
    local pid=$1 out=$2 i
    for i in $(seq 12000); do
        [ -r "/proc/$pid/smaps_rollup" ] || break
        awk '/^Rss:/ {r=$2} /^Private_Dirty:/ {d=$2} END {printf "%d %d ", r, d}' \
            "/proc/$pid/smaps_rollup" 2>/dev/null >>"$out" || break
        awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null >>"$out" || echo 0 >>"$out"
        sleep 0.05
    done
}
# mem_max FILE COLUMN: the largest value of a column (1 rss, 2 private dirty, 3 VmHWM), in KiB.
mem_max() { awk -v c="$2" 'NF == 3 && $c > m {m = $c} END {print m + 0}' "$1"; }

agent_conf() { # ID STATE_DIR INTERVAL MAX_SAMPLES
    iot_agent_conf "$pki" "$port" "$1" "$2" "$3" "$4"
    printf '[mqtt]\ninflight = %s\n[telemetry]\nbatch_max = %s\ndrain_timeout_ms = 300000\n' \
        "$INFLIGHT" "$BATCH"
    printf '[sensors]\nlinux = false\n[store]\nstats_interval_ms = 200\n[log]\nlevel = info\n'
}

# ---------------------------------------------------------------- 1. binary sizes
sizes() { size -B "$1" | awk 'NR == 2 {print $1 + $2 + $3}'; }
stripped() { strip -o "$IOT_WORK/stripped" "$1" && stat -c %s "$IOT_WORK/stripped"; }
agent_strip=$(stripped "$IOT_AGENT_BIN"); minpub_strip=$(stripped "$BENCH_BIN/iot-min-publisher")
mospub_strip=$(stripped "$(command -v mosquitto_pub)")
agent_file=$(stat -L -c %s "$IOT_AGENT_BIN"); agent_mem=$(sizes "$IOT_AGENT_BIN")
minpub_file=$(stat -L -c %s "$BENCH_BIN/iot-min-publisher"); minpub_mem=$(sizes "$BENCH_BIN/iot-min-publisher")
mospub_bin=$(command -v mosquitto_pub)
mospub_file=$(stat -L -c %s "$mospub_bin"); mospub_mem=$(sizes "$mospub_bin")

# ---------------------------------------------------------------- 2. store rates
iot_log "store write/replay rates ($N samples)"
rates=$("$BENCH_BIN/iot-store-bench" rates "$IOT_WORK/rates" "$N")
rm -rf "$IOT_WORK/rates"

# ---------------------------------------------------------------- 3. agent draining N with live samples
iot_log "agent: draining a $N-sample store with live samples every $LIVE_MS ms"
"$BENCH_BIN/iot-store-bench" fill "$IOT_WORK/state-bench" "$N" || iot_fail "fill"
store_file_bytes=$(du -sb "$IOT_WORK/state-bench/store" | awk '{print $1}')
agent_conf dev-bench "$IOT_WORK/state-bench" "$LIVE_MS" 0 >"$IOT_WORK/agent.conf"
t0=$(now_ms)
iot_bg "$IOT_WORK/agent.log" "$IOT_AGENT_BIN" -c "$IOT_WORK/agent.conf"
agent=$IOT_LAST_PID
iot_bg "$IOT_WORK/sampler.log" mem_sample "$agent" "$IOT_WORK/mem-agent"
backlog_stored() { iot_sql "$db" "SELECT count(*) FROM samples WHERE device_id='dev-bench' AND seq <= $N"; }
iot_wait_for 180 '[ "$(backlog_stored)" -ge "$N" ]' || iot_fail "backlog not stored: $(backlog_stored) of $N"
t_stored=$(( $(now_ms) - t0 ))
waiting() { grep -o 'store: [0-9]* waiting' "$IOT_WORK/agent.log" | tail -n 1 | awk '{print $2}'; }
iot_wait_for 60 '[ "$(waiting)" -lt 100 ]' || iot_log "store not emptied by receipts: $(waiting) waiting"
t_receipted=$(( $(now_ms) - t0 ))
sleep 1
# Times from the agent's own log (ms of the day): start, connect, and the first stats line that
# shows the store emptied by receipts (fewer than 100 waiting: only live samples in flight).
log_ms() { cut -c12-23 | awk -F'[:.]' '{print (($1 * 60 + $2) * 60 + $3) * 1000 + $4}'; }
started_ms=$(head -n 1 "$IOT_WORK/agent.log" | log_ms)
connected_ms=$(grep -m1 'connected to' "$IOT_WORK/agent.log" | log_ms)
emptied_ms=$(awk '/ store: [0-9]+ waiting/ { for (i = 1; i <= NF; i++) if ($i == "waiting,") w = $(i - 1);
    if (w + 0 < 100) { print; exit } }' "$IOT_WORK/agent.log" | log_ms)
[ -n "$emptied_ms" ] || emptied_ms=$(( started_ms + t_receipted ))
e2e_ms=$(( emptied_ms - connected_ms ))
[ "$e2e_ms" -gt 0 ] || e2e_ms=1
iot_stop "$agent" TERM 10 || true
agent_rss=$(mem_max "$IOT_WORK/mem-agent" 1); agent_pd=$(mem_max "$IOT_WORK/mem-agent" 2)
agent_hwm=$(mem_max "$IOT_WORK/mem-agent" 3)
done_ms=$(iot_sql "$db" "SELECT max(received_ms) FROM samples WHERE device_id='dev-bench' AND seq <= $N")
first_ms=$(iot_sql "$db" "SELECT min(received_ms) FROM samples WHERE device_id='dev-bench' AND seq <= $N")
# Live = taken after the connect (samples taken before it are backlog, sent after the older ones).
connect_wall=$(date -d "$(grep -m1 'connected to' "$IOT_WORK/agent.log" | cut -c1-24)" +%s%3N)
live=$(iot_sql "$db" "SELECT count(*), coalesce(max(received_ms - time_ms), 0) FROM samples WHERE device_id='dev-bench' AND seq > $N AND time_ms >= $connect_wall AND received_ms <= $done_ms")
live_n=${live%%|*}; live_lat=${live##*|}
drain_ms=$(( done_ms - first_ms ))
[ "$drain_ms" -gt 0 ] || drain_ms=1
dupes=$(iot_sql "$db" "SELECT count(*) - count(DISTINCT seq) FROM samples WHERE device_id='dev-bench'")

# ---------------------------------------------------------------- 4. reference publishers
"$IOT_PAYLOAD_BIN" telemetry dev-minpub 1 1 "$BATCH" >"$IOT_WORK/payload.bin"
psize=$(stat -c %s "$IOT_WORK/payload.bin")
iot_log "iot-min-publisher: $PUB_COUNT messages of $psize B (a $BATCH-sample batch), window $INFLIGHT"
minpub() { # ID COUNT
    "$BENCH_BIN/iot-min-publisher" 127.0.0.1 "$port" "$pki/ca.crt" "$pki/devices/$1.crt" \
        "$pki/devices/$1.key" "$1" "devices/$1/telemetry" "$IOT_WORK/payload.bin" "$2" "$INFLIGHT"
}
iot_bg "$IOT_WORK/minpub.log" minpub dev-minpub "$PUB_COUNT"
mp=$IOT_LAST_PID
sleep 0.05
mp_child=$(pgrep -P "$mp" | head -n 1 || true)
mem_sample "${mp_child:-$mp}" "$IOT_WORK/mem-minpub"
wait "$mp" 2>/dev/null || true
minpub_rss=$(mem_max "$IOT_WORK/mem-minpub" 1); minpub_pd=$(mem_max "$IOT_WORK/mem-minpub" 2)
minpub_hwm=$(mem_max "$IOT_WORK/mem-minpub" 3)
minpub_rate=$(grep -o '([0-9]* msg/s)' "$IOT_WORK/minpub.log" | tr -dc 0-9)

iot_log "mosquitto_pub: $PUB_COUNT messages of $psize B, QoS 1, -M $INFLIGHT"
mospub() { # ID COUNT
    mosquitto_pub -h 127.0.0.1 -p "$port" $(iot_mqtt_tls "$pki" "$pki/devices/$1") -i "$1" \
        -t "devices/$1/telemetry" -q 1 -V 5 -M "$INFLIGHT" -f "$IOT_WORK/payload.bin" --repeat "$2"
}
t1=$(now_ms)
iot_bg "$IOT_WORK/mospub.log" mospub dev-mospub "$PUB_COUNT"
mq=$IOT_LAST_PID
sleep 0.05
mq_child=$(pgrep -P "$mq" | head -n 1 || true)
mem_sample "${mq_child:-$mq}" "$IOT_WORK/mem-mospub"
wait "$mq" 2>/dev/null || true
mospub_ms=$(( $(now_ms) - t1 ))
mospub_rss=$(mem_max "$IOT_WORK/mem-mospub" 1); mospub_pd=$(mem_max "$IOT_WORK/mem-mospub" 2)
mospub_hwm=$(mem_max "$IOT_WORK/mem-mospub" 3)

# ---------------------------------------------------------------- 5. instructions (callgrind)
# Marginal cost: two bounded runs that differ only in how much they send; the difference of the
# instruction totals over the difference of the counts excludes start-up, TLS handshake and exit.
collected() { grep -o 'Collected : [0-9]*' "$1" | tail -n 1 | awk '{print $3}'; }
agent_ipps=0; minpub_ipm=0; mospub_ipm=0
if [ "$CG" = 1 ] && command -v valgrind >/dev/null; then
    A=1000; B=6000
    for pair in "a $A" "b $B"; do
        set -- $pair
        iot_log "callgrind: agent sending a $2-sample store"
        "$BENCH_BIN/iot-store-bench" fill "$IOT_WORK/state-cg-$1" "$2"
        agent_conf "dev-cg-$1" "$IOT_WORK/state-cg-$1" 100 1 >"$IOT_WORK/cg-$1.conf"
        valgrind --tool=callgrind --callgrind-out-file="$IOT_WORK/cg-agent-$1.out" \
            "$IOT_AGENT_BIN" -c "$IOT_WORK/cg-$1.conf" >"$IOT_WORK/cg-agent-$1.log" 2>&1 || true
        iot_log "callgrind: iot-min-publisher, $(( $2 / BATCH )) messages"
        valgrind --tool=callgrind --callgrind-out-file="$IOT_WORK/cg-minpub-$1.out" \
            "$BENCH_BIN/iot-min-publisher" 127.0.0.1 "$port" "$pki/ca.crt" "$pki/devices/dev-minpub.crt" \
            "$pki/devices/dev-minpub.key" dev-minpub devices/dev-minpub/telemetry \
            "$IOT_WORK/payload.bin" "$(( $2 / BATCH ))" "$INFLIGHT" >"$IOT_WORK/cg-minpub-$1.log" 2>&1 || true
        iot_log "callgrind: mosquitto_pub, $(( $2 / BATCH )) messages"
        valgrind --tool=callgrind --callgrind-out-file="$IOT_WORK/cg-mospub-$1.out" \
            mosquitto_pub -h 127.0.0.1 -p "$port" $(iot_mqtt_tls "$pki" "$pki/devices/dev-mospub") \
            -i dev-mospub -t devices/dev-mospub/telemetry -q 1 -V 5 -M "$INFLIGHT" \
            -f "$IOT_WORK/payload.bin" --repeat "$(( $2 / BATCH ))" \
            >"$IOT_WORK/cg-mospub-$1.log" 2>&1 || true
    done
    grep -q "all 1 samples acknowledged\|samples acknowledged" "$IOT_WORK/cg-agent-b.log" ||
        iot_log "note: the callgrind agent run did not drain (receipts?); see $IOT_WORK/cg-agent-b.log"
    ia=$(collected "$IOT_WORK/cg-agent-a.log"); ib=$(collected "$IOT_WORK/cg-agent-b.log")
    [ -n "$ia" ] && [ -n "$ib" ] && agent_ipps=$(( (ib - ia) / (B - A) ))
    ia=$(collected "$IOT_WORK/cg-minpub-a.log"); ib=$(collected "$IOT_WORK/cg-minpub-b.log")
    [ -n "$ia" ] && [ -n "$ib" ] && minpub_ipm=$(( (ib - ia) / ((B - A) / BATCH) ))
    ia=$(collected "$IOT_WORK/cg-mospub-a.log"); ib=$(collected "$IOT_WORK/cg-mospub-b.log")
    [ -n "$ia" ] && [ -n "$ib" ] && mospub_ipm=$(( (ib - ia) / ((B - A) / BATCH) ))
fi

# ---------------------------------------------------------------- report
drain_sps=$(( N * 1000 / drain_ms ))
e2e_sps=$(( N * 1000 / e2e_ms ))
jq -n --argjson rates "$rates" \
    --arg n "$N" --arg batch "$BATCH" --arg inflight "$INFLIGHT" --arg live_ms "$LIVE_MS" \
    --arg agent_strip "$agent_strip" --arg minpub_strip "$minpub_strip" --arg mospub_strip "$mospub_strip" \
    --arg agent_file "$agent_file" --arg agent_mem "$agent_mem" --arg agent_rss "$agent_rss" \
    --arg agent_hwm "$agent_hwm" --arg agent_pd "$agent_pd" --arg store_file_bytes "$store_file_bytes" \
    --arg minpub_file "$minpub_file" --arg minpub_mem "$minpub_mem" --arg minpub_rss "$minpub_rss" \
    --arg minpub_hwm "$minpub_hwm" --arg minpub_pd "$minpub_pd" --arg minpub_rate "${minpub_rate:-0}" \
    --arg mospub_file "$mospub_file" --arg mospub_mem "$mospub_mem" --arg mospub_rss "$mospub_rss" \
    --arg mospub_hwm "$mospub_hwm" --arg mospub_pd "$mospub_pd" --arg mospub_ms "$mospub_ms" \
    --arg drain_ms "$drain_ms" --arg drain_sps "$drain_sps" --arg t_stored "$t_stored" \
    --arg e2e_ms "$e2e_ms" --arg e2e_sps "$e2e_sps" \
    --arg t_receipted "$t_receipted" --arg connect_ms "$(( connected_ms - started_ms ))" \
    --arg live_n "$live_n" --arg live_lat "$live_lat" --arg dupes "$dupes" --arg psize "$psize" \
    --arg agent_ipps "$agent_ipps" --arg minpub_ipm "$minpub_ipm" --arg mospub_ipm "$mospub_ipm" '
  def n: tonumber;
  {config: {backlog_samples: ($n|n), batch_max: ($batch|n), inflight: ($inflight|n),
            live_interval_ms: ($live_ms|n), message_bytes: ($psize|n)},
   agent: {binary_bytes: ($agent_file|n), stripped_bytes: ($agent_strip|n), text_data_bss_bytes: ($agent_mem|n),
           peak_rss_kib: ($agent_hwm|n), max_rss_kib: ($agent_rss|n), max_private_dirty_kib: ($agent_pd|n),
           store_file_bytes: ($store_file_bytes|n), instructions_per_sample: ($agent_ipps|n)},
   min_publisher: {binary_bytes: ($minpub_file|n), stripped_bytes: ($minpub_strip|n), text_data_bss_bytes: ($minpub_mem|n),
           peak_rss_kib: ($minpub_hwm|n), max_rss_kib: ($minpub_rss|n), max_private_dirty_kib: ($minpub_pd|n),
           msgs_per_s: ($minpub_rate|n), instructions_per_message: ($minpub_ipm|n)},
   mosquitto_pub: {binary_bytes: ($mospub_file|n), stripped_bytes: ($mospub_strip|n), text_data_bss_bytes: ($mospub_mem|n),
           peak_rss_kib: ($mospub_hwm|n), max_rss_kib: ($mospub_rss|n), max_private_dirty_kib: ($mospub_pd|n),
           elapsed_ms: ($mospub_ms|n), instructions_per_message: ($mospub_ipm|n)},
   store: $rates,
   drain: {samples: ($n|n), connect_to_receipted_ms: ($e2e_ms|n), samples_per_s: ($e2e_sps|n),
           cloud_receive_span_ms: ($drain_ms|n), cloud_receive_samples_per_s: ($drain_sps|n),
           agent_start_to_all_stored_ms: ($t_stored|n), agent_start_to_receipted_ms: ($t_receipted|n),
           connect_ms: ($connect_ms|n), live_samples_stored_during_drain: ($live_n|n),
           live_max_latency_ms: ($live_lat|n), duplicates_stored: ($dupes|n)}}' >"$OUT"

rss_ratio=$(awk -v a="$agent_hwm" -v b="$minpub_hwm" 'BEGIN {printf "%.2f", b ? a / b : 0}')
printf '\n%-34s %14s %14s %14s\n' "" "iot-agent" "min-publisher" "mosquitto_pub"
printf '%-34s %14s %14s %14s\n' "binary size (bytes)" "$agent_file" "$minpub_file" "$mospub_file"
printf '%-34s %14s %14s %14s\n' "stripped (bytes)" "$agent_strip" "$minpub_strip" "$mospub_strip"
printf '%-34s %14s %14s %14s\n' "text+data+bss (bytes)" "$agent_mem" "$minpub_mem" "$mospub_mem"
printf '%-34s %14s %14s %14s\n' "peak RSS (KiB, VmHWM)" "$agent_hwm" "$minpub_hwm" "$mospub_hwm"
printf '%-34s %14s %14s %14s\n' "max private dirty (KiB)" "$agent_pd" "$minpub_pd" "$mospub_pd"
printf '%-34s %14s %14s %14s\n' "instructions / sample (agent)" "$agent_ipps" "" ""
printf '%-34s %14s %14s %14s\n' "instructions / message ($BATCH samples)" "$(( agent_ipps * BATCH ))" "$minpub_ipm" "$mospub_ipm"
printf '\nagent peak RSS / min-publisher peak RSS: %s\n' "$rss_ratio"
printf 'store: %s\n' "$rates"
printf 'store files for %s samples: %s bytes\n' "$N" "$store_file_bytes"
printf 'drain of %s samples (batch_max %s, inflight %s): connect -> all stored and receipted %s ms = %s samples/s\n' \
    "$N" "$BATCH" "$INFLIGHT" "$e2e_ms" "$e2e_sps"
printf '  the cloud received the backlog within %s ms (%s samples/s)\n' "$drain_ms" "$drain_sps"
printf '  agent start -> all stored %s ms, -> store emptied by receipts %s ms (connect %s ms)\n' \
    "$t_stored" "$t_receipted" "$(( connected_ms - started_ms ))"
printf '  live samples stored during the drain: %s (max latency %s ms); duplicates stored: %s\n' \
    "$live_n" "$live_lat" "$dupes"
printf 'JSON: %s\n' "$OUT"
