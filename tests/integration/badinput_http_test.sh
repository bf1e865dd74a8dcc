#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Hostile HTTP requests to the cloud's API, beyond api_routes_test.sh (which covers 401/404/405/
# 413/415 and ordinary bad bodies): ids with path traversal, control characters, NULs and 10,000
# characters; huge, negative and non-numeric `wait`; JSON nested 100,000 deep, invalid UTF-8, NULs,
# 1e999, duplicate keys, wrong types and missing fields; unknown routes and odd methods; a 64 KiB
# Authorization header, a token in the query string, a 1 MiB body. Each gets a 4xx with a JSON
# {error, detail} (never a 5xx, never a hang; a request line beyond libmicrohttpd's memory limit
# gets its own HTML 431), and iot-cloud keeps serving; no command is created.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/fault_lib.sh"
fault_init badinput-http
fault_stack 1
tried=0
mhd=0 # answered by libmicrohttpd itself (431/414): not in iot-cloud's response counters
code_n() { iot_metric "$HTTP" "iot_cloud_http_responses_total{code=\"$1\"}"; }
declare -A base # 5xx so far (/readyz answers 503 while iot-cloud starts)
for c in 500 503 504 other; do base[$c]=$(code_n "$c"); done

# req WANT METHOD PATH [BODY] [CURL_ARGS...]: WANT is a status or a class like 4xx.
req() {
    local want=$1
    shift
    api "$1" "$2" "${3:-}" "${@:4}" --max-time 10
    tried=$((tried + 1))
    case $want in
    4xx) [[ $API_STATUS == 4?? ]] ;;
    *) [ "$API_STATUS" = "$want" ] ;;
    esac || iot_fail "$1 ${2:0:80}: HTTP $API_STATUS, want $want: ${API_BODY:0:200}"
    # 431/414: libmicrohttpd refuses a request line or headers beyond the connection's memory
    # limit itself, before the API sees it, with its own HTML page.
    if [ "$API_STATUS" = 431 ] || [ "$API_STATUS" = 414 ]; then mhd=$((mhd + 1)); fi
    if [ "$API_STATUS" != 200 ] && [ "$API_STATUS" != 431 ] && [ "$API_STATUS" != 414 ]; then
        jq -e '(.error | type == "string") and (.detail | type == "string")' <<<"$API_BODY" >/dev/null ||
            iot_fail "$1 ${2:0:80}: error body is not {error, detail}: ${API_BODY:0:200}"
    fi
}

# Invalid device ids in the path.
long=$(head -c 10000 /dev/zero | tr '\0' a)
for id in '..' '..%2F..%2Fetc%2Fpasswd' '%2e%2e' 'a%2Fb' 'dev%0A1' 'dev%00x' 'dev%1B%5B31m' 'dev%09' \
    '%C3%A9t%C3%A9' "$(head -c 65 /dev/zero | tr '\0' d)" "$long" '%FF%FE' 'a%20b'; do
    req 4xx POST "/v1/devices/$id/commands" '{"name":"ping"}'
    req 4xx GET "/v1/devices/$id"
    req 4xx PUT "/v1/devices/$id/state/desired" '{"settings":{"a":"b"}}'
    req 4xx GET "/v1/devices/$id/telemetry"
done
for cid in '..%2F..%2Fx' 'cmd-%00' "cmd-$long" 'cmd-%0A' "'%20OR%201=1--"; do
    req 4xx GET "/v1/commands/$cid"
    req 4xx DELETE "/v1/commands/$cid"
done
req 4xx GET '/v1/devices/../../etc/passwd'
req 4xx GET '/v1/../metrics/../v1/devices/x/../../y'
iot_log "ok: bad ids refused"

# wait= and other query values.
for w in 99999999999999999999 -1 1e3 '' 0x10 '%205' '5%00' 61 "$long"; do
    req 4xx GET "/v1/commands/cmd-000000000000000000000000?wait=$w"
done
for q in 'limit=99999999999' 'limit=-5' 'from=1e400' 'to=--1' 'cursor=%00%00' "metric=$long"; do
    req 4xx GET "/v1/devices/dev-1/telemetry?$q"
