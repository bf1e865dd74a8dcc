#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Security beyond security_test.sh (no certificate, cross-device publish, id mismatch) and
# commands_test.sh (forged, replayed, expired, wrong-device commands):
#  1. the broker refuses a certificate from another CA, an expired one and a not-yet-valid one;
#  2. device A's subscriptions to device B's topics (commands, receipts, desired, telemetry, and
#     devices/#) deliver nothing, while B's own subscription gets B's messages;
#  3. a device cannot publish commands, receipts or desired state, not even for itself;
#  4. the HTTP API binds 127.0.0.1 by default: /proc/net/tcp shows 127.0.0.1:PORT, and from a
#     network namespace (veth 10.200.7.0/30; root only) the API is unreachable on the host's veth
#     address, but reachable there once [http] listen names that address. Without the token: 401.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/fault_lib.sh"
fault_init security-tls
fault_require_root "the HTTP bind test (network namespace)"
fault_stack 2
"$IOT_PKI_BIN" device "$PKI" dev-old --not-before-days -10 --days 1 >/dev/null
"$IOT_PKI_BIN" device "$PKI" dev-future --not-before-days 30 --days 10 >/dev/null
other=$IOT_WORK/other-pki
iot_pki_init "$other" "$MQTT_PORT"
"$IOT_PKI_BIN" device "$other" dev-1 >/dev/null

# pub CAFILE CERTBASE TOPIC MSG: one MQTT 5 QoS 1 publish; exit status of mosquitto_pub.
pub() {
    timeout 10 mosquitto_pub -V 5 -h 127.0.0.1 -p "$MQTT_PORT" --cafile "$1" --cert "$2.crt" \
        --key "$2.key" -q 1 -t "$3" -m "$4"
}

