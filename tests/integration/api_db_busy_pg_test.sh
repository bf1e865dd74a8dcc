#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# api_db_busy on PostgreSQL: another session (psql) holds locks the API's writes wait on, while an
# agent streams. The API's connection has a lock_timeout, so:
# 1. LOCK TABLE commands, desired_state, samples IN EXCLUSIVE MODE (reads go on, writes wait):
#    POST .../commands, PUT .../state/desired and DELETE /v1/commands/{cid} answer 503 with
#    Retry-After and {error: unavailable} (not 500, not a hang); GET and /healthz answer; /metrics
#    counts the 503s. The ingest worker's session has no lock_timeout: it waits on samples (seen in
#    pg_stat_activity) with no store error.
# 2. A row lock (SELECT ... FOR UPDATE on one command): cancelling that command answers 503 while
#    a new command for another device is stored (202): the wait is per lock, not a blanket refusal.
# 3. LOCK TABLE samples, commands IN ACCESS EXCLUSIVE MODE (what ALTER TABLE takes; reads wait
#    too): GET .../telemetry (samples) and GET /v1/devices/{id} (its command counts) answer 503
#    with Retry-After once the read connection's lock_timeout (5 s) passes, not 500 and not a 200
#    missing what it could not read.
# Released, the same writes succeed: a command to the agent is delivered and succeeds, the desired
# state is stored once, and every sample the agent took is stored exactly once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../support/lib.sh"
. "$here/fault_lib.sh" # api_lib.sh, fault_agent, fault_wait_agents
iot_test_init api-db-busy-pg
iot_pg_available || iot_fail "PostgreSQL server not installed (tools/install-deps.sh)"
iot_pg_start "$IOT_WORK/pg"
IOT_TEST_STORE=$(iot_pg_url "$IOT_PG_URL" api_db_busy)
api_setup
sql() { iot_pg_sql "$DB" "$1"; }

N=800 # samples at 50 ms: the agent runs ~40 s, past every phase below
fault_agent dev-1 "$N" 50
agent=$AGENT_PID
iot_wait_for 30 device_online dev-1 || iot_fail "agent not online"
iot_wait_for 20 '[ "$(sql "SELECT count(*) FROM samples")" -ge 20 ]' || iot_fail "no samples stored"
expect_status 202 POST /v1/devices/dev-3/commands '{"name":"ping","timeout_s":600}' # offline: queued
cid=$(jq -r .id <<<"$API_BODY")
n503() { iot_metric "$HTTP" 'iot_cloud_http_responses_total{code="503"}'; }
base503=$(n503) # /readyz answers 503 while iot-cloud starts

# ---- 1. table locks
api_db_hold 'BEGIN; LOCK TABLE commands, desired_state, samples IN EXCLUSIVE MODE;'
iot_log "commands, desired_state, samples locked (EXCLUSIVE)"
stored=$(sql "SELECT count(*) FROM samples")
api_expect_busy POST /v1/devices/dev-1/commands '{"name":"ping"}'
api_expect_busy PUT /v1/devices/dev-1/state/desired '{"settings":{"interval_ms":"50"}}'
api_expect_busy DELETE "/v1/commands/$cid"
expect_status 200 GET "/v1/commands/$cid"
[ "$(jq -r .status <<<"$API_BODY")" = queued ] || iot_fail "command changed: $API_BODY"
expect_status 200 GET /v1/devices/dev-1
curl -fsS --max-time 5 "$BASE/healthz" >/dev/null || iot_fail "healthz does not answer during the lock"
[ "$(n503)" = $((base503 + 3)) ] || iot_fail "503 responses counted: $(n503), want $base503 + 3"
iot_log "ok: 3 writes answered 503 with Retry-After while locked; reads answered"
# The ingest worker waits for the lock (no lock_timeout on its session) rather than failing. The
# API's requests are answered, so the session waiting on a lock now is the ingest worker's.
ingest_waits() {
    [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
              AND backend_type = 'client backend' AND application_name <> '$API_LOCK_HOLDER'")" -ge 1 ]
}
iot_wait_for 10 ingest_waits || iot_fail "the ingest worker is not waiting on the samples lock"
[ "$(sql "SELECT count(*) FROM samples")" = "$stored" ] || iot_fail "samples stored through the lock"
api_db_release
iot_log "lock released"
iot_wait_for 20 '[ "$(sql "SELECT count(*) FROM samples")" -gt "$stored" ]' ||
    iot_fail "ingestion did not resume after the lock"
