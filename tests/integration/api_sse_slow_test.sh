#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A slow event-stream client is dropped, never allowed to block ingestion: iot-cloud with a 4 KiB
# [sse] buffer, one client that connects and then never reads (iot-sse-stall, small receive
# window) and one normal client, while a device streams telemetry fast. The stalled client is
# dropped (metric, log) and its connection reset by the server well before MHD's 90 s connection
# timeout; the normal client receives every telemetry event in order; every sample is stored.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/api_lib.sh"
IOT_SSE_STALL_BIN=${IOT_SSE_STALL_BIN:-$IOT_BUILD/tests/support/iot-sse-stall}
iot_test_init api-sse-slow
api_setup "$(printf '[sse]\nbuffer_bytes = 4096\nheartbeat_s = 1\n')"

curl -sN --max-time 120 -H "Authorization: Bearer $IOT_API_TOKEN" "$BASE/v1/events" \
    >"$IOT_WORK/normal.sse" &
normal=$!
IOT_PIDS+=("$normal")
"$IOT_SSE_STALL_BIN" --port "$HTTP" --token "$IOT_API_TOKEN" --rcvbuf 4096 --max-s 60 \
    --out "$IOT_WORK/stall.out" >"$IOT_WORK/stall.log" 2>&1 &
stall=$!
IOT_PIDS+=("$stall")
iot_wait_for 10 '[ "$(iot_metric "$HTTP" iot_cloud_sse_clients)" = 2 ]' ||
    iot_fail "clients not counted: $(cat "$IOT_WORK/stall.log")"
grep -q '^stalling' "$IOT_WORK/stall.log" || iot_fail "stalled client not streaming: $(cat "$IOT_WORK/stall.log")"
[ "$(iot_metric "$HTTP" iot_cloud_sse_dropped_total)" = 0 ] || iot_fail "dropped before any event"

fake_device dev-1 --telemetry-ms 2
iot_wait_for 60 '[ "$(iot_metric "$HTTP" iot_cloud_sse_dropped_total)" -ge 1 ]' ||
    iot_fail "slow client never dropped (stored $(iot_sql "$DB" "SELECT count(*) FROM samples"))"
at_drop=$(iot_sql "$DB" "SELECT count(*) FROM samples WHERE device_id = 'dev-1'")
iot_log "slow client dropped with $at_drop samples stored"
# The server resets the connection itself: the client sees it without reading (not MHD's timeout).
rc=0
iot_stop "$stall" 0 60 || rc=$?
[ "$rc" = 0 ] || iot_fail "stalled client: exit $rc: $(cat "$IOT_WORK/stall.log")"
grep -q '^closed reset after' "$IOT_WORK/stall.log" || iot_fail "not reset: $(cat "$IOT_WORK/stall.log")"
iot_log "stalled client: $(tail -1 "$IOT_WORK/stall.log")"
head -c 64 "$IOT_WORK/stall.out" | grep -aq ': iot-cloud events' || iot_fail "stalled client got no stream"
grep -q 'event stream dropped: client' "$IOT_WORK/cloud.log" || iot_fail "drop not logged"
iot_wait_for 10 '[ "$(iot_metric "$HTTP" iot_cloud_sse_clients)" = 1 ]' ||
    iot_fail "dropped client still counted: $(iot_metric "$HTTP" iot_cloud_sse_clients)"
[ "$(iot_metric "$HTTP" iot_cloud_sse_dropped_total)" = 1 ] || iot_fail "more than one client dropped"

# Ingestion went on during and after the stall.
iot_wait_for 60 '[ "$(iot_sql "$DB" "SELECT count(*) FROM samples WHERE device_id = '"'dev-1'"'")" -ge $((at_drop + 300)) ]' ||
    iot_fail "ingestion stalled after the drop"
iot_stop "$DEV_PID" TERM 10 || true
n=""
for _ in $(seq 1 100); do # the count settles once the device stopped (bounded: 10 s)
    m=$(iot_sql "$DB" "SELECT count(*) || '|' || count(DISTINCT seq) || '|' || min(seq) || '|' || max(seq)
                       FROM samples WHERE device_id = 'dev-1'")
    [ "$m" = "$n" ] && break
    n=$m
    sleep 0.5
done
IFS='|' read -r count distinct lo hi <<<"$n"
[ "$count" = "$distinct" ] && [ "$lo" = 1 ] && [ "$count" = "$hi" ] ||
    iot_fail "stored samples: count|distinct|min|max = $n, want N|N|1|N"
iot_wait_for 15 'grep "^data: " "$IOT_WORK/normal.sse" | grep -q "\"seq\":$hi[,}]"' ||
    iot_fail "normal client lacks seq $hi"
kill "$normal" 2>/dev/null || true
seqs=$(grep -A1 '^event: telemetry' "$IOT_WORK/normal.sse" | grep '^data: ' | sed 's/^data: //' |
       jq -r 'select(.device_id == "dev-1") | .samples[].seq')
[ "$seqs" = "$(seq 1 "$hi")" ] ||
    iot_fail "normal client: telemetry seqs are not 1..$hi in order ($(wc -l <<<"$seqs") events)"
[ "$(iot_metric "$HTTP" iot_cloud_dead_letters_total)" = 0 ] || iot_fail "dead letters"
iot_log "ok: $hi samples stored once; the normal client got all $hi telemetry events in order"
rc=0
iot_stop "$CLOUD_PID" TERM 15 || rc=$?
[ "$rc" = 0 ] || iot_fail "iot-cloud exit status $rc"
echo "PASS api_sse_slow: stalled client dropped and reset at $at_drop samples; $hi samples stored"
