# SPDX-License-Identifier: Apache-2.0
# Helpers of the /v1 API integration tests (issue 4), on top of tests/support/lib.sh: a broker and
# iot-cloud with the API enabled, curl wrappers with the bearer token, the fake device.
IOT_FAKE_DEVICE_BIN=${IOT_FAKE_DEVICE_BIN:-$IOT_BUILD/tests/support/iot-fake-device}
IOT_WEBHOOK_SINK_BIN=${IOT_WEBHOOK_SINK_BIN:-$IOT_BUILD/tests/support/iot-webhook-sink}
IOT_API_TOKEN=${IOT_API_TOKEN:-test-token}
export IOT_API_TOKEN

# api_setup NAME [EXTRA_CONF]: PKI with devices dev-1..dev-3, broker, iot-cloud (extra INI text
# appended to its config). Sets PKI, DB, HTTP, MQTT_PORT, CLOUD_PID, BASE. The storage is a SQLite
# file, or $IOT_TEST_STORE (e.g. a postgresql:// URI: pg_suite_test.sh runs API tests on it).
api_setup() {
    MQTT_PORT=$(iot_free_port)
    HTTP=$(iot_free_port)
    PKI=$IOT_WORK/pki
    DB=${IOT_TEST_STORE:-$IOT_WORK/cloud.db}
    BASE=http://127.0.0.1:$HTTP
    iot_pki_init "$PKI" "$MQTT_PORT"
    "$IOT_PKI_BIN" device "$PKI" dev-1 dev-2 dev-3 >/dev/null
    iot_broker_start "$PKI"
    { iot_cloud_conf "$PKI" "$MQTT_PORT" "$DB" "$HTTP"; printf '%s\n' "${1:-}"; } >"$IOT_WORK/cloud.conf"
    api_cloud_start
}

api_cloud_start() {
    iot_bg "$IOT_WORK/cloud.log" "$IOT_CLOUD_BIN" -c "$IOT_WORK/cloud.conf"
    CLOUD_PID=$IOT_LAST_PID
    iot_wait_for 20 curl -fsS "$BASE/readyz" || iot_fail "iot-cloud not ready"
}

