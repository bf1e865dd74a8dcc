#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iot-pki against a real Mosquitto: the generated mosquitto.conf starts, mutual TLS refuses clients
# without a certificate or with one from another CA, and the ACL grants the cloud and each device
# exactly their topics (MQTT 5 shared subscription for the cloud, retained status, LWT).
# Usage: pki_broker_test.sh [PATH/TO/iot-pki]   (or IOT_PKI=...; IOT_BUILD is derived when unset)
set -euo pipefail
IOT_PKI=${1:-${IOT_PKI:-}}
if [ -z "$IOT_PKI" ] && [ -n "${IOT_BUILD:-}" ]; then IOT_PKI=$IOT_BUILD/tools/pki/iot-pki; fi
[ -x "${IOT_PKI:-}" ] || { echo "usage: $0 PATH/TO/iot-pki (or set IOT_PKI)" >&2; exit 2; }
IOT_PKI=$(cd "$(dirname "$IOT_PKI")" && pwd)/$(basename "$IOT_PKI")
export IOT_BUILD=${IOT_BUILD:-$(cd "$(dirname "$IOT_PKI")/../.." && pwd)}
# shellcheck source=../support/lib.sh
. "$(dirname "$0")/../support/lib.sh"
for tool in mosquitto mosquitto_pub mosquitto_sub timeout; do
    command -v "$tool" >/dev/null || iot_fail "$tool not installed"
done

iot_test_init pki-broker
pki=$IOT_WORK/pki
other=$IOT_WORK/other-pki

# --- PKI: init, devices, a second unrelated PKI, broker on a free port ---
"$IOT_PKI" init "$pki" >/dev/null || iot_fail "iot-pki init"
"$IOT_PKI" device "$pki" dev-a dev-b dev-c >/dev/null || iot_fail "iot-pki device"
"$IOT_PKI" init "$other" >/dev/null || iot_fail "iot-pki init (second CA)"
"$IOT_PKI" device "$other" dev-a >/dev/null || iot_fail "iot-pki device (second CA)"
if "$IOT_PKI" init "$pki" >/dev/null 2>&1; then iot_fail "init overwrote an existing PKI without --force"; fi
port=$(iot_free_port)
"$IOT_PKI" broker-conf "$pki" --port "$port" >/dev/null || iot_fail "iot-pki broker-conf"
grep -q "^listener $port 127.0.0.1\$" "$pki/mosquitto.conf" || iot_fail "broker-conf did not set the listener"
iot_broker_start "$pki"
iot_log "broker on 127.0.0.1:$port"

# --- helpers: IDENT is "cloud" or a device id; every client is bounded by timeout and -W ---
tls() { # tls IDENT [PKI]
    local d=${2:-$pki}
    if [ "$1" = cloud ]; then iot_mqtt_tls "$d" "$d/cloud"; else iot_mqtt_tls "$d" "$d/devices/$1"; fi
}
# pub IDENT TOPIC MSG [ARGS...]: 0 when the broker accepted the publish, 1 when refused.
pub() {
    local id=$1 topic=$2 msg=$3 err=$IOT_WORK/pub.err
    shift 3
    # shellcheck disable=SC2046
    if ! timeout 10 mosquitto_pub -V 5 -h 127.0.0.1 -p "$port" $(tls "$id") -q 1 -t "$topic" \
            -m "$msg" "$@" 2>"$err"; then
        return 1
    fi
    # MQTT 5: an ACL-denied publish gets reason 135; mosquitto_pub only warns and exits 0.
    ! grep -q "Not authorized" "$err"
}
pub_ok() { pub "$@" || iot_fail "$1 could not publish on $2: $(cat "$IOT_WORK/pub.err")"; }
pub_denied() { if pub "$@"; then iot_fail "$1 was allowed to publish on $2"; fi; }
# sub NAME IDENT TOPIC...: a background subscriber writing "topic payload" lines to NAME.log;
# its PID is in IOT_LAST_PID.
sub() {
    local name=$1 id=$2 args=()
    shift 2
    for t in "$@"; do args+=(-t "$t"); done
    # shellcheck disable=SC2046
    iot_bg "$IOT_WORK/$name.log" stdbuf -oL mosquitto_sub -V 5 -h 127.0.0.1 -p "$port" $(tls "$id") \
        -q 1 -W 120 -F '%t %p' "${args[@]}"
}
seen() { grep -qxF -- "$2" "$IOT_WORK/$1.log"; }
expect() { iot_wait_for 10 seen "$1" "$2" || iot_fail "$1 did not receive \"$2\""; }
absent() { if seen "$1" "$2"; then iot_fail "$1 received \"$2\", which the ACL must stop"; fi; }
# ready NAME IDENT TOPIC: mosquitto_sub has no "subscribed" signal, so publish probes on TOPIC
# as IDENT until the subscriber NAME shows one.
ready() {
    local i
    for i in $(seq 50); do
        pub "$2" "$3" "probe-$i" || true
        if grep -q "probe-" "$IOT_WORK/$1.log" 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    iot_fail "subscriber $1 never became ready"
}

