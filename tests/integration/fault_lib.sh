# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034 # variables set here are read by the sourcing test
# Helpers of the fault, bad-input and security tests (issue 7), on top of tests/support/lib.sh and
# api_lib.sh: a stack of broker + iot-cloud + N agents, the end-to-end checks every fault test
# makes (each sample stored exactly once, each command one terminal state), and network
# namespaces with veth pairs (root only; addresses 10.200.N.0/30 inside namespaces we create).
. "$(dirname "${BASH_SOURCE[0]}")/api_lib.sh"

FAULT_NETNS=()   # namespaces to delete at exit
FAULT_LINKS=()   # root-side veth ends to delete at exit
FAULT_MOUNTS=()  # mount points to unmount at exit
FAULT_CIDS=()    # commands sent (fault_cmd_send)
declare -A FAULT_AGENT_PID # device id -> agent pid (fault_agent)

fault_cleanup() {
    local rc=$?
    local m n l pid
    # Processes first (they may sit in a namespace or on a mount), then the kernel objects.
    set +e # a cleanup step that fails must not skip the others
    # iot_is_child: a recorded PID whose process is gone may belong to someone else by now.
    for pid in "${IOT_PIDS[@]}"; do iot_is_child "$pid" && kill -KILL "$pid" 2>/dev/null; done
    for pid in "${IOT_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    for m in "${FAULT_MOUNTS[@]}"; do umount -l "$m" 2>/dev/null; done
    for n in "${FAULT_NETNS[@]}"; do ip netns del "$n" 2>/dev/null; done
    for l in "${FAULT_LINKS[@]}"; do ip link del "$l" 2>/dev/null; done
    (exit "$rc")
    iot_cleanup
}

# fault_init NAME: iot_test_init plus the cleanup of namespaces, links and mounts.
fault_init() {
    iot_test_init "$1"
    trap fault_cleanup EXIT
}

# fault_require_root WHAT: these tests need root (CI runs as root). Fail loudly, never skip.
fault_require_root() {
    [ "$(id -u)" -eq 0 ] || iot_fail "$1 needs root (network namespaces, mounts); CI runs as root"
}

# fault_stack NDEV [CLOUD_EXTRA]: PKI with dev-1..dev-NDEV, broker, iot-cloud with the API.
# Sets PKI, DB, HTTP, MQTT_PORT, CLOUD_PID, BASE (api_lib.sh).
fault_stack() {
    local n=$1 ids=() i
    for i in $(seq "$n"); do ids+=("dev-$i"); done
    MQTT_PORT=$(iot_free_port)
    HTTP=$(iot_free_port)
    PKI=$IOT_WORK/pki
    DB=$IOT_WORK/cloud.db
    BASE=http://127.0.0.1:$HTTP
    iot_pki_init "$PKI" "$MQTT_PORT"
    "$IOT_PKI_BIN" device "$PKI" "${ids[@]}" >/dev/null
    [ -n "${FAULT_BROKER_CONF_HOOK:-}" ] && "$FAULT_BROKER_CONF_HOOK" "$PKI/mosquitto.conf"
    iot_broker_start "$PKI"
    { iot_cloud_conf "$PKI" "$MQTT_PORT" "$DB" "$HTTP"; printf '%s\n' "${2:-}"; } >"$IOT_WORK/cloud.conf"
    api_cloud_start
}

# fault_agent ID N INTERVAL_MS [EXTRA_CONF [HOST [PORT [WRAPPER...]]]]: start an agent that takes N
# samples (simulated sensors only), accepts commands, re-sends unreceipted samples after 3 s and
# exits 0 once all are receipted. Sets AGENT_PID; log $IOT_WORK/ID.log.
fault_agent() {
    local id=$1 n=$2 ms=$3 extra=${4:-} host=${5:-127.0.0.1} port=${6:-$MQTT_PORT}
    shift 6 2>/dev/null || shift $#
    {
        iot_agent_conf "$PKI" "$port" "$id" "$IOT_WORK/state-$id" "$ms" "$n" |
            sed "s/^host = .*/host = $host/"
        printf '[telemetry]\ndrain_timeout_ms = 120000\n[sensors]\nlinux = false\n'
        printf '[store]\nresend_after_ms = 3000\nstats_interval_ms = 1000\n'
        printf '[commands]\nenabled = true\npublic_key_file = %s/cmd-sign.pub\n' "$PKI"
        printf '%s\n' "$extra"
    } >"$IOT_WORK/$id.conf"
    iot_bg "$IOT_WORK/$id.log" "$@" "$IOT_AGENT_BIN" -c "$IOT_WORK/$id.conf"
    AGENT_PID=$IOT_LAST_PID
    FAULT_AGENT_PID[$id]=$AGENT_PID
}

