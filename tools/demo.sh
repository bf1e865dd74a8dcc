#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The demo on embedded defaults: installs what is missing, builds, makes a PKI, starts Mosquitto with
# mutual TLS on a free loopback port, iot-cloud with SQLite, and a few agents with simulated
# smart-home sensors; prints telemetry as it arrives. Ctrl-C stops everything cleanly.
# Usage: tools/demo.sh [--duration SECONDS] [--devices N] [--dir DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
duration=0
devices=3
work=$root/demo-run
while [ $# -gt 0 ]; do
  case $1 in
    --duration) duration=${2:?}; shift 2 ;;
    --devices) devices=${2:?}; shift 2 ;;
    --dir) work=${2:?}; shift 2 ;;
    -h|--help) sed -n '3,7p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

tools/install-deps.sh
echo "demo: building (release preset)"
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" >/dev/null

export IOT_BUILD=$root/build-release
# shellcheck source=../tests/support/lib.sh
. "$root/tests/support/lib.sh"
rm -rf "$work"
mkdir -p "$work"
IOT_WORK=$work
stopping=0
finish() {
  trap - EXIT INT TERM
  stopping=1
  echo
  echo "demo: stopping agents, iot-cloud and the broker"
  for pid in "${agent_pids[@]:-}"; do [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${agent_pids[@]:-}"; do [ -n "$pid" ] && iot_stop "$pid" TERM 10 || true; done
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
ids=()
for i in $(seq 1 "$devices"); do ids+=("$(printf 'home-%02d' "$i")"); done
"$IOT_PKI_BIN" device "$work/pki" "${ids[@]}" >/dev/null
iot_broker_start "$work/pki"
echo "demo: Mosquitto (mutual TLS) on 127.0.0.1:$port, PKI in $work/pki"

iot_cloud_conf "$work/pki" "$port" "$work/cloud.db" "$http" demo >"$work/cloud.conf"
iot_bg "$work/cloud.log" "$IOT_CLOUD_BIN" -c "$work/cloud.conf"
cloud=$IOT_LAST_PID
iot_wait_for 15 curl -fsS "http://127.0.0.1:$http/readyz" || iot_fail "iot-cloud did not become ready (see $work/cloud.log)"
echo "demo: iot-cloud (SQLite $work/cloud.db) metrics at http://127.0.0.1:$http/metrics"

agent_pids=()
for id in "${ids[@]}"; do
  iot_agent_conf "$work/pki" "$port" "$id" "$work/state-$id" 1000 0 >"$work/$id.conf"
  iot_bg "$work/$id.log" "$IOT_AGENT_BIN" -c "$work/$id.conf"
  agent_pids+=("$IOT_LAST_PID")
done
echo "demo: ${#ids[@]} agents started (${ids[*]}); Ctrl-C to stop"
[ "$duration" -gt 0 ] && echo "demo: running for ${duration}s"

start=$SECONDS
while [ "$duration" -eq 0 ] || [ $((SECONDS - start)) -lt "$duration" ]; do
  sleep 2
  [ "$stopping" = 1 ] && break
  line=$(iot_sql "$work/cloud.db" "SELECT group_concat(d.device_id || (CASE d.online WHEN 1 THEN ' online ' ELSE ' offline ' END) || d.samples || ' samples', ', ') FROM devices d" 2>/dev/null || true)
  last=$(iot_sql "$work/cloud.db" "SELECT s.device_id || ' #' || s.seq || ': ' || (SELECT group_concat(m.name || '=' || printf('%.2f', m.value) || coalesce(m.unit, ''), ' ') FROM metrics m WHERE m.device_id = s.device_id AND m.epoch = s.epoch AND m.seq = s.seq AND m.name NOT LIKE 'net_%' AND m.name NOT LIKE 'mem_%') FROM samples s ORDER BY s.rowid DESC LIMIT 1" 2>/dev/null || true)
  echo "[$((SECONDS - start))s] ${line:-waiting for telemetry}"
  [ -n "$last" ] && echo "      latest: $last"
done
