#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Test of iot-fault-proxy against a private plain-TCP Mosquitto: delay (50 QoS 1 messages in order,
# round trip >= delay), bandwidth cap + byte-exact forwarding of a 200 KiB payload, partition
# (SIGUSR1) and heal (SIGUSR2), cuts (--cut-prob and the --control file + SIGHUP), 1,100 concurrent
# connections, clean exit on SIGTERM. Every wait is bounded; every process is stopped by PID.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
iot_test_init fault-proxy

PROXY_BIN=${IOT_FAULT_PROXY_BIN:-$IOT_BUILD/tests/support/iot-fault-proxy}
[ -x "$PROXY_BIN" ] || iot_fail "no $PROXY_BIN (build target iot-fault-proxy)"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --- a private plain-TCP broker -----------------------------------------------------------------
bport=$(iot_free_port)
{
    echo "listener $bport 127.0.0.1"
    echo "allow_anonymous true"
    echo "max_queued_messages 1000"
    [ "$(id -u)" -eq 0 ] && echo "user root"
} >"$IOT_WORK/mosquitto.conf"
iot_bg "$IOT_WORK/mosquitto.log" mosquitto -c "$IOT_WORK/mosquitto.conf"
iot_wait_port "$bport" 10 || iot_fail "mosquitto did not accept on $bport"

# proxy_start NAME ARGS...: start a proxy to the broker; sets PROXY_PID and PROXY_PORT.
# Its stderr goes to $IOT_WORK/NAME.log, its stdout ("port N") to $IOT_WORK/NAME.out.
proxy_start() {
    local name=$1
    shift
    "$PROXY_BIN" --listen 0 --target "127.0.0.1:$bport" "$@" \
        >"$IOT_WORK/$name.out" 2>"$IOT_WORK/$name.log" &
    PROXY_PID=$!
    IOT_PIDS+=("$PROXY_PID")
    PROXY_PORT=
    local _
    for _ in $(seq 100); do
        PROXY_PORT=$(awk '$1 == "port" { print $2; exit }' "$IOT_WORK/$name.out")
        [ -n "$PROXY_PORT" ] && break
        kill -0 "$PROXY_PID" 2>/dev/null || iot_fail "proxy $name exited at start"
        sleep 0.05
    done
    [ -n "$PROXY_PORT" ] || iot_fail "proxy $name printed no port"
}

# proxy_stop PID LOG: SIGTERM, expect exit 0 and the counters line.
proxy_stop() {
    local rc=0
    iot_stop "$1" TERM 10 || rc=$?
    [ "$rc" -eq 0 ] || iot_fail "proxy $1 exited with $rc"
    grep -q 'fault-proxy: exit: connections=' "$2" || iot_fail "no exit counters in $2"
}

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
count() { grep -c -- "$1" "$2" || true; }
# wait_log SECONDS FILE PATTERN [MIN]: until FILE has at least MIN (default 1) lines matching PATTERN.
wait_log() {
    local deadline=$((SECONDS + $1))
    while [ $SECONDS -lt "$deadline" ]; do
        [ "$(count "$3" "$2")" -ge "${4:-1}" ] && return 0
        sleep 0.05
    done
    return 1
}
pub() { timeout 30 mosquitto_pub -h 127.0.0.1 "$@"; }
sub() { timeout 40 mosquitto_sub -h 127.0.0.1 "$@"; }

# --- 1. delay 200 ms (jitter 50 ms): round trip >= delay; 50 QoS 1 messages, all, in order -------
DELAY=200
proxy_start delay --delay-ms "$DELAY" --jitter-ms 50 --seed 42
dpid=$PROXY_PID dport=$PROXY_PORT
t0=$(date +%s%N)
pub -p "$dport" -q 1 -t fp/rtt -m ping || iot_fail "publish through the delaying proxy failed"
rtt=$(ms_since "$t0")
[ "$rtt" -ge "$DELAY" ] || iot_fail "QoS 1 publish through a ${DELAY} ms proxy took only $rtt ms"
iot_log "ok: QoS 1 publish round trip $rtt ms through a ${DELAY}+-50 ms proxy"

# A persistent session (-c) queues the messages, so no race with the subscription.
sub -p "$dport" -i fp-order -c -q 1 -t fp/order -E || iot_fail "subscribe (session setup) failed"
seq 1 50 >"$IOT_WORK/want.txt"
pub -p "$dport" -q 1 -t fp/order -l <"$IOT_WORK/want.txt" || iot_fail "50 publishes failed"
sub -p "$dport" -i fp-order -c -q 1 -t fp/order -C 50 -W 30 >"$IOT_WORK/got.txt" ||
    iot_fail "did not receive 50 messages: $(wc -l <"$IOT_WORK/got.txt") arrived"
