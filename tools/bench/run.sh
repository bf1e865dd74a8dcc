#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole benchmark of this machine in one command: builds the release preset, then measures
#   1. ingest throughput against the broker ceiling      (tools/bench/ingest_bench.sh, if present)
#   2. device agent footprint and offline store rates    (tools/bench/agent_footprint.sh)
#   3. command round trip through the HTTP API: POST + long-poll to iot-sim devices, N sequential
#   4. simulator memory and CPU per device with 1000 devices connected (iot-sim)
# prints a table and writes JSON (--out, default build-release/bench.json); every figure carries
# the parameters that produced it. Bounded; every process it starts is stopped by PID. Not a test.
# Usage: tools/bench/run.sh [--quick] [--no-build] [--out FILE]
# Knobs: BENCH_CMDS (200), BENCH_CMD_DEVICES (10), BENCH_SIM_DEVICES (1000), BENCH_SIM_S (60);
# the other scripts' knobs (BENCH_SAMPLES, BENCH_CALLGRIND, BENCH_MESSAGES, BENCH_PG, ...) pass
# through. --quick: fewer commands, 200 devices for 20 s, smaller footprint and ingest runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
quick=0
build=1
out=
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1; shift ;;
        --no-build) build=0; shift ;;
        --out) out=${2:?--out needs a file}; shift 2 ;;
        -h|--help) sed -n '3,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done
if [ "$quick" = 1 ]; then
    : "${BENCH_CMDS:=50}" "${BENCH_SIM_DEVICES:=200}" "${BENCH_SIM_S:=20}"
    : "${BENCH_SAMPLES:=20000}" "${BENCH_CALLGRIND:=0}" "${BENCH_MESSAGES:=50000}" "${BENCH_PG:=0}"
    export BENCH_SAMPLES BENCH_CALLGRIND BENCH_MESSAGES BENCH_PG
fi
CMDS=${BENCH_CMDS:-200}
CMD_DEVICES=${BENCH_CMD_DEVICES:-10}
SIM_DEVICES=${BENCH_SIM_DEVICES:-1000}
SIM_S=${BENCH_SIM_S:-60}
export IOT_BUILD=${IOT_BUILD:-$root/build-release}
OUT=${out:-$IOT_BUILD/bench.json}

if [ "$build" = 1 ]; then
    echo "bench: building the release preset" >&2
    # -k: a target of another area that fails to build must not stop the benchmark; the binaries
    # it needs are checked below.
    (cd "$root" && nice cmake --preset release >/dev/null &&
        nice cmake --build --preset release -j"$(nproc)" -- -k >/dev/null 2>&1) ||
        echo "bench: some targets did not build; going on with what did" >&2
fi
. "$root/tests/support/lib.sh"
IOT_SIM_BIN=$IOT_BUILD/tools/sim/iot-sim
for b in "$IOT_SIM_BIN" "$IOT_CLOUD_BIN" "$IOT_PKI_BIN" "$IOT_FREE_PORT_BIN" \
    "$IOT_BUILD/tools/bench/iot-cmd-rtt"; do
    [ -x "$b" ] || iot_fail "missing $b (build first, or drop --no-build)"
done
iot_test_init bench-run
W=$IOT_WORK
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# ---------------------------------------------------------------- 1, 2: the other scripts
# run_part NAME SCRIPT: run it with its JSON to $W/NAME.json; prints ok, failed or not available.
run_part() {
    local name=$1 script=$2
    if [ ! -x "$script" ]; then
        echo "not available"
        return
    fi
    iot_log "bench: $name ($script; log $W/$name.log)"
    if BENCH_OUT=$W/$name.json timeout 1800 "$script" >"$W/$name.log" 2>&1 && [ -s "$W/$name.json" ]; then
        echo ok
    else
        echo failed
    fi
}
ingest_state=$(run_part ingest "$here/ingest_bench.sh")
footprint_state=$(run_part footprint "$here/agent_footprint.sh")

# ---------------------------------------------------------------- the stack for 3 and 4
mqtt_port=$(iot_free_port)
http=$(iot_free_port)
base=http://127.0.0.1:$http
token=bench-token
iot_pki_init "$W/pki" "$mqtt_port"
iot_broker_start "$W/pki"
IOT_API_TOKEN=$token iot_cloud_conf "$W/pki" "$mqtt_port" "$W/cloud.db" "$http" bench |
    sed 's/^level = info/level = warn/' >"$W/cloud.conf"
iot_bg "$W/cloud.log" "$IOT_CLOUD_BIN" -c "$W/cloud.conf"
cloud=$IOT_LAST_PID
iot_wait_for 20 curl -fsS "$base/readyz" || iot_fail "iot-cloud not ready"
auth=(-H "Authorization: Bearer $token")
online_with_prefix() {
    curl -fsS "${auth[@]}" "$base/v1/devices?limit=1000" |
        jq --arg p "$1" '[.devices[] | select((.id | startswith($p)) and .presence == "online")] | length'
}

