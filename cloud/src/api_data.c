/* SPDX-License-Identifier: Apache-2.0 */
/* Registry and telemetry reads for the /v1 API over a read-only use of its own SQLite connection
 * (WAL: readers never block the ingest writer). Used only on MHD's single polling thread, so it
 * needs no lock; every statement is short and reset at once (no long read snapshot that would
 * hold back checkpoints). */
#define IOT_LOG_TAG "cloud.apidata"
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_crypto.h"

#define LIMIT_DEFAULT 100
#define LIMIT_MAX 1000
#define CURSOR_MAX 128

enum q_id { Q_DEVICES, Q_DEVICE, Q_DESIRED, Q_CMD_COUNTS, Q_SAMPLES, Q_METRICS, Q_COUNT };

static const char *const sql[Q_COUNT] = {
    [Q_DEVICES] = "SELECT device_id, online, last_seen_ms, agent_version, presence_reason, samples,"
                  " reported_version FROM devices WHERE device_id > ?1 ORDER BY device_id LIMIT ?2",
    [Q_DEVICE] = "SELECT device_id, online, connection, agent_version, boot_time_ms, last_seen_ms,"
                 " presence_ms, presence_reason, samples, reported_version, reported_settings,"
                 " reported_ms FROM devices WHERE device_id = ?1",
    [Q_DESIRED] = "SELECT version, settings, updated_ms, published FROM desired_state"
                  " WHERE device_id = ?1",
    [Q_CMD_COUNTS] = "SELECT state, count(*) FROM commands WHERE device_id = ?1 GROUP BY state",
    [Q_SAMPLES] = "SELECT epoch, seq, time_ms FROM samples s WHERE device_id = ?1"
                  " AND time_ms >= ?2 AND time_ms <= ?3"
                  " AND (?4 IS NULL OR EXISTS (SELECT 1 FROM metrics m WHERE m.device_id = ?1"
                  " AND m.epoch = s.epoch AND m.seq = s.seq AND m.name = ?4))"
                  " AND (?5 IS NULL OR (time_ms, epoch, seq) < (?5, ?6, ?7))"
                  " ORDER BY time_ms DESC, epoch DESC, seq DESC LIMIT ?8",
    [Q_METRICS] = "SELECT name, value, unit FROM metrics WHERE device_id = ?1 AND epoch = ?2"
                  " AND seq = ?3 AND (?4 IS NULL OR name = ?4)",
};

struct api_db {
    sqlite3 *db;
    sqlite3_stmt *st[Q_COUNT];
};

bool api_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s || strlen(s) > 20)
        return false;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || !end || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

