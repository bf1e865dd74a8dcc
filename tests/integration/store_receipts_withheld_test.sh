#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Offline store, receipts withheld: iot-cloud is stopped while the broker stays up, so the broker
# acknowledges every publish but no Receipt comes. The agent keeps the samples in its store (the
# backlog grows), sends them again after resend_after_ms, and once iot-cloud is back and receipts
# flow, the store empties (the agent's bounded run exits 0) with every sample stored once.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
iot_test_init store-receipts-withheld

N=1200
iot_stack_broker dev-w
iot_stack_cloud_conf
iot_stack_cloud_start

iot_stack_store_agent_conf dev-w 10 "$N" 'stats_interval_ms = 300\nresend_after_ms = 1500\n' \
    >"$IOT_WORK/agent.conf"
iot_stack_agent_start
count() { iot_sql "$db" "SELECT count(*) FROM samples WHERE device_id='dev-w'"; }
waiting() { grep -o 'store: [0-9]* waiting' "$IOT_WORK/agent.log" | tail -n 1 | awk '{print $2}'; }
iot_wait_for 20 '[ "$(count)" -ge 100 ]' || iot_fail "no samples flowing before the stop"
iot_wait_for 5 '[ "$(waiting)" -lt 100 ]' || iot_fail "receipts do not keep the store small: $(waiting) waiting"

iot_stop "$cloud" TERM 15 || iot_fail "iot-cloud did not exit cleanly"
iot_log "iot-cloud stopped at $(count) stored samples; the broker stays up"
iot_wait_for 20 '[ "$(waiting)" -ge 300 ]' ||
    iot_fail "store did not keep the unreceipted samples: $(waiting) waiting"
iot_wait_for 20 'grep -q "sent samples go again" "$IOT_WORK/agent.log"' ||
    iot_fail "no re-send without receipts"
iot_log "store keeps $(waiting) samples and re-sends them; starting iot-cloud again"
iot_stack_cloud_start

rc=0
iot_stop "$agent" 0 120 || rc=$?
[ "$rc" -eq 0 ] || iot_fail "agent exit status $rc (want 0: the store emptied by receipts)"
grep -q "all $N samples acknowledged" "$IOT_WORK/agent.log" || iot_fail "agent did not drain its store"
iot_wait_for 20 '[ "$(count)" -ge "$N" ]' || iot_fail "only $(count) of $N samples stored"
first=$(iot_sql "$db" "SELECT min(seq) FROM samples WHERE device_id='dev-w'")
got=$(iot_sql "$db" "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM samples WHERE device_id='dev-w'")
want="$N|$N|$first|$((first + N - 1))"
[ "$got" = "$want" ] || iot_fail "samples: got $got, want $want (count|distinct|min|max)"
iot_stop "$cloud" TERM 15 || true
echo "PASS store_receipts_withheld"