cmp -s "$IOT_WORK/want.txt" "$IOT_WORK/got.txt" ||
    iot_fail "messages lost or out of order: $(tr '\n' ' ' <"$IOT_WORK/got.txt")"
proxy_stop "$dpid" "$IOT_WORK/delay.log"
iot_log "ok: 50 QoS 1 messages arrived complete and in order through the delay"

# --- 2. bandwidth cap, bytes unchanged: 200 KiB random payload up and down at 200 kB/s ----------
RATE=200000
head -c 204800 /dev/urandom >"$IOT_WORK/blob.bin"
proxy_start rate --rate "$RATE" --delay-ms 5 --jitter-ms 5
rpid=$PROXY_PID rport=$PROXY_PORT
sub -p "$rport" -i fp-blob -c -q 1 -t fp/blob -E || iot_fail "subscribe (blob session) failed"
t0=$(date +%s%N)
pub -p "$rport" -q 1 -t fp/blob -f "$IOT_WORK/blob.bin" || iot_fail "200 KiB publish failed"
up_ms=$(ms_since "$t0")
t0=$(date +%s%N)
sub -p "$rport" -i fp-blob -c -q 1 -t fp/blob -C 1 -N -W 30 >"$IOT_WORK/blob.out" ||
    iot_fail "200 KiB payload not received"
down_ms=$(ms_since "$t0")
cmp "$IOT_WORK/blob.bin" "$IOT_WORK/blob.out" || iot_fail "payload changed in transit"
# 204800 B at 200000 B/s is ~1 s each way (minus a 10 kB burst allowance)
[ "$up_ms" -ge 800 ] || iot_fail "upload of 200 KiB at $RATE B/s took only $up_ms ms"
[ "$down_ms" -ge 800 ] || iot_fail "download of 200 KiB at $RATE B/s took only $down_ms ms"
proxy_stop "$rpid" "$IOT_WORK/rate.log"
iot_log "ok: 200 KiB unchanged through the proxy; rate cap: up $up_ms ms, down $down_ms ms"

# --- 3. partition (SIGUSR1) and heal (SIGUSR2) --------------------------------------------------
ctl=$IOT_WORK/faults.ctl
: >"$ctl"
proxy_start part --control "$ctl" --pidfile "$IOT_WORK/proxy.pid"
ppid_=$PROXY_PID pport=$PROXY_PORT plog=$IOT_WORK/part.log
[ "$(cat "$IOT_WORK/proxy.pid")" = "$ppid_" ] || iot_fail "pidfile does not hold the proxy's pid"
iot_bg "$IOT_WORK/live-sub.log" mosquitto_sub -h 127.0.0.1 -p "$pport" -i fp-live -q 1 -t fp/live
live=$IOT_LAST_PID
# wait until the subscriber is subscribed: probes published straight to the broker reach it
for i in $(seq 100); do
    pub -p "$bport" -t fp/live -m "probe-$i"
    grep -q '^probe-' "$IOT_WORK/live-sub.log" && break
    sleep 0.1
done
grep -q '^probe-' "$IOT_WORK/live-sub.log" || iot_fail "subscriber through the proxy never subscribed"
closed_before=$(count 'Client fp-live closed its connection\|Socket error on client fp-live' \
    "$IOT_WORK/mosquitto.log")
kill -USR1 "$ppid_"
wait_log 5 "$plog" 'close reason=partition' || iot_fail "SIGUSR1 dropped no connection"
wait_log 5 "$IOT_WORK/mosquitto.log" \
    'Client fp-live closed its connection\|Socket error on client fp-live' $((closed_before + 1)) ||
    iot_fail "the broker did not see the subscriber disconnected by the partition"
if pub -p "$pport" -q 1 -t fp/live -m during-partition 2>/dev/null; then
    iot_fail "publish through a partitioned proxy succeeded"
fi
grep -q 'refused .* (partition)' "$plog" || iot_fail "no refused connection logged"
iot_log "ok: partition dropped the subscriber and refused a publisher"
kill -USR2 "$ppid_"
wait_log 5 "$plog" 'partition healed' || iot_fail "SIGUSR2: no heal logged"
pub -p "$pport" -q 1 -t fp/heal -m healed || iot_fail "publish after heal failed"
# mosquitto_sub reconnects by itself (about 1 s); then messages flow again
for i in $(seq 100); do
    pub -p "$pport" -q 1 -t fp/live -m "after-heal-$i" || true
    grep -q '^after-heal-' "$IOT_WORK/live-sub.log" && break
    sleep 0.2
