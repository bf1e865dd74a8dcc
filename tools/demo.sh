#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The demo on embedded defaults: installs what is missing, builds, makes a PKI, starts Mosquitto with
# mutual TLS on a free loopback port, iot-cloud with SQLite, and a smart home of iot-sim devices
# (thermostat, plug, light, motion, door); prints telemetry as it arrives and, now and then and at
# the end, one command round trip through the HTTP API (iotctl send --wait). Ctrl-C stops cleanly.
# Usage: tools/demo.sh [--duration SECONDS] [--devices N] [--dir DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
duration=0
devices=5
work=$root/demo-run
while [ $# -gt 0 ]; do
  case $1 in
    --duration) duration=${2:?}; shift 2 ;;
    --devices) devices=${2:?}; shift 2 ;;
    --dir) work=${2:?}; shift 2 ;;
    -h|--help) sed -n '3,8p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

tools/install-deps.sh
echo "demo: building (release preset)"
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" --target iot-cloud iot-pki iot-sim iotctl iot-free-port >/dev/null

export IOT_BUILD=$root/build-release
# shellcheck source=../tests/support/lib.sh
. "$root/tests/support/lib.sh"
IOT_SIM_BIN=$IOT_BUILD/tools/sim/iot-sim
IOTCTL=$IOT_BUILD/tools/iotctl/iotctl
rm -rf "$work"
mkdir -p "$work"
IOT_WORK=$work
IOT_KEEP=1 # iot_cleanup keeps the work dir: the demo's data stays for a look afterwards
stopping=0
finish() {
  trap - EXIT INT TERM
  stopping=1
  echo
  echo "demo: stopping iot-sim, iot-cloud and the broker"
  [ -n "${sim:-}" ] && { iot_stop "$sim" TERM 20 || true; }
  [ -n "${cloud:-}" ] && { iot_stop "$cloud" TERM 15 || true; }
  iot_broker_stop "$work/pki" || true
  iot_cleanup || true
  echo "demo: stopped; data kept in $work (cloud.db, logs)"
}
trap finish EXIT
trap 'exit 0' INT TERM

port=$(iot_free_port)
http=$(iot_free_port)
iot_pki_init "$work/pki" "$port"
# setsid: Ctrl-C reaches only this script, which then stops the parts in order (devices first,
# so their offline presence still reaches the broker and the cloud).
iot_bg "$work/mosquitto.log" setsid mosquitto -c "$work/pki/mosquitto.conf"
echo "$IOT_LAST_PID" >"$work/pki/mosquitto.pid"
iot_wait_port "$port" 10 || iot_fail "mosquitto did not accept on 127.0.0.1:$port"
echo "demo: Mosquitto (mutual TLS) on 127.0.0.1:$port, PKI in $work/pki"

export IOT_API_TOKEN=demo-token
iot_cloud_conf "$work/pki" "$port" "$work/cloud.db" "$http" demo >"$work/cloud.conf"
iot_bg "$work/cloud.log" setsid "$IOT_CLOUD_BIN" -c "$work/cloud.conf"
cloud=$IOT_LAST_PID
iot_wait_for 15 curl -fsS "http://127.0.0.1:$http/readyz" || iot_fail "iot-cloud did not become ready (see $work/cloud.log)"
echo "demo: iot-cloud (SQLite $work/cloud.db) metrics at http://127.0.0.1:$http/metrics"
export IOT_URL=http://127.0.0.1:$http IOT_TOKEN=$IOT_API_TOKEN

# One house: the devices come from iot-sim, each a full agent with its own certificate and store.
iot_bg "$work/sim.log" setsid "$IOT_SIM_BIN" --pki "$work/pki" --port "$port" --devices "$devices" \
  --mix thermostat:1,plug:1,light:1,motion:1,door:1 --prefix home --state "$work/sim-state" \
  --time-constant 60 --progress 30
sim=$IOT_LAST_PID
thermostat=home0001-thermostat
echo "demo: iot-sim started $devices devices ($("$IOT_SIM_BIN" --devices "$devices" --prefix home \
  --mix thermostat:1,plug:1,light:1,motion:1,door:1 --list | awk '{print $1}' | paste -sd' ')); Ctrl-C to stop"
echo "demo: try it yourself: IOT_URL=$IOT_URL IOT_TOKEN=$IOT_TOKEN $IOTCTL devices"
[ "$duration" -gt 0 ] && echo "demo: running for ${duration}s"

# round_trip: set the thermostat to a new setpoint through the HTTP API and wait for its answer.
setpoints=(24 19 22)
trips=0
round_trip() {
  local sp=${setpoints[$((trips % ${#setpoints[@]}))]} rc=0
  trips=$((trips + 1))
  echo "demo: command round trip: iotctl send $thermostat set_setpoint celsius=$sp --wait 10"
  "$IOTCTL" send "$thermostat" set_setpoint "celsius=$sp" --wait 10 2>&1 | sed 's/^/      /' || rc=$?
  [ "$rc" = 0 ] || echo "      (exit status $rc)"
}

start=$SECONDS
next_trip=$((start + 8))
while [ "$duration" -eq 0 ] || [ $((SECONDS - start)) -lt "$duration" ]; do
  sleep 2
  [ "$stopping" = 1 ] && break
  line=$(iot_sql "$work/cloud.db" "SELECT group_concat(d.device_id || (CASE d.online WHEN 1 THEN ' online ' ELSE ' offline ' END) || d.samples, ', ') FROM devices d" 2>/dev/null || true)
  last=$(iot_sql "$work/cloud.db" "SELECT s.device_id || ' #' || s.seq || ': ' || (SELECT group_concat(m.name || '=' || printf('%.2f', m.value) || coalesce(m.unit, ''), ' ') FROM metrics m WHERE m.device_id = s.device_id AND m.epoch = s.epoch AND m.seq = s.seq) FROM samples s ORDER BY s.rowid DESC LIMIT 1" 2>/dev/null || true)
  temp=$(iot_sql "$work/cloud.db" "SELECT printf('%.2f', m.value) FROM metrics m WHERE m.device_id = '$thermostat' AND m.name = 'temperature' ORDER BY m.epoch DESC, m.seq DESC LIMIT 1" 2>/dev/null || true)
  echo "[$((SECONDS - start))s] ${line:-waiting for telemetry} (samples stored)"
  [ -n "$last" ] && echo "      latest: $last"
  [ -n "$temp" ] && echo "      $thermostat room temperature: $temp C"
  if [ "$SECONDS" -ge "$next_trip" ]; then
    round_trip
    next_trip=$((SECONDS + 30))
  fi
done
[ "$stopping" = 1 ] || round_trip
