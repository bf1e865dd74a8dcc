#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iot-cloud SIGKILLed three times under load (three devices streaming, commands in flight) and
# restarted each time with the same client id. Paho acknowledges to the broker before the cloud
# commits, so each kill can lose what was in memory; the devices re-send what no Receipt covered.
# Every sample ends stored exactly once; every command reaches exactly one terminal state.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/fault_lib.sh"
fault_init fault-cloud-kill

N=2000
fault_stack 3
pids=()
for d in dev-1 dev-2 dev-3; do
    fault_agent "$d" "$N" 5
    pids+=("$AGENT_PID")
done
iot_wait_for 20 '[ "$(fault_count dev-3)" -ge 50 ]' || iot_fail "no samples flowing"
for r in 1 2 3; do
    for d in dev-1 dev-2 dev-3; do fault_cmd_send "$d"; done
    sleep 1.5
    iot_stop "$CLOUD_PID" KILL 5 || true
    iot_log "iot-cloud SIGKILL $r/3 at $(fault_count dev-1)/$(fault_count dev-2)/$(fault_count dev-3) stored"
    sleep 1
    api_cloud_start
done
fault_wait_agents 120 "${pids[@]}"
for d in dev-1 dev-2 dev-3; do fault_check_once "$d" "$N"; done
fault_cmds_terminal 60
fault_dead_letters_none
echo "PASS fault_cloud_kill: 3 x $N samples once each across 3 SIGKILLs, ${#FAULT_CIDS[@]} commands terminal"