# ---------------------------------------------------------------- 3. command round trip
iot_log "bench: command round trip, $CMDS pings to $CMD_DEVICES iot-sim devices"
sim_args=(--pki "$W/pki" --port "$mqtt_port" --state "$W/sim-state" --progress 0)
iot_bg "$W/sim-cmd.log" "$IOT_SIM_BIN" "${sim_args[@]}" --devices "$CMD_DEVICES" --prefix cmd
sim=$IOT_LAST_PID
mapfile -t ids < <("$IOT_SIM_BIN" --devices "$CMD_DEVICES" --prefix cmd --list | awk '{print $1}')
iot_wait_for 60 '[ "$(online_with_prefix cmd)" = '"$CMD_DEVICES"' ]' || iot_fail "command devices not online"
"$IOT_BUILD/tools/bench/iot-cmd-rtt" "$base" "$token" "$CMDS" "${ids[@]}" >"$W/rtt.txt" || true
iot_stop "$sim" TERM 20 || true
# pct FILE COLUMN P: nearest-rank percentile of a column (sorted numerically).
pct() { awk -v c="$2" '{print $c}' "$1" | sort -n | awk -v p="$3" '{a[NR] = $1} END {
        if (NR == 0) { print 0; exit } i = int(p * NR + 0.999999); if (i < 1) i = 1; print a[i] }'; }
ok_cmds=$(awk '$3 == "succeeded"' "$W/rtt.txt" | wc -l)
srv_p50=$(pct "$W/rtt.txt" 2 0.50); srv_p99=$(pct "$W/rtt.txt" 2 0.99); srv_max=$(pct "$W/rtt.txt" 2 1)
awk '{printf "%.1f\n", $1 / 1000}' "$W/rtt.txt" >"$W/cli.txt"
cli_p50=$(pct "$W/cli.txt" 1 0.50); cli_p99=$(pct "$W/cli.txt" 1 0.99); cli_max=$(pct "$W/cli.txt" 1 1)

# ---------------------------------------------------------------- 4. simulator at scale
iot_log "bench: iot-sim with $SIM_DEVICES devices for $SIM_S s"
rc=0
timeout $((SIM_S + 300)) "$IOT_SIM_BIN" "${sim_args[@]}" --devices "$SIM_DEVICES" --prefix sim \
    --duration "$SIM_S" --drain 30 --progress 10 --stats "$W/sim.json" >"$W/sim.log" 2>"$W/sim.err" &
simpid=$!
IOT_PIDS+=("$simpid")
wait "$simpid" || rc=$?
[ "$rc" = 0 ] && [ -s "$W/sim.json" ] && sim_state=ok || sim_state="failed (exit $rc)"
stored=$(iot_sql "$W/cloud.db" "SELECT count(*) FROM samples WHERE device_id LIKE 'sim%'" || echo 0)
iot_stop "$cloud" TERM 20 || true
iot_broker_stop "$W/pki" || true

# ---------------------------------------------------------------- report
# json_file NAME: $W/NAME.json, or a file holding null when it is missing or not JSON; the per-device
# list of the simulator stays out (too long for a report).
json_file() {
    if [ -s "$W/$1.json" ] && jq -e . "$W/$1.json" >/dev/null 2>&1; then
        jq 'if type == "object" then del(.devices) else . end' "$W/$1.json" >"$W/$1.part"
    else
        echo null >"$W/$1.part"
    fi
    echo "$W/$1.part"
}
jq -n \
    --arg started "$started" --arg cpus "$(nproc)" --arg kernel "$(uname -r)" \
    --arg model "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" \
    --arg mem_kb "$(awk '/MemTotal/ {print $2}' /proc/meminfo)" \
    --arg ingest_state "$ingest_state" --slurpfile ingest "$(json_file ingest)" \
    --arg footprint_state "$footprint_state" --slurpfile footprint "$(json_file footprint)" \
    --arg cmds "$CMDS" --arg cmd_devices "$CMD_DEVICES" --arg ok_cmds "$ok_cmds" \
    --arg srv_p50 "$srv_p50" --arg srv_p99 "$srv_p99" --arg srv_max "$srv_max" \
    --arg cli_p50 "$cli_p50" --arg cli_p99 "$cli_p99" --arg cli_max "$cli_max" \
    --arg sim_state "$sim_state" --slurpfile sim "$(json_file sim)" --arg stored "$stored" '
  def n: tonumber;
  ($ingest[0]) as $ingest | ($footprint[0]) as $footprint | ($sim[0]) as $sim |
  {machine: {started: $started, cpus: ($cpus|n), cpu_model: $model, mem_kib: ($mem_kb|n), kernel: $kernel},
   ingest: {state: $ingest_state, result: $ingest},
   agent_footprint: {state: $footprint_state, result: $footprint},
   offline_store: (if $footprint then $footprint.store else null end),
   command_round_trip: {
     params: {commands: ($cmds|n), command: "ping", devices: ($cmd_devices|n), sequential: true,
              device: "iot-sim (full agent: signature verify, replay check, answer)",
              path: "POST /v1/devices/{id}/commands, then GET /v1/commands/{cid}?wait=15"},
     succeeded: ($ok_cmds|n),
     cloud_ms: {p50: ($srv_p50|n), p99: ($srv_p99|n), max: ($srv_max|n),
                what: "created_ms to the final state, as the cloud records them"},
     client_ms: {p50: ($cli_p50|n), p99: ($cli_p99|n), max: ($cli_max|n),
                 what: "POST to final state, timed by the client (iot-cmd-rtt, one kept-alive connection)"}},
   simulator: {state: $sim_state,
     params: (if $sim then $sim.params else null end),
     rss_per_device_kib: (if $sim then $sim.rss_per_device_kb else null end),
     rss_per_device_above_baseline_kib: (if $sim then $sim.rss_per_device_above_baseline_kb else null end),
     rss_kib: (if $sim then $sim.rss_kb else null end),
     cpu_percent_of_one_core: (if $sim then $sim.cpu_percent else null end),
     all_online_ms: (if $sim then $sim.all_online_ms else null end),
     samples: (if $sim then $sim.samples else null end),
     receipted: (if $sim then $sim.receipted else null end),
     stored_in_cloud: ($stored|n)}}' >"$OUT"

