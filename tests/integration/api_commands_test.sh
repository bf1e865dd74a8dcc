#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The command API end to end (real Mosquitto, iot-cloud, a fake device that verifies signatures
# with cmd-sign.pub): success with outputs and a full history, failures, offline queueing then
# delivery on connect, expiry, cancel, idempotent retries, long-poll early return and timeout,
# and 200 concurrent long-polls answered when the command completes.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/api_lib.sh"
iot_test_init api-commands
api_setup

post() { expect_status "${2:-202}" POST "/v1/devices/$1/commands" "$3" "${@:4}"; }
cid_of() { jq -r .id <<<"$API_BODY"; }
wait_status() { # CID STATUS SECONDS
    iot_wait_for "$3" '[ "$(cmd_status '"$1"')" = '"$2"' ]' >/dev/null ||
        iot_fail "command $1 is $(cmd_status "$1"), want $2"
}

# 1. Online device: succeeded with outputs; history queued -> sent -> succeeded, timestamped.
fake_device dev-1 --pub "$PKI/cmd-sign.pub"
iot_wait_for 15 device_online dev-1 || iot_fail "dev-1 not online"
post dev-1 202 '{"name":"echo","params":{"colour":"blue","n":3},"timeout_s":30}' -D "$IOT_WORK/h"
cid=$(cid_of)
[ "$(jq -r .status <<<"$API_BODY")" = queued ] || iot_fail "POST answer: $API_BODY"
[ "$(jq -r .status_url <<<"$API_BODY")" = "/v1/commands/$cid" ] || iot_fail "status_url: $API_BODY"
grep -qi "^Location: /v1/commands/$cid" "$IOT_WORK/h" || iot_fail "no Location header"
wait_status "$cid" succeeded 10
api GET "/v1/commands/$cid"
[ "$(jq -r '.result.outputs.colour + "/" + .result.outputs.n + "/" + .result.status' <<<"$API_BODY")" = blue/3/OK ] ||
    iot_fail "outputs: $API_BODY"
[ "$(jq -r '[.history[].state] | join(",")' <<<"$API_BODY")" = queued,sent,succeeded ] ||
    iot_fail "history: $API_BODY"
jq -e '[.history[].at_ms] | (. == sort) and all(. > 0)' <<<"$API_BODY" >/dev/null ||
    iot_fail "history timestamps: $API_BODY"
iot_log "ok: online command succeeded with outputs, history queued,sent,succeeded"

post dev-1 202 '{"name":"fail"}'
c2=$(cid_of)
post dev-1 202 '{"name":"no-such-command"}'
c3=$(cid_of)
wait_status "$c2" failed 10
wait_status "$c3" failed 10
api GET "/v1/commands/$c2"
[ "$(jq -r '.result.status + ":" + (.result.code|tostring)' <<<"$API_BODY")" = ERROR:42 ] || iot_fail "fail: $API_BODY"
api GET "/v1/commands/$c3"
[ "$(jq -r .result.status <<<"$API_BODY")" = UNKNOWN_COMMAND ] || iot_fail "unknown: $API_BODY"
iot_log "ok: ERROR and UNKNOWN_COMMAND -> failed, device status kept"

# 2. Long-poll returns early on completion: a 1.5 s command, wait=20.
post dev-1 202 '{"name":"sleep","params":{"ms":"1500"}}'
c4=$(cid_of)
t0=$(date +%s%N)
api GET "/v1/commands/$c4?wait=20"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$(jq -r .status <<<"$API_BODY")" = succeeded ] || iot_fail "long-poll answer: $API_BODY"
[ "$ms" -ge 1000 ] && [ "$ms" -lt 8000 ] || iot_fail "long-poll took $ms ms (want 1.5 s)"
iot_log "ok: long-poll returned at completion after $ms ms"

# 3. Offline device: stays queued; a long-poll times out with the current state; idempotent
#    retries; cancel; expiry; then the device connects and runs what is still queued.
post dev-2 202 '{"name":"ping","timeout_s":120}' -H 'Idempotency-Key: order-17'
q1=$(cid_of)
post dev-2 200 '{"name":"ping","timeout_s":120}' -H 'Idempotency-Key: order-17'
[ "$(cid_of)" = "$q1" ] || iot_fail "idempotent retry made a new command: $API_BODY"
post dev-2 200 '{"name":"ping","timeout_s":120,"idempotency_key":"order-17"}'
[ "$(cid_of)" = "$q1" ] || iot_fail "idempotency key in the body: $API_BODY"
post dev-2 409 '{"name":"echo","timeout_s":120}' -H 'Idempotency-Key: order-17'
iot_log "ok: idempotent retry -> same command; same key, other command -> 409"

t0=$(date +%s%N)
api GET "/v1/commands/$q1?wait=2"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$(jq -r .status <<<"$API_BODY")" = queued ] || iot_fail "timed-out long-poll: $API_BODY"
[ "$ms" -ge 1900 ] && [ "$ms" -lt 5000 ] || iot_fail "wait=2 took $ms ms"
iot_log "ok: long-poll timed out after $ms ms with status queued"

