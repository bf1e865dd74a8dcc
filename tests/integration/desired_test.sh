#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Desired / reported state against a real Mosquitto and iot-agent: a retained DesiredState version 2
# applies (ReportedState version 2 with the settings in effect; the telemetry interval and sensors
# change; an unknown key is reported as not applied); version 1 afterwards is ignored; after an
# agent restart the retained version 1 is still ignored and version 2's settings are in effect;
# version 3 applies.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
iot_test_init desired

iot_stack_broker dev-1
tls=$(iot_mqtt_tls "$pki" "$pki/cloud")

conf=$IOT_WORK/agent.conf
iot_agent_conf "$pki" "$port" dev-1 "$IOT_WORK/state" 200 0 >"$conf"
sed -i 's/^linux = true/linux = false/' "$conf"
cat >>"$conf" <<EOF
[commands]
enabled = true
public_key_file = $pki/cmd-sign.pub
EOF
iot_stack_agent_start

sub() { # sub TOPIC FILE
    # shellcheck disable=SC2086
    iot_bg "$2" mosquitto_sub -V 5 -h 127.0.0.1 -p "$port" $tls -q 1 -t "$1" -F '%x'
}
sub devices/dev-1/state/reported "$IOT_WORK/reported.sub"
sub devices/dev-1/telemetry "$IOT_WORK/telemetry.sub"
sub devices/dev-1/responses "$IOT_WORK/responses.sub"
iot_wait_for 20 '[ -s "$IOT_WORK/telemetry.sub" ]' || iot_fail "no telemetry from the agent"

desired() { # desired VERSION k=v...: publish a retained DesiredState as the cloud
    "$IOT_PAYLOAD_BIN" desired "$@" >"$IOT_WORK/desired.bin"
    # shellcheck disable=SC2086
    timeout 10 mosquitto_pub -V 5 -h 127.0.0.1 -p "$port" $tls -q 1 -r \
        -t devices/dev-1/state/desired -f "$IOT_WORK/desired.bin"
}
reported() { "$IOT_PAYLOAD_BIN" decode-reported --hex <"$IOT_WORK/reported.sub"; }
nrep() { reported | grep -c . || true; }
# get_state [TRIES]: the agent's own view, through a signed command (waits TRIES x 0.1 s).
state() {
    local id=gs-$RANDOM$RANDOM
    "$IOT_PAYLOAD_BIN" command "$pki/cmd-sign.key" dev-1 get_state --id "$id" >"$IOT_WORK/gs.bin"
    # shellcheck disable=SC2086
    timeout 10 mosquitto_pub -V 5 -h 127.0.0.1 -p "$port" $tls -q 1 -t devices/dev-1/commands \
        -f "$IOT_WORK/gs.bin"
    local line=
    for _ in $(seq "${1:-100}"); do
        line=$("$IOT_PAYLOAD_BIN" decode-result --hex <"$IOT_WORK/responses.sub" | awk -v id="$id" '$1 == id')
        [ -n "$line" ] && break
        sleep 0.1
    done
    echo "$line"
}
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print substr($0, length(k) + 2) }'; }

# 1. Version 2: interval 200 -> 1000 ms, only temperature and door; "colour" is unknown.
desired 2 interval_ms=1000 sensors.simulated=temperature,door colour=blue
iot_wait_for 15 '[ "$(nrep)" -ge 1 ]' || iot_fail "no ReportedState after version 2"
rep=$(reported | head -1)
[ "$(echo "$rep" | cut -d' ' -f1-2)" = "2 dev-1" ] || iot_fail "reported: $rep"
[ "$(echo "$rep" | field interval_ms)" = 1000 ] || iot_fail "reported interval: $rep"
[ "$(echo "$rep" | field sensors.simulated)" = temperature,door ] || iot_fail "reported sensors: $rep"
[ "$(echo "$rep" | field _not_applied)" = colour ] || iot_fail "reported not applied: $rep"
t_applied=$(date +%s%3N)
sleep 5.5
# samples taken in the 5 s after the change: ~5 at 1000 ms (it was 25 at 200 ms)
n=$("$IOT_PAYLOAD_BIN" decode-telemetry --hex <"$IOT_WORK/telemetry.sub" |
    awk -v a="$((t_applied + 200))" -v b="$((t_applied + 5200))" '$2 >= a && $2 < b { print $1 }' | sort -u | wc -l)
[ "$n" -ge 4 ] && [ "$n" -le 6 ] || iot_fail "$n samples in 5 s after interval_ms=1000"
last=$("$IOT_PAYLOAD_BIN" decode-telemetry --hex <"$IOT_WORK/telemetry.sub" | sort -n -k1,1 | tail -1)
metrics=$(echo "$last" | tr ' ' '\n' | awk -F= 'NF == 2 { print $1 }' | paste -sd,)
[ "$metrics" = temperature,door_open ] || iot_fail "metrics after sensors.simulated: $last"
iot_log "ok: version 2 applied and reported ($rep); $n samples in 5 s; metrics $metrics"

# 2. Version 1 (older): ignored, nothing reported, the interval stays.
desired 1 interval_ms=200
sleep 2
[ "$(nrep)" = 1 ] || iot_fail "version 1 was reported: $(reported)"
st=$(state)
[ "$(echo "$st" | field interval_ms)" = 1000 ] || iot_fail "after version 1: $st"
[ "$(echo "$st" | field desired_version)" = 2 ] || iot_fail "after version 1: $st"
iot_log "ok: version 1 ignored"

# 3. Restart: the retained version 1 comes again and is ignored; version 2's settings persist.
rc=0
iot_stop "$agent" TERM 10 || rc=$?
[ "$rc" -eq 0 ] || iot_fail "agent exit status after SIGTERM: $rc"
iot_stack_agent_start
st=
for _ in $(seq 40); do st=$(state 10); [ -n "$st" ] && break; done
[ "$(echo "$st" | field interval_ms)" = 1000 ] || iot_fail "after restart: $st"
[ "$(echo "$st" | field desired_version)" = 2 ] || iot_fail "after restart: $st"
[ "$(echo "$st" | field sensors)" = temperature,door ] || iot_fail "sensors after restart: $st"
[ "$(nrep)" = 1 ] || iot_fail "retained version 1 reported after the restart: $(reported)"
iot_log "ok: after a restart version 2 is in effect and the retained version 1 ignored"

# 4. Version 3 applies.
desired 3 interval_ms=500 sensors.simulated=humidity
iot_wait_for 15 '[ "$(nrep)" -ge 2 ]' || iot_fail "no ReportedState after version 3"
rep=$(reported | tail -1)
[ "$(echo "$rep" | cut -d' ' -f1)" = 3 ] || iot_fail "reported: $rep"
[ "$(echo "$rep" | field interval_ms)" = 500 ] || iot_fail "reported: $rep"
[ "$(echo "$rep" | field sensors.simulated)" = humidity ] || iot_fail "reported: $rep"
iot_log "ok: version 3 applied ($rep)"

rc=0
iot_stop "$agent" TERM 10 || rc=$?
[ "$rc" -eq 0 ] || iot_fail "agent exit status after SIGTERM: $rc"
echo "PASS desired"
