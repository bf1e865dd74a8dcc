#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Server-Sent Events: a client of GET /v1/events receives presence, telemetry and command-state
# events in order with increasing ids, and heartbeats; ?device= filters; the token is required;
# the client count shows in /metrics. A client that reconnects with Last-Event-ID (or
# ?last_event_id=) gets the events it missed, or event: reset when they are no longer kept.
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
dev2=${IOT_PIDS[-1]}
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

# Last-Event-ID: with every client gone, events are still kept ([sse] replay_idle_s); a client that
# comes back gets the ones it missed, then the live ones, ids consecutive (the streams above were
# unfiltered, so every event id was theirs).
kill "$dev2" 2>/dev/null || true
iot_wait_for 10 '[ "$(iot_metric "$HTTP" iot_cloud_sse_clients)" = 0 ]' || iot_fail "streams still counted"
sleep 1 # telemetry every 100 ms goes on while nobody listens
records() { # FILE: "id<TAB>event<TAB>data" per complete event
    awk '/^id: /{id=substr($0,5)} /^event: /{ev=substr($0,8)} /^data: /{d=substr($0,7)}
         /^$/{if (id != "") print id "\t" ev "\t" d; id=""; ev=""; d=""}' "$1"
}
resume() { # FILE CURL_ARGS...: a stream of 3 s
    local out=$1
    shift
    curl -sN --max-time 3 -H "Authorization: Bearer $IOT_API_TOKEN" "$@" >"$out" || true
}
records "$f" >"$IOT_WORK/all.rec"
first=$(head -1 "$IOT_WORK/all.rec" | cut -f1)
last=$(tail -1 "$IOT_WORK/all.rec" | cut -f1)
resume "$IOT_WORK/resume.sse" -H "Last-Event-ID: $first" "$BASE/v1/events"
records "$IOT_WORK/resume.sse" >"$IOT_WORK/resume.rec"
ids=$(cut -f1 "$IOT_WORK/resume.rec")
[ -n "$ids" ] && [ "$ids" = "$(seq "$((first + 1))" "$(tail -1 <<<"$ids")")" ] ||
    iot_fail "resumed after $first: ids not consecutive from $((first + 1)): $(head -c 300 <<<"$ids")"
[ "$(tail -1 <<<"$ids")" -gt "$((last + 1))" ] || iot_fail "no event missed while disconnected was sent"
tail -n +2 "$IOT_WORK/all.rec" | cmp -s - <(head -n "$(($(wc -l <"$IOT_WORK/all.rec") - 1))" "$IOT_WORK/resume.rec") ||
    iot_fail "replayed events differ from the ones first sent"
! grep -q '^event: reset' "$IOT_WORK/resume.sse" || iot_fail "reset although the events were kept"
iot_log "ok: Last-Event-ID $first: $(wc -l <<<"$ids") events, replayed then live, ids consecutive"

resume "$IOT_WORK/resume-q.sse" "$BASE/v1/events?last_event_id=$last"
[ "$(records "$IOT_WORK/resume-q.sse" | head -1 | cut -f1)" = "$((last + 1))" ] ||
    iot_fail "?last_event_id=$last did not resume at $((last + 1)): $(head -5 "$IOT_WORK/resume-q.sse")"
resume "$IOT_WORK/resume-f.sse" "$BASE/v1/events?device=dev-2&last_event_id=$first"
! grep -q '^event: \(telemetry\|command\|presence\)' "$IOT_WORK/resume-f.sse" ||
    iot_fail "filtered resumption replayed dev-1's events"
resume "$IOT_WORK/reset.sse" -H "Last-Event-ID: 1" "$BASE/v1/events"
grep -A1 '^event: reset' "$IOT_WORK/reset.sse" | grep '^data: ' | sed 's/^data: //' |
    jq -e '.reason == "too_old" and .last_event_id == 1 and .oldest_event_id > 1' >/dev/null ||
    iot_fail "id older than the kept events: no reset: $(head -5 "$IOT_WORK/reset.sse")"
grep -q '^id: ' "$IOT_WORK/reset.sse" || iot_fail "no live events after the reset"
resume "$IOT_WORK/reset2.sse" -H "Last-Event-ID: $((last + 1000000))" "$BASE/v1/events"
grep -A1 '^event: reset' "$IOT_WORK/reset2.sse" | grep -q '"reason":"unknown_id"' ||
    iot_fail "unknown (future) id: no reset: $(head -5 "$IOT_WORK/reset2.sse")"
expect_status 400 GET '/v1/events?last_event_id=abc'
[ "$(iot_metric "$HTTP" iot_cloud_sse_resumed_total)" = 5 ] &&
    [ "$(iot_metric "$HTTP" iot_cloud_sse_resets_total)" = 2 ] ||
    iot_fail "resumed $(iot_metric "$HTTP" iot_cloud_sse_resumed_total), resets $(iot_metric "$HTTP" iot_cloud_sse_resets_total)"
iot_log "ok: ?last_event_id= resumes, ?device= filters the replay, too old / unknown ids get event: reset"
rc=0
iot_stop "$CLOUD_PID" TERM 15 || rc=$?
[ "$rc" = 0 ] || iot_fail "iot-cloud exit status $rc (with an event stream open)"
echo "PASS api_sse"
