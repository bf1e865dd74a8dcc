# SPDX-License-Identifier: Apache-2.0
# Helpers of the durable-ingestion tests (issue 5), sourced after tests/support/lib.sh: many agents
# with fast re-sends, iot-cloud instances by name, and the exactly-once check on SQLite or
# PostgreSQL. The storage under test is $STORE: a SQLite path or a postgresql:// URI.

# ingest_agents PKI PORT N SAMPLES INTERVAL_MS: start agents dev-01..dev-N (certificates made
# here), each sending SAMPLES samples and exiting 0 once all are receipted. PIDs in AGENT_PIDS.
ingest_agents() {
    local pki=$1 port=$2 n=$3 samples=$4 interval=$5 i id ids=()
    for i in $(seq -f %02g 1 "$n"); do ids+=("dev-$i"); done
    "$IOT_PKI_BIN" device "$pki" "${ids[@]}" >/dev/null
    AGENT_PIDS=()
    for id in "${ids[@]}"; do
        {
            iot_agent_conf "$pki" "$port" "$id" "$IOT_WORK/state-$id" "$interval" "$samples"
            printf '[telemetry]\ndrain_timeout_ms = 120000\nbatch_max = 10\n'
            printf '[sensors]\nlinux = false\n[store]\nresend_after_ms = 1500\n'
            printf 'stats_interval_ms = 1000\n[log]\nlevel = warn\n'
        } >"$IOT_WORK/agent-$id.conf"
        iot_bg "$IOT_WORK/agent-$id.log" "$IOT_AGENT_BIN" -c "$IOT_WORK/agent-$id.conf"
        AGENT_PIDS+=("$IOT_LAST_PID")
    done
}

# ingest_agents_wait SECONDS: every agent exits 0 (its store emptied by receipts) in time.
ingest_agents_wait() {
    local pid rc deadline=$((SECONDS + $1))
    for pid in "${AGENT_PIDS[@]}"; do
        rc=0
        iot_stop "$pid" 0 $((deadline > SECONDS ? deadline - SECONDS : 1)) || rc=$?
        [ "$rc" -eq 0 ] || iot_fail "agent pid $pid exit status $rc (want 0: every sample receipted)"
    done
}

# ingest_sql QUERY: one value (or rows) from $STORE.
ingest_sql() {
    case $STORE in
    postgres*) iot_pg_sql "$STORE" "$1" ;;
    *) iot_sql "$STORE" "$1" ;;
    esac
}

# ingest_cloud_start NAME HTTP_PORT [EXTRA_CONF]: iot-cloud instance NAME on $STORE (its client id
# derives from NAME, so a restart resumes its session); PID in CLOUD_PID_<NAME>.
ingest_cloud_start() {
    local name=$1 http=$2
    {
        iot_cloud_conf "$PKI" "$PORT" "$STORE" "$http" "$name"
        printf '%s\n' "${3:-}"
    } >"$IOT_WORK/cloud-$name.conf"
    iot_bg "$IOT_WORK/cloud-$name.log" "$IOT_CLOUD_BIN" -c "$IOT_WORK/cloud-$name.conf"
    printf -v "CLOUD_PID_${name//-/_}" '%s' "$IOT_LAST_PID"
    # generous: an ASan build on 2 loaded cores; returns as soon as it is ready
    iot_wait_for 60 curl -fsS "http://127.0.0.1:$http/readyz" || iot_fail "iot-cloud $name not ready"
    iot_is_child "$IOT_LAST_PID" || iot_fail "iot-cloud $name exited (port $http taken?)"
}

# ingest_check_exactly_once N SAMPLES: each of dev-01..dev-N has seqs 1..SAMPLES stored once.
ingest_check_exactly_once() {
    local n=$1 samples=$2 got want
    got=$(ingest_sql "SELECT count(*), count(DISTINCT device_id || ':' || seq), min(seq), max(seq)
                      FROM samples WHERE device_id LIKE 'dev-%'")
    want="$((n * samples))|$((n * samples))|1|$samples"
    [ "$got" = "$want" ] || {
        ingest_sql "SELECT device_id, count(*), count(DISTINCT seq), min(seq), max(seq) FROM samples
                    GROUP BY device_id ORDER BY device_id" >&2
        iot_fail "samples: got $got, want $want (count|distinct|min|max)"
    }
    got=$(ingest_sql "SELECT count(*) FROM (SELECT device_id FROM samples GROUP BY device_id
                      HAVING count(*) = $samples AND max(seq) = $samples) AS t")
    [ "$got" = "$n" ] || iot_fail "only $got of $n devices have all $samples samples"
}
