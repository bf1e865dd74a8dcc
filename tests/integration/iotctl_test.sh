#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iotctl against a running stack (broker, iot-cloud, three iot-sim devices): every subcommand's
# table and --json output, and its exit codes: succeeded/failed/expired/cancelled/timed-out
# commands, unknown device (8), bad token (9), server down (10), usage (2); settings from flags,
# the environment and a config file.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/api_lib.sh"
IOT_SIM_BIN=${IOT_SIM_BIN:-$IOT_BUILD/tools/sim/iot-sim}
IOTCTL=${IOTCTL_BIN:-$IOT_BUILD/tools/iotctl/iotctl}
iot_test_init iotctl
[ -x "$IOTCTL" ] || iot_fail "missing $IOTCTL"

api_setup
iot_bg "$IOT_WORK/sim.log" "$IOT_SIM_BIN" --pki "$PKI" --port "$MQTT_PORT" --devices 3 \
    --mix thermostat:1,plug:1,light:1 --prefix c --state "$IOT_WORK/sim" --interval-ms 300 \
    --progress 0
SIM=$IOT_LAST_PID
T=c0001-thermostat
export IOT_URL=$BASE IOT_TOKEN=$IOT_API_TOKEN
iotctl_online() { "$IOTCTL" devices --json | jq '[.devices[] | select(.presence == "online")] | length'; }
iot_wait_for 90 '[ "$(iotctl_online)" = 3 ]' || iot_fail "devices not online: $(iotctl_online)"

# expect_exit CODE OUTFILE CMD...: run iotctl with stdout to OUTFILE (stderr to OUTFILE.err).
expect_exit() {
    local want=$1 out=$2 rc=0
    shift 2
    "$IOTCTL" "$@" >"$out" 2>"$out.err" || rc=$?
    [ "$rc" = "$want" ] || iot_fail "iotctl $*: exit $rc, want $want; out: $(head -c 600 "$out") err: $(cat "$out.err")"
}
o=$IOT_WORK/out

# devices
expect_exit 0 "$o" devices
head -1 "$o" | grep -q '^ID  *PRESENCE  *LAST SEEN  *SAMPLES' || iot_fail "devices header: $(head -1 "$o")"
[ "$(grep -c ' online ' "$o")" = 3 ] || iot_fail "devices table: $(cat "$o")"
grep -q '^3 devices, 3 online$' "$o" || iot_fail "devices summary: $(tail -1 "$o")"
expect_exit 0 "$o" devices --json
[ "$(jq '.devices | length' "$o")" = 3 ] || iot_fail "devices --json: $(cat "$o")"
iot_log "ok: devices (table and --json)"

# device
expect_exit 0 "$o" device "$T"
grep -Eq '^presence +online \(connected\)' "$o" || iot_fail "device table: $(cat "$o")"
grep -Eq '^samples +[0-9]+ stored' "$o" || iot_fail "device samples: $(cat "$o")"
expect_exit 0 "$o" --json device "$T"
[ "$(jq -r .id "$o")" = "$T" ] && [ "$(jq -r .presence "$o")" = online ] || iot_fail "device --json"
expect_exit 8 "$o" device no-such-device
grep -q "unknown device 'no-such-device'" "$o.err" || iot_fail "unknown device message: $(cat "$o.err")"
iot_log "ok: device (table, --json, unknown device = exit 8)"

# telemetry
iot_wait_for 60 '[ "$("$IOTCTL" telemetry "$T" --json --limit 5 | jq ".items | length")" = 5 ]' ||
    iot_fail "no telemetry"
iot_wait_for 60 '[ "$("$IOTCTL" telemetry c0001-plug --metric energy_wh --limit 4 --json | jq ".items | length")" = 4 ]' ||
    iot_fail "no energy_wh telemetry of c0001-plug"
expect_exit 0 "$o" telemetry "$T" --limit 3
head -1 "$o" | grep -q '^TIME (UTC)  *SEQ  *METRICS' || iot_fail "telemetry header: $(head -1 "$o")"
[ "$(grep -c 'temperature=' "$o")" = 3 ] || iot_fail "telemetry rows: $(cat "$o")"
expect_exit 0 "$o" telemetry c0001-plug --metric energy_wh --since 1h --limit 4 --json
[ "$(jq '.items | length' "$o")" = 4 ] || iot_fail "telemetry --json: $(cat "$o")"
[ "$(jq '[.items[].metrics | keys[]] | unique | join(",")' -r "$o")" = energy_wh ] ||
    iot_fail "--metric: $(cat "$o")"
expect_exit 0 "$o" telemetry "$T" --since 2020-01-01T00:00:00Z --limit 2
expect_exit 8 "$o" telemetry no-such-device
expect_exit 2 "$o" telemetry "$T" --since yesterday
iot_log "ok: telemetry (table, --json, --metric, --since, unknown device, bad --since)"

# tail
expect_exit 0 "$o" tail "$T" --count 2 --for 60
[ "$(grep -c "telemetry *$T" "$o")" = 2 ] || iot_fail "tail: $(cat "$o")"
expect_exit 0 "$o" tail --json --count 3 --for 20
[ "$(jq -s 'length' "$o")" = 3 ] && [ "$(jq -rs '.[0].event' "$o")" != null ] || iot_fail "tail --json: $(cat "$o")"
expect_exit 8 "$o" tail no-such-device --count 1
iot_log "ok: tail (table, --json)"