enum iot_err api_db_open(const char *path, struct api_db **out)
{
    struct api_db *d = iot_calloc(1, sizeof *d);
    if (!d)
        return IOT_ERR_NOMEM;
    int rc = sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(d->db, 2000);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(d->db, "PRAGMA query_only=1", NULL, NULL, NULL);
    for (int i = 0; rc == SQLITE_OK && i < Q_COUNT; i++)
        rc = sqlite3_prepare_v3(d->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &d->st[i], NULL);
    if (rc != SQLITE_OK) {
        IOT_LOG(IOT_LOG_ERROR, "API: cannot read storage '%s': %s", path,
                d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
        api_db_close(d);
        return IOT_ERR_IO;
    }
    *out = d;
    return IOT_OK;
}

void api_db_close(struct api_db *d)
{
    if (!d)
        return;
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(d->st[i]);
    if (d->db)
        sqlite3_close(d->db);
    iot_free(d);
}

static sqlite3_stmt *prep(struct api_db *d, enum q_id id)
{
    sqlite3_reset(d->st[id]);
    sqlite3_clear_bindings(d->st[id]);
    return d->st[id];
}

static const char *text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static void add_int_or_null(cJSON *o, const char *k, sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        cJSON_AddNullToObject(o, k);
    else
        cJSON_AddNumberToObject(o, k, (double)sqlite3_column_int64(st, i));
}

static void db_error(struct api_db *d, struct http_request *r, enum q_id id, int rc)
{
    IOT_LOG(IOT_LOG_ERROR, "API query %d failed: %s (%d)", (int)id, sqlite3_errmsg(d->db), rc);
    sqlite3_reset(d->st[id]);
    http_reply_error(r, 500, "internal", "storage query failed");
}

static bool parse_limit(struct http_request *r, int64_t *limit)
{
    *limit = LIMIT_DEFAULT;
    const char *q = http_req_query(r, "limit");
    if (q && !api_parse_i64(q, 1, LIMIT_MAX, limit)) {
        http_reply_error(r, 400, "bad_request", "limit must be an integer from 1 to %d",
                         LIMIT_MAX);
        return false;
    }
    return true;
}

/* Cursors are opaque to clients: hex of "a.b.c" (three integers). */
static void cursor_make(int64_t a, int64_t b, int64_t c, char out[CURSOR_MAX + 1])
{
    char raw[64];
    int n = snprintf(raw, sizeof raw, "%" PRId64 ".%" PRId64 ".%" PRId64, a, b, c);
    plat_hex((const uint8_t *)raw, (size_t)n, out);
}

static bool cursor_parse(const char *s, int64_t *a, int64_t *b, int64_t *c)
{
    size_t n = strlen(s);
    if (n == 0 || n % 2 || n > CURSOR_MAX)
        return false;
    char raw[CURSOR_MAX / 2 + 1];
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdef", s[2 * i]) ||
            !strchr("0123456789abcdef", s[2 * i + 1]))
            return false;
        raw[i] = (char)v;
    }
    raw[n / 2] = 0;
    long long x, y, z;
    int used = 0;
    if (sscanf(raw, "%lld.%lld.%lld%n", &x, &y, &z, &used) != 3 || (size_t)used != n / 2)
        return false;
    *a = x;
    *b = y;
    *c = z;
    return true;
}

void api_db_devices(struct api_db *d, struct http_request *r)
{
    int64_t limit;
    if (!parse_limit(r, &limit))
        return;
    const char *after = "";
    const char *cq = http_req_query(r, "cursor");
    char cursor_id[IOT_DEVICE_ID_MAX + 1] = "";
    if (cq) {
        size_t n = strlen(cq);
        bool ok = n && n % 2 == 0 && n / 2 <= IOT_DEVICE_ID_MAX;
        for (size_t i = 0; ok && i < n / 2; i++) {
            unsigned v;
            ok = sscanf(cq + 2 * i, "%2x", &v) == 1;
            cursor_id[i] = (char)v;
        }
        if (ok)
            cursor_id[n / 2] = 0;
        if (!ok || !iot_device_id_valid(cursor_id)) {
            http_reply_error(r, 400, "bad_request", "cursor is not one this API returned");
            return;
        }
        after = cursor_id;
    }
    sqlite3_stmt *st = prep(d, Q_DEVICES);
    sqlite3_bind_text(st, 1, after, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, limit + 1);
    cJSON *o = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(o, "devices");
    int rc, n = 0;
    char last[IOT_DEVICE_ID_MAX + 1] = "";
    bool more = false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == limit) {
            more = true;
            break;
        }
        cJSON *it = cJSON_CreateObject();
        if (!it)
            break;
        snprintf(last, sizeof last, "%s", text(st, 0));
        cJSON_AddStringToObject(it, "id", last);
        cJSON_AddStringToObject(it, "presence", sqlite3_column_int(st, 1) ? "online" : "offline");
        add_int_or_null(it, "last_seen_ms", st, 2);
        cJSON_AddStringToObject(it, "agent_version", text(st, 3));
        cJSON_AddStringToObject(it, "presence_reason", text(st, 4));
        cJSON_AddNumberToObject(it, "samples", (double)sqlite3_column_int64(st, 5));
        add_int_or_null(it, "reported_version", st, 6);
        cJSON_AddItemToArray(items, it);
        n++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        cJSON_Delete(o);
        db_error(d, r, Q_DEVICES, rc);
        return;
    }
    sqlite3_reset(st);
    if (more) {
        char cur[2 * IOT_DEVICE_ID_MAX + 1];
        plat_hex((const uint8_t *)last, strlen(last), cur);
        cJSON_AddStringToObject(o, "next_cursor", cur);
    } else {
        cJSON_AddNullToObject(o, "next_cursor");
    }
    http_reply_json(r, 200, o);
}

