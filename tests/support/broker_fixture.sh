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
# fixture_broker_pid: the PID in DIR/mosquitto.pid if that process is still the fixture's broker
# (its command line names DIR's config). The broker is not this script's child, and a PID file left
# by an earlier run that was killed may name a process that has nothing to do with us by now.
fixture_broker_pid() {
    local pid cmdline
    pid=$(cat "$dir/mosquitto.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    case $cmdline in *mosquitto*"$dir/pki/mosquitto.conf"*) echo "$pid" ;; *) return 1 ;; esac
}

fixture_broker_stop() {
    local pid
    if pid=$(fixture_broker_pid); then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do [ -e "/proc/$pid" ] && fixture_broker_pid >/dev/null || break; sleep 0.05; done
        fixture_broker_pid >/dev/null && kill -KILL "$pid" 2>/dev/null
        iot_log "broker pid $pid stopped"
    fi
    rm -f "$dir/mosquitto.pid"
}

case $cmd in
start)
    fixture_broker_stop # a broker left by an earlier run that was killed before its stop step
    rm -rf "$dir"
    port=$(iot_free_port)
    iot_pki_init "$dir/pki" "$port"
    "$IOT_PKI_BIN" device "$dir/pki" dev-a dev-b >/dev/null
    # Not iot_bg: the broker must outlive this script; the stop step kills it by PID.
    nohup mosquitto -c "$dir/pki/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
    echo $! >"$dir/mosquitto.pid"
    iot_wait_port "$port" 30 || { cat "$dir/mosquitto.log" >&2; iot_fail "broker did not start"; }
    # what accepts must be our broker (not a process that took the port meanwhile)
    fixture_broker_pid >/dev/null || { cat "$dir/mosquitto.log" >&2; iot_fail "broker exited at start"; }
    echo "$port" >"$dir/port"
    iot_log "broker pid $(cat "$dir/mosquitto.pid") on 127.0.0.1:$port"
    ;;
stop) fixture_broker_stop ;;
*) echo "usage: broker_fixture.sh start|stop DIR" >&2; exit 2 ;;
esac
