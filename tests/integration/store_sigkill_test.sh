#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Offline store, SIGKILL: with the broker down, the agent samples fast until its disk store holds
# 10,000 samples and is killed with SIGKILL. Restarted with the broker and iot-cloud up, it sends
# them all: the cloud ends with seqs 1..K of the first run (K >= 10,000) and the second run's own,
# each once; the restart skipped reserved seqs but reused none, and reported the skipped ones
# (K+1..next-1) as dropped, so the cloud's gap report shows no missing seq.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
iot_test_init store-sigkill

M=200
port=$(iot_free_port)
http=$(iot_free_port)
pki=$IOT_WORK/pki
db=$IOT_WORK/cloud.db
iot_pki_init "$pki" "$port"
"$IOT_PKI_BIN" device "$pki" dev-k >/dev/null

conf() {
    iot_agent_conf "$pki" "$port" dev-k "$IOT_WORK/state" "$1" "$2"
    printf '[telemetry]\ndrain_timeout_ms = 90000\nbatch_max = 100\n[sensors]\nlinux = false\n'
    printf '[store]\nstats_interval_ms = 250\n'
}
conf 1 0 >"$IOT_WORK/agent1.conf"
iot_bg "$IOT_WORK/agent1.log" "$IOT_AGENT_BIN" -c "$IOT_WORK/agent1.conf"
agent=$IOT_LAST_PID
waiting() { grep -o 'store: [0-9]* waiting' "$IOT_WORK/agent1.log" | tail -n 1 | awk '{print $2}'; }
iot_wait_for 60 '[ "$(waiting)" -ge 10000 ]' || iot_fail "store did not reach 10,000: $(waiting)"
iot_stop "$agent" KILL 5 || true
iot_log "agent killed with about $(waiting) samples queued"

iot_broker_start "$pki"
iot_cloud_conf "$pki" "$port" "$db" "$http" >"$IOT_WORK/cloud.conf"
iot_bg "$IOT_WORK/cloud.log" "$IOT_CLOUD_BIN" -c "$IOT_WORK/cloud.conf"
cloud=$IOT_LAST_PID
iot_wait_for 15 curl -fsS "http://127.0.0.1:$http/readyz" || iot_fail "iot-cloud not ready"

conf 20 "$M" >"$IOT_WORK/agent2.conf"
iot_bg "$IOT_WORK/agent2.log" "$IOT_AGENT_BIN" -c "$IOT_WORK/agent2.conf"
agent=$IOT_LAST_PID
rc=0
iot_stop "$agent" 0 150 || rc=$?
[ "$rc" -eq 0 ] || iot_fail "second run exit status $rc (want 0: all receipted)"
R=$(grep -o 'next seq [0-9]*' "$IOT_WORK/agent2.log" | head -n 1 | awk '{print $3}')
[ -n "$R" ] || iot_fail "no 'next seq' in the second run's log"
q() { iot_sql "$db" "SELECT $1 FROM samples WHERE device_id='dev-k' $2"; }
K=$(q "max(seq)" "AND seq < $R")
[ "${K:-0}" -ge 10000 ] || iot_fail "first run: only up to seq ${K:-none} stored"
got1=$(q "count(*), count(DISTINCT seq), min(seq)" "AND seq < $R")
[ "$got1" = "$K|$K|1" ] || iot_fail "first run: got $got1, want $K|$K|1 (count|distinct|min)"
got2=$(q "count(*), count(DISTINCT seq), min(seq), max(seq)" "AND seq >= $R")
[ "$got2" = "$M|$M|$R|$((R + M - 1))" ] || iot_fail "second run: got $got2, want $M|$M|$R|$((R + M - 1))"
dropped=$(iot_sql "$db" "SELECT group_concat(first || '-' || last) FROM dropped_ranges WHERE device_id='dev-k'")
if [ $((K + 1)) -lt "$R" ]; then
    [ "$dropped" = "$((K + 1))-$((R - 1))" ] ||
        iot_fail "dropped ranges '$dropped', want the unused reserved seqs $((K + 1))-$((R - 1))"
    grep -q "seqs $((K + 1))\.\.$((R - 1)) were reserved but never used" "$IOT_WORK/agent2.log" ||
        iot_fail "the restarted agent did not log the skipped seqs"
else
    [ -z "$dropped" ] || iot_fail "unexpected dropped ranges $dropped"
fi
iot_wait_for 30 '[ "$(iot_metric "$http" iot_cloud_seq_missing)" = 0 ]' ||
    iot_fail "the gap report counts $(iot_metric "$http" iot_cloud_seq_missing) missing seqs"
iot_log "ok: $K samples of the killed run and $M of the restart, each once; skipped seqs reported (${dropped:-none}), none missing"
iot_stop "$cloud" TERM 15 || true
echo "PASS store_sigkill"
