/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of sdb shared by sdb.c (common, SQLite) and sdb_pg.c (PostgreSQL, or its stub). */
#ifndef INGEST_SDB_INTERNAL_H
#define INGEST_SDB_INTERNAL_H
#include <sqlite3.h>

#include "sdb.h"

/* How long a statement waits for a lock another connection holds (SQLite busy timeout, PostgreSQL
 * lock_timeout). A writer waits briefly: the ingest worker's transactions take milliseconds, an
 * operator's sqlite3 shell or psql session may hold a lock for good, and the wait runs on the HTTP
 * thread, so past it the API answers 503 + Retry-After instead of holding every request. */
#define SDB_WRITE_LOCK_WAIT_MS 1000
#define SDB_READ_LOCK_WAIT_MS 5000

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
    bool read_only;
    bool in_tx;
    enum iot_err step_err; /* why the last sdb_step() failed (sdb_step_err) */
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