# --- 1. mutual TLS: no certificate, or a certificate of another CA, is refused at connect ---
if timeout 10 mosquitto_pub -V 5 -h 127.0.0.1 -p "$port" --cafile "$pki/ca.crt" -q 1 \
        -t devices/dev-a/telemetry -m nocert 2>"$IOT_WORK/nocert.err"; then
    iot_fail "a client without a certificate was accepted"
fi
iot_log "ok: no client certificate -> refused ($(head -c 80 "$IOT_WORK/nocert.err"))"
# shellcheck disable=SC2046
if timeout 10 mosquitto_pub -V 5 -h 127.0.0.1 -p "$port" --cafile "$pki/ca.crt" \
        --cert "$other/devices/dev-a.crt" --key "$other/devices/dev-a.key" -q 1 \
        -t devices/dev-a/telemetry -m othca 2>"$IOT_WORK/otherca.err"; then
    iot_fail "a certificate from another CA was accepted"
fi
iot_log "ok: certificate of another CA -> refused ($(head -c 80 "$IOT_WORK/otherca.err"))"

# --- 2. the cloud reads device-to-cloud topics through an MQTT 5 shared subscription ---
# shellcheck disable=SC2016
sub cloud cloud '$share/iot-cloud/devices/+/telemetry' '$share/iot-cloud/devices/+/status' \
    '$share/iot-cloud/devices/+/responses' '$share/iot-cloud/devices/+/state/reported'
cloud_pid=$IOT_LAST_PID
ready cloud dev-c devices/dev-c/telemetry
pub_ok dev-a devices/dev-a/telemetry tel-a
expect cloud "devices/dev-a/telemetry tel-a"
pub_ok dev-a devices/dev-a/status online-a -r
expect cloud "devices/dev-a/status online-a"
pub_ok dev-a devices/dev-a/responses resp-a
expect cloud "devices/dev-a/responses resp-a"
pub_ok dev-a devices/dev-a/state/reported rep-a
expect cloud "devices/dev-a/state/reported rep-a"
iot_log "ok: cloud shared subscription receives telemetry, status, responses, state/reported"

# Retained status is kept for a later subscriber.
# shellcheck disable=SC2046
got=$(timeout 10 mosquitto_sub -V 5 -h 127.0.0.1 -p "$port" $(tls cloud) -q 1 -t devices/dev-a/status \
    -C 1 -W 5) || iot_fail "retained status of dev-a not delivered to a new subscriber"
[ "$got" = online-a ] || iot_fail "retained status is \"$got\", want online-a"
iot_log "ok: retained status kept"