done
iot_log "ok: bad query values refused"

# Bodies.
deep=$(head -c 100000 /dev/zero | tr '\0' '[')
printf '{"name":"ping","params":{"k":"\xff\xfe"}}' >"$IOT_WORK/utf8.json"
printf '{"name":"pi\x00ng"}' >"$IOT_WORK/nul.json"
head -c $((1024 * 1024)) /dev/zero | tr '\0' ' ' >"$IOT_WORK/big.json"
for body in "$deep" '{"name":"ping","timeout_s":1e999}' '{"name":"ping","name":"reboot"}' \
    '{"name":5}' '{"name":"ping","params":"x"}' '{"name":"ping","timeout_s":-1}' \
    '{"name":"ping","timeout_s":10000000000}' '{"name":"ping","callback_url":5}' \
    '{"name":null}' '{"params":{}}' '"ping"' 'null' '{"name":"ping","params":{"":"x"}}' \
    "{\"name\":\"$long\"}" '{"name":"ping","params":{"k":"v"},}' '{"name":"ping"}{"name":"ping"}' \
    '{"name":"ping","callback_url":"http://127.0.0.1:1/x\r\nX-Evil: 1"}'; do
    req 4xx POST /v1/devices/dev-1/commands "$body"
done
for f in utf8.json nul.json big.json; do
    req 4xx POST /v1/devices/dev-1/commands "" -H 'Content-Type: application/json' --data-binary "@$IOT_WORK/$f"
done
for body in '{"settings":[]}' '{"settings":{"a":{"b":1}}}' '{"settings":"x"}' '{}' "$deep" \
    '{"settings":{"a":null}}' '{"settings":{"a":"b"},"settings":{"c":"d"}}'; do
    req 4xx PUT /v1/devices/dev-1/state/desired "$body"
done
iot_log "ok: malformed JSON, wrong types and missing fields refused"

# Routes, methods, headers.
for m in OPTIONS TRACE PATCH FOO; do
    req 4xx "$m" /v1/devices
done
for p in /v2/devices /v1 /v1/ /v1/devices/dev-1/unknown /v1/commands /v1/devices/dev-1/commands/x \
    /metrics/x; do
    req 4xx GET "$p"
done
big_auth=$(head -c 65536 /dev/zero | tr '\0' A)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $big_auth" "$BASE/v1/devices" || true)
[[ $code == 4?? ]] || iot_fail "64 KiB Authorization header: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$BASE/v1/devices?token=$IOT_API_TOKEN&access_token=$IOT_API_TOKEN" || true)
[ "$code" = 401 ] || iot_fail "a token in the query string was accepted: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "Authorization: Bearer	$IOT_API_TOKEN " "$BASE/v1/devices" || true)
[ "$code" = 401 ] || [ "$code" = 200 ] || iot_fail "token with blanks around: HTTP $code"
tried=$((tried + 3))
iot_log "ok: unknown routes, methods and hostile headers refused"

curl -fsS --max-time 5 "$BASE/healthz" >/dev/null || iot_fail "iot-cloud stopped answering"
kill -0 "$CLOUD_PID" || iot_fail "iot-cloud died"
n=$(iot_sql "$DB" "SELECT count(*) FROM commands")
[ "$n" = 0 ] || iot_fail "$n commands were created from bad requests"
for c in 500 503 504 other; do
    [ "$(code_n "$c")" = "${base[$c]}" ] || iot_fail "$(code_n "$c") responses with status $c (${base[$c]} before)"
done
n4=0
for c in 400 401 404 405 409 413 415; do n4=$((n4 + $(code_n "$c"))); done
[ "$n4" -ge $((tried - mhd - 3)) ] || iot_fail "4xx responses counted: $n4 of $tried ($mhd by libmicrohttpd)"
iot_log "ok: /metrics counts $n4 4xx responses and no 5xx"
grep -qE 'AddressSanitizer|runtime error' "$IOT_WORK/cloud.log" && iot_fail "sanitizer report in cloud.log"
echo "PASS badinput_http: $tried hostile requests refused with 4xx {error, detail}; iot-cloud serving"