fault_count() { iot_sql "$DB" "SELECT count(*) FROM samples WHERE device_id='$1'"; }

# fault_wait_agents SECONDS PID...: each agent exits 0 (all its samples receipted) in time.
fault_wait_agents() {
    local t=$1 pid rc
    shift
    for pid in "$@"; do
        rc=0
        iot_stop "$pid" 0 "$t" || rc=$?
        [ "$rc" -eq 0 ] || iot_fail "agent $pid exit status $rc (want 0: every sample receipted)"
    done
}

# fault_check_once ID N: the cloud holds exactly N samples of ID, seqs first..first+N-1, each once,
# one epoch, and no range reported dropped. Prints "ID: N" for the report.
fault_check_once() {
    local id=$1 n=$2 got first want dropped
    got=$(iot_sql "$DB" "SELECT count(*), count(DISTINCT seq), min(seq), max(seq), count(DISTINCT epoch) FROM samples WHERE device_id='$id'")
    first=$(iot_sql "$DB" "SELECT min(seq) FROM samples WHERE device_id='$id'")
    want="$n|$n|$first|$((first + n - 1))|1"
    [ "$got" = "$want" ] || iot_fail "$id samples: got $got, want $want (count|distinct|min|max|epochs)"
    dropped=$(iot_sql "$DB" "SELECT count(*) FROM dropped_ranges WHERE device_id='$id'")
    [ "$dropped" = 0 ] || iot_fail "$id: dropped ranges $(iot_sql "$DB" "SELECT first, last FROM dropped_ranges WHERE device_id='$id'")"
    iot_log "ok: $id: $n samples stored, each exactly once"
}

# fault_cmd_send ID: POST a ping (timeout $FAULT_CMD_TIMEOUT s, default 40) and remember its id
# in FAULT_CIDS.
fault_cmd_send() {
    local pid=${FAULT_AGENT_PID[$1]:-}
    if [ -n "$pid" ] && ! iot_is_child "$pid"; then
        iot_log "no command for $1: its agent has finished"
        return 0
    fi
    api POST "/v1/devices/$1/commands" "{\"name\":\"ping\",\"timeout_s\":${FAULT_CMD_TIMEOUT:-40}}"
    [ "$API_STATUS" = 202 ] || iot_fail "POST command to $1: HTTP $API_STATUS $API_BODY"
    FAULT_CIDS+=("$(jq -r .id <<<"$API_BODY")")
}

# fault_agent_left_before ID MS: the agent of ID logged its exit before Unix time MS (ms).
fault_agent_left_before() {
    local line t
    line=$(grep -m 1 'iot-agent: exit' "$IOT_WORK/$1.log" 2>/dev/null) || return 1
    t=$(date -d "${line%% *}" +%s%3N 2>/dev/null) || return 1
    [ "$t" -lt "$2" ]
}

# fault_cmds_terminal SECONDS: every command in FAULT_CIDS reaches exactly one terminal state
# (long-poll), and "succeeded" for all of them unless FAULT_CMD_ANY_TERMINAL=1.
fault_cmds_terminal() {
    local deadline=$((SECONDS + $1)) cid st terms ok=0 other=
    for cid in "${FAULT_CIDS[@]}"; do
        while :; do
            api GET "/v1/commands/$cid?wait=5"
            st=$(jq -r .status <<<"$API_BODY")
            case $st in succeeded | failed | rejected | expired | cancelled) break ;; esac
            [ $SECONDS -lt "$deadline" ] || iot_fail "command $cid still $st: $API_BODY"
        done
        terms=$(jq -r '[.history[].state | select(. == "succeeded" or . == "failed" or . == "rejected" or . == "expired" or . == "cancelled")] | length' <<<"$API_BODY")
        [ "$terms" = 1 ] || iot_fail "command $cid: $terms terminal states: $API_BODY"
        if [ "$st" != succeeded ] && [ "${FAULT_CMD_ANY_TERMINAL:-0}" != 1 ]; then
            # Expired because its device finished its run (the agent exits once all its samples
            # are receipted) while the command was outstanding: not a loss.
            if [ "$st" = expired ] && fault_agent_left_before "$(jq -r .device_id <<<"$API_BODY")" \
                "$(jq -r .expires_ms <<<"$API_BODY")"; then
                other+=" $cid:expired-after-its-agent-finished"
                continue
            fi
            iot_fail "command $cid ended $st: $API_BODY"
        fi
        [ "$st" = succeeded ] && ok=$((ok + 1))
        [ "$st" = succeeded ] || other+=" $cid:$st:$(jq -c '.result.message // .result // ""' <<<"$API_BODY")"
    done
    iot_log "ok: ${#FAULT_CIDS[@]} commands reached one terminal state each ($ok succeeded)${other:+; others:$other}"
}

