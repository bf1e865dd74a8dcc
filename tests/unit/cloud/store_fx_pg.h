/* SPDX-License-Identifier: Apache-2.0 */
/* PostgreSQL helpers of store_fx_pg.c for tests that need the fixture's server directly. */
#ifndef CLOUD_TEST_STORE_FX_PG_H
#define CLOUD_TEST_STORE_FX_PG_H
#include <stddef.h>

#include <libpq-fe.h>

/**
 * A connection to database unit_<@p tag> on the server of the CTest fixture "postgres" (created
 * when missing); @p url receives its URI. Fails the test when it cannot.
 */
PGconn *store_fx_pg_connect(const char *tag, char *url, size_t cap);
/** Run @p sql on @p c; fails the test on error. */
void store_fx_pg_exec(PGconn *c, const char *sql);

#endif
