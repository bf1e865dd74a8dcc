#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Durability of the API state: commands queued for an offline device survive a restart of
# iot-cloud (SIGTERM, and kill -9) and are delivered, once, when the device connects; the
# desired-state version keeps counting; terminal commands keep their history.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/api_lib.sh"
iot_test_init api-restart
api_setup

expect_status 202 POST /v1/devices/dev-2/commands '{"name":"echo","params":{"k":"v"},"timeout_s":300}'
q1=$(jq -r .id <<<"$API_BODY")
expect_status 202 POST /v1/devices/dev-2/commands '{"name":"ping","timeout_s":300}'
q2=$(jq -r .id <<<"$API_BODY")
expect_status 200 PUT /v1/devices/dev-2/state/desired '{"settings":{"mode":"eco"}}'
# A long-poll still waiting when iot-cloud stops is answered (current state), not dropped.
curl -sS --max-time 30 -H "Authorization: Bearer $IOT_API_TOKEN" "$BASE/v1/commands/$q1?wait=60" \
    -o "$IOT_WORK/lp.json" &
lp=$!
IOT_PIDS+=("$lp")
iot_wait_for 10 '[ "$(iot_metric "$HTTP" iot_cloud_longpolls_waiting)" = 1 ]' || iot_fail "long-poll not waiting"
iot_stop "$CLOUD_PID" TERM 15 || iot_fail "iot-cloud did not stop cleanly with a long-poll waiting"
wait "$lp" || iot_fail "the waiting long-poll failed at shutdown"
[ "$(jq -r .status "$IOT_WORK/lp.json")" = queued ] || iot_fail "long-poll at shutdown: $(cat "$IOT_WORK/lp.json")"
api_cloud_start
[ "$(cmd_status "$q1")/$(cmd_status "$q2")" = queued/queued ] || iot_fail "after restart: $q1 $q2 not queued"
iot_stop "$CLOUD_PID" KILL 5 || true
api_cloud_start
[ "$(cmd_status "$q1")" = queued ] || iot_fail "after kill -9: $q1 not queued"
expect_status 200 PUT /v1/devices/dev-2/state/desired '{"settings":{"mode":"boost"}}'
[ "$(jq -r .version <<<"$API_BODY")" = 2 ] || iot_fail "desired version after restarts: $API_BODY"
iot_log "ok: queued commands and the desired version survived SIGTERM and kill -9"

fake_device dev-2 --pub "$PKI/cmd-sign.pub"
for c in "$q1" "$q2"; do
    iot_wait_for 15 '[ "$(cmd_status '"$c"')" = succeeded ]' || iot_fail "$c: $(cmd_status "$c")"
    [ "$(grep -c "^command $c " "$IOT_WORK/dev-2.out")" = 1 ] || iot_fail "$c not run exactly once"
done
api GET "/v1/commands/$q1"
[ "$(jq -r '.result.outputs.k' <<<"$API_BODY")" = v ] || iot_fail "outputs: $API_BODY"
iot_wait_for 10 'api GET /v1/devices/dev-2; [ "$(jq -r .reported.settings.mode <<<"$API_BODY")" = boost ]' ||
    iot_fail "desired state not applied: $API_BODY"
iot_stop "$CLOUD_PID" TERM 15 || iot_fail "iot-cloud did not stop cleanly"
api_cloud_start
api GET "/v1/commands/$q1"
[ "$(jq -r '[.history[].state] | join(",")' <<<"$API_BODY")" = queued,sent,succeeded ] ||
    iot_fail "history after restart: $API_BODY"
iot_log "ok: delivered after the restarts, once each; history kept"
rc=0
iot_stop "$CLOUD_PID" TERM 15 || rc=$?
[ "$rc" = 0 ] || iot_fail "iot-cloud exit status $rc"
echo "PASS api_restart"
