#!/usr/bin/env bash
# shellcheck disable=SC2034 # FAULT_BROKER_CONF_HOOK, BASE: read by fault_lib.sh / api_lib.sh
# SPDX-License-Identifier: Apache-2.0
# Broker faults during a stream from three devices, with commands in flight; every sample ends
# stored exactly once and every command in exactly one terminal state. MODE:
#   restart    the broker (persistence on) restarted three times: SIGTERM, SIGKILL, SIGKILL
#   nopersist  persistence off: a restart forgets the cloud's session and every queued message;
#              the agents' stores re-send what no Receipt covered
#   stockqueue Mosquitto's stock queue limits (max_queued_messages 1000, max_inflight_messages 20,
#              no byte bound, no persistence) and a burst of single-sample messages while iot-cloud
#              is stopped (SIGSTOP): the broker drops most of the cloud's queue ("Outgoing messages
#              are being dropped"), the agents' receipts timers repair it
# Usage: fault_broker_test.sh MODE
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/fault_lib.sh"
mode=${1:?usage: fault_broker_test.sh restart|nopersist|stockqueue}
fault_init "fault-broker-$mode"

stock_conf() { # the no-loss settings of iot-pki's config, replaced by Mosquitto's defaults
    sed -i -e 's/^persistence true/persistence false/' -e '/^max_queued_bytes/d' \
        -e 's/^max_queued_messages .*/max_queued_messages 1000/' \
        -e 's/^max_inflight_messages .*/max_inflight_messages 20/' "$1"
}
case $mode in
restart) N=2000 MS=10 EXTRA= ;;
nopersist) N=2000 MS=10 EXTRA=
    FAULT_BROKER_CONF_HOOK=no_persist
    no_persist() { sed -i 's/^persistence true/persistence false/' "$1"; } ;;
stockqueue) N=4000 MS=2 EXTRA=$'[telemetry]\nbatch_max = 1\n[mqtt]\ninflight = 20'
    FAULT_BROKER_CONF_HOOK=stock_conf ;;
*) iot_fail "unknown mode $mode" ;;
esac
fault_stack 3
iot_log "broker: $(grep -E '^(persistence|max_queued|max_inflight)' "$PKI/mosquitto.conf" | tr '\n' ' ')"

pids=()
for d in dev-1 dev-2 dev-3; do
    fault_agent "$d" "$N" "$MS" "$EXTRA"
    pids+=("$AGENT_PID")
done
iot_wait_for 20 '[ "$(fault_count dev-3)" -ge 50 ]' || iot_fail "no samples flowing"

if [ "$mode" = stockqueue ]; then
    # The burst: 3 x 500 single-sample messages/s, with nobody reading the cloud's queue.
    kill -STOP "$CLOUD_PID"
    iot_log "iot-cloud stopped (SIGSTOP) at $(fault_count dev-1)/$(fault_count dev-2)/$(fault_count dev-3)"
    sleep 6
    kill -CONT "$CLOUD_PID"
    iot_log "iot-cloud continued"
    iot_wait_for 10 'grep -q "Outgoing messages are being dropped" "$IOT_WORK/mosquitto.log"' ||
        iot_fail "the burst did not overflow the stock queue (no drop in the broker log)"
    iot_log "ok: the broker dropped part of the cloud's queue ($(grep -c 'being dropped' "$IOT_WORK/mosquitto.log") warnings)"
    for d in dev-1 dev-2 dev-3; do fault_cmd_send "$d"; done
else
    signals=(TERM KILL KILL)
    for r in 1 2 3; do
        for d in dev-1 dev-2 dev-3; do fault_cmd_send "$d"; done
        iot_broker_stop "$PKI" "${signals[$((r - 1))]}"
        iot_log "broker restart $r/3 (SIG${signals[$((r - 1))]}) at $(fault_count dev-1)/$(fault_count dev-2)/$(fault_count dev-3) stored"
        sleep 2
        iot_broker_start "$PKI"
        iot_wait_for 20 '[ "$(iot_metric "$HTTP" iot_cloud_mqtt_connected)" = 1 ]' ||
            iot_fail "iot-cloud did not reconnect after restart $r"
        sleep 2
    done
fi

fault_wait_agents 120 "${pids[@]}"
for d in dev-1 dev-2 dev-3; do
    iot_wait_for 10 '[ "$(fault_count '"$d"')" -ge "$N" ]' || true
    fault_check_once "$d" "$N"
done
fault_cmds_terminal 60
resends=0
for d in dev-1 dev-2 dev-3; do
    r=$(grep -o 're-sends [0-9]*' "$IOT_WORK/$d.log" | tail -n 1 | tr -dc 0-9)
    resends=$((resends + ${r:-0}))
done
iot_log "the agents re-sent unreceipted samples $resends times; duplicates absorbed by the cloud: $(iot_metric "$HTTP" iot_cloud_samples_duplicate_total)"
fault_dead_letters_none
kill -0 "$CLOUD_PID" || iot_fail "iot-cloud died"
echo "PASS fault_broker $mode: 3 x $N samples once each, ${#FAULT_CIDS[@]} commands terminal"
