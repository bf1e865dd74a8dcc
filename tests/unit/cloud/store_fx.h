/* SPDX-License-Identifier: Apache-2.0 */
/* The storage a backend-generic cloud test runs on: store_fx_sqlite.c (a temp file) or
 * store_fx_pg.c (a database on the server of the CTest fixture "postgres", whose base URI is in
 * the file named by $IOT_TEST_PG_URL_FILE). Linking picks the backend. */
#ifndef CLOUD_TEST_STORE_FX_H
#define CLOUD_TEST_STORE_FX_H
#include <stddef.h>
#include <stdint.h>

#include "ingest/config.h"
#include "ingest/store.h"

/**
 * Fresh, empty storage named after @p tag: sets cfg->storage_kind and cfg->storage, and opens
 * @p store on it (the ingest store creates the schema). Fails the test when it cannot.
 */
void store_fx_setup(const char *tag, struct cloud_config *cfg, struct ingest_store *store);
/** Close @p store and the reader; remove what setup made. */
void store_fx_teardown(struct ingest_store *store);
/** First column of the first row of @p sql through a second connection; -1 when no row. */
long long store_fx_q(const char *sql);
/** First column of the first row as bytes (malloc'd; free()); NULL when no row. @p sql has one
 *  text parameter ?1 / $1 bound to @p arg. */
uint8_t *store_fx_blob(const char *sql, const char *arg, size_t *len);
/** Run statements (several, ';'-separated) through the reader connection; fails the test on error. */
void store_fx_exec(const char *sql);
/** "sqlite" or "postgresql". */
const char *store_fx_backend(void);

#endif
