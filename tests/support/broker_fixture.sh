#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CTest fixture: a private Mosquitto with the PKI's mutual-TLS config and ACL on a free 127.0.0.1
# port, shared by the tests that require the "broker" fixture.
#   broker_fixture.sh start DIR   PKI in DIR (devices dev-a, dev-b), broker started, port in DIR/port
#   broker_fixture.sh stop DIR    stops the broker by the PID in DIR/mosquitto.pid
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
cmd=${1:?usage: broker_fixture.sh start|stop DIR}
dir=${2:?usage: broker_fixture.sh start|stop DIR}
case $cmd in
start)
    if [ -f "$dir/mosquitto.pid" ]; then iot_broker_stop "$dir" || true; fi
    rm -rf "$dir"
    port=$(iot_free_port)
    iot_pki_init "$dir/pki" "$port"
    "$IOT_PKI_BIN" device "$dir/pki" dev-a dev-b >/dev/null
    # Not iot_bg: the broker must outlive this script; the stop step kills it by PID.
    nohup mosquitto -c "$dir/pki/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
    echo $! >"$dir/mosquitto.pid"
    iot_wait_port "$port" 10 || { cat "$dir/mosquitto.log" >&2; iot_fail "broker did not start"; }
    echo "$port" >"$dir/port"
    iot_log "broker pid $(cat "$dir/mosquitto.pid") on 127.0.0.1:$port"
    ;;
stop)
    pid=$(cat "$dir/mosquitto.pid" 2>/dev/null) || exit 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/mosquitto.pid"
    iot_log "broker pid $pid stopped"
    ;;
*) echo "usage: broker_fixture.sh start|stop DIR" >&2; exit 2 ;;
esac
