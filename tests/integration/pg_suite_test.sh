#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The storage-dependent end-to-end tests again, on PostgreSQL: a throwaway server (Debian's
# postgresql, started here on a free loopback port, as the postgres user when root) and a fresh
# database per test, handed to each as IOT_TEST_STORE. Agent -> iot-cloud (PostgreSQL) -> rows
# and API (api_agent: commands, desired state, telemetry), the command lifecycle (api_commands),
# the gap report, and three SIGKILLs under load from 20 agents (cloud_sigkill).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../support/lib.sh"
iot_test_init pg-suite
iot_pg_available || iot_fail "PostgreSQL server not installed (tools/install-deps.sh)"
iot_pg_start "$IOT_WORK/pg"

for t in gap_report api_agent api_commands cloud_sigkill; do
    url=$(iot_pg_url "$IOT_PG_URL" "$t")
    iot_log "$t on $url"
    if ! IOT_TEST_STORE=$url "$here/${t}_test.sh" >"$IOT_WORK/$t.log" 2>&1; then
        tail -n 60 "$IOT_WORK/$t.log" >&2
        iot_fail "$t failed on PostgreSQL"
    fi
    grep '^PASS' "$IOT_WORK/$t.log" >&2 || true
done
echo "PASS pg_suite"