# api METHOD PATH [BODY] [CURL_ARGS...]: sets API_STATUS (HTTP status, 000 when no answer) and
# API_BODY. Runs in the current shell (no output), so call it directly, not in $(...).
api() {
    local method=$1 path=$2 body=${3:-}
    shift 2
    [ $# -gt 0 ] && shift
    local args=(-sS -X "$method" -o "$IOT_WORK/api.out" -w '%{http_code}'
                -H "Authorization: Bearer $IOT_API_TOKEN")
    if [ -n "$body" ]; then args+=(-H 'Content-Type: application/json' --data-binary "$body"); fi
    : >"$IOT_WORK/api.out"
    API_STATUS=$(curl "${args[@]}" "$@" "$BASE$path" 2>/dev/null) || API_STATUS=000
    API_BODY=$(cat "$IOT_WORK/api.out")
}

# expect_status WANT METHOD PATH [BODY] [CURL_ARGS...]: api, and fail unless the status is WANT.
expect_status() {
    local want=$1
    shift
    api "$@"
    [ "$API_STATUS" = "$want" ] || iot_fail "$1 $2: HTTP $API_STATUS, want $want: $API_BODY"
}

# cmd_status CID: print the command's status.
cmd_status() { api GET "/v1/commands/$1"; jq -r .status <<<"$API_BODY"; }

# fake_device ID [ARGS...]: start the fake device; sets DEV_PID. Output: $IOT_WORK/ID.out / .log
fake_device() {
    local id=$1
    shift
    "$IOT_FAKE_DEVICE_BIN" --port "$MQTT_PORT" --pki "$PKI" --id "$id" "$@" \
        >>"$IOT_WORK/$id.out" 2>>"$IOT_WORK/$id.log" &
    DEV_PID=$!
    IOT_PIDS+=("$DEV_PID")
}

# device_online ID: the registry says online.
device_online() { api GET "/v1/devices/$1"; [ "$(jq -r .presence <<<"$API_BODY")" = online ]; }

# api_db_hold [SQL]: another process holds a lock on the cloud's database ($DB) until
# api_db_release; returns once the lock is taken. SQLite: a sqlite3 process holds BEGIN EXCLUSIVE
# (SQL unused), waiting for a release file and for this script. PostgreSQL: a psql session of its
# own (application_name iot-test-lock-holder) runs SQL, e.g. 'BEGIN; LOCK TABLE commands IN
# EXCLUSIVE MODE;', and stays idle in its transaction, reading the COMMIT from a FIFO. The holder
# is in IOT_PIDS; one hold at a time.
API_LOCK_HOLDER=iot-test-lock-holder
_api_holder_idle() {
    [ "$(iot_pg_sql "$DB" "SELECT count(*) FROM pg_stat_activity
        WHERE application_name = '$API_LOCK_HOLDER' AND state = 'idle in transaction'")" = 1 ]
}
api_db_hold() {
    case $DB in
    postgresql://*)
        rm -f "$IOT_WORK/hold.in"
        mkfifo "$IOT_WORK/hold.in"
        PGAPPNAME=$API_LOCK_HOLDER psql "$DB" -qAtX -v ON_ERROR_STOP=1 <"$IOT_WORK/hold.in" \
            >>"$IOT_WORK/hold.log" 2>&1 &
        API_HOLD_PID=$!
        IOT_PIDS+=("$API_HOLD_PID")
        exec {API_HOLD_FD}>"$IOT_WORK/hold.in"
        printf '%s\n' "$1" >&"$API_HOLD_FD"
        iot_wait_for 20 _api_holder_idle ||
            iot_fail "the lock was not taken: $(cat "$IOT_WORK/hold.log")"
        ;;
    *)
        rm -f "$IOT_WORK/release"
        sqlite3 -cmd '.timeout 5000' "$DB" 'BEGIN EXCLUSIVE;' 'SELECT 1;' \
            ".shell for i in \$(seq 600); do [ -e '$IOT_WORK/release' ] && break; kill -0 $$ 2>/dev/null || break; sleep 0.1; done" \
            'COMMIT;' >>"$IOT_WORK/hold.log" 2>&1 &
        API_HOLD_PID=$!
        IOT_PIDS+=("$API_HOLD_PID")
        iot_wait_for 10 '! sqlite3 -cmd ".timeout 50" "$DB" "BEGIN IMMEDIATE; ROLLBACK;"' ||
            iot_fail "the lock was not taken: $(cat "$IOT_WORK/hold.log")"
        ;;
    esac
}

# api_db_release: end api_db_hold's transaction and wait for the holder to exit.
api_db_release() {
    case $DB in
    postgresql://*)
        printf 'COMMIT;\n' >&"$API_HOLD_FD"
        exec {API_HOLD_FD}>&-
        ;;
    *) touch "$IOT_WORK/release" ;;
    esac
    wait "$API_HOLD_PID" || iot_fail "the lock holder failed: $(cat "$IOT_WORK/hold.log")"
}

# api_expect_busy METHOD PATH [BODY]: the database is busy: 503 with Retry-After and
# {error: unavailable, detail mentioning busy}.
api_expect_busy() {
    api "$1" "$2" "${3:-}" -D "$IOT_WORK/h" --max-time 30
    [ "$API_STATUS" = 503 ] || iot_fail "$1 $2 while locked: HTTP $API_STATUS, want 503: $API_BODY"
    grep -qiE '^Retry-After: [0-9]+' "$IOT_WORK/h" || iot_fail "$1 $2: no Retry-After: $(cat "$IOT_WORK/h")"
    jq -e '.error == "unavailable" and (.detail | test("busy"))' <<<"$API_BODY" >/dev/null ||
        iot_fail "$1 $2: body $API_BODY"
}