static void add_desired_and_counts(struct api_db *d, const char *id, cJSON *o, bool *known)
{
    sqlite3_stmt *st = prep(d, Q_DESIRED);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *known = true;
        cJSON *des = cJSON_AddObjectToObject(o, "desired");
        if (des) {
            cJSON_AddNumberToObject(des, "version", (double)sqlite3_column_int64(st, 0));
            json_add_raw(des, "settings", text(st, 1));
            cJSON_AddNumberToObject(des, "updated_ms", (double)sqlite3_column_int64(st, 2));
            cJSON_AddBoolToObject(des, "published", sqlite3_column_int(st, 3));
        }
    } else {
        cJSON_AddNullToObject(o, "desired");
    }
    sqlite3_reset(st);
    cJSON *counters = cJSON_GetObjectItemCaseSensitive(o, "counters");
    cJSON *cmds = counters ? cJSON_AddObjectToObject(counters, "commands") : NULL;
    for (int i = 0; cmds && i < CMD_STATE_COUNT; i++)
        cJSON_AddNumberToObject(cmds, cmd_state_name((enum cmd_state)i), 0);
    st = prep(d, Q_CMD_COUNTS);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    while (cmds && sqlite3_step(st) == SQLITE_ROW) {
        *known = true;
        cJSON *c = cJSON_GetObjectItemCaseSensitive(cmds, text(st, 0));
        if (c)
            cJSON_SetNumberValue(c, (double)sqlite3_column_int64(st, 1));
    }
    sqlite3_reset(st);
}

void api_db_device(struct api_db *d, struct http_request *r, const char *id)
{
    sqlite3_stmt *st = prep(d, Q_DEVICE);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_error(d, r, Q_DEVICE, rc);
        return;
    }
    bool known = rc == SQLITE_ROW;
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        sqlite3_reset(st);
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    cJSON_AddStringToObject(o, "id", id);
    cJSON *counters = cJSON_CreateObject();
    if (known) {
        cJSON_AddStringToObject(o, "presence", sqlite3_column_int(st, 1) ? "online" : "offline");
        cJSON_AddStringToObject(o, "presence_reason", text(st, 7));
        add_int_or_null(o, "presence_ms", st, 6);
        add_int_or_null(o, "last_seen_ms", st, 5);
        cJSON_AddStringToObject(o, "agent_version", text(st, 3));
        add_int_or_null(o, "boot_time_ms", st, 4);
        json_add_u64_str(o, "connection", (uint64_t)sqlite3_column_int64(st, 2));
        if (sqlite3_column_type(st, 9) != SQLITE_NULL) {
            cJSON *rep = cJSON_AddObjectToObject(o, "reported");
            if (rep) {
                cJSON_AddNumberToObject(rep, "version", (double)sqlite3_column_int64(st, 9));
                json_add_raw(rep, "settings", text(st, 10));
                add_int_or_null(rep, "at_ms", st, 11);
            }
        } else {
            cJSON_AddNullToObject(o, "reported");
        }
        if (counters)
            cJSON_AddNumberToObject(counters, "samples", (double)sqlite3_column_int64(st, 8));
    } else {
        cJSON_AddStringToObject(o, "presence", "unknown");
        cJSON_AddNullToObject(o, "reported");
        if (counters)
            cJSON_AddNumberToObject(counters, "samples", 0);
    }
    sqlite3_reset(st);
    if (counters)
        cJSON_AddItemToObject(o, "counters", counters);
    add_desired_and_counts(d, id, o, &known);
    if (!known) {
        cJSON_Delete(o);
        http_reply_error(r, 404, "not_found", "no device %s", id);
        return;
    }
    http_reply_json(r, 200, o);
}

