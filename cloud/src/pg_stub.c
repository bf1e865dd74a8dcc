/* SPDX-License-Identifier: Apache-2.0 */
/* Built without libpq: postgresql:// storage is refused with a clear message. */
#define IOT_LOG_TAG "cloud.pg"
#include "ingest/store.h"
#include "iot/log.h"
#include "sdb_internal.h"

static enum iot_err refuse(void)
{
    IOT_LOG(IOT_LOG_ERROR, "this iot-cloud was built without libpq: PostgreSQL storage is not "
                           "available (install libpq-dev and rebuild)");
    return IOT_ERR_INVAL;
}

enum iot_err ingest_store_pg_open(const char *url, struct ingest_store *out)
{
    (void)url;
    (void)out;
    return refuse();
}

enum iot_err sdb__pg_connect(struct sdb *d, const char *url)
{
    (void)d;
    (void)url;
    return refuse();
}

enum iot_err sdb__pg_prepare(struct sdb *d)
{
    (void)d;
    return IOT_ERR_INVAL;
}

enum iot_err sdb__pg_exec(struct sdb *d, const char *sql)
{
    (void)d;
    (void)sql;
    return IOT_ERR_INVAL;
}

enum sdb_step sdb__pg_step(struct sdb_stmt *st)
{
    (void)st;
    return SDB_ERROR;
}

const char *sdb__pg_value(struct sdb_stmt *st, int i, bool *is_null)
{
    (void)st;
    (void)i;
    *is_null = true;
    return NULL;
}

const void *sdb__pg_blob(struct sdb_stmt *st, int i, size_t *len)
{
    (void)st;
    (void)i;
    *len = 0;
    return NULL;
}

void sdb__pg_reset(struct sdb_stmt *st) { (void)st; }

void sdb__pg_close(struct sdb *d) { (void)d; }
