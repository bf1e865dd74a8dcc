# SPDX-License-Identifier: Apache-2.0
# Shell helpers for the integration tests and the demo: free ports, a private Mosquitto with the
# PKI's TLS config and ACL, background processes tracked by PID, polling with deadlines.
# Source it; it needs IOT_BUILD (the CMake build directory). Every process started here is
# recorded and stopped by PID in iot_cleanup (installed as an EXIT trap by iot_test_init), and so is
# a PostgreSQL server from iot_pg_start.

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

# iot_is_child PID: PID is a live (or not yet reaped) child of this shell. A PID recorded in
# IOT_PIDS stays there after its process has exited; with kernel.pid_max at 32768 and several test
# suites forking curl/sqlite3/jq on 2 cores, the number is soon given to some other process (another
# test's broker or script, another engineer's compiler). Every signal sent by PID from here checks
# this first, so a stale number is never signalled. Reads /proc with builtins only (no fork).
iot_is_child() {
    local stat rest
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
    read -r stat <"/proc/$1/stat" 2>/dev/null || return 1
    rest=${stat##*) } # "S PPID ...": the command name before it may hold spaces and parentheses
    rest=${rest#* }
    rest=${rest%% *}
    [ "$rest" = "$$" ] || [ "$rest" = "$BASHPID" ]
}

# _iot_proc_stat PID: read /proc/PID/stat (builtins only); sets _IOT_STATE (R, S, Z...) and
# _IOT_START (start time, clock ticks after boot). Fails when there is no such process.
_iot_proc_stat() {
    local stat f
    [ -n "$1" ] && read -r stat <"/proc/$1/stat" 2>/dev/null || return 1
    read -r -a f <<<"${stat##*) }" # fields 3.. (the command name may hold spaces and parentheses)
    _IOT_STATE=${f[0]} _IOT_START=${f[19]}
}

# _iot_is_recorded PID START: PID is still the process of $IOT_PIDS_FILE that started at START and
# has not exited. A PID with the same number and another start time is someone else's process.
_iot_is_recorded() {
    _iot_proc_stat "$1" && [ "$_IOT_START" = "$2" ] && [ "$_IOT_STATE" != Z ]
}

# Processes that iot_bg started in a subshell ($(...), ( ), a pipeline): "PID START" lines. Their
# parent is (or was) the subshell, so iot_is_child cannot vouch for them and the subshell's IOT_PIDS
# is lost when it exits; iot_cleanup stops the ones still running by PID and start time.
_iot_sub_pids() {
    local pid start
    [ -n "${IOT_WORK:-}" ] && [ -f "$IOT_WORK/.iot-pids" ] || return 0
    while read -r pid start; do
        _iot_is_recorded "$pid" "$start" && echo "$pid $start"
    done <"$IOT_WORK/.iot-pids"
    return 0
}

# The EXIT trap (iot_test_init; fault_lib.sh's calls it last): stop every process iot_bg started
# (in this shell or in a subshell), then the PostgreSQL servers of iot_pg_start, then print the
# logs (on failure) or remove the work dir; returns the status the script exits with. It runs with
# errexit off: under the tests' `set -e` a failing step (a kill racing an exit, a server already
# stopped) would end the shell there and leave the remaining processes running, as the EXIT trap
# of iot_pg_start once did with its `(exit $rc)` after a failed test.
iot_cleanup() {
    local rc=$?
    local pid start sub errexit=${-//[^e]/}
    set +e
    trap '' INT TERM # a second signal must not cut the cleanup short (children left running)
    sub=$(_iot_sub_pids)
    for pid in "${IOT_PIDS[@]}"; do
        iot_is_child "$pid" && kill -TERM "$pid" 2>/dev/null
    done
    while read -r pid start; do
        [ -n "$pid" ] && _iot_is_recorded "$pid" "$start" && kill -TERM "$pid" 2>/dev/null
    done <<<"$sub"
    for pid in "${IOT_PIDS[@]}"; do
        for _ in $(seq 50); do iot_is_child "$pid" && kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        iot_is_child "$pid" && kill -KILL "$pid" 2>/dev/null
    done
    while read -r pid start; do
        [ -n "$pid" ] || continue
        for _ in $(seq 50); do _iot_is_recorded "$pid" "$start" || break; sleep 0.1; done
        _iot_is_recorded "$pid" "$start" && kill -KILL "$pid" 2>/dev/null
    done <<<"$sub"
    _iot_pg_stop_all
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
    [ -z "$errexit" ] || set -e
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
# In a subshell (whose IOT_PIDS is lost when it exits) the PID and start time also go to
# $IOT_WORK/.iot-pids, so iot_cleanup in the test's shell still stops the process.
iot_bg() {
    local log=$1
    shift
    "$@" >>"$log" 2>&1 &
    IOT_LAST_PID=$!
    IOT_PIDS+=("$IOT_LAST_PID")
    if [ "$BASHPID" != "$$" ] && [ -n "${IOT_WORK:-}" ] && _iot_proc_stat "$IOT_LAST_PID"; then
        echo "$IOT_LAST_PID $_IOT_START" >>"$IOT_WORK/.iot-pids"
    fi
}

# iot_stop PID [SIGNAL] [SECONDS]: signal a process we started and wait for it to exit.
# Returns the process's exit status when it was our child. A PID that is no longer our child
# (exited already, its number maybe reused) is not signalled: only its status is collected.
iot_stop() {
    local pid=$1 sig=${2:-TERM} t=${3:-15}
    if iot_is_child "$pid"; then
        kill -"$sig" "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + t))
        while iot_is_child "$pid" && kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt "$deadline" ]; do
            sleep 0.05
        done
        if iot_is_child "$pid" && kill -0 "$pid" 2>/dev/null; then
            iot_log "pid $pid did not exit after SIG$sig in ${t}s; killing"
            kill -KILL "$pid" 2>/dev/null || true
        fi
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
    iot_wait_port "$port" 30 || iot_fail "mosquitto did not accept on 127.0.0.1:$port"
    # Something accepts there: it must be our broker, not another process that took the port.
    iot_is_child "$IOT_LAST_PID" ||
        iot_fail "mosquitto exited at start (port $port taken?): $(tail -n 5 "${IOT_WORK:-$dir}/mosquitto.log")"
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

# ---- PostgreSQL (issue 5): a throwaway server for the storage tests ----
# Debian's server binaries (tools/install-deps.sh installs postgresql). The cluster lives in its own
# mktemp directory under /tmp (as root the server runs as the postgres user, which must reach it);
# DIR only records pg.root, pg.port, pg.url (base URI, no database) and pg.pid.
IOT_PG_BIN=${IOT_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
IOT_PG_DIRS=()

# iot_pg_available: true when initdb and pg_ctl are installed.
iot_pg_available() { [ -n "$IOT_PG_BIN" ] && [ -x "$IOT_PG_BIN/initdb" ] && [ -x "$IOT_PG_BIN/pg_ctl" ]; }

_iot_pg_as() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# iot_pg_start DIR: initdb (user iot, trust, loopback only) and start on a free 127.0.0.1 port, wait
# until it accepts; sets IOT_PG_URL (base URI). $IOT_PG_OPTS overrides the server options (default:
# no fsync, fine for tests; the benchmark passes "" for a durable server). Stopped by iot_pg_stop, or
# on exit of a script that called iot_test_init.
iot_pg_start() {
    local dir=$1 root port
    iot_pg_available || iot_fail "PostgreSQL server not installed (run tools/install-deps.sh)"
    mkdir -p "$dir"
    root=$(mktemp -d "${TMPDIR:-/tmp}/iot-pg.XXXXXX")
    echo "$root" >"$dir/pg.root"
    [ "$(id -u)" -ne 0 ] || chown postgres "$root"
    _iot_pg_as "$IOT_PG_BIN/initdb" -D "$root/data" -A trust -U iot -E UTF8 --locale=C \
        >"$root/initdb.log" 2>&1 || { cat "$root/initdb.log" >&2; iot_fail "initdb failed"; }
    port=$(iot_free_port)
    local opts="-p $port -k $root -c listen_addresses=127.0.0.1 -c max_connections=50"
    opts+=" ${IOT_PG_OPTS--c fsync=off -c synchronous_commit=off -c full_page_writes=off}"
    _iot_pg_as "$IOT_PG_BIN/pg_ctl" -D "$root/data" -l "$root/server.log" -w -t 30 -o "$opts" \
        start >/dev/null || { cat "$root/server.log" >&2; iot_fail "PostgreSQL did not start"; }
    head -n 1 "$root/data/postmaster.pid" >"$dir/pg.pid"
    echo "$port" >"$dir/pg.port"
    IOT_PG_URL="postgresql://iot@127.0.0.1:$port"
    echo "$IOT_PG_URL" >"$dir/pg.url"
    IOT_PG_DIRS+=("$dir") # iot_cleanup stops it
    iot_log "PostgreSQL pid $(cat "$dir/pg.pid") on 127.0.0.1:$port (data $root/data)"
}

# iot_pg_stop DIR: fast shutdown (by pg_ctl, then by PID), keep the server log as DIR/postgres.log
# (an iot_test_init work dir prints it on failure), remove the cluster.
iot_pg_stop() {
    local dir=$1 root pid
    root=$(cat "$dir/pg.root" 2>/dev/null) || return 0
    if [ -d "$root/data" ]; then
        _iot_pg_as "$IOT_PG_BIN/pg_ctl" -D "$root/data" -m fast -w -t 20 stop >/dev/null 2>&1 || {
            pid=$(cat "$dir/pg.pid" 2>/dev/null) && kill -KILL "$pid" 2>/dev/null || true
        }
    fi
    cp "$root/server.log" "$dir/postgres.log" 2>/dev/null || true
    case $root in */iot-pg.*) rm -rf "$root" ;; esac
    rm -f "$dir/pg.root" "$dir/pg.pid"
}

_iot_pg_stop_all() {
    local d
    for d in "${IOT_PG_DIRS[@]}"; do iot_pg_stop "$d"; done
    IOT_PG_DIRS=()
}

# iot_pg_url BASE DB: create database DB (if missing) on the server at BASE (a pg.url) and print its
# URI.
iot_pg_url() {
    psql "$1/postgres" -qAtX -v ON_ERROR_STOP=0 -c "CREATE DATABASE \"$2\"" >/dev/null 2>&1 || true
    psql "$1/$2" -qAtX -c "SELECT 1" >/dev/null || iot_fail "cannot use database $2 at $1"
    echo "$1/$2"
}

# iot_pg_sql URI QUERY: like iot_sql, for PostgreSQL (columns separated by '|').
iot_pg_sql() { psql "$1" -qAtX -c "$2"; }

# ---- The usual stack of the end-to-end, store, commands and desired tests ----
# iot_stack_broker DEVICE_ID: a free MQTT port in $port, a fresh PKI in $pki ($IOT_WORK/pki) with
# DEVICE_ID's certificate, and the broker started on that port.
iot_stack_broker() {
    port=$(iot_free_port)
    pki=$IOT_WORK/pki
    iot_pki_init "$pki" "$port"
    "$IOT_PKI_BIN" device "$pki" "$1" >/dev/null
    iot_broker_start "$pki"
}

# iot_stack_cloud_conf: after iot_stack_broker, a free HTTP port in $http, the SQLite database
# $db ($IOT_WORK/cloud.db) and the iot-cloud config for them in $IOT_WORK/cloud.conf.
iot_stack_cloud_conf() {
    http=$(iot_free_port)
    db=$IOT_WORK/cloud.db
    iot_cloud_conf "$pki" "$port" "$db" "$http" >"$IOT_WORK/cloud.conf"
}

# iot_stack_cloud_start: start iot-cloud with $IOT_WORK/cloud.conf (log $IOT_WORK/cloud.log), its
# PID in $cloud; fails the test unless /readyz answers on $http within 15 s.
iot_stack_cloud_start() {
    iot_bg "$IOT_WORK/cloud.log" "$IOT_CLOUD_BIN" -c "$IOT_WORK/cloud.conf"
    # shellcheck disable=SC2034 # for the calling test
    cloud=$IOT_LAST_PID
    iot_wait_for 15 curl -fsS "http://127.0.0.1:$http/readyz" || iot_fail "iot-cloud not ready"
}

# iot_stack_store_agent_conf ID INTERVAL_MS MAX_SAMPLES STORE_LINES: print an iot-agent config for
# the offline-store tests: iot_agent_conf for $pki and $port with state in $IOT_WORK/state, a 90 s
# drain timeout, no Linux sensors, and STORE_LINES (escapes as printf %b, e.g. 'a = 1\nb = 2\n')
# under [store].
iot_stack_store_agent_conf() {
    iot_agent_conf "$pki" "$port" "$1" "$IOT_WORK/state" "$2" "$3"
    printf '[telemetry]\ndrain_timeout_ms = 90000\n[sensors]\nlinux = false\n'
    printf '[store]\n%b' "$4"
}

# iot_stack_agent_start: start iot-agent with $IOT_WORK/agent.conf (log $IOT_WORK/agent.log,
# appended to on a restart), its PID in $agent.
iot_stack_agent_start() {
    iot_bg "$IOT_WORK/agent.log" "$IOT_AGENT_BIN" -c "$IOT_WORK/agent.conf"
    # shellcheck disable=SC2034 # for the calling test
    agent=$IOT_LAST_PID
}
