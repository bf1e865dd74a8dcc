#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/support/lib.sh cleans up after a failed test. A child script (set -euo pipefail, like every
# test) starts PostgreSQL with iot_pg_start and three processes with iot_bg: in its own shell, in a
# command substitution and in a ( ) subshell (whose IOT_PIDS is lost when they exit), then fails.
# Once it has exited, its exit status is the failure's (1), its EXIT trap ran to the end (the log
# tails are printed last), none of the three processes runs any more and the server is stopped.
# Before the fix, iot_pg_start's EXIT trap ended at its `(exit $rc)` under set -e and left all of
# them running (brokers and iot-cloud instances after a failed pg_two_instances).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../support/lib.sh"
iot_test_init lib-cleanup
iot_pg_available || iot_fail "PostgreSQL server not installed (tools/install-deps.sh)"

OUT=$IOT_WORK/out
mkdir -p "$OUT"
cat >"$IOT_WORK/child.sh" <<'EOF'
set -euo pipefail
. "$IOT_LIB"
iot_test_init lib-cleanup-child
echo "$IOT_WORK" >"$OUT/work"
# record NAME PID: "PID START" in $OUT/NAME, or exit 3 (not 1) when PID is not running.
record() { _iot_proc_stat "$2" || exit 3; echo "$2 $_IOT_START" >"$OUT/$1"; }
iot_pg_start "$IOT_WORK/pg"
cp "$IOT_WORK/pg/pg.root" "$OUT/pg.root"
record pg "$(cat "$IOT_WORK/pg/pg.pid")"
iot_bg "$IOT_WORK/main.log" sleep 397
record main "$IOT_LAST_PID"
pid=$(iot_bg "$IOT_WORK/cmdsub.log" sleep 397; echo "$IOT_LAST_PID")
record cmdsub "$pid"
( iot_bg "$IOT_WORK/subshell.log" sleep 397; echo "$IOT_LAST_PID" >"$OUT/subshell.pid" )
record subshell "$(cat "$OUT/subshell.pid")"
false # the test fails here: set -e exits with 1 and runs the EXIT trap
echo "not reached"
EOF

rc=0
IOT_LIB=$here/../support/lib.sh OUT=$OUT bash "$IOT_WORK/child.sh" >"$IOT_WORK/child.log" 2>&1 ||
    rc=$?
child_work=$(cat "$OUT/work" 2>/dev/null || true)
leaked=()
for name in pg main cmdsub subshell; do
    [ -s "$OUT/$name" ] || iot_fail "the child recorded no $name process (exit $rc): $(tail -n 20 "$IOT_WORK/child.log")"
    read -r pid start <"$OUT/$name"
    # Not a timing bound: a process left running would run for 397 s (the server until stopped).
    iot_wait_for 10 '! _iot_is_recorded '"$pid $start" || leaked+=("$name")
done
if [ ${#leaked[@]} -gt 0 ]; then
    # Stop what the child left running: the processes it recorded (same PID and start time), and
    # the cluster it made.
    for name in main cmdsub subshell; do
        read -r pid start <"$OUT/$name"
        _iot_is_recorded "$pid" "$start" && kill -KILL "$pid" 2>/dev/null
    done
    root=$(cat "$OUT/pg.root")
    case $root in */iot-pg.*) [ ! -d "$root/data" ] || _iot_pg_as "$IOT_PG_BIN/pg_ctl" -D "$root/data" -m immediate stop >/dev/null 2>&1 || true ;; esac
    iot_fail "still running after the failed child exited: ${leaked[*]}: $(tail -n 20 "$IOT_WORK/child.log")"
fi
[ "$rc" = 1 ] || iot_fail "the child exited $rc, want 1 (its failure's status): $(tail -n 20 "$IOT_WORK/child.log")"
grep -q -- '----- tail of .*/main.log' "$IOT_WORK/child.log" ||
    iot_fail "the child's EXIT trap did not run to the end: $(tail -n 20 "$IOT_WORK/child.log")"
[ ! -e "$(cat "$OUT/pg.root")" ] || iot_fail "the PostgreSQL cluster $(cat "$OUT/pg.root") was not removed"
case $child_work in */iot-lib-cleanup-child.*) rm -rf "$child_work" ;; esac
echo "PASS lib_cleanup (a failed test stops its processes: own shell, \$( ), ( ), PostgreSQL)"