# 1. Certificates the broker must refuse at the TLS handshake.
for c in "other CA:$other/devices/dev-1" "expired:$PKI/devices/dev-old" \
    "not yet valid:$PKI/devices/dev-future"; do
    what=${c%%:*}
    base=${c#*:}
    if pub "$PKI/ca.crt" "$base" devices/dev-1/telemetry x >"$IOT_WORK/refused.out" 2>&1; then
        iot_fail "a certificate ($what) was accepted by the broker"
    fi
    iot_log "ok: $what certificate refused ($(tr '\n' ' ' <"$IOT_WORK/refused.out" | head -c 100))"
done
openssl x509 -in "$PKI/devices/dev-old.crt" -noout -checkend 0 >/dev/null &&
    iot_fail "iot-pki --not-before-days -10 --days 1 made a valid certificate"
pub "$PKI/ca.crt" "$PKI/devices/dev-1" devices/dev-1/status-probe x 2>/dev/null || true
pub "$PKI/ca.crt" "$PKI/devices/dev-2" devices/dev-2/telemetry "$(printf 'control')" ||
    iot_fail "a valid certificate was refused: the checks above prove nothing"
refusals=$(grep -c 'certificate' "$IOT_WORK/mosquitto.log" || true)
iot_log "ok: the broker logged $refusals certificate failures"

# 2. dev-1 subscribes to dev-2's topics; dev-2 subscribes to its own commands as a control.
sub() { # NAME CERTBASE TOPIC...: subscriber in the background, output to $IOT_WORK/NAME.sub
    local name=$1 base=$2 args=()
    shift 2
    for t in "$@"; do args+=(-t "$t"); done
    mosquitto_sub -V 5 -h 127.0.0.1 -p "$MQTT_PORT" --cafile "$PKI/ca.crt" --cert "$base.crt" \
        --key "$base.key" -q 1 -v "${args[@]}" >"$IOT_WORK/$name.sub" 2>&1 &
    IOT_PIDS+=("$!")
}
sub spy "$PKI/devices/dev-1" devices/dev-2/commands devices/dev-2/receipts \
    devices/dev-2/state/desired devices/dev-2/telemetry 'devices/#' '#'
sub own "$PKI/devices/dev-2" devices/dev-2/commands devices/dev-2/state/desired
# The cloud holds commands for offline devices: dev-2 announces itself online (as its agent does).
"$IOT_PAYLOAD_BIN" presence dev-2 online 1 >"$IOT_WORK/p.bin"
timeout 10 mosquitto_pub -V 5 -h 127.0.0.1 -p "$MQTT_PORT" $(iot_mqtt_tls "$PKI" "$PKI/devices/dev-2") \
    -q 1 -r -t devices/dev-2/status -f "$IOT_WORK/p.bin" || iot_fail "dev-2 cannot publish its presence"
iot_wait_for 10 device_online dev-2 || iot_fail "dev-2 not online"
sleep 0.5
api POST /v1/devices/dev-2/commands '{"name":"ping","timeout_s":5}'
[ "$API_STATUS" = 202 ] || iot_fail "POST command: $API_STATUS $API_BODY"
api PUT /v1/devices/dev-2/state/desired '{"settings":{"interval_ms":"500"}}'
[ "$API_STATUS" = 200 ] || iot_fail "PUT desired: $API_STATUS $API_BODY"
"$IOT_PAYLOAD_BIN" telemetry dev-2 77 1 3 >"$IOT_WORK/t.bin"
timeout 10 mosquitto_pub -V 5 -h 127.0.0.1 -p "$MQTT_PORT" $(iot_mqtt_tls "$PKI" "$PKI/devices/dev-2") \
    -q 1 -t devices/dev-2/telemetry -f "$IOT_WORK/t.bin" || iot_fail "dev-2 cannot publish its telemetry"
iot_wait_for 10 'grep -q "devices/dev-2/commands" "$IOT_WORK/own.sub"' ||
    iot_fail "the control subscriber (dev-2) got no command: $(cat "$IOT_WORK/own.sub")"
iot_wait_for 10 'grep -q "devices/dev-2/state/desired" "$IOT_WORK/own.sub"' ||
    iot_fail "the control subscriber (dev-2) got no desired state"
iot_wait_for 10 '[ "$(iot_sql "$DB" "SELECT count(*) FROM samples WHERE device_id='"'dev-2'"'")" = 3 ]' ||
    iot_fail "dev-2's telemetry not stored"
sleep 1
[ ! -s "$IOT_WORK/spy.sub" ] || iot_fail "dev-1 received dev-2's messages: $(head -c 300 "$IOT_WORK/spy.sub")"
iot_log "ok: dev-1 subscribed to dev-2's topics, devices/# and #: received nothing (dev-2 got its own)"

# 3. A device publishing commands, receipts or desired state: refused (MQTT 5: not authorized),
#    and nothing reaches a subscriber of those topics.
sub watch "$PKI/devices/dev-1" devices/dev-1/commands devices/dev-1/receipts devices/dev-1/state/desired
sleep 0.5
"$IOT_PAYLOAD_BIN" receipt dev-1 77 1 1000000 >"$IOT_WORK/r.bin"
for t in devices/dev-1/commands devices/dev-2/commands devices/dev-1/receipts devices/dev-1/state/desired; do
    if timeout 10 mosquitto_pub -V 5 -h 127.0.0.1 -p "$MQTT_PORT" $(iot_mqtt_tls "$PKI" "$PKI/devices/dev-1") \
        -q 1 -t "$t" -f "$IOT_WORK/r.bin" >"$IOT_WORK/pub.err" 2>&1; then
        iot_log "note: mosquitto_pub reported success for $t (the broker drops it silently)"
    else
        iot_log "ok: publish to $t refused: $(tr '\n' ' ' <"$IOT_WORK/pub.err" | head -c 80)"
    fi
done
sleep 1
[ ! -s "$IOT_WORK/watch.sub" ] || iot_fail "a device-published command/receipt/desired got through: $(head -c 300 "$IOT_WORK/watch.sub")"
iot_log "ok: no device-published command, receipt or desired state was delivered"

# 4. The HTTP API's address.
hexport=$(printf '%04X' "$HTTP")
grep -q " 0100007F:$hexport .* 0A " /proc/net/tcp ||
    iot_fail "iot-cloud does not listen on 127.0.0.1:$HTTP: $(grep ":$hexport " /proc/net/tcp)"
if grep -E " [0-9A-F]{8}:$hexport [0-9A-F]{8}:0000 0A " /proc/net/tcp | grep -vq " 0100007F:$hexport "; then
    iot_fail "iot-cloud listens on another address too"
fi
grep -q ":$hexport " /proc/net/tcp6 2>/dev/null && iot_fail "iot-cloud listens on IPv6 too"
fault_netns sec 7
ns_curl() { ip netns exec "$FAULT_NS" curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$@" || true; }
code=$(ns_curl "http://10.200.7.1:$HTTP/healthz")
[ "$code" = 000 ] || iot_fail "the API answered on the veth address 10.200.7.1 with HTTP $code (must bind 127.0.0.1)"
iot_log "ok: the API listens on 127.0.0.1:$HTTP only; from the namespace 10.200.7.1:$HTTP is unreachable"
iot_stop "$CLOUD_PID" TERM 15 || true
{ iot_cloud_conf "$PKI" "$MQTT_PORT" "$DB" "$HTTP"; printf '[http]\nlisten = 10.200.7.1\n'; } >"$IOT_WORK/cloud.conf"
iot_bg "$IOT_WORK/cloud.log" "$IOT_CLOUD_BIN" -c "$IOT_WORK/cloud.conf"
CLOUD_PID=$IOT_LAST_PID
iot_wait_for 20 '[ "$(ns_curl "http://10.200.7.1:$HTTP/healthz")" = 200 ]' ||
    iot_fail "with [http] listen = 10.200.7.1 the API is not reachable there"
[ "$(ns_curl "http://10.200.7.1:$HTTP/v1/devices")" = 401 ] || iot_fail "no token, yet not 401"
[ "$(ns_curl -H 'Authorization: Bearer nope' "http://10.200.7.1:$HTTP/v1/devices")" = 401 ] ||
    iot_fail "a wrong token, yet not 401"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$HTTP/healthz" || true)
[ "$code" = 000 ] || iot_fail "listen = 10.200.7.1 but 127.0.0.1 answers too ($code)"
iot_log "ok: [http] listen = 10.200.7.1 serves there (401 without or with a wrong token), not on 127.0.0.1"
echo "PASS security_tls"