done
grep -q '^after-heal-' "$IOT_WORK/live-sub.log" || iot_fail "subscriber got nothing after heal"
grep -q during-partition "$IOT_WORK/live-sub.log" && iot_fail "a message crossed the partition"
iot_stop "$live" TERM 10 || true
iot_log "ok: heal: publish works and the subscriber receives again"

# partition through the control file + SIGHUP as well
echo "partition=1" >"$ctl"
kill -HUP "$ppid_"
wait_log 5 "$plog" 'control reloaded.*partition=1' || iot_fail "SIGHUP: control not reloaded"
if pub -p "$pport" -t fp/x -m x 2>/dev/null; then iot_fail "publish during control partition"; fi
echo "partition=0" >"$ctl"
kill -HUP "$ppid_"
wait_log 5 "$plog" 'control reloaded.*partition=0' || iot_fail "SIGHUP: partition=0 not applied"
pub -p "$pport" -t fp/x -m x || iot_fail "publish after control heal failed"
iot_log "ok: partition=1/0 through the control file"

# --- 4. cuts: cut_prob=1.0 via the control file, then via --cut-prob ----------------------------
printf '# every chunk cuts the connection\ncut_prob=1.0\n' >"$ctl"
kill -HUP "$ppid_"
wait_log 5 "$plog" 'control reloaded.*cut_prob=1 ' || iot_fail "SIGHUP: cut_prob not applied"
if pub -p "$pport" -q 1 -t fp/cut -m x 2>/dev/null; then iot_fail "publish survived cut_prob=1"; fi
grep -q 'fault: cut after' "$plog" || iot_fail "no cut logged"
echo "cut_prob=0" >"$ctl"
kill -HUP "$ppid_"
wait_log 5 "$plog" 'control reloaded.*cut_prob=0 ' || iot_fail "SIGHUP: cut_prob=0 not applied"
pub -p "$pport" -q 1 -t fp/cut -m x || iot_fail "publish failed after cut_prob=0"

proxy_start cut --cut-prob 1.0 --seed 7
cpid=$PROXY_PID
if pub -p "$PROXY_PORT" -q 1 -t fp/cut -m x 2>/dev/null; then iot_fail "publish survived --cut-prob 1.0"; fi
wait_log 5 "$IOT_WORK/cut.log" 'close reason=cut' || iot_fail "--cut-prob 1.0: no cut logged"
proxy_stop "$cpid" "$IOT_WORK/cut.log"
grep -q 'cuts=1 ' "$IOT_WORK/cut.log" || iot_fail "cut counter wrong: $(tail -n 1 "$IOT_WORK/cut.log")"
iot_log "ok: cut_prob=1 cuts the connection (control file and --cut-prob)"

# --- 5. 1,100 concurrent connections, each gets its MQTT CONNACK --------------------------------
N=1100
if [ "$(ulimit -n)" -lt $((N + 100)) ]; then
    iot_log "skip: fd limit $(ulimit -n) too low for $N connections"
else
    opened_before=$(count 'conn [0-9]* open' "$plog")
    fds=()
    for _ in $(seq "$N"); do
        exec {fd}<>"/dev/tcp/127.0.0.1/$pport" || iot_fail "connection ${#fds[@]} to the proxy failed"
        fds+=("$fd")
    done
    # MQTT 3.1.1 CONNECT, clean session, empty client id, keep-alive 60 s
    for fd in "${fds[@]}"; do printf '\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00' >&"$fd"; done
    wait_log 20 "$plog" 'conn [0-9]* open' $((opened_before + N)) ||
        iot_fail "proxy opened only $(( $(count 'conn [0-9]* open' "$plog") - opened_before )) of $N"
    for fd in "${fds[0]}" "${fds[$((N / 2))]}" "${fds[$((N - 1))]}"; do
        ack=$(timeout 10 head -c 4 <&"$fd" | od -An -tx1 | tr -d ' \n')
        [ "$ack" = 20020000 ] || iot_fail "connection on fd $fd got '$ack', not a CONNACK"
    done
    for fd in "${fds[@]}"; do exec {fd}>&-; done
    grep -q 'connect-failed\|connect-timeout\|accept:' "$plog" && iot_fail "proxy errors under load"
    pub -p "$pport" -q 1 -t fp/x -m after-load || iot_fail "publish after the load failed"
    iot_log "ok: $N concurrent connections through the proxy"
fi

proxy_stop "$ppid_" "$plog"
[ ! -e "$IOT_WORK/proxy.pid" ] || iot_fail "pidfile not removed at exit"
tail -n 1 "$plog" >&2
iot_log "PASS fault_proxy"
