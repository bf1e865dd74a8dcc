#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Hostile MQTT payloads, both directions.
# Cloud side: every golden telemetry message of tests/fixtures/iot.v1/telemetry/ (named
# <verdict>__<what>.bin: truncated, random bytes, other message types, 1,001 samples, 300 metrics,
# 300 dropped ranges, NaN and infinities, times in 1990 and 2200, seq 0, epoch 0, bad names and
# units, ids not matching the topic; and accepted ones, including unknown fields of a newer schema)
# is published on devices/fx-dev/telemetry, good and bad interleaved, plus an oversize payload
# (300 KiB), one above the broker's packet limit, garbage on the status, responses and
# state/reported topics and presence of another device. Expect: each bad one dead-lettered with
# its reason and its payload kept, counted per reason in /metrics; each good one stored once (a
# bad neighbour loses nothing); iot-cloud alive throughout.
# Device side: garbage, truncated and other-epoch Receipts and garbage commands, published with the
# cloud's identity to a running agent: it keeps running, counts them, answers BAD_SIGNATURE, and
# delivers all its samples.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/fault_lib.sh"
fault_init badinput-mqtt
fx=$(cd "$(dirname "$0")/../fixtures/iot.v1" && pwd)
fault_stack 1
"$IOT_PKI_BIN" device "$PKI" fx-dev >/dev/null

pubf() { # CERTBASE TOPIC FILE [RETRIES]
    timeout 10 mosquitto_pub -V 5 -h 127.0.0.1 -p "$MQTT_PORT" $(iot_mqtt_tls "$PKI" "$1") \
        -q 1 -t "$2" -f "$3"
}
dev=$PKI/devices/fx-dev

