/* SPDX-License-Identifier: Apache-2.0 */
/* A small SQL access layer for the API side (commands, registry, telemetry reads): one connection
 * with its prepared statements, over SQLite or PostgreSQL, chosen by [cloud] storage. Each
 * statement is written once with ?N parameters; a PostgreSQL variant is given only where the
 * dialects differ (otherwise ?N becomes $N). Not thread-safe: one thread per connection. The
 * ingest hot path does not use it (store_sqlite.c, store_pg.c talk to their libraries directly). */
#ifndef INGEST_SDB_H
#define INGEST_SDB_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/config.h"
#include "iot/err.h"

/** One statement: SQLite text (?N parameters) and, when it differs, PostgreSQL text ($N). */
struct sdb_sql {
    const char *sqlite;
    const char *pg; /**< NULL: the SQLite text with ?N replaced by $N */
};

enum sdb_step { SDB_ROW, SDB_DONE, SDB_ERROR };

#define SDB_MAX_PARAMS 16

struct sdb;
struct sdb_stmt;

/**
 * @brief Connect to @p storage and prepare @p n statements (the array must outlive the handle).
 * SQLite: the file must exist (the ingest store created it), busy timeout, synchronous=NORMAL;
 * @p read_only adds query_only. PostgreSQL: a connection of its own with a lock_timeout (the same
 * wait as SQLite's busy timeout: short for a writer, longer with @p read_only).
 * @param what for logs, e.g. "commands"
 * @return IOT_OK, IOT_ERR_IO (logged), IOT_ERR_NOMEM
 */
enum iot_err sdb_open(enum cloud_storage_kind kind, const char *storage, bool read_only,
                      const struct sdb_sql *sql, size_t n, const char *what, struct sdb **out);
/** @brief Close (NULL-safe). */
void sdb_close(struct sdb *d);
/** @brief True for PostgreSQL. */
bool sdb_is_pg(const struct sdb *d);

/** @return IOT_OK, IOT_ERR_TIMEOUT (SQLite: another connection held the write lock past the busy
 *  timeout), IOT_ERR_IO (logged); SQLite: BEGIN IMMEDIATE */
enum iot_err sdb_begin(struct sdb *d);
/** @return IOT_OK, IOT_ERR_IO (rolled back) */
enum iot_err sdb_commit(struct sdb *d);
/** @brief Roll back an open transaction (no-op otherwise). */
void sdb_rollback(struct sdb *d);

/** @brief Statement @p id, reset with no bindings. */
struct sdb_stmt *sdb_stmt(struct sdb *d, size_t id);
/** @brief Bind parameter @p i (1-based). Text and blobs are borrowed until the statement is reset;
 * NULL text binds SQL NULL. */
void sdb_bind_text(struct sdb_stmt *st, int i, const char *v);
void sdb_bind_i64(struct sdb_stmt *st, int i, int64_t v);
void sdb_bind_blob(struct sdb_stmt *st, int i, const void *p, size_t n);
void sdb_bind_null(struct sdb_stmt *st, int i);

/** @brief Run (first call) or advance. Errors are logged with the statement's number. */
enum sdb_step sdb_step(struct sdb_stmt *st);
/** @brief Why the last sdb_step() on @p st's connection returned SDB_ERROR (still valid after
 * sdb_reset()): IOT_ERR_TIMEOUT (it waited for a lock another connection held past the lock wait:
 * SQLite busy, PostgreSQL lock_timeout, SQLSTATE 55P03; nothing changed, the API answers 503),
 * IOT_ERR_IO (anything else). */
enum iot_err sdb_step_err(const struct sdb_stmt *st);
/** @brief Column @p i of the current row ("" / 0 for NULL; booleans read as 0/1). */
const char *sdb_col_text(struct sdb_stmt *st, int i);
int64_t sdb_col_i64(struct sdb_stmt *st, int i);
double sdb_col_f64(struct sdb_stmt *st, int i);
bool sdb_col_null(struct sdb_stmt *st, int i);
/** @brief Blob column; valid until the next step or reset. */
const void *sdb_col_blob(struct sdb_stmt *st, int i, size_t *len);
/** @brief Rows changed by the last INSERT/UPDATE/DELETE run through @p st. */
uint64_t sdb_changes(struct sdb_stmt *st);
/** @brief Finish with the statement's rows (also done by the next sdb_stmt()). */
void sdb_reset(struct sdb_stmt *st);

#endif