# --- 3. a device cannot publish for another device or on cloud-to-device topics ---
pub_denied dev-a devices/dev-b/telemetry spoof-ab
pub_denied dev-a devices/dev-b/status spoof-status-ab -r
pub_denied dev-a devices/X/commands cmd-from-device
pub_denied dev-a devices/dev-a/commands self-cmd
pub_denied dev-a devices/dev-a/receipts self-receipt
pub_denied dev-a devices/dev-a/state/desired self-desired
pub_denied dev-a other/topic x
pub_denied cloud devices/dev-a/telemetry cloud-as-device
# A marker published after the refused messages: once it arrives, they would have too.
pub_ok dev-a devices/dev-a/telemetry marker-1
expect cloud "devices/dev-a/telemetry marker-1"
absent cloud "devices/dev-b/telemetry spoof-ab"
absent cloud "devices/dev-b/status spoof-status-ab"
absent cloud "devices/dev-a/telemetry cloud-as-device"
iot_log "ok: cross-device and wrong-direction publishes refused and not delivered"

# --- 4. a device reads its own cloud-to-device topics, and only its own ---
sub deva dev-a devices/dev-a/commands devices/dev-a/receipts devices/dev-a/state/desired \
    devices/dev-b/commands devices/+/telemetry
deva_pid=$IOT_LAST_PID
ready deva cloud devices/dev-a/commands
pub_ok cloud devices/dev-a/commands cmd-a
expect deva "devices/dev-a/commands cmd-a"
pub_ok cloud devices/dev-a/receipts rcpt-a
expect deva "devices/dev-a/receipts rcpt-a"
pub_ok cloud devices/dev-a/state/desired want-a -r
expect deva "devices/dev-a/state/desired want-a"
pub_ok cloud devices/dev-b/commands cmd-b
pub_ok dev-b devices/dev-b/telemetry tel-b
pub_ok cloud devices/dev-a/commands marker-2
expect deva "devices/dev-a/commands marker-2"
absent deva "devices/dev-b/commands cmd-b"
absent deva "devices/dev-b/telemetry tel-b"
iot_log "ok: device receives its commands, receipts, desired state; not another device's"

# --- 5. LWT: a device's will on its own status topic is published when it dies ---
# shellcheck disable=SC2046
iot_bg "$IOT_WORK/lwt.log" stdbuf -oL mosquitto_sub -V 5 -h 127.0.0.1 -p "$port" $(tls dev-b) -q 1 \
    -t devices/dev-b/commands -W 120 --will-topic devices/dev-b/status --will-payload offline-b \
    --will-qos 1 --will-retain
lwt_pid=$IOT_LAST_PID
ready lwt cloud devices/dev-b/commands # dev-b is connected and subscribed
iot_stop "$lwt_pid" KILL 5 || true
expect cloud "devices/dev-b/status offline-b"
iot_log "ok: LWT of dev-b delivered to the cloud"

# A will on another device's topic is refused (at connect, or the will is never delivered).
# shellcheck disable=SC2046
iot_bg "$IOT_WORK/badlwt.log" mosquitto_sub -V 5 -h 127.0.0.1 -p "$port" $(tls dev-c) -q 1 \
    -t devices/dev-c/commands -W 120 --will-topic devices/dev-a/status --will-payload fake-offline \
    --will-qos 1 -i it-badlwt-dev-c
badlwt_pid=$IOT_LAST_PID
iot_wait_for 10 grep -q "as it-badlwt-dev-c " "$IOT_WORK/mosquitto.log" || true
iot_stop "$badlwt_pid" KILL 5 || true
# Mosquitto 2.0.11 accepts the connection; wait until it has handled the dead socket (and the will).
iot_wait_for 10 grep -qE "Client it-badlwt-dev-c (closed|disconnected)" "$IOT_WORK/mosquitto.log" ||
    iot_fail "broker did not notice the death of it-badlwt-dev-c"
pub_ok dev-a devices/dev-a/telemetry marker-3
expect cloud "devices/dev-a/telemetry marker-3"
absent cloud "devices/dev-a/status fake-offline"
iot_log "ok: a will on another device's topic is not delivered"

# --- done ---
for p in "$cloud_pid" "$deva_pid"; do iot_stop "$p" TERM 5 || true; done
iot_broker_stop "$pki"
echo "PASS pki_broker"
