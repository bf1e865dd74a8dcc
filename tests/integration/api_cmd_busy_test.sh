#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A device's answer that arrives while the database is locked is not lost. The real agent runs a
# command whose handler waits for a go-ahead; another process then locks the database, the handler
# finishes and the agent answers (its CommandResult is acknowledged by Paho before iot-cloud sees
# it: nothing re-delivers it), and ~3 s later the lock is released. The command must end
# `succeeded` with the agent's result (not `expired`, not stuck in `sent`).
#   (no argument) SQLite: a sqlite3 process holds BEGIN EXCLUSIVE. The ingest worker also waits
#                 for the lock before it hands the result on, so the command module usually
#                 applies it after the release: this run checks nothing is lost on that path.
#   pg            PostgreSQL: a psql session holds LOCK TABLE commands IN EXCLUSIVE MODE. The
#                 ingest worker commits the result's batch (it touches no locked table) and the
#                 command module's update waits past its lock_timeout (IOT_ERR_TIMEOUT): it must be
#                 kept and retried (iot_cloud_command_updates_deferred_total rises, the pending
#                 gauge returns to 0). Before that retry existed the result was dropped here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../support/lib.sh"
. "$here/api_lib.sh"
backend=${1:-sqlite}
iot_test_init "api-cmd-busy-$backend"
if [ "$backend" = pg ]; then
    iot_pg_available || iot_fail "PostgreSQL server not installed (tools/install-deps.sh)"
    iot_pg_start "$IOT_WORK/pg"
    IOT_TEST_STORE=$(iot_pg_url "$IOT_PG_URL" api_cmd_busy)
fi
api_setup

conf=$IOT_WORK/agent.conf
iot_agent_conf "$PKI" "$MQTT_PORT" dev-1 "$IOT_WORK/state" 500 0 >"$conf"
sed -i 's/^simulated = .*/simulated = temperature/; s/^linux = true/linux = false/' "$conf"
printf '[commands]\nenabled = true\npublic_key_file = %s/cmd-sign.pub\n' "$PKI" >>"$conf"
# The handler: note the start, wait (bounded) for the go-ahead, print a line the result carries.
cat >"$IOT_WORK/slow.sh" <<EOF
#!/bin/sh
echo run >>"$IOT_WORK/slow.runs"
i=0
while [ ! -e "$IOT_WORK/go" ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done
echo "answer-from-agent-42"
EOF
chmod +x "$IOT_WORK/slow.sh"
printf '[command.slow]\nexec = %s/slow.sh\ntimeout_ms = 90000\n' "$IOT_WORK" >>"$conf"
iot_bg "$IOT_WORK/agent.log" "$IOT_AGENT_BIN" -c "$conf"
agent=$IOT_LAST_PID
iot_wait_for 20 device_online dev-1 || iot_fail "agent not online"

metric() { iot_metric "$HTTP" "$1"; }
[ "$(metric iot_cloud_command_updates_deferred_total)" = 0 ] || iot_fail "deferred metric missing"
[ "$(metric iot_cloud_command_updates_pending)" = 0 ] || iot_fail "pending gauge missing"

expect_status 202 POST /v1/devices/dev-1/commands '{"name":"slow","timeout_s":60}'
cid=$(jq -r .id <<<"$API_BODY")
iot_wait_for 15 '[ -s "$IOT_WORK/slow.runs" ]' || iot_fail "the handler never started"
iot_wait_for 10 '[ "$(cmd_status "$cid")" = sent ]' || iot_fail "not sent: $(cmd_status "$cid")"

api_db_hold 'BEGIN; LOCK TABLE commands IN EXCLUSIVE MODE;'
t_lock=$SECONDS
iot_log "database locked ($backend); the agent answers now"
touch "$IOT_WORK/go"
iot_wait_for 15 'grep -q "command $cid: OK" "$IOT_WORK/agent.log"' ||
    iot_fail "the agent did not answer: $(tail -n 20 "$IOT_WORK/agent.log")"
if [ "$backend" = pg ]; then
    # The ingest worker hands the result on through the lock; the command module's update waits
    # on the locked table and times out.
    iot_wait_for 10 '[ "$(metric iot_cloud_command_results_total)" = 1 ]' ||
        iot_fail "the result did not reach iot-cloud"
    iot_wait_for 10 '[ "$(metric iot_cloud_command_updates_pending)" -ge 1 ]' ||
        iot_fail "the result is not kept for a retry: $(grep -i "$cid" "$IOT_WORK/cloud.log" | tail -n 5)"
fi
[ "$(cmd_status "$cid")" = sent ] || iot_fail "changed under the lock: $(cmd_status "$cid")"
while [ $((SECONDS - t_lock)) -lt 3 ]; do sleep 0.2; done # hold ~3 s past the answer's arrival
api_db_release
iot_log "lock released after $((SECONDS - t_lock)) s"

api GET "/v1/commands/$cid?wait=20"
[ "$(jq -r .status <<<"$API_BODY")" = succeeded ] || iot_fail "after the lock: $API_BODY"
[ "$(jq -r .result.status <<<"$API_BODY")" = OK ] || iot_fail "result: $API_BODY"
jq -r .result.outputs.stdout <<<"$API_BODY" | grep -q answer-from-agent-42 ||
    iot_fail "not the agent's result: $API_BODY"
[ "$(jq -r '[.history[].state] | join(",")' <<<"$API_BODY")" = queued,sent,succeeded ] ||
    iot_fail "history: $API_BODY"
[ "$(wc -l <"$IOT_WORK/slow.runs")" = 1 ] || iot_fail "the handler ran $(wc -l <"$IOT_WORK/slow.runs") times"
deferred=$(metric iot_cloud_command_updates_deferred_total)
if [ "$backend" = pg ]; then
    [ "$deferred" -ge 1 ] || iot_fail "deferred updates counted: $deferred, want >= 1"
fi
iot_wait_for 10 '[ "$(metric iot_cloud_command_updates_pending)" = 0 ]' ||
    iot_fail "updates still pending: $(metric iot_cloud_command_updates_pending)"
[ "$(metric iot_cloud_command_updates_dropped_total)" = 0 ] || iot_fail "updates dropped"
[ "$(metric iot_cloud_command_results_late_total)" = 0 ] || iot_fail "result counted late"
[ "$(metric iot_cloud_command_results_unmatched_total)" = 0 ] || iot_fail "result counted unmatched"
iot_log "ok: answered under the lock, succeeded after it ($deferred update(s) deferred and retried)"

iot_stop "$agent" TERM 15 || iot_fail "agent did not stop"
rc=0
iot_stop "$CLOUD_PID" TERM 15 || rc=$?
[ "$rc" = 0 ] || iot_fail "iot-cloud exit status $rc"
echo "PASS api_cmd_busy ($backend): a result that arrived while the database was locked was applied"
