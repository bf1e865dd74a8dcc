/* SPDX-License-Identifier: Apache-2.0 */
/* store_fx over PostgreSQL: database "unit_<tag>" on the fixture's server, its public schema
 * dropped and re-created before each test, read through a second libpq connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_fx.h"
#include "store_fx_pg.h"

static PGconn *reader;

static void exec_ok(PGconn *c, const char *sql, int allow_error)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    if (!allow_error && s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

static PGconn *connect_to(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect to %s: %s", url, PQerrorMessage(c));
    exec_ok(c, "SET client_min_messages = warning", 0);
    return c;
}

PGconn *store_fx_pg_connect(const char *tag, char *url, size_t cap)
{
    const char *file = getenv("IOT_TEST_PG_URL_FILE");
    if (!file)
        fail_msg("IOT_TEST_PG_URL_FILE is not set (run through ctest: fixture \"postgres\")");
    char base[256] = "";
    FILE *f = fopen(file, "r");
    if (!f || !fgets(base, sizeof base, f))
        fail_msg("cannot read the PostgreSQL URI from %s", file);
    fclose(f);
    base[strcspn(base, "\r\n")] = 0;
    char sql[160];
    snprintf(url, cap, "%s/postgres", base);
    PGconn *admin = connect_to(url);
    snprintf(sql, sizeof sql, "CREATE DATABASE unit_%.40s", tag);
    exec_ok(admin, sql, 1); /* exists already: fine */
    PQfinish(admin);
    snprintf(url, cap, "%s/unit_%.40s", base, tag);
    return connect_to(url);
}

void store_fx_pg_exec(PGconn *c, const char *sql) { exec_ok(c, sql, 0); }

void store_fx_setup(const char *tag, struct cloud_config *cfg, struct ingest_store *store)
{
    char url[400];
    reader = store_fx_pg_connect(tag, url, sizeof url);
    exec_ok(reader, "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public", 0);
    cfg->storage_kind = CLOUD_STORAGE_POSTGRESQL;
    snprintf(cfg->storage, sizeof cfg->storage, "%s", url);
    assert_int_equal(ingest_store_pg_open(url, store), IOT_OK);
}

void store_fx_teardown(struct ingest_store *store)
{
    ingest_store_close(store);
    PQfinish(reader);
    reader = NULL;
}

long long store_fx_q(const char *sql)
{
    PGresult *r = PQexec(reader, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    long long v = -1;
    if (PQntuples(r) > 0) {
        const char *s = PQgetvalue(r, 0, 0);
        v = strcmp(s, "t") == 0 ? 1 : strcmp(s, "f") == 0 ? 0 : strtoll(s, NULL, 10);
    }
    PQclear(r);
    return v;
}

uint8_t *store_fx_blob(const char *sql, const char *arg, size_t *len)
{
    char text[512];
    snprintf(text, sizeof text, "%s", sql);
    for (char *c = text; *c; c++)
        if (*c == '?')
            *c = '$';
    const char *v[1] = {arg};
    PGresult *r = PQexecParams(reader, text, 1, NULL, v, NULL, NULL, 1); /* binary result */
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    uint8_t *out = NULL;
    if (PQntuples(r) > 0) {
        *len = (size_t)PQgetlength(r, 0, 0);
        out = malloc(*len + 1);
        assert_non_null(out);
        memcpy(out, PQgetvalue(r, 0, 0), *len);
    }
    PQclear(r);
    return out;
}

void store_fx_exec(const char *sql) { exec_ok(reader, sql, 0); }

const char *store_fx_backend(void) { return "postgresql"; }
