#!/usr/bin/env bash
# shellcheck disable=SC2034 # FAULT_BROKER_CONF_HOOK, BASE: read by fault_lib.sh / api_lib.sh
# SPDX-License-Identifier: Apache-2.0
# The agent's store on a small, full filesystem: a 1 MiB tmpfs (root only: fails, never skips,
# without it) under a store allowed 4 MiB, with the broker down. The filesystem fills before the
# store's own bound: the agent keeps running and sampling, drops the OLDEST samples (never the
# newest), counts them and reports them; when space returns (the tmpfs grown to 8 MiB) it stops
# dropping. With the broker and cloud up, every kept sample is stored once, and the cloud's
# dropped_ranges hold exactly the seqs the agent counted as dropped.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/fault_lib.sh"
fault_init fault-disk-full
fault_require_root "the disk-full test (mount -t tmpfs)"

N=9000
MQTT_PORT=$(iot_free_port)
HTTP=$(iot_free_port)
PKI=$IOT_WORK/pki
DB=$IOT_WORK/cloud.db
BASE=http://127.0.0.1:$HTTP
iot_pki_init "$PKI" "$MQTT_PORT"
"$IOT_PKI_BIN" device "$PKI" dev-1 >/dev/null
store=$IOT_WORK/state-dev-1/store
mkdir -p "$store"
mount -t tmpfs -o size=1m tmpfs "$store" || iot_fail "mount -t tmpfs failed"
FAULT_MOUNTS+=("$store")

fault_agent dev-1 "$N" 2 $'[store]\nmax_bytes = 4M\nfsync = never'
agent=$AGENT_PID
iot_wait_for 40 'grep -q "dropped the oldest" "$IOT_WORK/dev-1.log"' ||
    iot_fail "the full filesystem made the agent drop nothing (df: $(df -k "$store" | tail -n 1))"
kill -0 "$agent" || iot_fail "the agent died on a full filesystem"
iot_log "filesystem full: $(df -k "$store" | awk 'NR == 2 { print $3 " KiB used of " $2 }'); the agent dropped the oldest"
mount -o remount,size=8m "$store" || iot_fail "cannot grow the tmpfs"
sleep 1.2 # one stats line after the remount
dropped_at_remount=$(grep -o 'dropped [0-9]*,' "$IOT_WORK/dev-1.log" | tail -n 1 | tr -dc 0-9)
iot_log "space returned (8 MiB) with $dropped_at_remount dropped"
iot_wait_for 60 'grep -q "$N samples taken" "$IOT_WORK/dev-1.log"' || iot_fail "the agent did not take $N samples"
sleep 1.2
dropped=$(grep -o 'dropped [0-9]*,' "$IOT_WORK/dev-1.log" | tail -n 1 | tr -dc 0-9)
[ "${dropped:-0}" -gt 0 ] || iot_fail "no drops counted"
[ "$dropped" = "$dropped_at_remount" ] ||
    iot_fail "the agent kept dropping after space returned ($dropped_at_remount -> $dropped)"
if grep -q 'lost: ' "$IOT_WORK/dev-1.log"; then
    iot_fail "the newest samples were lost instead of the oldest: $(grep -m 3 'lost: ' "$IOT_WORK/dev-1.log")"
fi

iot_broker_start "$PKI"
iot_cloud_conf "$PKI" "$MQTT_PORT" "$DB" "$HTTP" >"$IOT_WORK/cloud.conf"
api_cloud_start
fault_wait_agents 120 "$agent"
got=$(iot_sql "$DB" "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM samples WHERE device_id='dev-1'")
IFS='|' read -r n distinct lo hi <<<"$got"
[ "$n" = "$distinct" ] || iot_fail "duplicates stored: $got"
[ "$hi" = "$N" ] || iot_fail "the newest sample ($N) did not arrive: max seq $hi"
[ "$((hi - lo + 1))" = "$n" ] || iot_fail "a gap among the kept samples: $got"
[ "$((n + dropped))" = "$N" ] || iot_fail "stored $n + dropped $dropped != taken $N"
d=$(iot_sql "$DB" "SELECT min(first), max(last), sum(last - first + 1) FROM dropped_ranges WHERE device_id='dev-1'")
[ "$d" = "1|$((lo - 1))|$dropped" ] || iot_fail "dropped ranges: got $d, want 1|$((lo - 1))|$dropped"
iot_log "ok: the newest $n of $N stored once; the oldest $dropped dropped, counted and reported"
echo "PASS fault_disk_full: 1 MiB filesystem filled, $dropped oldest dropped, recovered at 8 MiB"