[ "$(iot_metric "$HTTP" iot_cloud_store_errors_total)" = 0 ] ||
    iot_fail "the ingest worker failed on the lock: store errors $(iot_metric "$HTTP" iot_cloud_store_errors_total)"
iot_log "ok: the ingest worker waited for the lock, no store error; it resumed on release"

# ---- 2. a row lock on one command
api_db_hold "BEGIN; SELECT id FROM commands WHERE id = '$cid' FOR UPDATE;"
api_expect_busy DELETE "/v1/commands/$cid"
expect_status 202 POST /v1/devices/dev-3/commands '{"name":"ping","timeout_s":600}'
[ "$(n503)" = $((base503 + 4)) ] || iot_fail "503 responses counted: $(n503), want $base503 + 4"
api_db_release
iot_log "ok: a write waiting on a locked row answered 503; another row's write was stored"

# ---- 3. reads
api_db_hold 'BEGIN; LOCK TABLE samples, commands IN ACCESS EXCLUSIVE MODE;'
api_expect_busy GET '/v1/devices/dev-1/telemetry?limit=5'
api_expect_busy GET /v1/devices/dev-1
[ "$(n503)" = $((base503 + 6)) ] || iot_fail "503 responses counted: $(n503), want $base503 + 6"
api_db_release
expect_status 200 GET '/v1/devices/dev-1/telemetry?limit=5'
[ "$(jq -r '.items | length' <<<"$API_BODY")" = 5 ] || iot_fail "telemetry after the lock: $API_BODY"
expect_status 200 GET /v1/devices/dev-1
[ "$(jq -r .counters.commands.queued <<<"$API_BODY")" = 0 ] || iot_fail "device after the lock: $API_BODY"
iot_log "ok: reads waiting on an ACCESS EXCLUSIVE lock answered 503 with Retry-After; 200 after"

# ---- after the locks: the same writes succeed
expect_status 200 DELETE "/v1/commands/$cid"
[ "$(jq -r .status <<<"$API_BODY")" = cancelled ] || iot_fail "cancel after the lock: $API_BODY"
expect_status 202 POST /v1/devices/dev-1/commands '{"name":"ping","timeout_s":60}'
c1=$(jq -r .id <<<"$API_BODY")
api GET "/v1/commands/$c1?wait=20"
[ "$(jq -r .status <<<"$API_BODY")" = succeeded ] || iot_fail "command to the agent after the lock: $API_BODY"
expect_status 200 PUT /v1/devices/dev-1/state/desired '{"settings":{"interval_ms":"50"}}'
[ "$(jq -r .version <<<"$API_BODY")" = 1 ] || iot_fail "desired state after the lock: $API_BODY"
[ "$(sql "SELECT count(*) FROM commands")" = 3 ] ||
    iot_fail "commands stored: $(sql "SELECT id, device_id, state FROM commands"), want 3"
iot_log "ok: after the locks the writes succeeded; the command to the agent succeeded"

fault_wait_agents 120 "$agent"
got=$(sql "SELECT count(*), count(DISTINCT seq), max(seq) - min(seq) + 1, count(DISTINCT epoch)
           FROM samples WHERE device_id = 'dev-1'")
[ "$got" = "$N|$N|$N|1" ] || iot_fail "dev-1 samples: got $got, want $N|$N|$N|1 (count|distinct|span|epochs)"
[ "$(sql "SELECT count(*) FROM dropped_ranges WHERE device_id = 'dev-1'")" = 0 ] || iot_fail "dropped ranges"
[ "$(sql "SELECT count(*) FROM dead_letters")" = 0 ] || iot_fail "dead letters"
rc=0
iot_stop "$CLOUD_PID" TERM 15 || rc=$?
[ "$rc" = 0 ] || iot_fail "iot-cloud exit status $rc"
echo "PASS api_db_busy_pg: writes waiting on PostgreSQL locks refused with 503 + Retry-After; $N samples stored once"
