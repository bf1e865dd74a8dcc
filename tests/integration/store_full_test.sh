#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Offline store, full: a 64 KiB store (four 16 KiB segments) and the broker down while the agent
# takes N samples. The oldest are dropped, a segment at a time; the count is right (stored +
# dropped = N), the newest arrive, and the cloud's dropped_ranges table holds 1..(N - stored).
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
iot_test_init store-full

N=3000
port=$(iot_free_port)
http=$(iot_free_port)
pki=$IOT_WORK/pki
db=$IOT_WORK/cloud.db
iot_pki_init "$pki" "$port"
"$IOT_PKI_BIN" device "$pki" dev-f >/dev/null
{
    iot_agent_conf "$pki" "$port" dev-f "$IOT_WORK/state" 2 "$N"
    printf '[telemetry]\ndrain_timeout_ms = 90000\n[sensors]\nlinux = false\n'
    printf '[store]\nmax_bytes = 64K\nstats_interval_ms = 250\n'
} >"$IOT_WORK/agent.conf"
iot_bg "$IOT_WORK/agent.log" "$IOT_AGENT_BIN" -c "$IOT_WORK/agent.conf"
agent=$IOT_LAST_PID
iot_wait_for 60 'grep -q "$N samples taken" "$IOT_WORK/agent.log"' || iot_fail "agent did not take $N samples"
grep -q "store full" "$IOT_WORK/agent.log" || iot_fail "no 'store full' warning"
sleep 1
dropped_log=$(grep -o 'dropped [0-9]*,' "$IOT_WORK/agent.log" | tail -n 1 | tr -dc 0-9)
iot_log "agent took $N samples offline; it dropped $dropped_log; starting broker and cloud"

iot_broker_start "$pki"
iot_cloud_conf "$pki" "$port" "$db" "$http" >"$IOT_WORK/cloud.conf"
iot_bg "$IOT_WORK/cloud.log" "$IOT_CLOUD_BIN" -c "$IOT_WORK/cloud.conf"
cloud=$IOT_LAST_PID
rc=0
iot_stop "$agent" 0 120 || rc=$?
[ "$rc" -eq 0 ] || iot_fail "agent exit status $rc (want 0: what was kept is receipted)"
sleep 0.5
got=$(iot_sql "$db" "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM samples WHERE device_id='dev-f'")
IFS='|' read -r n distinct lo hi <<<"$got"
[ "$n" = "$distinct" ] || iot_fail "duplicates stored: $got"
[ "$hi" = "$N" ] || iot_fail "the newest sample ($N) did not arrive: max seq $hi"
[ "$((hi - lo + 1))" = "$n" ] || iot_fail "a gap among the kept samples: $got"
[ "$n" -lt "$N" ] || iot_fail "nothing was dropped: $got"
d=$(iot_sql "$db" "SELECT min(first), max(last) FROM dropped_ranges WHERE device_id='dev-f'")
[ "$d" = "1|$((lo - 1))" ] || iot_fail "dropped ranges: got $d, want 1|$((lo - 1)) (rows: $(iot_sql "$db" "SELECT first, last FROM dropped_ranges"))"
[ "$((lo - 1))" = "$dropped_log" ] || iot_fail "agent counted $dropped_log dropped, the cloud misses $((lo - 1))"
iot_log "ok: $n newest of $N arrived; 1..$((lo - 1)) dropped, counted and reported"
iot_stop "$cloud" TERM 15 || true
echo "PASS store_full"
