/* SPDX-License-Identifier: Apache-2.0 */
/* PostgreSQL failures the API reports apart: the SQLSTATE mapping of pg_util (55P03 -> busy,
 * 40P01/40001 -> retry, the rest -> I/O), and sdb's connection on a real server (fixture
 * "postgres"): its lock_timeout is set (1 s for a writer, 5 s read-only), a statement that waits
 * on a row or table lock another session holds fails with IOT_ERR_TIMEOUT within it, a real error
 * (duplicate key) stays IOT_ERR_IO, and once the lock is released the same statement works. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_util.h"
#include "sdb.h"
#include "store_fx_pg.h"

static void test_pg_sqlstate_err_maps_lock_timeout_to_timeout_only(void **state)
{
    (void)state;
    assert_int_equal(pg_sqlstate_err("55P03"), IOT_ERR_TIMEOUT); /* lock_not_available */
    assert_int_equal(pg_sqlstate_err("40P01"), IOT_ERR_AGAIN);   /* deadlock_detected */
    assert_int_equal(pg_sqlstate_err("40001"), IOT_ERR_AGAIN);   /* serialization_failure */
    /* query_canceled (a cancel request, statement_timeout we never set) is not "busy" */
    assert_int_equal(pg_sqlstate_err("57014"), IOT_ERR_IO);
    assert_int_equal(pg_sqlstate_err("57P01"), IOT_ERR_IO);      /* admin_shutdown */
    assert_int_equal(pg_sqlstate_err("23505"), IOT_ERR_IO);      /* unique_violation */
    assert_int_equal(pg_sqlstate_err("55000"), IOT_ERR_IO);      /* same class, other condition */
    assert_int_equal(pg_sqlstate_err(""), IOT_ERR_IO);
    assert_int_equal(pg_sqlstate_err(NULL), IOT_ERR_IO);
    assert_int_equal(pg_result_err(NULL), IOT_ERR_IO);
    assert_int_equal(pg_failure(NULL), IOT_ERR_IO);
}

/* ---- on the fixture's server ---- */

enum { Q_UPDATE, Q_INSERT, Q_GET, Q_LOCK_TIMEOUT, Q_COUNT };

static const struct sdb_sql sql[Q_COUNT] = {
    [Q_UPDATE] = {"UPDATE pg_util_t SET v = v + 1 WHERE id = ?1", NULL},
    [Q_INSERT] = {"INSERT INTO pg_util_t(id, v) VALUES(?1, 0)", NULL},
    [Q_GET] = {"SELECT v FROM pg_util_t WHERE id = ?1", NULL},
    [Q_LOCK_TIMEOUT] = {"SELECT current_setting('lock_timeout')", NULL},
};

struct fx {
    char url[400];
    PGconn *other; /* the session that holds locks */
    struct sdb *db;
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    assert_non_null(x);
    x->other = store_fx_pg_connect("pg_util", x->url, sizeof x->url);
    store_fx_pg_exec(x->other, "DROP TABLE IF EXISTS pg_util_t;"
                      "CREATE TABLE pg_util_t(id int PRIMARY KEY, v int NOT NULL);"
                      "INSERT INTO pg_util_t VALUES(1, 0), (2, 0)");
    assert_int_equal(sdb_open(CLOUD_STORAGE_POSTGRESQL, x->url, false, sql, Q_COUNT, "test",
                              &x->db),
                     IOT_OK);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    sdb_close(x->db);
    PQfinish(x->other);
    free(x);
    return 0;
}

/* Run statement @p id with @p arg; the step's outcome as an iot_err. */
static enum iot_err run(struct sdb *db, size_t id, int64_t arg)
{
    struct sdb_stmt *st = sdb_stmt(db, id);
    if (id != Q_LOCK_TIMEOUT)
        sdb_bind_i64(st, 1, arg);
    enum sdb_step r = sdb_step(st);
    sdb_reset(st);
    return r == SDB_ERROR ? sdb_step_err(st) : IOT_OK;
}

