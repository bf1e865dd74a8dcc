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
 * with a concurrent transaction (see pg_failure) is a warning. */
void pg_log_error(const char *name, const char *what, const PGresult *r, const PGconn *c);

/** @brief IOT_ERR_AGAIN for a deadlock or serialization failure (SQLSTATE 40P01, 40001: another
 * instance's transaction won; retrying succeeds), IOT_ERR_IO otherwise. */
enum iot_err pg_failure(const PGresult *r);

#endif
