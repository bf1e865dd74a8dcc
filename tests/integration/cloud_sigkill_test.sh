#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Durable ingestion: iot-cloud (SQLite, or $IOT_TEST_STORE) is killed with SIGKILL three times while 20 agents stream.
# Paho acknowledged to the broker what iot-cloud had not committed yet, so those samples are gone
# from the broker; no Receipt covers them, and the agents send them again. At the end every agent
# has emptied its store (exit 0) and every sample is stored exactly once, with no gap left.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
. "$(dirname "$0")/ingest_lib.sh"
iot_test_init cloud-sigkill

N=20 SAMPLES=400
PORT=$(iot_free_port)
http=$(iot_free_port)
PKI=$IOT_WORK/pki
STORE=${IOT_TEST_STORE:-$IOT_WORK/cloud.db} # pg_suite_test.sh: PostgreSQL
iot_pki_init "$PKI" "$PORT"
iot_broker_start "$PKI"
ingest_cloud_start k1 "$http"
ingest_agents "$PKI" "$PORT" "$N" "$SAMPLES" 20

count() { ingest_sql "SELECT count(*) FROM samples"; }
for kill in 1 2 3; do
    at=$(count)
    iot_wait_for 60 '[ "$(count)" -ge $((at + 800)) ]' || iot_fail "ingestion stalled at $(count)"
    iot_stop "$CLOUD_PID_k1" KILL 5 || true
    iot_log "SIGKILL $kill of iot-cloud at $(count) stored samples"
    sleep 0.5
    ingest_cloud_start k1 "$http"
done

ingest_agents_wait 150
iot_wait_for 20 '[ "$(count)" -ge $((N * SAMPLES)) ]' || iot_fail "only $(count) samples stored"
ingest_check_exactly_once "$N" "$SAMPLES"
dup=$(iot_metric "$http" iot_cloud_samples_duplicate_total)
iot_log "duplicates absorbed by the key since the last restart: ${dup:-0}"
iot_wait_for 15 '[ "$(iot_metric "$http" iot_cloud_seq_missing)" = 0 ]' ||
    iot_fail "gap metric: $(iot_metric "$http" iot_cloud_seq_missing) missing"
iot_stop "$CLOUD_PID_k1" TERM 15 || iot_fail "iot-cloud did not exit cleanly on SIGTERM"
echo "PASS cloud_sigkill ($N agents x $SAMPLES samples, 3 SIGKILLs)"
