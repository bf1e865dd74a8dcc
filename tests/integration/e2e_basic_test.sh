#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end: one agent sends 250 samples over mutual TLS -> Mosquitto -> iot-cloud -> SQLite; the
# database ends with exactly those samples, none twice. Presence: online while running, offline
# (clean shutdown) on SIGTERM, offline (lost connection, the broker's LWT) on kill -9.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
iot_test_init e2e-basic

N=250
port=$(iot_free_port)
http=$(iot_free_port)
pki=$IOT_WORK/pki
db=$IOT_WORK/cloud.db
iot_pki_init "$pki" "$port"
"$IOT_PKI_BIN" device "$pki" dev-1 dev-2 >/dev/null
iot_broker_start "$pki"

iot_cloud_conf "$pki" "$port" "$db" "$http" >"$IOT_WORK/cloud.conf"
iot_bg "$IOT_WORK/cloud.log" "$IOT_CLOUD_BIN" -c "$IOT_WORK/cloud.conf"
cloud=$IOT_LAST_PID
iot_wait_for 15 curl -fsS "http://127.0.0.1:$http/readyz" || iot_fail "iot-cloud not ready"

# 1. 250 samples at 10 ms; the agent exits by itself once all are acknowledged.
iot_agent_conf "$pki" "$port" dev-1 "$IOT_WORK/state1" 10 "$N" >"$IOT_WORK/agent1.conf"
iot_bg "$IOT_WORK/agent1.log" "$IOT_AGENT_BIN" -c "$IOT_WORK/agent1.conf"
agent=$IOT_LAST_PID
dev() { iot_sql "$db" "SELECT $2 FROM devices WHERE device_id='$1'"; }
iot_wait_for 20 '[ "$(dev dev-1 online)" = 1 ]' ||
    iot_fail "dev-1 never seen online"
rc=0
iot_stop "$agent" 0 60 || rc=$?   # signal 0: just wait for it to finish on its own
[ "$rc" -eq 0 ] || iot_fail "agent exited with $rc"

count() { iot_sql "$db" "SELECT count(*) FROM samples WHERE device_id='dev-1'"; }
iot_wait_for 20 '[ "$(count)" -ge "$N" ]' || iot_fail "only $(count) of $N samples stored"
sleep 0.5
got=$(iot_sql "$db" "SELECT count(*), count(DISTINCT seq), min(seq), max(seq), count(DISTINCT epoch) FROM samples WHERE device_id='dev-1'")
want="$N|$N|$(iot_sql "$db" "SELECT min(seq) FROM samples WHERE device_id='dev-1'")|$(( $(iot_sql "$db" "SELECT min(seq) FROM samples WHERE device_id='dev-1'") + N - 1 ))|1"
[ "$got" = "$want" ] || iot_fail "samples: got $got, want $want (count|distinct|min|max|epochs)"
metrics=$(iot_sql "$db" "SELECT count(DISTINCT name) FROM metrics WHERE device_id='dev-1'")
[ "$metrics" -ge 5 ] || iot_fail "expected at least the 5 simulated metrics, got $metrics"
stored=$(iot_metric "$http" iot_cloud_samples_stored_total)
[ "$stored" -ge "$N" ] || iot_fail "metric iot_cloud_samples_stored_total=$stored < $N"
receipts=$(iot_metric "$http" iot_cloud_receipts_sent_total)
[ "${receipts:-0}" -ge 1 ] || iot_fail "no Receipt published after the commits"
iot_wait_for 10 '[ "$(dev dev-1 "online||presence_reason")" = 0clean_shutdown ]' ||
    iot_fail "dev-1 not offline/clean_shutdown after its own exit: $(iot_sql "$db" "SELECT * FROM devices")"
iot_log "ok: $N samples stored once each; clean offline presence"

# 2. SIGTERM: online, then offline with reason clean shutdown.
iot_agent_conf "$pki" "$port" dev-2 "$IOT_WORK/state2" 100 0 >"$IOT_WORK/agent2.conf"
iot_bg "$IOT_WORK/agent2.log" "$IOT_AGENT_BIN" -c "$IOT_WORK/agent2.conf"
agent=$IOT_LAST_PID
online() { test "$(iot_sql "$db" "SELECT online FROM devices WHERE device_id='dev-2'")" = "$1"; }
iot_wait_for 20 online 1 || iot_fail "dev-2 never online"
c1=$(iot_sql "$db" "SELECT connection FROM devices WHERE device_id='dev-2'")
rc=0
iot_stop "$agent" TERM 10 || rc=$?
[ "$rc" -eq 0 ] || iot_fail "agent exit status after SIGTERM: $rc"
iot_wait_for 10 online 0 || iot_fail "dev-2 not offline after SIGTERM"
reason=$(iot_sql "$db" "SELECT presence_reason FROM devices WHERE device_id='dev-2'")
[ "$reason" = clean_shutdown ] || iot_fail "reason after SIGTERM: $reason"
iot_log "ok: SIGTERM -> offline (clean_shutdown)"

# 3. kill -9: the broker publishes the LWT, which carries the new connection counter.
iot_bg "$IOT_WORK/agent2.log" "$IOT_AGENT_BIN" -c "$IOT_WORK/agent2.conf"
agent=$IOT_LAST_PID
iot_wait_for 20 online 1 || iot_fail "dev-2 never online again"
c2=$(iot_sql "$db" "SELECT connection FROM devices WHERE device_id='dev-2'")
[ "$c2" -gt "$c1" ] || iot_fail "connection counter did not grow: $c1 -> $c2"
iot_stop "$agent" KILL 5 || true
iot_wait_for 15 online 0 || iot_fail "dev-2 not offline after kill -9 (LWT)"
reason=$(iot_sql "$db" "SELECT presence_reason||':'||connection FROM devices WHERE device_id='dev-2'")
[ "$reason" = "lost_connection:$c2" ] || iot_fail "after kill -9: $reason, want lost_connection:$c2"
iot_log "ok: kill -9 -> offline (lost_connection) by LWT with connection $c2"

dead=$(iot_sql "$db" "SELECT count(*) FROM dead_letters")
[ "$dead" = 0 ] || iot_fail "unexpected dead letters: $(iot_sql "$db" "SELECT reason, detail FROM dead_letters")"
rc=0
iot_stop "$cloud" TERM 15 || rc=$?
[ "$rc" -eq 0 ] || iot_fail "iot-cloud exit status after SIGTERM: $rc"
echo "PASS e2e_basic"
