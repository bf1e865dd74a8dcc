#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A network partition between one device and the broker, made with a network namespace and a veth
# pair (root only: fails, never skips, without it). dev-1 runs inside namespace iot7-part-PID
# (10.200.8.2) and reaches Mosquitto's second listener on the root side of the veth (10.200.8.1,
# with a broker certificate for that address); dev-2 stays on loopback. The veth is taken down for
# 8 s, twice, and brought up again: dev-1 loses its connection and keeps sampling into its store,
# dev-2 carries on; after healing every sample of both is stored exactly once and the commands
# sent during the partitions reach one terminal state. A command sent once the broker has noticed
# the partition (the cloud has dev-1's LWT) waits and succeeds after healing; one sent in the first
# seconds, while the broker still writes into the dead connection, is lost with dev-1's clean MQTT
# session and ends "expired" (one terminal state, but not executed: see docs/testing.md, "Gaps";
# IOT_STRICT_COMMANDS=1 demands "succeeded" for those too).
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/fault_lib.sh"
fault_init fault-partition
fault_require_root "the partition test"

N=2000
fault_stack 2
fault_netns part 8
NSPORT=$(iot_free_port)
fault_broker_cert_ip 10.200.8.1
fault_broker_listener "$PKI/mosquitto.conf" 10.200.8.1 "$NSPORT"
iot_broker_stop "$PKI"
iot_broker_start "$PKI"
iot_wait_for 20 '[ "$(iot_metric "$HTTP" iot_cloud_mqtt_connected)" = 1 ]' || iot_fail "cloud not reconnected"

ka=$'[mqtt]\nkeepalive_s = 2\nreconnect_max_ms = 1000'
fault_agent dev-1 "$N" 10 "$ka" 10.200.8.1 "$NSPORT" ip netns exec "$FAULT_NS"
a1=$AGENT_PID
fault_agent dev-2 "$N" 10 "$ka"
a2=$AGENT_PID
iot_wait_for 20 '[ "$(fault_count dev-1)" -ge 100 ]' || iot_fail "dev-1 (in the namespace) sends nothing"

early=()
late=()
for p in 1 2; do
    ip link set "$FAULT_HOST_IF" down
    c1=$(fault_count dev-1)
    c2=$(fault_count dev-2)
    iot_log "partition $p: veth down at dev-1 $c1, dev-2 $c2 stored"
    FAULT_CMD_TIMEOUT=15 fault_cmd_send dev-1
    early+=("${FAULT_CIDS[-1]}")
    sleep 5
    iot_wait_for 5 '[ "$(iot_sql "$DB" "SELECT online FROM devices WHERE device_id='"'dev-1'"'")" = 0 ]' ||
        iot_fail "the cloud did not learn that dev-1 is offline (LWT)"
    FAULT_CMD_TIMEOUT=40 fault_cmd_send dev-1
    late+=("${FAULT_CIDS[-1]}")
    m1=$(fault_count dev-1) # what was in the pipeline before the cut has arrived by now
    sleep 3
    d1=$(fault_count dev-1)
    d2=$(fault_count dev-2)
    [ "$d2" -gt $((c2 + 300)) ] || iot_fail "dev-2 stalled during dev-1's partition ($c2 -> $d2)"
    [ "$d1" = "$m1" ] || iot_fail "dev-1 kept delivering through the partition ($m1 -> $d1)"
    ip link set "$FAULT_HOST_IF" up
    iot_log "healed: dev-1 $d1, dev-2 $d2 stored"
    iot_wait_for 20 '[ "$(fault_count dev-1)" -gt '"$((d1 + 100))"' ]' ||
        iot_fail "dev-1 did not resume after healing"
done
grep -qiE 'lost|failed|disconnect' "$IOT_WORK/dev-1.log" || iot_fail "dev-1 never noticed the partition"
fault_wait_agents 120 "$a1" "$a2"
fault_check_once dev-1 "$N"
fault_check_once dev-2 "$N"
FAULT_CIDS=("${late[@]}")
fault_cmds_terminal 60
FAULT_CIDS=("${early[@]}")
FAULT_CMD_ANY_TERMINAL=$([ "${IOT_STRICT_COMMANDS:-0}" = 1 ] && echo 0 || echo 1) fault_cmds_terminal 30
fault_dead_letters_none
echo "PASS fault_partition: 2 partitions of ~10 s healed, 2 x $N samples once each"