static int64_t value_of(struct sdb *db, int64_t id)
{
    struct sdb_stmt *st = sdb_stmt(db, Q_GET);
    sdb_bind_i64(st, 1, id);
    assert_int_equal(sdb_step(st), SDB_ROW);
    int64_t v = sdb_col_i64(st, 0);
    sdb_reset(st);
    return v;
}

static void assert_lock_timeout(struct sdb *db, const char *want)
{
    struct sdb_stmt *st = sdb_stmt(db, Q_LOCK_TIMEOUT);
    assert_int_equal(sdb_step(st), SDB_ROW);
    assert_string_equal(sdb_col_text(st, 0), want);
    sdb_reset(st);
}

static void test_sdb_pg_sets_lock_timeout_on_its_connection_only(void **state)
{
    struct fx *x = *state;
    assert_lock_timeout(x->db, "1s");
    struct sdb *ro = NULL;
    assert_int_equal(sdb_open(CLOUD_STORAGE_POSTGRESQL, x->url, true, sql, Q_COUNT, "test-ro", &ro),
                     IOT_OK);
    assert_lock_timeout(ro, "5s");
    sdb_close(ro);
    /* a session of its own (as the ingest worker's) keeps the server's default: no limit */
    PGresult *r = PQexec(x->other, "SHOW lock_timeout");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
}

static void test_sdb_pg_row_lock_wait_times_out_then_works(void **state)
{
    struct fx *x = *state;
    store_fx_pg_exec(x->other, "BEGIN; SELECT v FROM pg_util_t WHERE id = 1 FOR UPDATE");
    /* in a transaction, as the API's writes are: the UPDATE waits on row 1, gives up */
    assert_int_equal(sdb_begin(x->db), IOT_OK);
    assert_int_equal(run(x->db, Q_UPDATE, 1), IOT_ERR_TIMEOUT);
    sdb_rollback(x->db);
    /* another row is not locked: no blanket failure */
    assert_int_equal(run(x->db, Q_UPDATE, 2), IOT_OK);
    /* a real error is not "busy", even while the lock is held */
    assert_int_equal(run(x->db, Q_INSERT, 2), IOT_ERR_IO);
    store_fx_pg_exec(x->other, "COMMIT");
    assert_int_equal(sdb_begin(x->db), IOT_OK);
    assert_int_equal(run(x->db, Q_UPDATE, 1), IOT_OK);
    assert_int_equal(sdb_commit(x->db), IOT_OK);
    assert_int_equal(value_of(x->db, 1), 1);
    assert_int_equal(value_of(x->db, 2), 1);
}

static void test_sdb_pg_table_lock_wait_times_out_reads_and_writes(void **state)
{
    struct fx *x = *state;
    /* EXCLUSIVE: reads go on, writes wait */
    store_fx_pg_exec(x->other, "BEGIN; LOCK TABLE pg_util_t IN EXCLUSIVE MODE");
    assert_int_equal(run(x->db, Q_GET, 1), IOT_OK);
    assert_int_equal(run(x->db, Q_INSERT, 3), IOT_ERR_TIMEOUT);
    store_fx_pg_exec(x->other, "COMMIT");
    /* ACCESS EXCLUSIVE (ALTER TABLE, VACUUM FULL): reads wait too */
    store_fx_pg_exec(x->other, "BEGIN; LOCK TABLE pg_util_t IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(run(x->db, Q_GET, 1), IOT_ERR_TIMEOUT);
    store_fx_pg_exec(x->other, "ROLLBACK");
    assert_int_equal(run(x->db, Q_INSERT, 3), IOT_OK);
    assert_int_equal(value_of(x->db, 3), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_sqlstate_err_maps_lock_timeout_to_timeout_only),
        cmocka_unit_test_setup_teardown(test_sdb_pg_sets_lock_timeout_on_its_connection_only,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sdb_pg_row_lock_wait_times_out_then_works, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sdb_pg_table_lock_wait_times_out_reads_and_writes,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
