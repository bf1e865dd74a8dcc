# SPDX-License-Identifier: Apache-2.0
# Shell helpers for the integration tests and the demo: free ports, a private Mosquitto with the
# PKI's TLS config and ACL, background processes tracked by PID, polling with deadlines.
# Source it; it needs IOT_BUILD (the CMake build directory). Every process started here is
# recorded and stopped by PID in iot_cleanup (installed as an EXIT trap by iot_test_init).

: "${IOT_BUILD:?IOT_BUILD must point at the build directory}"
IOT_PKI_BIN=${IOT_PKI_BIN:-$IOT_BUILD/tools/pki/iot-pki}
IOT_CLOUD_BIN=${IOT_CLOUD_BIN:-$IOT_BUILD/cloud/iot-cloud}
IOT_AGENT_BIN=${IOT_AGENT_BIN:-$IOT_BUILD/device/iot-agent}
IOT_PAYLOAD_BIN=${IOT_PAYLOAD_BIN:-$IOT_BUILD/tests/support/iot-test-payload}
IOT_FREE_PORT_BIN=${IOT_FREE_PORT_BIN:-$IOT_BUILD/tests/support/iot-free-port}
IOT_PIDS=()

iot_log() { printf '[%s] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }
iot_fail() { iot_log "FAIL: $*"; exit 1; }

# iot_test_init NAME: a scratch directory in $IOT_WORK and cleanup on exit.
iot_test_init() {
    IOT_WORK=$(mktemp -d "${TMPDIR:-/tmp}/iot-$1.XXXXXX")
    export IOT_WORK
    trap iot_cleanup EXIT
    trap 'exit 130' INT TERM
    iot_log "work dir $IOT_WORK"
}

iot_cleanup() {
    local rc=$?
    local pid
    for pid in "${IOT_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${IOT_PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    done
    if [ "$rc" -ne 0 ] && [ -n "${IOT_WORK:-}" ]; then
        local f
        for f in "$IOT_WORK"/*.log; do
            [ -f "$f" ] || continue
            echo "----- tail of $f -----" >&2
            tail -n 40 "$f" >&2
        done
    fi
    if [ "$rc" -eq 0 ] && [ -n "${IOT_WORK:-}" ] && [ -z "${IOT_KEEP:-}" ]; then
        rm -rf "$IOT_WORK"
    fi
    return "$rc"
}

iot_free_port() { "$IOT_FREE_PORT_BIN"; }

# iot_wait_port PORT [SECONDS]: poll until something accepts on 127.0.0.1:PORT.
iot_wait_port() {
    local port=$1 deadline=$((SECONDS + ${2:-10}))
    while [ $SECONDS -lt "$deadline" ]; do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# iot_wait_for SECONDS CMD...: poll CMD (every 0.1 s) until it succeeds or the time is up.
# With one argument, it is a shell condition evaluated afresh each time, e.g.
#   iot_wait_for 10 '[ "$(count)" -ge 5 ]'    (single quotes: the $(...) must run on every poll)
iot_wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    while [ $SECONDS -lt "$deadline" ]; do
        if [ $# -eq 1 ]; then eval "$1" >/dev/null 2>&1 && return 0
        else "$@" >/dev/null 2>&1 && return 0; fi
        sleep 0.1
    done
    if [ $# -eq 1 ]; then eval "$1"; else "$@"; fi
}

# iot_bg LOGFILE CMD...: start CMD in the background, output to LOGFILE; prints nothing, sets IOT_LAST_PID.
iot_bg() {
    local log=$1
    shift
    "$@" >>"$log" 2>&1 &
    IOT_LAST_PID=$!
    IOT_PIDS+=("$IOT_LAST_PID")
}

# iot_stop PID [SIGNAL] [SECONDS]: signal a process we started and wait for it to exit.
# Returns the process's exit status when it was our child.
iot_stop() {
    local pid=$1 sig=${2:-TERM} t=${3:-15}
    kill -"$sig" "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + t))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt "$deadline" ]; do sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then
        iot_log "pid $pid did not exit after SIG$sig in ${t}s; killing"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null
}

# iot_pki_init DIR PORT: a fresh PKI and broker config for 127.0.0.1:PORT.
iot_pki_init() {
    "$IOT_PKI_BIN" init "$1" --port "$2" >/dev/null || iot_fail "iot-pki init $1"
}

# iot_broker_start DIR: start Mosquitto with DIR/mosquitto.conf (written by iot-pki), wait until
# its port accepts, record the PID in DIR/mosquitto.pid. Log: DIR/../mosquitto.log (appended).
iot_broker_start() {
    local dir=$1 port
    port=$(awk '$1 == "listener" { print $2; exit }' "$dir/mosquitto.conf")
    [ -n "$port" ] || iot_fail "no listener port in $dir/mosquitto.conf"
    iot_bg "${IOT_WORK:-$dir}/mosquitto.log" mosquitto -c "$dir/mosquitto.conf"
    echo "$IOT_LAST_PID" >"$dir/mosquitto.pid"
    iot_wait_port "$port" 10 || iot_fail "mosquitto did not accept on 127.0.0.1:$port"
    IOT_BROKER_PORT=$port
}

# iot_broker_stop DIR [SIGNAL]
iot_broker_stop() {
    local pid
    pid=$(cat "$1/mosquitto.pid" 2>/dev/null) || return 0
    iot_stop "$pid" "${2:-TERM}" 10 || true
    rm -f "$1/mosquitto.pid"
}

# iot_cloud_conf PKI_DIR PORT DB HTTP_PORT [INSTANCE]: print an iot-cloud config. The /v1 API token
# is $IOT_API_TOKEN (default test-token); commands are signed with the PKI's cmd-sign.key.
iot_cloud_conf() {
    cat <<CONF
[cloud]
storage = $3
instance = ${5:-it1}
[mqtt]
host = 127.0.0.1
port = $2
ca_file = $1/ca.crt
cert_file = $1/cloud.crt
key_file = $1/cloud.key
[http]
listen = 127.0.0.1
port = $4
token = ${IOT_API_TOKEN:-test-token}
[commands]
signing_key_file = $1/cmd-sign.key
[log]
level = info
CONF
}

# iot_agent_conf PKI_DIR PORT ID STATE_DIR INTERVAL_MS MAX_SAMPLES: print an iot-agent config.
iot_agent_conf() {
    cat <<CONF
[device]
id = $3
state_dir = $4
[mqtt]
host = 127.0.0.1
port = $2
ca_file = $1/ca.crt
cert_file = $1/devices/$3.crt
key_file = $1/devices/$3.key
reconnect_min_ms = 200
reconnect_max_ms = 2000
[telemetry]
interval_ms = $5
max_samples = $6
[sensors]
linux = true
simulated = temperature,humidity,motion,door,energy
[log]
level = info
CONF
}

# iot_sql DB QUERY: one value (or rows) from the cloud's SQLite database.
iot_sql() { sqlite3 -cmd '.timeout 5000' "$1" "$2"; }

# iot_metric HTTP_PORT NAME: the value of a Prometheus counter from iot-cloud's /metrics.
# awk reads to the end: exiting early makes curl fail writing (error 23) under pipefail.
iot_metric() {
    curl -fsS "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n && !found { print $2; found = 1 }'
}

# mosquitto client TLS args for identity FILEBASE (path without .crt/.key) against PKI DIR
iot_mqtt_tls() { printf -- '--cafile %s --cert %s.crt --key %s.key' "$1/ca.crt" "$2" "$2"; }
