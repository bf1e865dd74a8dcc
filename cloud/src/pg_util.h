/* SPDX-License-Identifier: Apache-2.0 */
/* Small libpq helpers shared by the PostgreSQL backends (ingest store, API): connect with a clear
 * error, run a statement, log a failure once with the server's words, and build array literals
 * ("{1,2,3}", "{\"a\",NULL}") for unnest() parameters without a per-element allocation. */
#ifndef INGEST_PG_UTIL_H
#define INGEST_PG_UTIL_H
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"

/** A growable PostgreSQL array literal. Zero-initialise; failed is sticky until reset. */
struct pg_arr {
    char *p;
    size_t len, cap;
    size_t n; /**< elements */
    bool failed;
};

void pg_arr_reset(struct pg_arr *a);
void pg_arr_free(struct pg_arr *a);
void pg_arr_i64(struct pg_arr *a, int64_t v);
/** @brief A quoted text element; NULL appends SQL NULL. */
void pg_arr_text(struct pg_arr *a, const char *v);
/** @brief Close the literal ("{}" when empty).
 * @return the text, or NULL after an allocation failure */
const char *pg_arr_finish(struct pg_arr *a);

/**
 * @brief Connect (libpq URI or key=value string), quiet notices, check the server answers.
 * @param name the redacted URI, for logs
 * @return IOT_OK, IOT_ERR_IO (logged), IOT_ERR_NOMEM
 */
enum iot_err pg_connect(const char *url, const char *name, PGconn **out);

/** @brief Run statements that return no rows we need (several separated by ';' are allowed).
 * @return IOT_OK, IOT_ERR_IO (logged) */
enum iot_err pg_exec(PGconn *c, const char *name, const char *sql);

/** @brief First column of the first row as an integer. @return IOT_OK, IOT_ERR_IO (logged) */
enum iot_err pg_query_i64(PGconn *c, const char *name, const char *sql, int64_t *out);

/** @brief Log what failed with the server's message and SQLSTATE (@p r may be NULL); a conflict
 * with a concurrent transaction or a lock wait past lock_timeout (see pg_sqlstate_err) is a
 * warning. */
void pg_log_error(const char *name, const char *what, const PGresult *r, const PGconn *c);

/** @brief IOT_ERR_AGAIN for a deadlock or serialization failure (SQLSTATE 40P01, 40001: another
 * instance's transaction won; retrying succeeds), IOT_ERR_IO otherwise (the ingest store's
 * contract: a lock wait that timed out is a failure there, retried with back-off). */
enum iot_err pg_failure(const PGresult *r);

/**
 * @brief What a failed statement's SQLSTATE means to a caller.
 * @param sqlstate the five-character code (PG_DIAG_SQLSTATE), or NULL (no server answer)
 * @return IOT_ERR_TIMEOUT for 55P03 lock_not_available (a lock held by another session was not
 *  granted within lock_timeout, or NOWAIT: nothing was changed, retry later), IOT_ERR_AGAIN for
 *  40P01 and 40001 (as pg_failure), IOT_ERR_IO for everything else, including 57014
 *  query_canceled (we set no statement_timeout: a cancel is an operator's or a shutdown's, not a
 *  busy database)
 */
enum iot_err pg_sqlstate_err(const char *sqlstate);

/** @brief pg_sqlstate_err() of @p r's SQLSTATE (@p r may be NULL: IOT_ERR_IO). */
enum iot_err pg_result_err(const PGresult *r);

#endif
