/* SPDX-License-Identifier: Apache-2.0 */
/* sdb: the API side's SQL access over SQLite (here) or PostgreSQL (sdb_pg.c). See sdb.h. */
#define IOT_LOG_TAG "cloud.sdb"
#include "sdb.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/store.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "sdb_internal.h"

static enum iot_err sq_open(struct sdb *d, const char *path, bool read_only)
{
    int rc = sqlite3_open_v2(path, &d->sq, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(d->sq,
                                  read_only ? SDB_READ_LOCK_WAIT_MS : SDB_WRITE_LOCK_WAIT_MS);
    /* synchronous is per connection (FIELD-NOTES.md): NORMAL like the ingest connection. */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(d->sq, read_only ? "PRAGMA query_only=1" : "PRAGMA synchronous=NORMAL",
                          NULL, NULL, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < d->n; i++)
        rc = sqlite3_prepare_v3(d->sq, d->sql[i].sqlite, -1, SQLITE_PREPARE_PERSISTENT,
                                &d->st[i].sq, NULL);
    if (rc != SQLITE_OK) {
        IOT_LOG(IOT_LOG_ERROR, "%s: cannot use storage '%s': %s", d->what, path,
                d->sq ? sqlite3_errmsg(d->sq) : sqlite3_errstr(rc));
        return IOT_ERR_IO;
    }
    return IOT_OK;
}

enum iot_err sdb_open(enum cloud_storage_kind kind, const char *storage, bool read_only,
                      const struct sdb_sql *sql, size_t n, const char *what, struct sdb **out)
{
    if (!storage || !sql || !out)
        return IOT_ERR_INVAL;
    struct sdb *d = iot_calloc(1, sizeof *d);
    if (!d)
        return IOT_ERR_NOMEM;
    d->st = iot_calloc(n ? n : 1, sizeof *d->st);
    if (!d->st) {
        iot_free(d);
        return IOT_ERR_NOMEM;
    }
    d->pg = kind == CLOUD_STORAGE_POSTGRESQL;
    d->read_only = read_only;
    d->what = what ? what : "sdb";
    d->sql = sql;
    d->n = n;
    for (size_t i = 0; i < n; i++) {
        d->st[i].db = d;
        d->st[i].id = i;
    }
    ingest_storage_redact(storage, d->name, sizeof d->name);
    enum iot_err rc;
    if (d->pg) {
        rc = sdb__pg_connect(d, storage);
        if (rc == IOT_OK)
            rc = sdb__pg_prepare(d);
    } else {
        rc = sq_open(d, storage, read_only);
    }
    if (rc != IOT_OK) {
        sdb_close(d);
        return rc;
    }
    *out = d;
    return IOT_OK;
}

void sdb_close(struct sdb *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        if (d->st[i].sq)
            sqlite3_finalize(d->st[i].sq);
        sdb__pg_reset(&d->st[i]);
    }
    if (d->sq)
        sqlite3_close(d->sq);
    sdb__pg_close(d);
    iot_free(d->st);
    iot_free(d);
}

bool sdb_is_pg(const struct sdb *d) { return d->pg; }

static enum iot_err exec_plain(struct sdb *d, const char *sql)
{
    if (d->pg)
        return sdb__pg_exec(d, sql);
    char *msg = NULL;
    int rc = sqlite3_exec(d->sq, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        IOT_LOG(IOT_LOG_ERROR, "%s: '%s' failed on '%s': %s (%d)", d->what, sql, d->name,
                msg ? msg : sqlite3_errmsg(d->sq), rc);
        sqlite3_free(msg);
        return IOT_ERR_IO;
    }
    return IOT_OK;
}

enum iot_err sdb_begin(struct sdb *d)
{
    enum iot_err rc = exec_plain(d, d->pg ? "BEGIN" : "BEGIN IMMEDIATE");
    d->in_tx = rc == IOT_OK;
    if (rc == IOT_ERR_IO && !d->pg) {
        int e = sqlite3_errcode(d->sq) & 0xff;
        if (e == SQLITE_BUSY || e == SQLITE_LOCKED)
            rc = IOT_ERR_TIMEOUT; /* another writer holds the lock past the busy timeout */
    }
    return rc;
}

enum iot_err sdb_commit(struct sdb *d)
{
    enum iot_err rc = exec_plain(d, "COMMIT");
    if (rc != IOT_OK)
        sdb_rollback(d);
    d->in_tx = false;
    return rc;
}

void sdb_rollback(struct sdb *d)
{
    bool open = d->pg ? d->in_tx : !sqlite3_get_autocommit(d->sq);
    if (open)
        (void)exec_plain(d, "ROLLBACK");
    d->in_tx = false;
}

