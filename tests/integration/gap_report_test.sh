#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Gap report: the test withholds samples of one epoch and reports two of them dropped (as a device
# with a full store would). GET /v1/devices/{id} names the missing ranges apart from the dropped
# ones, the metrics count them, and once the late samples arrive the gaps are gone.
# Storage: SQLite, or $IOT_TEST_STORE (pg_suite_test.sh runs it on PostgreSQL).
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/api_lib.sh"
iot_test_init gap-report
api_setup

ID=dev-1
tls=$(iot_mqtt_tls "$PKI" "$PKI/devices/$ID")
pub() { # pub EPOCH FIRST COUNT [EXTRA_BYTES_PRINTF]: one TelemetryBatch, extra fields appended
    { "$IOT_PAYLOAD_BIN" telemetry "$ID" "$1" "$2" "$3"; printf "${4:-}"; } |
        mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" $tls -V 5 -q 1 -t "devices/$ID/telemetry" -s
}
# TelemetryBatch.dropped (field 4) = SeqRange{first 6, last 7}: appended bytes merge into the batch
DROPPED_6_7='\x22\x04\x08\x06\x10\x07'
pub 77 1 5
pub 77 9 2 "$DROPPED_6_7"
pub 77 12 1
pub 78 1 3
stored() { api GET "/v1/devices/$ID"; jq -r .counters.samples <<<"$API_BODY"; }
iot_wait_for 15 '[ "$(stored)" = 11 ]' || iot_fail "samples not stored: $API_BODY"

api GET "/v1/devices/$ID"
gaps=$(jq -c '[.gaps[] | [.epoch, .first, .last]]' <<<"$API_BODY")
dropped=$(jq -c '[.dropped[] | [.epoch, .first, .last]]' <<<"$API_BODY")
epochs=$(jq -c '[.epochs[] | [.epoch, .first, .last, .stored]]' <<<"$API_BODY")
[ "$gaps" = '[["77",8,8],["77",11,11]]' ] || iot_fail "gaps: $gaps ($API_BODY)"
[ "$dropped" = '[["77",6,7]]' ] || iot_fail "dropped: $dropped"
[ "$epochs" = '[["77",1,12,8],["78",1,3,3]]' ] || iot_fail "epochs: $epochs"
iot_log "ok: gaps $gaps, dropped $dropped"
metric_is() { [ "$(iot_metric "$HTTP" "$1")" = "$2" ]; }
iot_wait_for 15 'metric_is iot_cloud_seq_missing 2 && metric_is iot_cloud_seq_gaps 1 &&
                 metric_is iot_cloud_seq_dropped 2' ||
    iot_fail "metrics: missing $(iot_metric "$HTTP" iot_cloud_seq_missing), gaps" \
             "$(iot_metric "$HTTP" iot_cloud_seq_gaps), dropped $(iot_metric "$HTTP" iot_cloud_seq_dropped)"

pub 77 8 1 # the late ones arrive
pub 77 11 1
iot_wait_for 15 '[ "$(stored)" = 13 ]' || iot_fail "late samples not stored"
api GET "/v1/devices/$ID"
[ "$(jq -c .gaps <<<"$API_BODY")" = '[]' ] || iot_fail "gaps left: $API_BODY"
[ "$(jq -c '.dropped | length' <<<"$API_BODY")" = 1 ] || iot_fail "dropped changed: $API_BODY"
iot_wait_for 15 'metric_is iot_cloud_seq_missing 0 && metric_is iot_cloud_seq_gaps 0' ||
    iot_fail "metrics after the late samples: missing $(iot_metric "$HTTP" iot_cloud_seq_missing)"
iot_stop "$CLOUD_PID" TERM 15 || iot_fail "iot-cloud exit status"
echo "PASS gap_report"
