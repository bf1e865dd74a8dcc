#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every /v1 route and every error status of the API: 400, 401, 404, 405, 409, 413, 415, with JSON
# {error, detail}; the registry (list, one device with reported state and counters), desired
# state versions, telemetry pages (newest first, opaque cursor), /metrics gauges and the counter of
# responses by status.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/api_lib.sh"
iot_test_init api-routes
api_setup "$(printf '[http]\nmax_body = 2048\n')"

err_is() { # STATUS ERROR
    [ "$API_STATUS" = "$1" ] || iot_fail "HTTP $API_STATUS, want $1: $API_BODY"
    [ "$(jq -r .error <<<"$API_BODY")" = "$2" ] || iot_fail "error $API_BODY, want $2"
    [ -n "$(jq -r '.detail // empty' <<<"$API_BODY")" ] || iot_fail "no detail: $API_BODY"
}

# 401: no token, wrong token, other scheme, on every kind of route.
for path in /v1/devices /v1/commands/cmd-000000000000000000000000 /v1/events /v1/nowhere; do
    code=$(curl -s -o "$IOT_WORK/o" -w '%{http_code}' "$BASE$path")
    [ "$code" = 401 ] || iot_fail "$path without token: $code"
    code=$(curl -s -o "$IOT_WORK/o" -w '%{http_code}' -H 'Authorization: Bearer wrong' "$BASE$path")
    [ "$code" = 401 ] || iot_fail "$path with a wrong token: $code"
done
code=$(curl -s -o "$IOT_WORK/o" -w '%{http_code}' -H "Authorization: Basic $IOT_API_TOKEN" "$BASE/v1/devices")
[ "$code" = 401 ] || iot_fail "Basic auth accepted: $code"
code=$(curl -s -o "$IOT_WORK/o" -w '%{http_code}' -H "Authorization: Bearer ${IOT_API_TOKEN}x" "$BASE/v1/devices")
[ "$code" = 401 ] || iot_fail "token with a suffix accepted: $code"
[ "$(jq -r .error "$IOT_WORK/o")" = unauthorized ] || iot_fail "401 body: $(cat "$IOT_WORK/o")"
curl -fsS "$BASE/metrics" >/dev/null || iot_fail "/metrics must not need the token"
iot_log "ok: 401 without or with a wrong token; /metrics open"

# 404, 405, 415, 413, 400
api GET /v1/nowhere; err_is 404 not_found
api GET /v1/commands/cmd-000000000000000000000000; err_is 404 not_found
api GET /v1/devices/ghost; err_is 404 not_found
api DELETE /v1/commands/cmd-000000000000000000000000; err_is 404 not_found
api PUT /v1/commands/cmd-000000000000000000000000 '{}'; err_is 405 method_not_allowed
api POST /v1/devices '{}'; err_is 405 method_not_allowed
curl -s -D "$IOT_WORK/h" -o /dev/null -X PATCH -H "Authorization: Bearer $IOT_API_TOKEN" \
    "$BASE/v1/commands/cmd-000000000000000000000000"
grep -qi '^Allow: GET, DELETE' "$IOT_WORK/h" || iot_fail "405 without Allow: $(cat "$IOT_WORK/h")"
api POST /v1/devices/dev-1/commands "" --data-binary '{"name":"ping"}' -H 'Content-Type: text/plain'
err_is 415 unsupported_media_type
api PUT /v1/devices/dev-1/state/desired "" --data-binary '{"settings":{"a":"b"}}'
err_is 415 unsupported_media_type
big=$(head -c 3000 /dev/zero | tr '\0' x)
api POST /v1/devices/dev-1/commands "{\"name\":\"ping\",\"params\":{\"p\":\"$big\"}}"
err_is 413 payload_too_large
api POST /v1/devices/dev-1/commands "" -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary "{\"name\":\"ping\",\"params\":{\"p\":\"$big\"}}"
err_is 413 payload_too_large
for body in '{' '[]' '{"name":"ping"} x' '{}' '{"name":""}' '{"name":"a b"}' '{"name":"ping","timeout_s":0}' \
    '{"name":"ping","timeout_s":"5"}' '{"name":"ping","timeout_s":1.5}' '{"name":"ping","params":[1]}' \
    '{"name":"ping","params":{"k":{"x":1}}}' '{"name":"ping","callback_url":"ftp://x/y"}' \
    '{"name":"ping","callback_url":"file:///etc/passwd"}' '{"name":"ping","extra":1}' \
    '{"name":"ping","idempotency_key":""}'; do
    api POST /v1/devices/dev-1/commands "$body"; err_is 400 bad_request
