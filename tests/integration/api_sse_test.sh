#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Server-Sent Events: a client of GET /v1/events receives presence, telemetry and command-state
# events in order with increasing ids, and heartbeats; ?device= filters; the token is required;
# the client count shows in /metrics.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/api_lib.sh"
iot_test_init api-sse
api_setup "$(printf '[sse]\nheartbeat_s = 1\n')"

code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE/v1/events")
[ "$code" = 401 ] || iot_fail "events without token: $code"
stream() { # FILE [QUERY]
    curl -sN --max-time 60 -H "Authorization: Bearer $IOT_API_TOKEN" "$BASE/v1/events${2:-}" >"$1" &
    IOT_PIDS+=($!)
}
stream "$IOT_WORK/all.sse"
all=${IOT_PIDS[-1]}
stream "$IOT_WORK/dev2.sse" '?device=dev-2'
iot_wait_for 10 '[ "$(iot_metric "$HTTP" iot_cloud_sse_clients)" = 2 ]' || iot_fail "clients not counted"

fake_device dev-1 --pub "$PKI/cmd-sign.pub" --telemetry-ms 100
iot_wait_for 15 device_online dev-1 || iot_fail "dev-1 not online"
iot_wait_for 10 'grep -q "^event: telemetry" "$IOT_WORK/all.sse"' || iot_fail "no telemetry event"
expect_status 202 POST /v1/devices/dev-1/commands '{"name":"ping"}'
cid=$(jq -r .id <<<"$API_BODY")
iot_wait_for 10 'grep -q "\"status\":\"succeeded\"" "$IOT_WORK/all.sse"' || iot_fail "no command event"
sleep 1.5
kill "$all" 2>/dev/null || true

f=$IOT_WORK/all.sse
line() { grep -n "$1" "$f" | head -1 | cut -d: -f1; }
p=$(line '^event: presence'); t=$(line '^event: telemetry'); c=$(line '^event: command')
[ -n "$p" ] && [ -n "$t" ] && [ -n "$c" ] && [ "$p" -lt "$t" ] && [ "$t" -lt "$c" ] ||
    iot_fail "order presence($p) < telemetry($t) < command($c) broken: $(head -40 "$f")"
grep '^data: ' "$f" | sed 's/^data: //' | jq -e . >/dev/null || iot_fail "data lines are not JSON"
ids=$(grep '^id: ' "$f" | cut -d' ' -f2)
[ "$(sort -n <<<"$ids" | uniq)" = "$ids" ] || iot_fail "event ids not strictly increasing: $ids"
states=$(grep -A1 '^event: command' "$f" | grep '^data:' | sed 's/^data: //' |
         jq -r "select(.id == \"$cid\") | .status" | tr '\n' ,)
[ "$states" = "queued,sent,succeeded," ] || iot_fail "command events: $states"
grep -A1 '^event: telemetry' "$f" | grep '^data:' | head -1 | sed 's/^data: //' |
    jq -e '.device_id == "dev-1" and (.samples[0].metrics.temperature | type) == "number"' >/dev/null ||
    iot_fail "telemetry event: $(grep -A1 '^event: telemetry' "$f" | head -2)"
grep -q '^: hb' "$f" || iot_fail "no heartbeat"
iot_log "ok: presence, telemetry and command events in order with increasing ids; heartbeats"

! grep -q '^event: \(telemetry\|command\|presence\)' "$IOT_WORK/dev2.sse" ||
    iot_fail "filtered stream got dev-1 events: $(head "$IOT_WORK/dev2.sse")"
grep -q '^: hb' "$IOT_WORK/dev2.sse" || iot_fail "filtered stream got no heartbeat"
iot_log "ok: ?device=dev-2 sees none of dev-1's events"
rc=0
iot_stop "$CLOUD_PID" TERM 15 || rc=$?
[ "$rc" = 0 ] || iot_fail "iot-cloud exit status $rc (with an event stream open)"
echo "PASS api_sse"
