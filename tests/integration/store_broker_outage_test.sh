#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Offline store, broker outage: the broker is stopped for a while during a run and started again;
# the agent keeps sampling into its disk store and replays it after reconnecting. Every sample
# arrives once: the cloud ends with exactly seqs first..first+N-1, none twice, no dropped range.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
iot_test_init store-broker-outage

N=1200
iot_stack_broker dev-o
iot_stack_cloud_conf
iot_stack_cloud_start

iot_stack_store_agent_conf dev-o 10 "$N" 'stats_interval_ms = 500\nresend_after_ms = 5000\n' \
    >"$IOT_WORK/agent.conf"
iot_stack_agent_start
count() { iot_sql "$db" "SELECT count(*) FROM samples WHERE device_id='dev-o'"; }
iot_wait_for 20 '[ "$(count)" -ge 100 ]' || iot_fail "no samples flowing before the outage"

iot_broker_stop "$pki"
iot_log "broker stopped at $(count) stored samples; the agent keeps sampling"
sleep 5
waiting=$(grep -o 'store: [0-9]* waiting' "$IOT_WORK/agent.log" | tail -n 1 | awk '{print $2}')
[ "${waiting:-0}" -ge 200 ] || iot_fail "store did not fill during the outage (waiting ${waiting:-?})"
iot_log "store holds $waiting samples; starting the broker again"
iot_broker_start "$pki"

rc=0
iot_stop "$agent" 0 120 || rc=$?
[ "$rc" -eq 0 ] || iot_fail "agent exit status $rc (want 0: every sample receipted)"
iot_wait_for 20 '[ "$(count)" -ge "$N" ]' || iot_fail "only $(count) of $N samples stored"
sleep 0.5
first=$(iot_sql "$db" "SELECT min(seq) FROM samples WHERE device_id='dev-o'")
got=$(iot_sql "$db" "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM samples WHERE device_id='dev-o'")
want="$N|$N|$first|$((first + N - 1))"
[ "$got" = "$want" ] || iot_fail "samples: got $got, want $want (count|distinct|min|max)"
dropped=$(iot_sql "$db" "SELECT count(*) FROM dropped_ranges WHERE device_id='dev-o'")
[ "$dropped" = 0 ] || iot_fail "unexpected dropped ranges: $(iot_sql "$db" "SELECT * FROM dropped_ranges")"
iot_stop "$cloud" TERM 15 || true
echo "PASS store_broker_outage"