# --- 1. golden telemetry fixtures, interleaved good and bad -------------------------------------
declare -A want_reason
bad=0
good_files=()
for f in "$fx"/telemetry/*.bin; do
    name=$(basename "$f" .bin)
    verdict=${name%%__*}
    pubf "$dev" devices/fx-dev/telemetry "$f" || iot_fail "publish of $name failed"
    if [ "$verdict" = ok ]; then
        good_files+=("$name")
    else
        want_reason[$verdict]=$(( ${want_reason[$verdict]:-0} + 1 ))
        bad=$((bad + 1))
    fi
done
# The accepted ones again: duplicates are absorbed, not stored twice.
pubf "$dev" devices/fx-dev/telemetry "$fx/telemetry/ok__basic.bin"
iot_log "published ${#good_files[@]} accepted and $bad rejected fixtures (+1 duplicate)"

# --- 2. oversize, beyond the broker's limit, other topics -----------------------------------------
head -c $((300 * 1024)) /dev/urandom >"$IOT_WORK/big.bin"
pubf "$dev" devices/fx-dev/telemetry "$IOT_WORK/big.bin" || iot_fail "300 KiB publish failed"
want_reason[oversize]=1
bad=$((bad + 1))
head -c $((1100 * 1024)) /dev/zero >"$IOT_WORK/huge.bin"
# Above the broker's max_packet_size (1 MiB, announced in CONNACK): it never reaches the cloud
# (the exact dead-letter count below proves it was neither stored nor dead-lettered).
pubf "$dev" devices/fx-dev/telemetry "$IOT_WORK/huge.bin" >"$IOT_WORK/huge.out" 2>&1 || true
"$IOT_PAYLOAD_BIN" garbage 97 >"$IOT_WORK/g.bin"
for t in status responses state/reported; do
    pubf "$dev" "devices/fx-dev/$t" "$IOT_WORK/g.bin" || iot_fail "publish on $t failed"
done
"$IOT_PAYLOAD_BIN" presence fx-other online 1 >"$IOT_WORK/p.bin"
pubf "$dev" devices/fx-dev/status "$IOT_WORK/p.bin"
cp "$fx/telemetry/ok__basic.bin" "$IOT_WORK/tele-on-status.bin"
pubf "$dev" devices/fx-dev/status "$IOT_WORK/tele-on-status.bin"
extra_bad=5

# --- 3. verdicts -----------------------------------------------------------------------------------
total_bad=$((bad + extra_bad))
iot_wait_for 15 '[ "$(iot_sql "$DB" "SELECT count(*) FROM dead_letters")" -ge '"$total_bad"' ]' ||
    iot_fail "dead letters: $(iot_sql "$DB" "SELECT count(*) FROM dead_letters"), want $total_bad"
for reason in "${!want_reason[@]}"; do
    got=$(iot_sql "$DB" "SELECT count(*) FROM dead_letters WHERE reason='$reason' AND topic='devices/fx-dev/telemetry'")
    [ "$got" = "${want_reason[$reason]}" ] ||
        iot_fail "reason $reason: $got dead letters, want ${want_reason[$reason]} ($(iot_sql "$DB" "SELECT reason, detail FROM dead_letters WHERE reason='$reason'"))"
    m=$(curl -fsS "$BASE/metrics" | awk -v r="iot_cloud_dead_letters_by_reason_total{reason=\"$reason\"}" '$1 == r { print $2 }')
    [ "${m:-0}" -ge "${want_reason[$reason]}" ] || iot_fail "metric for $reason is ${m:-none}"
done
empty=$(iot_sql "$DB" "SELECT count(*) FROM dead_letters WHERE detail IS NULL OR detail = ''")
[ "$empty" = 0 ] || iot_fail "$empty dead letters without a detail"
kept=$(iot_sql "$DB" "SELECT count(*) FROM dead_letters WHERE reason <> 'oversize' AND payload IS NOT NULL AND length(payload) > 0")
iot_log "dead letters by reason: $(iot_sql "$DB" "SELECT group_concat(reason || '=' || n, ' ') FROM (SELECT reason, count(*) n FROM dead_letters GROUP BY reason)")"
iot_log "payload kept in $kept of $((total_bad - 1)) (oversize excluded)"
[ "$kept" -ge $((total_bad - 2)) ] || iot_fail "dead letters keep no payload"
for r in id_mismatch decode_failed; do
    n=$(iot_sql "$DB" "SELECT count(*) FROM dead_letters WHERE topic <> 'devices/fx-dev/telemetry' AND reason='$r'")
    [ "$n" -ge 1 ] || iot_fail "nothing on the other topics was dead-lettered as $r"
done
# Accepted: seqs 1-3, 4-6 (unknown fields), 7, 101-1100: 1,007 samples, each once.
got=$(iot_sql "$DB" "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM samples WHERE device_id='fx-dev'")
[ "$got" = "1007|1007|1|1100" ] || iot_fail "fx-dev samples: $got, want 1007|1007|1|1100"
unk=$(iot_sql "$DB" "SELECT count(*) FROM samples WHERE device_id='fx-dev' AND seq BETWEEN 4 AND 6")
[ "$unk" = 3 ] || iot_fail "the batch with unknown fields was not accepted"
dead_total=$(iot_metric "$HTTP" iot_cloud_dead_letters_total)
[ "$dead_total" = "$total_bad" ] || iot_fail "iot_cloud_dead_letters_total $dead_total, want $total_bad"
kill -0 "$CLOUD_PID" || iot_fail "iot-cloud died"
iot_log "ok: $total_bad bad payloads dead-lettered with reason, detail and counter; 1007 good samples stored once"

# --- 4. the device side ------------------------------------------------------------------------------
N=600
fault_agent dev-1 "$N" 10
agent=$AGENT_PID
iot_wait_for 20 '[ "$(fault_count dev-1)" -ge 50 ]' || iot_fail "dev-1 sends nothing"
epoch=$(printf '%d' "0x$(grep -o 'epoch [0-9a-f]*' "$IOT_WORK/dev-1.log" | head -n 1 | awk '{print $2}')")
cloudid=$PKI/cloud
"$IOT_PAYLOAD_BIN" receipt dev-1 "$epoch" 1 3 >"$IOT_WORK/rc.bin"
head -c 7 "$IOT_WORK/rc.bin" >"$IOT_WORK/rc-trunc.bin"
"$IOT_PAYLOAD_BIN" receipt dev-1 12345 1 1000000 >"$IOT_WORK/rc-other-epoch.bin"
"$IOT_PAYLOAD_BIN" receipt dev-1 "$epoch" 500 100 >"$IOT_WORK/rc-inverted.bin"
for f in g.bin rc-trunc.bin rc-other-epoch.bin rc-inverted.bin big.bin; do
    pubf "$cloudid" devices/dev-1/receipts "$IOT_WORK/$f" || iot_fail "cloud publish of $f failed"
done
for f in g.bin rc.bin big.bin; do
    pubf "$cloudid" devices/dev-1/commands "$IOT_WORK/$f" || iot_fail "cloud publish of command $f failed"
done
sleep 1
kill -0 "$agent" || iot_fail "the agent died on hostile receipts or commands"
fault_wait_agents 90 "$agent"
fault_check_once dev-1 "$N"
rejected=$(grep -c 'signature does not verify\|not a SignedCommand\|too large' "$IOT_WORK/dev-1.log" || true)
[ "$rejected" -ge 3 ] || iot_fail "the agent did not reject the 3 garbage commands ($rejected logged)"
grep -qiE 'receipt.*(malformed|ignored|bad)|malformed receipt|ignored' "$IOT_WORK/dev-1.log" ||
    iot_fail "the agent did not report the bad receipts"
iot_log "ok: the agent survived hostile receipts and commands ($rejected rejected) and delivered all $N samples"
echo "PASS badinput_mqtt: $total_bad bad payloads to the cloud, 8 to the agent, nothing good lost"
