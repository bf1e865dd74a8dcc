#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CTest fixture: a throwaway PostgreSQL server on a free 127.0.0.1 port for the storage unit tests
# (FIXTURES_SETUP / FIXTURES_CLEANUP "postgres"). The base URI is written to DIR/pg.url; tests read
# it through $IOT_TEST_PG_URL_FILE and make their own databases.
#   pg_fixture.sh start DIR   pg_fixture.sh stop DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
cmd=${1:?usage: pg_fixture.sh start|stop DIR}
dir=${2:?usage: pg_fixture.sh start|stop DIR}
case $cmd in
start)
    iot_pg_stop "$dir" || true
    rm -rf "$dir"
    iot_pg_start "$dir"
    ;;
stop) iot_pg_stop "$dir" ;;
*) echo "usage: pg_fixture.sh start|stop DIR" >&2; exit 2 ;;
esac
