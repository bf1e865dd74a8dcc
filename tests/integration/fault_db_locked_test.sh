#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The database locked for a while: another process holds an EXCLUSIVE transaction on the cloud's
# SQLite file for 8 s, twice, while two agents stream and commands are posted. iot-cloud cannot
# commit: it keeps the batch, retries, and its bounded queue pushes back on Paho's thread
# (backpressure: the broker queues for it); the API answers within its timeout either way (202, or
# 503 with Retry-After when the busy timeout passes, never 500). After
# the lock is released ingestion catches up: every sample stored exactly once, nothing
# dead-lettered, every accepted command in one terminal state.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/fault_lib.sh"
fault_init fault-db-locked

N=6000
fault_stack 2 $'[mqtt]\nqueue_max = 64'
pids=()
for d in dev-1 dev-2; do
    fault_agent "$d" "$N" 4
    pids+=("$AGENT_PID")
done
iot_wait_for 20 '[ "$(fault_count dev-2)" -ge 100 ]' || iot_fail "no samples flowing"
refused=0
for r in 1 2; do
    sqlite3 -cmd '.timeout 5000' "$DB" 'BEGIN EXCLUSIVE;' '.shell sleep 8' 'COMMIT;' >"$IOT_WORK/lock-$r.log" 2>&1 &
    lock=$!
    IOT_PIDS+=("$lock")
    sleep 0.5
    c=$(sqlite3 -cmd '.timeout 100' "$DB" "SELECT count(*) FROM samples" 2>/dev/null || echo locked)
    iot_log "lock $r held (EXCLUSIVE) at $c stored"
    sleep 2
    for d in dev-1 dev-2; do
        api POST "/v1/devices/$d/commands" '{"name":"ping","timeout_s":40}' --max-time 20 -D "$IOT_WORK/h"
        case $API_STATUS in
        202) FAULT_CIDS+=("$(jq -r .id <<<"$API_BODY")") ;;
        503) # the database is busy: retry later, never a 500
            grep -qiE '^Retry-After: [0-9]+' "$IOT_WORK/h" || iot_fail "503 without Retry-After: $(cat "$IOT_WORK/h")"
            [ "$(jq -r .error <<<"$API_BODY")" = unavailable ] || iot_fail "503 body: $API_BODY"
            refused=$((refused + 1)); iot_log "command refused while locked: HTTP $API_STATUS $API_BODY" ;;
        *) iot_fail "POST during the lock: HTTP $API_STATUS $API_BODY" ;;
        esac
    done
    curl -fsS --max-time 5 "$BASE/healthz" >/dev/null || iot_fail "healthz does not answer during the lock"
    wait "$lock" || iot_fail "the lock holder failed: $(cat "$IOT_WORK/lock-$r.log")"
    iot_log "lock $r released"
    sleep 3
done
errors=$(iot_metric "$HTTP" iot_cloud_store_errors_total)
waits=$(iot_metric "$HTTP" iot_cloud_ingest_queue_full_waits_total)
iot_log "while locked: store errors $errors, queue-full waits (backpressure) $waits"
[ "${errors:-0}" -ge 1 ] || [ "${waits:-0}" -ge 1 ] ||
    iot_fail "the lock never reached ingestion (no store error, no backpressure)"
fault_wait_agents 120 "${pids[@]}"
for d in dev-1 dev-2; do fault_check_once "$d" "$N"; done
fault_cmds_terminal 60
fault_dead_letters_none
echo "PASS fault_db_locked: 2 x 8 s EXCLUSIVE locks, 2 x $N samples once each, ${#FAULT_CIDS[@]} commands terminal ($refused refused with 503)"
