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
