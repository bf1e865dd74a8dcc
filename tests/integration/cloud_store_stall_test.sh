#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Storage stall: another process holds the SQLite write lock (8 s at least, and until the ingest
# queue has been seen full) while 10 agents stream. The ingest worker's transactions fail and are
# retried, the bounded queue fills, and Paho's thread waits (backpressure: the broker keeps the
# rest in iot-cloud's session). Memory stays bounded during the stall (RSS grows by less than 16 MB
# while the broker holds the rest); afterwards ingestion catches up: every sample stored exactly
# once.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/ingest_lib.sh"
iot_test_init cloud-store-stall

N=10 SAMPLES=600 QUEUE=50 STALL_S=8 RSS_GROWTH_MAX_KB=16384
PORT=$(iot_free_port)
http=$(iot_free_port)
PKI=$IOT_WORK/pki
STORE=$IOT_WORK/cloud.db
iot_pki_init "$PKI" "$PORT"
iot_broker_start "$PKI"
# Under ASan, freed memory waits in a quarantine (256 MB by default) and shows in RSS: keep it
# small so that the RSS bound below measures what iot-cloud holds (no effect on other builds).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"
ingest_cloud_start s1 "$http" "$(printf '[mqtt]\nqueue_max = %d\n' "$QUEUE")"
ingest_agents "$PKI" "$PORT" "$N" "$SAMPLES" 10

count() { ingest_sql "SELECT count(*) FROM samples"; }
iot_wait_for 90 '[ "$(count)" -ge 500 ]' || iot_fail "no samples flowing before the stall"
rss_base=$(awk '/^VmRSS:/ { print $2 }' "/proc/$CLOUD_PID_s1/status")
# The lock: a writer that begins a transaction and sits on it until this script says so (the
# file $release appears; bounded at 120 s). Not a fixed `sleep`: under load the lock may be taken,
# or seen taken, seconds after the writer started, and the measurement below must happen while
# it is held for sure.
release=$IOT_WORK/release-lock
{
    printf '.timeout 30000\nBEGIN IMMEDIATE;\nSELECT %s;\n' "'locked'"
    # the writer is a subshell no PID list knows: it also ends when this script has exited
    for _ in $(seq 600); do [ -e "$release" ] && break; kill -0 $$ 2>/dev/null || break; sleep 0.2; done
    echo "COMMIT;"
} | sqlite3 "$STORE" >"$IOT_WORK/locker.out" 2>&1 &
locker=$!
IOT_PIDS+=("$locker")
iot_wait_for 60 grep -q locked "$IOT_WORK/locker.out" || iot_fail "could not take the write lock: $(cat "$IOT_WORK/locker.out")"
at=$(count)
iot_log "write lock taken at $at stored samples; held for ${STALL_S}s at least, until the queue is full"
# Held for STALL_S seconds and until the queue was seen full (ingestion backs up behind the lock;
# bounded at 90 s, and failing below if it never filled).
rss_max=0 depth_max=0 t0=$SECONDS
while [ $((SECONDS - t0)) -lt "$STALL_S" ] || { [ "$depth_max" != "$QUEUE" ] && [ $((SECONDS - t0)) -lt 90 ]; }; do
    iot_is_child "$locker" || iot_fail "the lock holder exited early: $(cat "$IOT_WORK/locker.out")"
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$CLOUD_PID_s1/status")
    [ "$rss" -le "$rss_max" ] || rss_max=$rss
    depth=$(iot_metric "$http" iot_cloud_ingest_queue_depth)
    [ "${depth:-0}" -le "$QUEUE" ] || iot_fail "queue depth $depth above its bound $QUEUE"
    [ "${depth:-0}" -le "$depth_max" ] || depth_max=$depth
    sleep 0.2
done
during=$(count) # committed rows, read while the lock is still held
stall_s=$((SECONDS - t0))
touch "$release"
wait "$locker" || iot_fail "the lock holder failed: $(cat "$IOT_WORK/locker.out")"
iot_log "lock released after ${stall_s}s: $during stored during the stall (was $at), RSS $rss_base kB before, max $rss_max kB"
[ "$during" = "$at" ] || iot_fail "rows were committed while the write lock was held"
[ "$rss_max" -le $((rss_base + RSS_GROWTH_MAX_KB)) ] ||
    iot_fail "RSS grew from $rss_base kB to $rss_max kB during the stall (bound +$RSS_GROWTH_MAX_KB kB)"
[ "$depth_max" = "$QUEUE" ] || iot_fail "the queue never filled (max depth $depth_max of $QUEUE)"
errors=$(iot_metric "$http" iot_cloud_store_errors_total)
waits=$(iot_metric "$http" iot_cloud_ingest_queue_full_waits_total)
[ "${errors:-0}" -ge 1 ] || [ "${waits:-0}" -ge 1 ] ||
    iot_fail "the stall was not felt (store errors ${errors:-0}, queue-full waits ${waits:-0})"
iot_log "store errors $errors (retried), queue-full waits $waits"

ingest_agents_wait 150
iot_wait_for 60 '[ "$(count)" -ge $((N * SAMPLES)) ]' || iot_fail "only $(count) samples stored"
ingest_check_exactly_once "$N" "$SAMPLES"
iot_stop "$CLOUD_PID_s1" TERM 60 || iot_fail "iot-cloud did not exit cleanly on SIGTERM"
echo "PASS cloud_store_stall (queue full at $QUEUE, peak RSS ${rss_max} kB, $errors store errors)"