static bool add_metrics(struct api_db *d, const char *id, int64_t epoch, int64_t seq,
                        const char *metric, cJSON *item)
{
    cJSON *m = cJSON_AddObjectToObject(item, "metrics");
    sqlite3_stmt *st = prep(d, Q_METRICS);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, epoch);
    sqlite3_bind_int64(st, 3, seq);
    if (metric)
        sqlite3_bind_text(st, 4, metric, -1, SQLITE_STATIC);
    int rc;
    while (m && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *v = cJSON_AddObjectToObject(m, text(st, 0));
        if (!v)
            continue;
        cJSON_AddNumberToObject(v, "value", sqlite3_column_double(st, 1));
        if (sqlite3_column_type(st, 2) != SQLITE_NULL)
            cJSON_AddStringToObject(v, "unit", text(st, 2));
    }
    sqlite3_reset(st);
    return m != NULL;
}

void api_db_telemetry(struct api_db *d, struct http_request *r, const char *id)
{
    int64_t limit, from = INT64_MIN, to = INT64_MAX, ct = 0, ce = 0, cs = 0;
    if (!parse_limit(r, &limit))
        return;
    const char *q = http_req_query(r, "from");
    if (q && !api_parse_i64(q, 0, INT64_MAX, &from)) {
        http_reply_error(r, 400, "bad_request", "from must be Unix time in milliseconds");
        return;
    }
    q = http_req_query(r, "to");
    if (q && !api_parse_i64(q, 0, INT64_MAX, &to)) {
        http_reply_error(r, 400, "bad_request", "to must be Unix time in milliseconds");
        return;
    }
    const char *metric = http_req_query(r, "metric");
    if (metric && !json_name_ok(metric, 64)) {
        http_reply_error(r, 400, "bad_request", "metric must match [A-Za-z0-9_.:-]{1,64}");
        return;
    }
    const char *cursor = http_req_query(r, "cursor");
    if (cursor && !cursor_parse(cursor, &ct, &ce, &cs)) {
        http_reply_error(r, 400, "bad_request", "cursor is not one this API returned");
        return;
    }
    sqlite3_stmt *st = prep(d, Q_SAMPLES);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, from);
    sqlite3_bind_int64(st, 3, to);
    if (metric)
        sqlite3_bind_text(st, 4, metric, -1, SQLITE_TRANSIENT);
    if (cursor) {
        sqlite3_bind_int64(st, 5, ct);
        sqlite3_bind_int64(st, 6, ce);
        sqlite3_bind_int64(st, 7, cs);
    }
    sqlite3_bind_int64(st, 8, limit + 1);
    /* Collect the page first: the metrics statement must not run while this one is open. */
    int64_t(*rows)[3] = iot_malloc((size_t)(limit + 1) * sizeof *rows);
    if (!rows) {
        sqlite3_reset(st);
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    int64_t n = 0;
    int rc;
    while (n <= limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rows[n][0] = sqlite3_column_int64(st, 0);
        rows[n][1] = sqlite3_column_int64(st, 1);
        rows[n][2] = sqlite3_column_int64(st, 2);
        n++;
    }
    if (n <= limit && rc != SQLITE_DONE) {
        iot_free(rows);
        db_error(d, r, Q_SAMPLES, rc);
        return;
    }
    sqlite3_reset(st);
    bool more = n > limit;
    if (more)
        n = limit;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "device_id", id);
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    for (int64_t i = 0; items && i < n; i++) {
        cJSON *it = cJSON_CreateObject();
        if (!it)
            break;
        json_add_u64_str(it, "epoch", (uint64_t)rows[i][0]);
        cJSON_AddNumberToObject(it, "seq", (double)rows[i][1]);
        cJSON_AddNumberToObject(it, "time_ms", (double)rows[i][2]);
        add_metrics(d, id, rows[i][0], rows[i][1], metric, it);
        cJSON_AddItemToArray(items, it);
    }
    if (more) {
        char cur[CURSOR_MAX + 1];
        cursor_make(rows[n - 1][2], rows[n - 1][0], rows[n - 1][1], cur);
        cJSON_AddStringToObject(o, "next_cursor", cur);
    } else {
        cJSON_AddNullToObject(o, "next_cursor");
    }
    iot_free(rows);
    http_reply_json(r, 200, o);
}