# send
expect_exit 0 "$o" send "$T" set_setpoint celsius=27 --wait 60
grep -q '^command cmd-[0-9a-f]* queued: http://.*/v1/commands/cmd-' "$o" || iot_fail "send: $(cat "$o")"
grep -q '^succeeded in [0-9]* ms: OK' "$o" && grep -q 'setpoint_c = 27.0' "$o" || iot_fail "send result: $(cat "$o")"
expect_exit 0 "$o" send c0001-light light_on brightness=30 --wait --json
[ "$(jq -r .status "$o")" = succeeded ] && [ "$(jq -r .result.outputs.brightness "$o")" = 30 ] ||
    iot_fail "send --json: $(cat "$o")"
expect_exit 0 "$o" send "$T" ping
grep -q 'queued' "$o" && ! grep -q succeeded "$o" || iot_fail "send without --wait: $(cat "$o")"
expect_exit 3 "$o" send "$T" no_such_command --wait 60
grep -q '^failed in .*UNKNOWN_COMMAND' "$o" || iot_fail "failed command: $(cat "$o")"
expect_exit 8 "$o" send ghost ping
expect_exit 5 "$o" send ghost ping --force --timeout 1 --wait 60
grep -q '^expired' "$o" || iot_fail "expired: $(cat "$o")"
expect_exit 7 "$o" send ghost ping --force --timeout 60 --wait 1
grep -q '^still queued' "$o" || iot_fail "wait ran out: $(cat "$o")"
# cancelled while waiting: DELETE through the API
rc=0
"$IOTCTL" send ghost ping --force --timeout 120 --wait 90 >"$o" 2>&1 &
waiter=$!
IOT_PIDS+=("$waiter")
iot_wait_for 60 'grep -q queued "$o"' || iot_fail "no status URL: $(cat "$o")"
cid=$(grep -o 'cmd-[0-9a-f]*' "$o" | head -1)
expect_status 200 DELETE "/v1/commands/$cid"
wait "$waiter" || rc=$?
[ "$rc" = 6 ] || iot_fail "cancelled: exit $rc: $(cat "$o")"
iot_log "ok: send (succeeded 0, failed 3, expired 5, cancelled 6, --wait ran out 7, unknown 8)"

# desired
expect_exit 0 "$o" desired c0001-plug plug=off interval_ms=500
grep -q '^desired state of c0001-plug is now version 1$' "$o" || iot_fail "desired: $(cat "$o")"
iot_wait_for 60 '"$IOTCTL" device c0001-plug | grep -q "^reported *v1 .*plug=off"' ||
    iot_fail "reported: $("$IOTCTL" device c0001-plug)"
expect_exit 0 "$o" --json desired c0001-plug plug=on
[ "$(jq -r .version "$o")" = 2 ] || iot_fail "desired --json: $(cat "$o")"
expect_exit 8 "$o" desired never-seen plug=on
expect_exit 2 "$o" desired c0001-plug
iot_log "ok: desired (table, --json, unknown device, usage)"

# errors and settings
expect_exit 9 "$o" --token wrong devices
grep -q 'refused the token' "$o.err" || iot_fail "bad token message: $(cat "$o.err")"
down=http://127.0.0.1:$(iot_free_port)
expect_exit 10 "$o" --url "$down" devices
grep -q 'cannot connect' "$o.err" || iot_fail "server down message: $(cat "$o.err")"
expect_exit 2 "$o" frobnicate
expect_exit 2 "$o" send "$T"
expect_exit 0 "$o" --help
expect_exit 0 "$o" send --help
grep -q 'Exit: 0 succeeded' "$o" || iot_fail "send --help"
printf '[iotctl]\nurl = %s\ntoken = %s\n' "$BASE" "$IOT_API_TOKEN" >"$IOT_WORK/iotctl.conf"
rc=0
env -u IOT_URL -u IOT_TOKEN "$IOTCTL" --config "$IOT_WORK/iotctl.conf" devices >"$o" 2>&1 || rc=$?
[ "$rc" = 0 ] || iot_fail "config file: exit $rc: $(cat "$o")"
rc=0
env -u IOT_URL -u IOT_TOKEN HOME="$IOT_WORK/home" XDG_CONFIG_HOME= "$IOTCTL" --url "$BASE" devices \
    >"$o" 2>&1 || rc=$?
[ "$rc" = 9 ] || iot_fail "no token anywhere: exit $rc, want 9"
mkdir -p "$IOT_WORK/home/.config"
cp "$IOT_WORK/iotctl.conf" "$IOT_WORK/home/.config/iotctl.conf"
rc=0
env -u IOT_URL -u IOT_TOKEN HOME="$IOT_WORK/home" XDG_CONFIG_HOME= "$IOTCTL" devices >"$o" 2>&1 || rc=$?
[ "$rc" = 0 ] || iot_fail "~/.config/iotctl.conf: exit $rc: $(cat "$o")"
rc=0
IOT_TOKEN=wrong "$IOTCTL" --config "$IOT_WORK/iotctl.conf" devices >"$o" 2>&1 || rc=$?
[ "$rc" = 9 ] || iot_fail "environment over config file: exit $rc, want 9"
rc=0
IOT_TOKEN=wrong "$IOTCTL" --token "$IOT_API_TOKEN" devices >"$o" 2>&1 || rc=$?
[ "$rc" = 0 ] || iot_fail "flag over environment: exit $rc"
expect_exit 1 "$o" --config "$IOT_WORK/missing.conf" devices
iot_log "ok: errors (token 9, server down 10, usage 2) and settings (flag > env > config file)"

iot_stop "$SIM" TERM 60 || iot_fail "iot-sim exit status"
iot_stop "$CLOUD_PID" TERM 60 || iot_fail "iot-cloud exit status"
echo "PASS iotctl"
