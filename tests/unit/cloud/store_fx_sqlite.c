/* SPDX-License-Identifier: Apache-2.0 */
/* store_fx over SQLite: a database file in a fresh temp directory, read through a second
 * connection as the sqlite3 CLI would. */
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

#include "store_fx.h"

static char dir[64];
static char path[96];
static sqlite3 *db;

void store_fx_setup(const char *tag, struct cloud_config *cfg, struct ingest_store *store)
{
    snprintf(dir, sizeof dir, "/tmp/%.24s.XXXXXX", tag);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/iot.db", dir);
    cfg->storage_kind = CLOUD_STORAGE_SQLITE;
    snprintf(cfg->storage, sizeof cfg->storage, "%s", path);
    assert_int_equal(ingest_store_sqlite_open(path, store), IOT_OK);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
}

void store_fx_teardown(struct ingest_store *store)
{
    sqlite3_close(db);
    db = NULL;
    ingest_store_close(store);
    static const char *const files[] = {"iot.db", "iot.db-wal", "iot.db-shm"};
    char p[128];
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

long long store_fx_q(const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    long long v = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

void store_fx_exec(const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err ? err : "?");
}

uint8_t *store_fx_blob(const char *sql, const char *arg, size_t *len)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    uint8_t *out = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *len = (size_t)sqlite3_column_bytes(st, 0);
        out = malloc(*len + 1);
        assert_non_null(out);
        memcpy(out, sqlite3_column_blob(st, 0), *len);
    }
    sqlite3_finalize(st);
    return out;
}

const char *store_fx_backend(void) { return "sqlite"; }
