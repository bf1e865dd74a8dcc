/* SPDX-License-Identifier: Apache-2.0 */
/* SQLite-only storage checks: WAL, schema version and its upgrades (from version 2 the seq summaries
 * are back-filled from the samples; from version 3 the metrics rows move into the samples' JSON
 * column behind a `metrics` view), a bad path. The backend-generic tests are in test_store.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest/store.h"
#include "ingest_internal.h"
#include "iot/log.h"

struct fx {
    char dir[64];
    char path[96];
    sqlite3 *db;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_cloud_sqlite.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/iot.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[128];
    if (f->db)
        sqlite3_close(f->db);
    static const char *const files[] = {"iot.db", "iot.db-wal", "iot.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", f->dir, files[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static long long q(struct fx *f, const char *sql)
{
    if (!f->db)
        assert_int_equal(sqlite3_open(f->path, &f->db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->db, sql, -1, &st, NULL), SQLITE_OK);
    long long v = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void test_store_schema_and_pragmas(void **state)
{
    struct fx *f = *state;
    struct ingest_store s;
    assert_int_equal(ingest_store_sqlite_open(f->path, &s), IOT_OK);
    assert_int_equal(q(f, "PRAGMA user_version"), 4);
    assert_int_equal(q(f, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN"
                          " ('samples','devices','dead_letters','dropped_ranges','seq_stats')"),
                     5);
    assert_int_equal(q(f, "SELECT count(*) FROM sqlite_master WHERE type='view' AND"
                          " name = 'metrics'"),
                     1);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    /* Re-opening an existing database keeps the schema. */
    struct ingest_store again;
    assert_int_equal(ingest_store_sqlite_open(f->path, &again), IOT_OK);
    ingest_store_close(&again);
    ingest_store_close(&s);
}

static void test_store_upgrade_from_v2_backfills_seq_stats(void **state)
{
    struct fx *f = *state;
    struct ingest_store s;
    /* a version 2 database with samples of two epochs, one with a hole */
    assert_int_equal(ingest__sqlite_migrate_to(f->path, 2), IOT_OK);
    assert_int_equal(q(f, "SELECT count(*) FROM samples"), 0);
    assert_int_equal(sqlite3_exec(f->db,
                                  "INSERT INTO samples VALUES('d', 1, 1, 0, 0), ('d', 1, 2, 0, 0),"
                                  " ('d', 1, 5, 0, 0), ('d', 2, 7, 0, 0)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(ingest_store_sqlite_open(f->path, &s), IOT_OK);
    assert_int_equal(q(f, "PRAGMA user_version"), 4);
    assert_int_equal(q(f, "SELECT max_seq - min_seq + 1 - stored FROM seq_stats WHERE epoch = 1"),
                     2);
    assert_int_equal(q(f, "SELECT stored FROM seq_stats WHERE epoch = 2"), 1);
    struct ingest_seq_totals t;
    assert_int_equal(ingest_store_seq_totals(&s, &t), IOT_OK);
    assert_int_equal(t.missing, 2);
    assert_int_equal(t.gap_epochs, 1);
    ingest_store_close(&s);
}

/* Version 3 kept one metrics row per metric: upgrading moves them, in order and with their units,
 * into the sample's JSON column; the `metrics` view shows the same rows; a sample without metrics
 * gets an empty list; telemetry stored after the upgrade reads back through the same view. */
static void test_store_upgrade_from_v3_moves_metrics(void **state)
{
    struct fx *f = *state;
    assert_int_equal(ingest__sqlite_migrate_to(f->path, 3), IOT_OK);
    assert_int_equal(q(f, "PRAGMA user_version"), 3); /* opens f->db */
    assert_int_equal(sqlite3_exec(f->db,
                                  "INSERT INTO samples VALUES('d', 1, 1, 10, 11), ('d', 1, 2, 20, 21),"
                                  " ('e', 1, 1, 30, 31);"
                                  "INSERT INTO metrics VALUES('d', 1, 1, 'temp', 21.5, 'C'),"
                                  " ('d', 1, 1, 'hum', 0.1, NULL), ('e', 1, 1, 'x\"y', -3, '%');",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    struct ingest_store s;
    assert_int_equal(ingest_store_sqlite_open(f->path, &s), IOT_OK);
    assert_int_equal(q(f, "PRAGMA user_version"), 4);
    assert_int_equal(q(f, "SELECT count(*) FROM metrics"), 3);
    assert_int_equal(q(f, "SELECT count(*) FROM samples WHERE device_id = 'd' AND seq = 1 AND"
                          " metrics = '[[\"temp\",21.5,\"C\"],[\"hum\",0.1]]'"),
                     1);
    assert_int_equal(q(f, "SELECT metrics = '[]' FROM samples WHERE device_id = 'd' AND seq = 2"),
                     1);
    assert_int_equal(q(f, "SELECT count(*) FROM metrics WHERE device_id = 'd' AND seq = 1 AND"
                          " name = 'hum' AND value = 0.1 AND unit IS NULL"),
                     1);
    assert_int_equal(q(f, "SELECT value FROM metrics WHERE device_id = 'e' AND name = 'x\"y'"
                          " AND unit = '%'"),
                     -3);
    ingest_store_close(&s);
}

static void test_store_newer_schema_refused(void **state)
{
    struct fx *f = *state;
    assert_int_equal(q(f, "PRAGMA user_version = 99"), -1);
    struct ingest_store s = {0};
    iot_log_set_level(IOT_LOG_ERROR);
    assert_int_equal(ingest_store_sqlite_open(f->path, &s), IOT_ERR_INVAL);
    iot_log_set_level(IOT_LOG_INFO);
    assert_null(s.ops);
}

static void test_store_open_bad_path_fails(void **state)
{
    (void)state;
    struct ingest_store s = {0};
    iot_log_set_level(IOT_LOG_ERROR);
    assert_int_equal(ingest_store_sqlite_open("/nonexistent/dir/iot.db", &s), IOT_ERR_IO);
    assert_null(s.ops);
    ingest_store_close(&s); /* no-op */
    iot_log_set_level(IOT_LOG_INFO);
}

static void test_storage_redact_hides_password(void **state)
{
    (void)state;
    char buf[128];
    assert_string_equal(ingest_storage_redact("postgresql://iot:s3cret@db:5432/iot", buf,
                                              sizeof buf),
                        "postgresql://iot:***@db:5432/iot");
    assert_string_equal(ingest_storage_redact("postgresql://iot@db/iot?password=x&sslmode=require",
                                              buf, sizeof buf),
                        "postgresql://iot@db/iot?password=***&sslmode=require");
    assert_string_equal(ingest_storage_redact("/var/lib/iot/cloud.db", buf, sizeof buf),
                        "/var/lib/iot/cloud.db");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_schema_and_pragmas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_upgrade_from_v2_backfills_seq_stats, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_upgrade_from_v3_moves_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_newer_schema_refused, setup, teardown),
        cmocka_unit_test(test_store_open_bad_path_fails),
        cmocka_unit_test(test_storage_redact_hides_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
