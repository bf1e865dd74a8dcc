#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Webhooks: a terminal command POSTs its JSON state to callback_url, signed X-Signature:
# sha256=HMAC-SHA256(secret, body) (verified here with openssl); a receiver that answers 503 twice
# sees three tries with backoff, the webhook is delivered once, and every try is recorded on the
# command. A receiver that never answers 2xx is given up after max_tries.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/api_lib.sh"
iot_test_init api-webhook
SECRET=s3cr3t-hook
api_setup "$(printf '[webhooks]\nsecret = %s\nmax_tries = 4\nbackoff_ms = 300\ntimeout_ms = 2000\n' "$SECRET")"

sink() { # DIR STATUSES
    mkdir -p "$1"
    iot_bg "$IOT_WORK/sink.log" "$IOT_WEBHOOK_SINK_BIN" --dir "$1" --port-file "$1/port" --statuses "$2"
    iot_wait_for 5 test -s "$1/port" || iot_fail "webhook sink did not start"
    cat "$1/port"
}
p1=$(sink "$IOT_WORK/s1" 503,503,200)
p2=$(sink "$IOT_WORK/s2" 500)

fake_device dev-1 --pub "$PKI/cmd-sign.pub"
iot_wait_for 15 device_online dev-1 || iot_fail "dev-1 not online"
expect_status 202 POST /v1/devices/dev-1/commands \
    "{\"name\":\"echo\",\"params\":{\"x\":\"1\"},\"callback_url\":\"http://127.0.0.1:$p1/hooks/cmd?a=1\"}"
cid=$(jq -r .id <<<"$API_BODY")
iot_wait_for 20 'api GET /v1/commands/'"$cid"'; [ "$(jq -r .webhook.state <<<"$API_BODY")" = delivered ]' ||
    iot_fail "webhook not delivered: $API_BODY"
[ "$(jq -r '[.webhook.tries[].http_status] | join(",")' <<<"$API_BODY")" = 503,503,200 ] ||
    iot_fail "tries recorded: $API_BODY"
jq -e '[.webhook.tries[].at_ms] as $t | ($t[1] - $t[0] >= 250) and ($t[2] - $t[1] >= 500)' <<<"$API_BODY" >/dev/null ||
    iot_fail "no exponential backoff between tries: $API_BODY"
sleep 1
[ "$(wc -l <"$IOT_WORK/s1/requests.log")" = 3 ] || iot_fail "receiver saw $(cat "$IOT_WORK/s1/requests.log")"
for i in 1 2 3; do
    head -1 "$IOT_WORK/s1/req-$i.head" | grep -q '^POST /hooks/cmd' || iot_fail "request $i: $(head -1 "$IOT_WORK/s1/req-$i.head")"
    sig=$(awk -F': ' 'tolower($1) == "x-signature" { print $2 }' "$IOT_WORK/s1/req-$i.head" | tr -d '\r')
    want="sha256=$(openssl dgst -sha256 -hmac "$SECRET" -r "$IOT_WORK/s1/req-$i.body" | cut -d' ' -f1)"
    [ "$sig" = "$want" ] || iot_fail "request $i: X-Signature $sig, HMAC of the body is $want"
    grep -qi '^Content-Type: application/json' "$IOT_WORK/s1/req-$i.head" || iot_fail "content type"
done
[ "$(jq -r '.id + "/" + .status + "/" + .result.outputs.x' "$IOT_WORK/s1/req-3.body")" = "$cid/succeeded/1" ] ||
    iot_fail "webhook body: $(cat "$IOT_WORK/s1/req-3.body")"
iot_log "ok: 503, 503, 200: delivered once on the third try; signatures verify; tries recorded"

# A receiver that always fails: given up after max_tries (4), the failure recorded.
expect_status 202 POST /v1/devices/dev-1/commands "{\"name\":\"fail\",\"callback_url\":\"http://127.0.0.1:$p2/h\"}"
c2=$(jq -r .id <<<"$API_BODY")
iot_wait_for 30 'api GET /v1/commands/'"$c2"'; [ "$(jq -r .webhook.state <<<"$API_BODY")" = failed ]' ||
    iot_fail "webhook not given up: $API_BODY"
[ "$(jq -r '.webhook.tries | length' <<<"$API_BODY")" = 4 ] || iot_fail "tries: $API_BODY"
[ "$(jq -r '.webhook.tries[3].error' <<<"$API_BODY")" = "HTTP 500" ] || iot_fail "error text: $API_BODY"
# A refused connection is a failed try too (curl error, no HTTP status).
dead=$(iot_free_port)
expect_status 202 POST /v1/devices/dev-1/commands "{\"name\":\"ping\",\"callback_url\":\"http://127.0.0.1:$dead/h\"}"
c3=$(jq -r .id <<<"$API_BODY")
iot_wait_for 15 'api GET /v1/commands/'"$c3"'; [ "$(jq -r ".webhook.tries | length" <<<"$API_BODY")" -ge 1 ]' ||
    iot_fail "no try recorded: $API_BODY"
jq -e '.webhook.tries[0].http_status == null and (.webhook.tries[0].error | startswith("curl 7"))' <<<"$API_BODY" >/dev/null ||
    iot_fail "refused try: $API_BODY"
[ "$(iot_metric "$HTTP" iot_cloud_webhooks_delivered_total)" = 1 ] || iot_fail "delivered metric"
[ "$(iot_metric "$HTTP" iot_cloud_webhooks_gave_up_total)" -ge 1 ] || iot_fail "gave-up metric"
iot_log "ok: always-500 receiver given up after 4 tries; refused connection recorded as curl error 7"
rc=0
iot_stop "$CLOUD_PID" TERM 15 || rc=$?
[ "$rc" = 0 ] || iot_fail "iot-cloud exit status $rc"
echo "PASS api_webhook"