row() { printf '%-30s %-44s %s\n' "$1" "$2" "$3"; }
j() { jq -r "$1" "$OUT"; }
echo
row FIGURE VALUE PARAMETERS
if [ "$ingest_state" = ok ]; then
    row "ingest throughput" \
        "$(j '[.ingest.result | paths(numbers) as $p | select($p[-1] | tostring | test("per_s|ceiling|ratio|percent")) | "\($p | map(tostring) | join(".")): \(getpath($p))"] | .[0:4] | join(", ")')" \
        "tools/bench/ingest_bench.sh (all figures in the JSON)"
else
    row "ingest throughput" "$ingest_state" "tools/bench/ingest_bench.sh"
fi
row "command round trip (cloud)" "p50 $srv_p50 ms, p99 $srv_p99 ms, max $srv_max ms" \
    "$CMDS pings, sequential, $CMD_DEVICES iot-sim devices, $ok_cmds succeeded"
row "command round trip (client)" "p50 $cli_p50 ms, p99 $cli_p99 ms, max $cli_max ms" \
    "POST + long-poll to the result, one HTTP connection"
if [ "$footprint_state" = ok ]; then
    row "agent binary / stripped" "$(j '"\(.agent_footprint.result.agent.binary_bytes) / \(.agent_footprint.result.agent.stripped_bytes) bytes"')" \
        "iot-agent, release build"
    row "agent peak RSS" "$(j '"\(.agent_footprint.result.agent.peak_rss_kib) KiB (min publisher \(.agent_footprint.result.min_publisher.peak_rss_kib) KiB)"')" \
        "$(j '"draining \(.agent_footprint.result.config.backlog_samples) samples, batch \(.agent_footprint.result.config.batch_max)"')"
    row "agent instructions / sample" "$(j '.agent_footprint.result.agent.instructions_per_sample')" "callgrind, marginal (0 = skipped)"
    row "offline store write" "$(j '"\(.offline_store.write_sps_fsync_never) /s no fsync, \(.offline_store.write_sps_fsync_interval) /s fsync 1 s, \(.offline_store.write_sps_fsync_always) /s fsync each"')" \
        "$(j '"\(.offline_store.samples) samples of \(.offline_store.sample_bytes_avg) B"')"
    row "offline store replay" "$(j '"\(.offline_store.replay_sps) samples/s, reopen \(.offline_store.reopen_ms) ms"')" \
        "$(j '"\(.offline_store.samples) samples"')"
    row "agent drain to the cloud" "$(j '"\(.agent_footprint.result.drain.samples_per_s) samples/s end to end"')" \
        "$(j '"\(.agent_footprint.result.drain.samples) samples, receipted"')"
else
    row "agent footprint, store" "$footprint_state" "tools/bench/agent_footprint.sh"
fi
if [ "$sim_state" = ok ]; then
    row "simulator memory" "$(j '"\(.simulator.rss_per_device_kib | floor) KiB RSS/device (\(.simulator.rss_kib / 1024 | floor) MiB total)"')" \
        "$SIM_DEVICES devices, 1 sample/s each, disk store, ${SIM_S} s"
    row "simulator CPU" "$(j '"\(.simulator.cpu_percent_of_one_core | floor)% of one core; all online in \(.simulator.all_online_ms) ms"')" \
        "$(j '"\(.simulator.samples) samples, \(.simulator.receipted) receipted, \(.simulator.stored_in_cloud) stored"')"
else
    row "simulator" "$sim_state" "see $W/sim.err"
fi
echo
echo "JSON: $OUT"
if [ "$ingest_state$footprint_state$sim_state" != okokok ]; then
    IOT_KEEP=1
    echo "logs kept in $W"
fi
