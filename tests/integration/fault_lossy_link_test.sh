#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A slow, lossy link: two agents reach the broker through iot-fault-proxy (the kernel has no netem)
# with 40 +- 40 ms delay each way, 40 KB/s per direction, and a 1.5% chance per chunk that the
# chunk is lost and the connection cut (TLS handshakes included). The agents reconnect and re-send;
# every sample is stored exactly once and every command reaches exactly one terminal state. A
# command in flight to a device when its connection is cut is lost with the device's clean MQTT
# session and ends "expired" (docs/testing.md, "Gaps"); IOT_STRICT_COMMANDS=1 demands "succeeded".
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/fault_lib.sh"
fault_init fault-lossy-link
PROXY_BIN=${IOT_FAULT_PROXY_BIN:-$IOT_BUILD/tests/support/iot-fault-proxy}

N=800
fault_stack 2
"$PROXY_BIN" --listen 0 --target "127.0.0.1:$MQTT_PORT" --delay-ms 40 --jitter-ms 40 \
    --rate 40000 --cut-prob 0.015 --seed 7 >"$IOT_WORK/proxy.out" 2>"$IOT_WORK/proxy.log" &
proxy=$!
IOT_PIDS+=("$proxy")
iot_wait_for 30 'grep -q "^port " "$IOT_WORK/proxy.out"' || iot_fail "the proxy printed no port"
pport=$(awk '$1 == "port" { print $2; exit }' "$IOT_WORK/proxy.out")

pids=()
for d in dev-1 dev-2; do
    fault_agent "$d" "$N" 20 $'[mqtt]\nkeepalive_s = 5\nreconnect_max_ms = 1000' 127.0.0.1 "$pport"
    pids+=("$AGENT_PID")
done
iot_wait_for 90 '[ "$(fault_count dev-2)" -ge 20 ]' || iot_fail "nothing arrives through the proxy"
for _ in 1 2 3; do
    for d in dev-1 dev-2; do FAULT_CMD_TIMEOUT=20 fault_cmd_send "$d"; done
    sleep 3
done
fault_wait_agents 150 "${pids[@]}"
for d in dev-1 dev-2; do fault_check_once "$d" "$N"; done
FAULT_CMD_ANY_TERMINAL=$([ "${IOT_STRICT_COMMANDS:-0}" = 1 ] && echo 0 || echo 1) fault_cmds_terminal 90
fault_dead_letters_none
cuts=$(grep -c 'fault: cut' "$IOT_WORK/proxy.log" || true)
[ "$cuts" -ge 1 ] || iot_fail "the proxy cut no connection: the test proved nothing"
connects=$(grep -c 'connecting to' "$IOT_WORK/dev-1.log" "$IOT_WORK/dev-2.log" | awk -F: '{ s += $2 } END { print s }')
iot_log "the proxy cut $cuts connections; the agents connected $connects times"
echo "PASS fault_lossy_link: 2 x $N samples once each through $cuts cuts, ${#FAULT_CIDS[@]} commands terminal"
