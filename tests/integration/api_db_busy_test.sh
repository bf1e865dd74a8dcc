#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Writes while the database is locked: another process holds an EXCLUSIVE transaction on the
# cloud's SQLite file (as in fault_db_locked_test.sh). POST .../commands, PUT .../state/desired and
# DELETE /v1/commands/{cid} answer 503 with Retry-After and a JSON {error, detail} (not 500) once
# the busy timeout passes; reads still answer (WAL); /metrics counts the 503s. Released, the same
# writes succeed.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/api_lib.sh"
iot_test_init api-db-busy
api_setup

expect_status 202 POST /v1/devices/dev-3/commands '{"name":"ping","timeout_s":600}' # offline: queued
cid=$(jq -r .id <<<"$API_BODY")
n503() { iot_metric "$HTTP" 'iot_cloud_http_responses_total{code="503"}'; }
base503=$(n503) # /readyz answers 503 while iot-cloud starts

api_db_hold
iot_log "database locked (EXCLUSIVE)"

api_expect_busy POST /v1/devices/dev-1/commands '{"name":"ping"}'
api_expect_busy PUT /v1/devices/dev-1/state/desired '{"settings":{"interval_ms":"500"}}'
api_expect_busy DELETE "/v1/commands/$cid"
expect_status 200 GET "/v1/commands/$cid"
[ "$(jq -r .status <<<"$API_BODY")" = queued ] || iot_fail "command changed: $API_BODY"
curl -fsS --max-time 5 "$BASE/healthz" >/dev/null || iot_fail "healthz does not answer during the lock"
[ "$(n503)" = $((base503 + 3)) ] || iot_fail "503 responses counted: $(n503), want $base503 + 3"
iot_log "ok: 3 writes answered 503 with Retry-After while locked; reads answered"

api_db_release
expect_status 202 POST /v1/devices/dev-1/commands '{"name":"ping"}'
expect_status 200 PUT /v1/devices/dev-1/state/desired '{"settings":{"interval_ms":"500"}}'
expect_status 200 DELETE "/v1/commands/$cid"
[ "$(jq -r .status <<<"$API_BODY")" = cancelled ] || iot_fail "cancel after the lock: $API_BODY"
[ "$(iot_sql "$DB" "SELECT count(*) FROM commands")" = 2 ] || iot_fail "commands stored twice or lost"
rc=0
iot_stop "$CLOUD_PID" TERM 15 || rc=$?
[ "$rc" = 0 ] || iot_fail "iot-cloud exit status $rc"
echo "PASS api_db_busy: writes refused with 503 + Retry-After while the database was locked"
