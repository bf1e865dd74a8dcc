/* SPDX-License-Identifier: Apache-2.0 */
/* libpq helpers (see pg_util.h). */
#define IOT_LOG_TAG "cloud.pg"
#include "pg_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iot/log.h"
#include "iot/mem.h"

static bool reserve(struct pg_arr *a, size_t more)
{
    if (a->failed)
        return false;
    if (a->len + more + 2 <= a->cap) /* room for '}' and NUL */
        return true;
    size_t cap = a->cap ? a->cap : 1024;
    while (cap < a->len + more + 2)
        cap *= 2;
    char *p = iot_realloc(a->p, cap);
    if (!p) {
        a->failed = true;
        return false;
    }
    a->p = p;
    a->cap = cap;
    return true;
}

void pg_arr_reset(struct pg_arr *a)
{
    a->len = 0;
    a->n = 0;
    a->failed = false;
}

void pg_arr_free(struct pg_arr *a)
{
    iot_free(a->p);
    memset(a, 0, sizeof *a);
}

/* '{' before the first element, ',' before the others. */
static bool sep(struct pg_arr *a, size_t more)
{
    if (!reserve(a, more + 1))
        return false;
    a->p[a->len++] = a->n++ ? ',' : '{';
    return true;
}

void pg_arr_i64(struct pg_arr *a, int64_t v)
{
    if (!sep(a, 21))
        return;
    char tmp[21];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        a->p[a->len++] = '-';
    while (n)
        a->p[a->len++] = tmp[--n];
}

void pg_arr_text(struct pg_arr *a, const char *v)
{
    if (!v) {
        if (sep(a, 4)) {
            memcpy(a->p + a->len, "NULL", 4);
            a->len += 4;
        }
        return;
    }
    size_t n = strlen(v);
    if (!sep(a, 2 * n + 2))
        return;
    a->p[a->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '"' || v[i] == '\\')
            a->p[a->len++] = '\\';
        a->p[a->len++] = v[i];
    }
    a->p[a->len++] = '"';
}

const char *pg_arr_finish(struct pg_arr *a)
{
    if (!reserve(a, 1))
        return NULL;
    if (a->n == 0)
        a->p[a->len++] = '{';
    a->p[a->len] = '}';
    a->p[a->len + 1] = 0;
    return a->p; /* len is not advanced: more elements may still follow */
}

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    IOT_LOG(IOT_LOG_DEBUG, "server notice: %s", msg);
}

enum iot_err pg_sqlstate_err(const char *sqlstate)
{
    if (!sqlstate)
        return IOT_ERR_IO;
    if (strcmp(sqlstate, "40P01") == 0 || strcmp(sqlstate, "40001") == 0)
        return IOT_ERR_AGAIN;
    if (strcmp(sqlstate, "55P03") == 0)
        return IOT_ERR_TIMEOUT;
    return IOT_ERR_IO;
}

enum iot_err pg_result_err(const PGresult *r)
{
    return pg_sqlstate_err(r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL);
}

enum iot_err pg_failure(const PGresult *r)
{
    return pg_result_err(r) == IOT_ERR_AGAIN ? IOT_ERR_AGAIN : IOT_ERR_IO;
}

void pg_log_error(const char *name, const char *what, const PGresult *r, const PGconn *c)
{
    const char *msg = r ? PQresultErrorMessage(r) : NULL;
    if (!msg || !msg[0])
        msg = c ? PQerrorMessage(c) : "unknown error";
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    /* a lost conflict or a lock wait past lock_timeout is the database being busy, not broken */
    IOT_LOG(pg_result_err(r) != IOT_ERR_IO ? IOT_LOG_WARN : IOT_LOG_ERROR,
            "storage '%s': %s failed: %.*s%s%s%s", name, what, (int)n, msg,
            state ? " (SQLSTATE " : "", state ? state : "", state ? ")" : "");
}

enum iot_err pg_connect(const char *url, const char *name, PGconn **out)
{
    PGconn *c = PQconnectdb(url);
    if (!c)
        return IOT_ERR_NOMEM;
    if (PQstatus(c) != CONNECTION_OK) {
        pg_log_error(name, "connecting", NULL, c);
        PQfinish(c);
        return IOT_ERR_IO;
    }
    PQsetNoticeProcessor(c, quiet, NULL);
    enum iot_err rc = pg_exec(c, name, "SET client_min_messages = warning");
    if (rc != IOT_OK) {
        PQfinish(c);
        return rc;
    }
    *out = c;
    return IOT_OK;
}

enum iot_err pg_exec(PGconn *c, const char *name, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    enum iot_err rc = IOT_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char what[48];
        snprintf(what, sizeof what, "'%.32s...'", sql);
        pg_log_error(name, what, r, c);
        rc = IOT_ERR_IO;
    }
    PQclear(r);
    return rc;
}

enum iot_err pg_query_i64(PGconn *c, const char *name, const char *sql, int64_t *out)
{
    PGresult *r = PQexec(c, sql);
    enum iot_err rc = IOT_ERR_IO;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) >= 1) {
        *out = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        rc = IOT_OK;
    } else {
        pg_log_error(name, sql, r, c);
    }
    PQclear(r);
    return rc;
}
