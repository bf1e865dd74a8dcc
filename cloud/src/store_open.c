/* SPDX-License-Identifier: Apache-2.0 */
/* Picks the storage backend named by [cloud] storage, and hides a URI's password in logs. */
#include <stdio.h>
#include <string.h>

#include "ingest/store.h"

enum iot_err ingest_store_open(enum cloud_storage_kind kind, const char *storage,
                               struct ingest_store *out)
{
    if (kind == CLOUD_STORAGE_POSTGRESQL)
        return ingest_store_pg_open(storage, out);
    return ingest_store_sqlite_open(storage, out);
}

const char *ingest_storage_redact(const char *storage, char *buf, size_t cap)
{
    if (!cap)
        return buf;
    snprintf(buf, cap, "%s", storage ? storage : "");
    /* scheme://user:password@host... */
    char *auth = strstr(buf, "://");
    if (auth) {
        auth += 3;
        char *at = strchr(auth, '@');
        char *slash = strchr(auth, '/');
        char *colon = strchr(auth, ':');
        if (at && (!slash || at < slash) && colon && colon < at) {
            char tail[CLOUD_PATH_MAX];
            snprintf(tail, sizeof tail, "%s", at);
            snprintf(colon, cap - (size_t)(colon - buf), ":***%s", tail);
        }
    }
    /* ...?password=secret&... or key=value form password=secret */
    char *pw = strstr(buf, "password=");
    if (pw) {
        char *end = pw + 9;
        while (*end && *end != '&' && *end != ' ')
            end++;
        char tail[CLOUD_PATH_MAX];
        snprintf(tail, sizeof tail, "%s", end);
        snprintf(pw + 9, cap - (size_t)(pw + 9 - buf), "***%s", tail);
    }
    return buf;
}
