#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iot-sim with 50 smart-home devices against a broker and iot-cloud, for a bounded time: every
# device comes online in the registry, a set_setpoint command to a thermostat moves its later
# temperature toward the setpoint (short room time constant), and after the drain every sample the
# simulator took is stored exactly once and matches what the simulator counts as receipted.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/api_lib.sh"
IOT_SIM_BIN=${IOT_SIM_BIN:-$IOT_BUILD/tools/sim/iot-sim}
N=50
iot_test_init sim
[ -x "$IOT_SIM_BIN" ] || iot_fail "missing $IOT_SIM_BIN"

"$IOT_SIM_BIN" --help | grep -q -- '--churn' || iot_fail "--help lacks --churn"
rc=0; "$IOT_SIM_BIN" --devices x --pki /nonexistent 2>/dev/null || rc=$?
[ "$rc" = 2 ] || iot_fail "bad option: exit $rc, want 2"

api_setup
iot_bg "$IOT_WORK/sim.log" "$IOT_SIM_BIN" --pki "$PKI" --port "$MQTT_PORT" --devices "$N" \
    --state "$IOT_WORK/sim-state" --interval-ms 500 --time-constant 2 --duration 28 --drain 20 \
    --progress 5 --stats "$IOT_WORK/sim.json" --seed 7
SIM=$IOT_LAST_PID

online_count() {
    api GET '/v1/devices?limit=1000'
    jq '[.devices[] | select((.id | startswith("house")) and .presence == "online")] | length' \
        <<<"$API_BODY"
}
iot_wait_for 40 '[ "$(online_count)" = '"$N"' ]' || iot_fail "online: $(online_count) of $N"
iot_log "ok: all $N devices online in the registry"

dev=house0001-thermostat
latest_temp() {
    api GET "/v1/devices/$dev/telemetry?metric=temperature&limit=1${1:+&from=$1}"
    jq -r '.items[0].metrics.temperature.value // empty' <<<"$API_BODY"
}
iot_wait_for 10 '[ -n "$(latest_temp)" ]' || iot_fail "no temperature from $dev"
before=$(latest_temp)
target=$(awk -v t="$before" 'BEGIN { print (t < 25) ? 32 : 10 }')
expect_status 202 POST "/v1/devices/$dev/commands" \
    "{\"name\":\"set_setpoint\",\"params\":{\"celsius\":\"$target\"},\"timeout_s\":20}"
cid=$(jq -r .id <<<"$API_BODY")
api GET "/v1/commands/$cid?wait=15"
[ "$(jq -r .status <<<"$API_BODY")" = succeeded ] || iot_fail "set_setpoint: $API_BODY"
done_ms=$(jq -r .result.done_ms <<<"$API_BODY")
iot_log "set_setpoint $target on $dev (was at $before C): $(jq -c .result.outputs <<<"$API_BODY")"
# Time constant 2 s: after 6 s the room is ~95% of the way there.
close_to_target() {
    local t
    t=$(latest_temp "$((done_ms + 5000))")
    [ -n "$t" ] && awk -v t="$t" -v g="$target" 'BEGIN { d = t - g; exit !(d < 1.5 && d > -1.5) }'
}
iot_wait_for 15 close_to_target || iot_fail "temperature did not follow: $(latest_temp) vs $target"
iot_log "ok: $dev temperature now $(latest_temp) C, toward the setpoint $target C"

# The run is bounded by --duration (+ the drain): wait for it rather than signalling early.
for _ in $(seq 900); do kill -0 "$SIM" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SIM" 2>/dev/null && iot_fail "iot-sim still running after its duration and drain"
rc=0
wait "$SIM" || rc=$?
[ "$rc" = 0 ] || iot_fail "iot-sim exit status $rc"
grep -q "all $N devices online" "$IOT_WORK/sim.log" || iot_fail "sim never saw all devices online"
iot_wait_for 10 '[ "$(online_count)" = 0 ]' || iot_fail "still online after stop: $(online_count)"
iot_log "ok: every device offline after the simulator stopped"

stats=$IOT_WORK/sim.json
[ "$(jq '.devices | length' "$stats")" = "$N" ] || iot_fail "stats: device count"
[ "$(jq '[.devices[] | select(.backlog != 0 or .receipted != .samples)] | length' "$stats")" = 0 ] ||
    iot_fail "unreceipted samples: $(jq -c '[.devices[] | select(.backlog != 0)]' "$stats")"
[ "$(jq '[.devices[] | select(.commands_answered > 0)] | length' "$stats")" -ge 1 ] ||
    iot_fail "no command answered in the stats"
jq -r '.devices[] | "\(.id) \(.samples)"' "$stats" | sort >"$IOT_WORK/sim.counts"
iot_sql "$DB" "SELECT device_id || ' ' || count(*) FROM samples WHERE device_id LIKE 'house%'
               GROUP BY device_id" | sort >"$IOT_WORK/db.counts"
iot_sql "$DB" "SELECT device_id, count(*), count(DISTINCT epoch || '.' || seq) FROM samples
               GROUP BY device_id HAVING count(*) != count(DISTINCT epoch || '.' || seq)" \
    >"$IOT_WORK/dups"
[ ! -s "$IOT_WORK/dups" ] || iot_fail "duplicates: $(cat "$IOT_WORK/dups")"
diff "$IOT_WORK/sim.counts" "$IOT_WORK/db.counts" >"$IOT_WORK/diff" ||
    iot_fail "stored samples differ from the simulator's: $(head "$IOT_WORK/diff")"
total=$(jq .samples "$stats")
[ "$total" -ge $((N * 40)) ] || iot_fail "too few samples: $total"
iot_log "ok: $total samples of $N devices stored exactly once, equal to the simulator's receipted"
iot_log "memory: $(jq -r '"\(.rss_per_device_kb) KB/device RSS"' "$stats")"
iot_stop "$CLOUD_PID" TERM 15 || iot_fail "iot-cloud exit status"
echo "PASS sim"