void sdb_reset(struct sdb_stmt *st)
{
    if (st->sq) {
        sqlite3_reset(st->sq);
        sqlite3_clear_bindings(st->sq);
    }
    sdb__pg_reset(st);
    memset(st->vals, 0, sizeof st->vals);
    memset(st->lens, 0, sizeof st->lens);
    memset(st->fmts, 0, sizeof st->fmts);
    st->n_params = 0;
    st->ran = false;
}

struct sdb_stmt *sdb_stmt(struct sdb *d, size_t id)
{
    struct sdb_stmt *st = &d->st[id];
    sdb_reset(st);
    return st;
}

static void pg_param(struct sdb_stmt *st, int i, const char *v, int len, int fmt)
{
    if (i < 1 || i > SDB_MAX_PARAMS)
        return;
    st->vals[i - 1] = v;
    st->lens[i - 1] = len;
    st->fmts[i - 1] = fmt;
    if (i > st->n_params)
        st->n_params = i;
}

void sdb_bind_text(struct sdb_stmt *st, int i, const char *v)
{
    if (st->db->pg)
        pg_param(st, i, v, 0, 0);
    else if (v)
        sqlite3_bind_text(st->sq, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st->sq, i);
}

void sdb_bind_i64(struct sdb_stmt *st, int i, int64_t v)
{
    if (!st->db->pg) {
        sqlite3_bind_int64(st->sq, i, v);
        return;
    }
    if (i < 1 || i > SDB_MAX_PARAMS)
        return;
    snprintf(st->num[i - 1], sizeof st->num[i - 1], "%" PRId64, v);
    pg_param(st, i, st->num[i - 1], 0, 0);
}

void sdb_bind_blob(struct sdb_stmt *st, int i, const void *p, size_t n)
{
    if (st->db->pg)
        pg_param(st, i, p ? (const char *)p : "", (int)n, 1);
    else
        sqlite3_bind_blob64(st->sq, i, p, n, SQLITE_STATIC);
}

void sdb_bind_null(struct sdb_stmt *st, int i)
{
    if (st->db->pg)
        pg_param(st, i, NULL, 0, 0);
    else
        sqlite3_bind_null(st->sq, i);
}

enum sdb_step sdb_step(struct sdb_stmt *st)
{
    if (st->db->pg)
        return sdb__pg_step(st);
    int rc = sqlite3_step(st->sq);
    if (rc == SQLITE_ROW)
        return SDB_ROW;
    if (rc == SQLITE_DONE) {
        st->changes = (uint64_t)sqlite3_changes(st->db->sq);
        return SDB_DONE;
    }
    IOT_LOG(IOT_LOG_ERROR, "%s: statement %zu failed on '%s': %s (%d)", st->db->what, st->id,
            st->db->name, sqlite3_errmsg(st->db->sq), rc);
    st->db->step_err = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED
                           ? IOT_ERR_TIMEOUT
                           : IOT_ERR_IO;
    sqlite3_reset(st->sq);
    return SDB_ERROR;
}

enum iot_err sdb_step_err(const struct sdb_stmt *st)
{
    return st->db->step_err == IOT_ERR_TIMEOUT ? IOT_ERR_TIMEOUT : IOT_ERR_IO;
}

const char *sdb_col_text(struct sdb_stmt *st, int i)
{
    if (st->db->pg) {
        bool null;
        const char *v = sdb__pg_value(st, i, &null);
        return v ? v : "";
    }
    const unsigned char *t = sqlite3_column_text(st->sq, i);
    return t ? (const char *)t : "";
}

int64_t sdb_col_i64(struct sdb_stmt *st, int i)
{
    if (!st->db->pg)
        return sqlite3_column_int64(st->sq, i);
    bool null;
    const char *v = sdb__pg_value(st, i, &null);
    if (!v || null)
        return 0;
    if (v[0] == 't' && !v[1])
        return 1; /* boolean */
    return strtoll(v, NULL, 10);
}

double sdb_col_f64(struct sdb_stmt *st, int i)
{
    if (!st->db->pg)
        return sqlite3_column_double(st->sq, i);
    bool null;
    const char *v = sdb__pg_value(st, i, &null);
    return v && !null ? strtod(v, NULL) : 0.0;
}

bool sdb_col_null(struct sdb_stmt *st, int i)
{
    if (!st->db->pg)
        return sqlite3_column_type(st->sq, i) == SQLITE_NULL;
    bool null = true;
    (void)sdb__pg_value(st, i, &null);
    return null;
}

const void *sdb_col_blob(struct sdb_stmt *st, int i, size_t *len)
{
    if (st->db->pg)
        return sdb__pg_blob(st, i, len);
    const void *p = sqlite3_column_blob(st->sq, i);
    *len = (size_t)sqlite3_column_bytes(st->sq, i);
    return p;
}

uint64_t sdb_changes(struct sdb_stmt *st) { return st->changes; }