post dev-2 202 '{"name":"ping","timeout_s":120}'
qc=$(cid_of)
expect_status 200 DELETE "/v1/commands/$qc"
[ "$(jq -r .status <<<"$API_BODY")" = cancelled ] || iot_fail "cancel: $API_BODY"
expect_status 409 DELETE "/v1/commands/$qc"
expect_status 409 DELETE "/v1/commands/$cid"
iot_log "ok: cancel of a queued command; 409 once cancelled or delivered"

post dev-2 202 '{"name":"ping","timeout_s":2}'
qe=$(cid_of)
wait_status "$qe" expired 10
api GET "/v1/commands/$qe"
[ "$(jq -r '[.history[].state] | join(",")' <<<"$API_BODY")" = queued,expired ] || iot_fail "expiry: $API_BODY"
iot_log "ok: a command for an offline device expired at its deadline"

# 200 concurrent long-polls on the queued command: all answered when it completes.
N=200
mkdir -p "$IOT_WORK/lp"
pids=()
for i in $(seq $N); do
    curl -sS --max-time 60 -H "Authorization: Bearer $IOT_API_TOKEN" \
        "$BASE/v1/commands/$q1?wait=50" -o "$IOT_WORK/lp/$i.json" &
    pids+=($!)
done
IOT_PIDS+=("${pids[@]}")
iot_wait_for 15 '[ "$(iot_metric "$HTTP" iot_cloud_longpolls_waiting)" = '$N' ]' >/dev/null ||
    iot_fail "long-polls waiting: $(iot_metric "$HTTP" iot_cloud_longpolls_waiting), want $N"
[ "$(cmd_status "$q1")" = queued ] || iot_fail "q1 not queued before dev-2 connects"
fake_device dev-2 --pub "$PKI/cmd-sign.pub"
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
[ "$failed" = 0 ] || iot_fail "$failed of $N long-poll clients failed"
ok=$(cat "$IOT_WORK"/lp/*.json | jq -r .status | grep -c '^succeeded$' || true)
[ "$ok" = "$N" ] || iot_fail "$ok of $N long-polls saw succeeded"
[ "$(iot_metric "$HTTP" iot_cloud_longpolls_waiting)" = 0 ] || iot_fail "long-polls still counted"
grep -q "^command $q1 ping OK" "$IOT_WORK/dev-2.out" || iot_fail "dev-2 never ran $q1"
[ "$(grep -c "^command $q1 " "$IOT_WORK/dev-2.out")" = 1 ] || iot_fail "$q1 ran more than once"
! grep -q "$qc\|$qe" "$IOT_WORK/dev-2.out" || iot_fail "a cancelled or expired command was delivered"
iot_log "ok: offline command delivered on connect; $N concurrent long-polls all answered"

# A command delivered (sent) to a device that drops off before answering is published again when
# the device is back online (clean session: nothing else would bring it), instead of expiring.
fake_device dev-3 --pub "$PKI/cmd-sign.pub"
iot_wait_for 15 device_online dev-3 || iot_fail "dev-3 not online"
post dev-3 202 '{"name":"sleep","params":{"ms":"4000"},"timeout_s":120}'
qs=$(cid_of)
wait_status "$qs" sent 10
iot_stop "$DEV_PID" KILL 5 || true # dies while "running" it, no answer
iot_wait_for 15 '! device_online dev-3' || iot_fail "dev-3 still online after kill"
[ "$(cmd_status "$qs")" = sent ] || iot_fail "$qs: $(cmd_status "$qs") while dev-3 is away"
[ "$(iot_metric "$HTTP" iot_cloud_commands_resent_total)" = 0 ] || iot_fail "re-sent too early"
fake_device dev-3 --pub "$PKI/cmd-sign.pub"
wait_status "$qs" succeeded 30
api GET "/v1/commands/$qs"
[ "$(jq -r '[.history[].state] | join(",")' <<<"$API_BODY")" = queued,sent,succeeded ] ||
    iot_fail "re-sent command history: $API_BODY"
[ "$(iot_metric "$HTTP" iot_cloud_commands_resent_total)" = 1 ] ||
    iot_fail "commands re-sent: $(iot_metric "$HTTP" iot_cloud_commands_resent_total), want 1"
grep -q "command $qs re-sent" "$IOT_WORK/cloud.log" || iot_fail "re-send not logged"
iot_log "ok: a sent, unanswered command was re-sent when its device came back, and succeeded"

[ "$(iot_metric "$HTTP" 'iot_cloud_commands_total{state="succeeded"}')" -ge 3 ] ||
    iot_fail "metrics: $(curl -s "$BASE/metrics" | grep commands_total)"
rc=0
iot_stop "$CLOUD_PID" TERM 15 || rc=$?
[ "$rc" = 0 ] || iot_fail "iot-cloud exit status $rc"
echo "PASS api_commands"