done
api POST '/v1/devices/bad%20id/commands' '{"name":"ping"}'; err_is 400 bad_request
api GET /v1/commands/not-a-command-id; err_is 400 bad_request
api GET '/v1/commands/cmd-000000000000000000000000?wait=61'; err_is 400 bad_request
api GET '/v1/commands/cmd-000000000000000000000000?wait=x'; err_is 400 bad_request
api GET '/v1/devices/dev-1/telemetry?limit=0'; err_is 400 bad_request
api GET '/v1/devices/dev-1/telemetry?cursor=zz'; err_is 400 bad_request
api GET '/v1/devices/dev-1/telemetry?from=yesterday'; err_is 400 bad_request
api PUT /v1/devices/dev-1/state/desired '{"settings":{}}'; err_is 400 bad_request
api PUT /v1/devices/dev-1/state/desired '{"other":1}'; err_is 400 bad_request
api POST /v1/devices/dev-1/commands "" -H 'Content-Type: application/json' -H 'Idempotency-Key: bad key'
err_is 400 bad_request
iot_log "ok: 404, 405 (with Allow), 415, 413 (announced and chunked), 400 for bad JSON, fields, ids, queries"

# Registry, desired and reported state, telemetry pages.
fake_device dev-1 --pub "$PKI/cmd-sign.pub" --telemetry-ms 20
iot_wait_for 15 device_online dev-1 || iot_fail "dev-1 not online"
expect_status 200 PUT /v1/devices/dev-1/state/desired '{"settings":{"interval_ms":"1000","led":true}}'
[ "$(jq -r .version <<<"$API_BODY")" = 1 ] || iot_fail "first desired version: $API_BODY"
expect_status 200 PUT /v1/devices/dev-1/state/desired '{"settings":{"interval_ms":"2000"}}'
[ "$(jq -r .version <<<"$API_BODY")" = 2 ] || iot_fail "second desired version: $API_BODY"
iot_wait_for 10 'api GET /v1/devices/dev-1; [ "$(jq -r .reported.version <<<"$API_BODY")" = 2 ]' ||
    iot_fail "reported state not 2: $API_BODY"
api GET /v1/devices/dev-1
[ "$(jq -r '.reported.settings.interval_ms + "/" + .desired.settings.interval_ms + "/" + .agent_version' <<<"$API_BODY")" = 2000/2000/fake-device ] ||
    iot_fail "device: $API_BODY"
jq -e '.last_seen_ms > 0 and .counters.samples >= 0 and .counters.commands.queued == 0' <<<"$API_BODY" >/dev/null ||
    iot_fail "device fields: $API_BODY"
iot_log "ok: desired versions 1, 2; reported state and agent version on GET /v1/devices/dev-1"

iot_wait_for 20 'api GET /v1/devices/dev-1; [ "$(jq -r .counters.samples <<<"$API_BODY")" -ge 30 ]' ||
    iot_fail "samples: $API_BODY"
kill "$DEV_PID"; wait "$DEV_PID" 2>/dev/null || true
sleep 0.5
total=$(iot_sql "$DB" "SELECT count(*) FROM samples WHERE device_id='dev-1'")
seen=""
cursor=""
pages=0
while :; do
    expect_status 200 GET "/v1/devices/dev-1/telemetry?limit=7&metric=temperature${cursor:+&cursor=$cursor}"
    seen="$seen $(jq -r '.items[].seq' <<<"$API_BODY" | tr '\n' ' ')"
    jq -e '[.items[].time_ms] | . == (sort | reverse)' <<<"$API_BODY" >/dev/null || iot_fail "not newest first"
    jq -e 'all(.items[]; .metrics.temperature.unit == "C")' <<<"$API_BODY" >/dev/null || iot_fail "metrics: $API_BODY"
    cursor=$(jq -r '.next_cursor // empty' <<<"$API_BODY")
    pages=$((pages + 1))
    [ -n "$cursor" ] && [ $pages -lt 100 ] || break
