/* SPDX-License-Identifier: Apache-2.0 */
/* sdb over PostgreSQL (libpq): statements prepared by name, parameters sent as text (blobs as
 * binary), results read whole and walked row by row. A lost connection is re-opened at the next
 * statement (the failing request gets its error; the next one works again). */
#define IOT_LOG_TAG "cloud.sdb"
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iot/log.h"
#include "iot/mem.h"
#include "pg_util.h"
#include "sdb_internal.h"

/* "?N" -> "$N" (our statements have no '?' inside string literals). */
static char *to_pg(const char *sqlite_sql)
{
    char *p = iot_strdup(sqlite_sql);
    for (char *c = p; c && *c; c++)
        if (*c == '?' && c[1] >= '0' && c[1] <= '9')
            *c = '$';
    return p;
}

/* The API's session: a statement waiting for a lock another session holds (a row another
 * transaction updates, an operator's LOCK TABLE, a migration's ALTER TABLE) gives up after the same
 * wait as SQLite's busy timeout with SQLSTATE 55P03, which sdb_step_err() reports as
 * IOT_ERR_TIMEOUT (503 + Retry-After), instead of holding the HTTP thread without bound. Only
 * this connection: the ingest worker's (store_pg.c) keeps waiting; the broker queues meanwhile. */
static enum iot_err session_setup(struct sdb *d)
{
    char sql[64];
    snprintf(sql, sizeof sql, "SET lock_timeout = '%dms'",
             d->read_only ? SDB_READ_LOCK_WAIT_MS : SDB_WRITE_LOCK_WAIT_MS);
    return pg_exec(d->conn, d->name, sql);
}

enum iot_err sdb__pg_connect(struct sdb *d, const char *url)
{
    PGconn *c = NULL;
    enum iot_err rc = pg_connect(url, d->name, &c);
    if (rc != IOT_OK)
        return rc;
    d->conn = c;
    return session_setup(d); /* on failure sdb_open closes d and its connection */
}

enum iot_err sdb__pg_prepare(struct sdb *d)
{
    for (size_t i = 0; i < d->n; i++) {
        char name[32];
        snprintf(name, sizeof name, "sdb%zu", i);
        char *conv = d->sql[i].pg ? NULL : to_pg(d->sql[i].sqlite);
        const char *text = d->sql[i].pg ? d->sql[i].pg : conv;
        if (!text)
            return IOT_ERR_NOMEM;
        PGresult *r = PQprepare(d->conn, name, text, 0, NULL);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) {
            char what[64];
            snprintf(what, sizeof what, "%s: preparing statement %zu", d->what, i);
            pg_log_error(d->name, what, r, d->conn);
        }
        PQclear(r);
        iot_free(conv);
        if (!ok)
            return IOT_ERR_IO;
    }
    return IOT_OK;
}

static enum iot_err ensure_conn(struct sdb *d)
{
    if (PQstatus(d->conn) == CONNECTION_OK)
        return IOT_OK;
    IOT_LOG(IOT_LOG_WARN, "%s: storage '%s': connection lost; reconnecting", d->what, d->name);
    PQreset(d->conn);
    d->in_tx = false;
    if (PQstatus(d->conn) != CONNECTION_OK) {
        pg_log_error(d->name, "reconnect", NULL, d->conn);
        return IOT_ERR_IO;
    }
    (void)pg_exec(d->conn, d->name, "SET client_min_messages = warning");
    if (session_setup(d) != IOT_OK)
        return IOT_ERR_IO;
    return sdb__pg_prepare(d);
}

enum iot_err sdb__pg_exec(struct sdb *d, const char *sql)
{
    if (ensure_conn(d) != IOT_OK)
        return IOT_ERR_IO;
    return pg_exec(d->conn, d->name, sql);
}

enum sdb_step sdb__pg_step(struct sdb_stmt *st)
{
    struct sdb *d = st->db;
    if (!st->ran) {
        st->ran = true;
        if (!d->in_tx && ensure_conn(d) != IOT_OK) {
            d->step_err = IOT_ERR_IO;
            return SDB_ERROR;
        }
        char name[32];
        snprintf(name, sizeof name, "sdb%zu", st->id);
        PGresult *r = PQexecPrepared(d->conn, name, st->n_params, st->vals, st->lens, st->fmts, 0);
        ExecStatusType s = PQresultStatus(r);
        if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
            char what[64];
            snprintf(what, sizeof what, "%s: statement %zu", d->what, st->id);
            pg_log_error(d->name, what, r, d->conn);
            /* 55P03 (lock_timeout) is the one retryable case the API reports apart (503) */
            d->step_err = pg_result_err(r) == IOT_ERR_TIMEOUT ? IOT_ERR_TIMEOUT : IOT_ERR_IO;
            PQclear(r);
            return SDB_ERROR;
        }
        const char *n = PQcmdTuples(r);
        st->changes = n && n[0] ? strtoull(n, NULL, 10) : 0;
        st->res = r;
        st->n_rows = s == PGRES_TUPLES_OK ? PQntuples(r) : 0;
        st->row = -1;
    }
    if (st->row + 1 < st->n_rows) {
        st->row++;
        PQfreemem(st->blob);
        st->blob = NULL;
        return SDB_ROW;
    }
    return SDB_DONE;
}

const char *sdb__pg_value(struct sdb_stmt *st, int i, bool *is_null)
{
    PGresult *r = st->res;
    if (!r || st->row < 0 || st->row >= st->n_rows || i < 0 || i >= PQnfields(r)) {
        *is_null = true;
        return NULL;
    }
    *is_null = PQgetisnull(r, st->row, i) != 0;
    return *is_null ? NULL : PQgetvalue(r, st->row, i);
}

const void *sdb__pg_blob(struct sdb_stmt *st, int i, size_t *len)
{
    bool null;
    const char *v = sdb__pg_value(st, i, &null);
    *len = 0;
    if (!v)
        return NULL;
    PQfreemem(st->blob);
    st->blob = PQunescapeBytea((const unsigned char *)v, len);
    return st->blob;
}

void sdb__pg_reset(struct sdb_stmt *st)
{
    if (st->res)
        PQclear(st->res);
    st->res = NULL;
    PQfreemem(st->blob);
    st->blob = NULL;
    st->row = -1;
    st->n_rows = 0;
}

void sdb__pg_close(struct sdb *d)
{
    if (d->conn)
        PQfinish(d->conn);
    d->conn = NULL;
}
