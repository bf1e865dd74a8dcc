#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Security of the first slice, against the shared "broker" fixture (tests/support/broker_fixture.sh):
# a client without a certificate is refused; device A's certificate cannot publish on
# devices/B/telemetry (nothing of it is stored); a payload whose id differs from the topic's is
# dead-lettered with reason id_mismatch.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
fixture=${1:?usage: security_test.sh FIXTURE_DIR}
iot_test_init security
pki=$fixture/pki
port=$(cat "$fixture/port")
http=$(iot_free_port)
db=$IOT_WORK/cloud.db

iot_cloud_conf "$pki" "$port" "$db" "$http" security >"$IOT_WORK/cloud.conf"
iot_bg "$IOT_WORK/cloud.log" "$IOT_CLOUD_BIN" -c "$IOT_WORK/cloud.conf"
cloud=$IOT_LAST_PID
iot_wait_for 15 curl -fsS "http://127.0.0.1:$http/readyz" || iot_fail "iot-cloud not ready"

# 1. No client certificate: refused at connect.
if timeout 10 mosquitto_pub -V 5 -h 127.0.0.1 -p "$port" --cafile "$pki/ca.crt" -q 1 \
        -t devices/dev-a/telemetry -m x >"$IOT_WORK/nocert.out" 2>&1; then
    iot_fail "a client without a certificate could publish"
fi
iot_log "ok: no certificate -> refused ($(head -c 120 "$IOT_WORK/nocert.out"))"

pub() { # pub IDENTITY TOPIC PAYLOADFILE
    timeout 10 mosquitto_pub -V 5 -h 127.0.0.1 -p "$port" $(iot_mqtt_tls "$pki" "$pki/devices/$1") \
        -q 1 -t "$2" -f "$3"
}
epoch=$((RANDOM * 65536 + RANDOM + 1))

# 2. dev-a publishes a valid dev-b batch on dev-b's topic: the broker's ACL drops it
#    (MQTT 5 reports "not authorized"); nothing is stored for dev-b.
"$IOT_PAYLOAD_BIN" telemetry dev-b "$epoch" 1 5 >"$IOT_WORK/b.bin"
if pub dev-a devices/dev-b/telemetry "$IOT_WORK/b.bin" 2>"$IOT_WORK/cross.err"; then
    iot_log "note: mosquitto_pub reported success for the cross-device publish"
else
    iot_log "ok: cross-device publish refused: $(head -c 120 "$IOT_WORK/cross.err")"
fi

# 3. dev-a publishes on its own topic a payload claiming to be dev-b: dead-lettered.
pub dev-a devices/dev-a/telemetry "$IOT_WORK/b.bin" || iot_fail "dev-a could not publish on its own topic"
dead() { iot_sql "$db" "SELECT count(*) FROM dead_letters WHERE reason='id_mismatch' AND topic='devices/dev-a/telemetry'"; }
iot_wait_for 10 '[ "$(dead)" -ge 1 ]' || iot_fail "id mismatch not dead-lettered"

# 4. A control: dev-a's own valid batch is stored, so the checks above could have seen data.
"$IOT_PAYLOAD_BIN" telemetry dev-a "$epoch" 1 5 >"$IOT_WORK/a.bin"
pub dev-a devices/dev-a/telemetry "$IOT_WORK/a.bin" || iot_fail "dev-a own publish failed"
samples_of() { iot_sql "$db" "SELECT count(*) FROM samples WHERE device_id='$1'"; }
iot_wait_for 10 '[ "$(samples_of dev-a)" = 5 ]' ||
    iot_fail "dev-a's own samples not stored"
b=$(samples_of dev-b)
[ "$b" = 0 ] || iot_fail "$b samples stored for dev-b from dev-a's certificate"
dl=$(iot_metric "$http" iot_cloud_dead_letters_total)
[ "${dl:-0}" -ge 1 ] || iot_fail "dead letter counter is $dl"

# 5. Garbage on a valid topic: dead-lettered, the service keeps running.
"$IOT_PAYLOAD_BIN" garbage 200 >"$IOT_WORK/g.bin"
pub dev-a devices/dev-a/telemetry "$IOT_WORK/g.bin" || iot_fail "publish of garbage failed"
other_dead() { iot_sql "$db" "SELECT count(*) FROM dead_letters WHERE reason <> 'id_mismatch'"; }
iot_wait_for 10 '[ "$(other_dead)" -ge 1 ]' ||
    iot_fail "garbage not dead-lettered"
kill -0 "$cloud" || iot_fail "iot-cloud died on bad input"
iot_stop "$cloud" TERM 15 || iot_fail "iot-cloud exit status"
echo "PASS security"