# fault_dead_letters_none: no dead letters (faults must not turn good data into bad).
fault_dead_letters_none() {
    local dl
    dl=$(iot_sql "$DB" "SELECT count(*) FROM dead_letters")
    [ "$dl" = 0 ] || iot_fail "dead letters: $(iot_sql "$DB" "SELECT reason, detail FROM dead_letters LIMIT 5")"
}

# ---------------------------------------------------------------- network namespaces

# fault_netns NAME N: namespace iot7-NAME-$$ joined to the root namespace by a veth pair:
# root side 10.200.N.1/30 (FAULT_HOST_IF), namespace side 10.200.N.2/30. Sets FAULT_NS.
fault_netns() {
    local name=$1 n=$2
    fault_require_root "network namespaces"
    FAULT_NS=iot7-$name-$$
    FAULT_HOST_IF=i7h$n-$$
    FAULT_HOST_IF=${FAULT_HOST_IF:0:15}
    local nsif=i7n$n stale
    # Leftovers of an earlier run of this test that was killed (ours by name; its pid is gone).
    for stale in $(ip netns list | awk -v p="iot7-$name-" 'index($1, p) == 1 { print $1 }'); do
        kill -0 "${stale##*-}" 2>/dev/null || ip netns del "$stale" 2>/dev/null || true
    done
    for stale in $(ip -o link show | awk -F': ' -v p="i7h$n-" 'index($2, p) == 1 { sub(/@.*/, "", $2); print $2 }'); do
        kill -0 "${stale##*-}" 2>/dev/null || ip link del "$stale" 2>/dev/null || true
    done
    ip netns add "$FAULT_NS" || iot_fail "ip netns add failed (needs root and netns support)"
    FAULT_NETNS+=("$FAULT_NS")
    ip link add "$FAULT_HOST_IF" type veth peer name "$nsif" netns "$FAULT_NS" ||
        iot_fail "cannot create a veth pair"
    FAULT_LINKS+=("$FAULT_HOST_IF")
    ip addr add "10.200.$n.1/30" dev "$FAULT_HOST_IF"
    ip link set "$FAULT_HOST_IF" up
    ip netns exec "$FAULT_NS" ip addr add "10.200.$n.2/30" dev "$nsif"
    ip netns exec "$FAULT_NS" ip link set "$nsif" up
    ip netns exec "$FAULT_NS" ip link set lo up
    local _
    for _ in $(seq 50); do
        # No ping here: a TCP probe to a closed port answers "refused" once the link is up.
        case $(ip netns exec "$FAULT_NS" timeout 1 bash -c "exec 3<>/dev/tcp/10.200.$n.1/1" 2>&1) in
        *refused*) return 0 ;;
        esac
        sleep 0.1
    done
    iot_fail "veth 10.200.$n.2 -> 10.200.$n.1 does not answer"
}

# fault_broker_cert_ip ADDR: a broker certificate (signed by the PKI's CA) for ADDR, so a device
# in a namespace can verify the broker by that address. Writes $PKI/broker-ADDR.{crt,key}.
fault_broker_cert_ip() {
    local a=$1
    openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/broker-$a.key" 2>/dev/null
    openssl req -new -key "$PKI/broker-$a.key" -subj "/CN=localhost/O=iot-stack" \
        -out "$IOT_WORK/broker-$a.csr" 2>/dev/null
    printf 'subjectAltName=IP:%s,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$a" \
        >"$IOT_WORK/broker-$a.ext"
    openssl x509 -req -in "$IOT_WORK/broker-$a.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
        -CAcreateserial -days 2 -sha256 -extfile "$IOT_WORK/broker-$a.ext" \
        -out "$PKI/broker-$a.crt" 2>/dev/null || iot_fail "openssl could not sign a broker cert for $a"
}

# fault_broker_listener CONF ADDR PORT: append a second mutual-TLS listener on ADDR:PORT.
fault_broker_listener() {
    cat >>"$1" <<CONF

listener $3 $2
cafile $PKI/ca.crt
certfile $PKI/broker-$2.crt
keyfile $PKI/broker-$2.key
require_certificate true
use_identity_as_username true
tls_version tlsv1.2
CONF
}