done
n=$(wc -w <<<"$seen")
u=$(tr ' ' '\n' <<<"$seen" | grep -c . | tr -d ' ')
uniq=$(tr ' ' '\n' <<<"$seen" | grep . | sort -u | wc -l)
[ "$n" = "$total" ] && [ "$uniq" = "$total" ] || iot_fail "paged $n ($uniq distinct, $u) of $total samples"
first=$(iot_sql "$DB" "SELECT max(time_ms) FROM samples WHERE device_id='dev-1'")
expect_status 200 GET "/v1/devices/dev-1/telemetry?limit=1&from=$first"
[ "$(jq -r '.items | length' <<<"$API_BODY")" = 1 ] || iot_fail "from filter: $API_BODY"
expect_status 200 GET "/v1/devices/dev-1/telemetry?to=1000"
[ "$(jq -r '.items | length' <<<"$API_BODY")" = 0 ] || iot_fail "to filter: $API_BODY"
expect_status 200 GET "/v1/devices/dev-1/telemetry?metric=nothing"
[ "$(jq -r '.items | length' <<<"$API_BODY")" = 0 ] || iot_fail "metric filter: $API_BODY"
iot_log "ok: $total samples in $pages pages of 7, newest first, none twice; from/to/metric filters"

expect_status 200 GET /v1/devices
[ "$(jq -r '[.devices[].id] | join(",")' <<<"$API_BODY")" = dev-1 ] || iot_fail "list: $API_BODY"
expect_status 200 GET '/v1/devices?limit=1'
for m in iot_cloud_sse_clients iot_cloud_longpolls_waiting iot_cloud_webhooks_tried_total \
    iot_cloud_webhooks_failed_total 'iot_cloud_commands_total{state="queued"}'; do
    [ -n "$(iot_metric "$HTTP" "$m")" ] || iot_fail "metric $m missing"
done
iot_log "ok: device list; metrics for commands, webhooks, SSE, long-polls"

# iot_cloud_http_responses_total{code=...} counts every answer by status, exactly.
code_n() { iot_metric "$HTTP" "iot_cloud_http_responses_total{code=\"$1\"}"; }
declare -A before
for c in 200 401 404 405 415 500 503 other; do before[$c]=$(code_n "$c"); done
[ "${before[200]}" -ge 10 ] && [ "${before[404]}" -ge 4 ] && [ "${before[401]}" -ge 10 ] ||
    iot_fail "response counters: 200=${before[200]} 401=${before[401]} 404=${before[404]}"
api GET /v1/nowhere; api GET /v1/devices/ghost; api GET /v1/devices/ghost
api POST /v1/devices '{}'
api POST /v1/devices/dev-1/commands "" --data-binary '{"name":"ping"}' -H 'Content-Type: text/plain'
curl -s -o /dev/null "$BASE/v1/devices"
expect_status 200 GET /v1/devices
want() { # CODE DELTA (the /metrics reads in between are 200s: skip 200)
    local now
    now=$(code_n "$1")
    [ "$now" = "$((before[$1] + $2))" ] || iot_fail "responses code $1: $now, want ${before[$1]} + $2"
}
want 404 3; want 405 1; want 415 1; want 401 1; want 500 0; want 503 0; want other 0
iot_log "ok: iot_cloud_http_responses_total counts 401/404/405/415 exactly, no 5xx"
rc=0
iot_stop "$CLOUD_PID" TERM 15 || rc=$?
[ "$rc" = 0 ] || iot_fail "iot-cloud exit status $rc"
echo "PASS api_routes"
