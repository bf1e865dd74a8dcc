#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The command API against the real iot-agent (its built-in ping, signature checked with
# cmd-sign.pub): a command to the online agent succeeds with its outputs; one for the stopped
# agent waits queued and runs once when the agent connects again; one the agent was running when it
# crashed is re-sent when it is back and answered from its replay set, not run twice; a desired
# state comes back as the agent's reported state; telemetry is readable through the API.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/api_lib.sh"
iot_test_init api-agent
api_setup

conf=$IOT_WORK/agent.conf
iot_agent_conf "$PKI" "$MQTT_PORT" dev-1 "$IOT_WORK/state" 200 0 >"$conf"
sed -i 's/^simulated = .*/simulated = temperature/; s/^linux = true/linux = false/' "$conf"
printf '[commands]\nenabled = true\npublic_key_file = %s/cmd-sign.pub\n' "$PKI" >>"$conf"
printf '#!/bin/sh\necho run >>"%s/slow.runs"\nsleep 4\n' "$IOT_WORK" >"$IOT_WORK/slow.sh"
chmod +x "$IOT_WORK/slow.sh"
printf '[command.slow]\nexec = %s/slow.sh\ntimeout_ms = 20000\n' "$IOT_WORK" >>"$conf"
agent_start() {
    iot_bg "$IOT_WORK/agent.log" "$IOT_AGENT_BIN" -c "$conf"
    AGENT=$IOT_LAST_PID
    iot_wait_for 20 device_online dev-1 || iot_fail "agent not online"
}
agent_start

expect_status 202 POST /v1/devices/dev-1/commands '{"name":"ping","timeout_s":30}'
cid=$(jq -r .id <<<"$API_BODY")
api GET "/v1/commands/$cid?wait=15"
[ "$(jq -r .status <<<"$API_BODY")" = succeeded ] || iot_fail "ping: $API_BODY"
[ "$(jq -r .result.status <<<"$API_BODY")" = OK ] || iot_fail "ping result: $API_BODY"
[ "$(jq -r '.result.outputs | length' <<<"$API_BODY")" -ge 1 ] || iot_fail "ping outputs: $API_BODY"
[ "$(jq -r '[.history[].state] | join(",")' <<<"$API_BODY")" = queued,sent,succeeded ] ||
    iot_fail "history: $API_BODY"
iot_log "ok: ping to the online agent succeeded: $(jq -c .result.outputs <<<"$API_BODY")"

iot_stop "$AGENT" TERM 15 || iot_fail "agent did not stop"
iot_wait_for 10 '! device_online dev-1' || iot_fail "agent still online"
expect_status 202 POST /v1/devices/dev-1/commands '{"name":"ping","timeout_s":120}'
c2=$(jq -r .id <<<"$API_BODY")
sleep 2
[ "$(cmd_status "$c2")" = queued ] || iot_fail "command for the stopped agent: $(cmd_status "$c2")"
agent_start
api GET "/v1/commands/$c2?wait=20"
[ "$(jq -r .status <<<"$API_BODY")" = succeeded ] || iot_fail "after reconnect: $API_BODY"
iot_log "ok: queued while the agent was down, succeeded once it connected"

# The agent dies (SIGKILL) while running a command: once it is back, the cloud re-sends the sent,
# unanswered command; the agent does not run it again but answers from its replay set (ERROR,
# interrupted), so the command ends failed, not expired, and the handler ran once.
expect_status 202 POST /v1/devices/dev-1/commands '{"name":"slow","timeout_s":120}'
c3=$(jq -r .id <<<"$API_BODY")
iot_wait_for 15 '[ -s "$IOT_WORK/slow.runs" ]' || iot_fail "slow handler never started"
[ "$(cmd_status "$c3")" = sent ] || iot_fail "slow command: $(cmd_status "$c3")"
iot_stop "$AGENT" KILL 5 || true
iot_wait_for 15 '! device_online dev-1' || iot_fail "agent still online after SIGKILL"
agent_start
api GET "/v1/commands/$c3?wait=30"
[ "$(jq -r .status <<<"$API_BODY")" = failed ] || iot_fail "re-sent interrupted command: $API_BODY"
jq -r .result.message <<<"$API_BODY" | grep -q interrupted || iot_fail "result: $API_BODY"
sleep 5 # a second run would have started by now
[ "$(wc -l <"$IOT_WORK/slow.runs")" = 1 ] || iot_fail "the handler ran $(wc -l <"$IOT_WORK/slow.runs") times"
[ "$(iot_metric "$HTTP" iot_cloud_commands_resent_total)" = 1 ] || iot_fail "not counted as re-sent"
iot_log "ok: command interrupted by an agent crash re-sent on reconnect, answered 'interrupted', ran once"

expect_status 200 PUT /v1/devices/dev-1/state/desired '{"settings":{"interval_ms":"300"}}'
v=$(jq -r .version <<<"$API_BODY")
iot_wait_for 15 'api GET /v1/devices/dev-1; [ "$(jq -r .reported.version <<<"$API_BODY")" = '"$v"' ]' ||
    iot_fail "reported state: $API_BODY"
iot_log "ok: desired version $v reported back by the agent: $(jq -c .reported <<<"$API_BODY")"
expect_status 200 GET '/v1/devices/dev-1/telemetry?limit=3'
[ "$(jq -r '.items | length' <<<"$API_BODY")" = 3 ] || iot_fail "telemetry: $API_BODY"
iot_stop "$AGENT" TERM 15 || true
rc=0
iot_stop "$CLOUD_PID" TERM 15 || rc=$?
[ "$rc" = 0 ] || iot_fail "iot-cloud exit status $rc"
echo "PASS api_agent"
