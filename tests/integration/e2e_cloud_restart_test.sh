#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iot-cloud stopped while an agent keeps sending, then restarted with the same client id: every
# sample arrives, once (the cloud's persistent session keeps its queue in the broker).
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
iot_test_init e2e-cloud-restart

N=400
iot_stack_broker dev-r
iot_stack_cloud_conf

count() { iot_sql "$db" "SELECT count(*) FROM samples WHERE device_id='dev-r'"; }

iot_stack_cloud_start
iot_agent_conf "$pki" "$port" dev-r "$IOT_WORK/state" 10 "$N" >"$IOT_WORK/agent.conf"
iot_stack_agent_start

iot_wait_for 20 '[ "$(count)" -ge 50 ]' || iot_fail "no samples flowing before the stop"
iot_stop "$cloud" TERM 15 || iot_fail "iot-cloud did not exit cleanly on SIGTERM"
at_stop=$(count)
iot_log "iot-cloud stopped with $at_stop samples stored; the agent keeps sending"
sleep 2
[ "$(count)" = "$at_stop" ] || iot_fail "rows appeared while iot-cloud was down"
kill -0 "$agent" 2>/dev/null || iot_log "agent already finished sending"

iot_stack_cloud_start
rc=0
iot_stop "$agent" 0 60 || rc=$?
[ "$rc" -eq 0 ] || iot_fail "agent exited with $rc"
iot_wait_for 30 '[ "$(count)" -ge "$N" ]' || iot_fail "only $(count) of $N samples after the restart"
sleep 0.5
got=$(iot_sql "$db" "SELECT count(*) = $N AND count(DISTINCT seq) = $N AND max(seq) - min(seq) = $N - 1 FROM samples WHERE device_id='dev-r'")
[ "$got" = 1 ] || iot_fail "samples not exactly once: $(iot_sql "$db" "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM samples")"
[ "$at_stop" -lt "$N" ] || iot_fail "the stop came too late to test anything ($at_stop of $N stored)"
iot_stop "$cloud" TERM 15 || iot_fail "iot-cloud exit status"
echo "PASS e2e_cloud_restart ($at_stop stored before the stop, $N after)"
