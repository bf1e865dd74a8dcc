/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of sdb shared by sdb.c (common, SQLite) and sdb_pg.c (PostgreSQL, or its stub). */
#ifndef INGEST_SDB_INTERNAL_H
#define INGEST_SDB_INTERNAL_H
#include <sqlite3.h>

#include "sdb.h"

struct sdb_stmt {
    struct sdb *db;
    size_t id;
    sqlite3_stmt *sq; /* SQLite */
    /* PostgreSQL: parameters collected until the first step, then the whole result */
    const char *vals[SDB_MAX_PARAMS];
    int lens[SDB_MAX_PARAMS];
    int fmts[SDB_MAX_PARAMS];
    char num[SDB_MAX_PARAMS][24];
    int n_params;
    void *res; /* PGresult */
    int row, n_rows;
    bool ran;
    uint64_t changes;
    unsigned char *blob; /* unescaped bytea of the current row */
};

struct sdb {
    bool pg;
    char name[CLOUD_PATH_MAX]; /* redacted, for logs */
    const char *what;
    sqlite3 *sq;
    void *conn; /* PGconn */
    bool in_tx;
    const struct sdb_sql *sql;
    size_t n;
    struct sdb_stmt *st;
};

/* sdb_pg.c */
enum iot_err sdb__pg_connect(struct sdb *d, const char *url);
enum iot_err sdb__pg_prepare(struct sdb *d);
enum iot_err sdb__pg_exec(struct sdb *d, const char *sql);
enum sdb_step sdb__pg_step(struct sdb_stmt *st);
const char *sdb__pg_value(struct sdb_stmt *st, int i, bool *is_null);
const void *sdb__pg_blob(struct sdb_stmt *st, int i, size_t *len);
void sdb__pg_reset(struct sdb_stmt *st);
void sdb__pg_close(struct sdb *d);

#endif
