/* SPDX-License-Identifier: Apache-2.0 */
/* Registry, sequence gaps and telemetry reads for the /v1 API over its own read connection (sdb:
 * SQLite in WAL mode, where readers never block the ingest writer, or PostgreSQL). Used only on
 * MHD's single polling thread, so it needs no lock; every statement is short and reset at once
 * (no long read snapshot that would hold back checkpoints). */
#define IOT_LOG_TAG "cloud.apidata"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_crypto.h"
#include "sdb.h"

#define LIMIT_DEFAULT 100
#define LIMIT_MAX 1000
#define CURSOR_MAX 128
#define EPOCHS_MAX 100   /* epochs shown per device */
#define GAPS_MAX 100     /* gap ranges shown per device */
#define DROPPED_MAX 1000 /* dropped ranges read per device (the first 100 are shown) */
#define DROPPED_SHOWN 100

enum q_id {
    Q_DEVICES,
    Q_DEVICE,
    Q_DESIRED,
    Q_CMD_COUNTS,
    Q_SAMPLES,
    Q_METRICS,
    Q_EPOCHS,
    Q_GAPS,
    Q_DROPPED,
    Q_COUNT
};

static const struct sdb_sql sql[Q_COUNT] = {
    [Q_DEVICES] = {"SELECT device_id, online, last_seen_ms, agent_version, presence_reason,"
                   " samples, reported_version FROM devices WHERE device_id > ?1"
                   " ORDER BY device_id LIMIT ?2", NULL},
    [Q_DEVICE] = {"SELECT device_id, online, connection, agent_version, boot_time_ms,"
                  " last_seen_ms, presence_ms, presence_reason, samples, reported_version,"
                  " reported_settings, reported_ms FROM devices WHERE device_id = ?1", NULL},
    [Q_DESIRED] = {"SELECT version, settings, updated_ms, published FROM desired_state"
                   " WHERE device_id = ?1", NULL},
    [Q_CMD_COUNTS] = {"SELECT state, count(*) FROM commands WHERE device_id = ?1"
                      " GROUP BY state", NULL},
    [Q_SAMPLES] = {
        "SELECT epoch, seq, time_ms FROM samples s WHERE device_id = ?1"
        " AND time_ms >= ?2 AND time_ms <= ?3"
        " AND (?4 IS NULL OR EXISTS (SELECT 1 FROM metrics m WHERE m.device_id = ?1"
        " AND m.epoch = s.epoch AND m.seq = s.seq AND m.name = ?4))"
        " AND (?5 IS NULL OR (time_ms, epoch, seq) < (?5, ?6, ?7))"
        " ORDER BY time_ms DESC, epoch DESC, seq DESC LIMIT ?8",
        "SELECT epoch, seq, time_ms FROM samples s WHERE device_id = $1"
        " AND time_ms >= $2 AND time_ms <= $3"
        " AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM metrics m WHERE m.device_id = $1"
        " AND m.epoch = s.epoch AND m.seq = s.seq AND m.name = $4::text))"
        " AND ($5::int8 IS NULL OR (time_ms, epoch, seq) < ($5::int8, $6::int8, $7::int8))"
        " ORDER BY time_ms DESC, epoch DESC, seq DESC LIMIT $8"},
    [Q_METRICS] = {"SELECT name, value, unit FROM metrics WHERE device_id = ?1 AND epoch = ?2"
                   " AND seq = ?3 AND (?4 IS NULL OR name = ?4)",
                   "SELECT name, value, unit FROM metrics WHERE device_id = $1 AND epoch = $2"
                   " AND seq = $3 AND ($4::text IS NULL OR name = $4::text)"},
    /* The per-epoch summaries kept by every commit: only epochs whose span is not complete need
     * the window scan below. */
    [Q_EPOCHS] = {"SELECT epoch, min_seq, max_seq, stored FROM seq_stats WHERE device_id = ?1"
                  " ORDER BY epoch LIMIT ?2", NULL},
    /* Holes between consecutive stored seqs of one epoch, in order, walking the primary key. */
    [Q_GAPS] = {"SELECT seq + 1, nxt - 1 FROM (SELECT seq, lead(seq) OVER (ORDER BY seq) AS nxt"
                " FROM samples WHERE device_id = ?1 AND epoch = ?2) AS t WHERE nxt > seq + 1"
                " ORDER BY seq LIMIT ?3", NULL},
    [Q_DROPPED] = {"SELECT epoch, first, last FROM dropped_ranges WHERE device_id = ?1"
                   " ORDER BY epoch, first, last LIMIT ?2", NULL},
};

struct api_db {
    struct sdb *db;
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

enum iot_err api_db_open(enum cloud_storage_kind kind, const char *storage, struct api_db **out)
{
    struct api_db *d = iot_calloc(1, sizeof *d);
    if (!d)
        return IOT_ERR_NOMEM;
    enum iot_err rc = sdb_open(kind, storage, true, sql, Q_COUNT, "API", &d->db);
    if (rc != IOT_OK) {
        iot_free(d);
        return rc;
    }
    *out = d;
    return IOT_OK;
}

void api_db_close(struct api_db *d)
{
    if (!d)
        return;
    sdb_close(d->db);
    iot_free(d);
}

static struct sdb_stmt *prep(struct api_db *d, enum q_id id) { return sdb_stmt(d->db, id); }

static void add_int_or_null(cJSON *o, const char *k, struct sdb_stmt *st, int i)
{
    if (sdb_col_null(st, i))
        cJSON_AddNullToObject(o, k);
    else
        cJSON_AddNumberToObject(o, k, (double)sdb_col_i64(st, i));
}

/* A failed read (sdb logged the cause): 503 with Retry-After when it waited for a lock past the
 * lock wait (IOT_ERR_TIMEOUT: SQLite busy, PostgreSQL lock_timeout, e.g. an ACCESS EXCLUSIVE lock
 * of a migration), as a busy write; 500 otherwise. */
static void reply_read_error(struct http_request *r, enum iot_err rc)
{
    api_reply_store_error(r, rc, "storage read");
}

static void db_error(struct sdb_stmt *st, struct http_request *r)
{
    sdb_reset(st);
    reply_read_error(r, sdb_step_err(st));
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
    struct sdb_stmt *st = prep(d, Q_DEVICES);
    sdb_bind_text(st, 1, after);
    sdb_bind_i64(st, 2, limit + 1);
    cJSON *o = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(o, "devices");
    enum sdb_step rc;
    int n = 0;
    char last[IOT_DEVICE_ID_MAX + 1] = "";
    bool more = false;
    while ((rc = sdb_step(st)) == SDB_ROW) {
        if (n == limit) {
            more = true;
            break;
        }
        cJSON *it = cJSON_CreateObject();
        if (!it)
            break;
        snprintf(last, sizeof last, "%s", sdb_col_text(st, 0));
        cJSON_AddStringToObject(it, "id", last);
        cJSON_AddStringToObject(it, "presence", sdb_col_i64(st, 1) ? "online" : "offline");
        add_int_or_null(it, "last_seen_ms", st, 2);
        cJSON_AddStringToObject(it, "agent_version", sdb_col_text(st, 3));
        cJSON_AddStringToObject(it, "presence_reason", sdb_col_text(st, 4));
        cJSON_AddNumberToObject(it, "samples", (double)sdb_col_i64(st, 5));
        add_int_or_null(it, "reported_version", st, 6);
        cJSON_AddItemToArray(items, it);
        n++;
    }
    if (rc == SDB_ERROR) {
        cJSON_Delete(o);
        db_error(st, r);
        return;
    }
    sdb_reset(st);
    if (more) {
        char cur[2 * IOT_DEVICE_ID_MAX + 1];
        plat_hex((const uint8_t *)last, strlen(last), cur);
        cJSON_AddStringToObject(o, "next_cursor", cur);
    } else {
        cJSON_AddNullToObject(o, "next_cursor");
    }
    http_reply_json(r, 200, o);
}

/* @return IOT_OK, IOT_ERR_TIMEOUT, IOT_ERR_IO */
static enum iot_err add_desired_and_counts(struct api_db *d, const char *id, cJSON *o, bool *known)
{
    struct sdb_stmt *st = prep(d, Q_DESIRED);
    sdb_bind_text(st, 1, id);
    enum sdb_step rc = sdb_step(st);
    if (rc == SDB_ERROR) {
        sdb_reset(st);
        return sdb_step_err(st);
    }
    if (rc == SDB_ROW) {
        *known = true;
        cJSON *des = cJSON_AddObjectToObject(o, "desired");
        if (des) {
            cJSON_AddNumberToObject(des, "version", (double)sdb_col_i64(st, 0));
            json_add_raw(des, "settings", sdb_col_text(st, 1));
            cJSON_AddNumberToObject(des, "updated_ms", (double)sdb_col_i64(st, 2));
            cJSON_AddBoolToObject(des, "published", sdb_col_i64(st, 3) != 0);
        }
    } else {
        cJSON_AddNullToObject(o, "desired");
    }
    sdb_reset(st);
    cJSON *counters = cJSON_GetObjectItemCaseSensitive(o, "counters");
    cJSON *cmds = counters ? cJSON_AddObjectToObject(counters, "commands") : NULL;
    for (int i = 0; cmds && i < CMD_STATE_COUNT; i++)
        cJSON_AddNumberToObject(cmds, cmd_state_name((enum cmd_state)i), 0);
    st = prep(d, Q_CMD_COUNTS);
    sdb_bind_text(st, 1, id);
    rc = SDB_DONE;
    while (cmds && (rc = sdb_step(st)) == SDB_ROW) {
        *known = true;
        cJSON *c = cJSON_GetObjectItemCaseSensitive(cmds, sdb_col_text(st, 0));
        if (c)
            cJSON_SetNumberValue(c, (double)sdb_col_i64(st, 1));
    }
    sdb_reset(st);
    return rc == SDB_ERROR ? sdb_step_err(st) : IOT_OK;
}

struct seq_range {
    int64_t epoch, first, last;
};

static cJSON *range_json(int64_t epoch, int64_t first, int64_t last)
{
    cJSON *g = cJSON_CreateObject();
    if (g) {
        json_add_u64_str(g, "epoch", (uint64_t)epoch);
        cJSON_AddNumberToObject(g, "first", (double)first);
        cJSON_AddNumberToObject(g, "last", (double)last);
    }
    return g;
}

/* Add the pieces of [first, last] that no dropped range of @p epoch covers (@p dr sorted). */
static size_t add_gap(cJSON *gaps, size_t room, int64_t epoch, int64_t first, int64_t last,
                      const struct seq_range *dr, size_t n_dr)
{
    size_t added = 0;
    for (size_t i = 0; i < n_dr && first <= last; i++) {
        if (dr[i].epoch != epoch || dr[i].last < first)
            continue;
        if (dr[i].first > last)
            break;
        if (dr[i].first > first && added < room) {
            cJSON_AddItemToArray(gaps, range_json(epoch, first, dr[i].first - 1));
            added++;
        }
        first = dr[i].last + 1;
    }
    if (first <= last && added < room) {
        cJSON_AddItemToArray(gaps, range_json(epoch, first, last));
        added++;
    }
    return added;
}

/* "epochs" (the summaries), "gaps" (missing and not reported dropped) and "dropped" (as the device
 * reported them), each bounded; "*_truncated" says when there is more.
 * @return IOT_OK, IOT_ERR_NOMEM, IOT_ERR_TIMEOUT, IOT_ERR_IO */
static enum iot_err add_sequence(struct api_db *d, const char *id, cJSON *o)
{
    struct seq_range *dr = iot_malloc(DROPPED_MAX * sizeof *dr);
    if (!dr)
        return IOT_ERR_NOMEM;
    size_t n_dr = 0;
    struct sdb_stmt *st = prep(d, Q_DROPPED);
    sdb_bind_text(st, 1, id);
    sdb_bind_i64(st, 2, DROPPED_MAX);
    enum sdb_step rc;
    cJSON *dropped = cJSON_AddArrayToObject(o, "dropped");
    while ((rc = sdb_step(st)) == SDB_ROW && n_dr < DROPPED_MAX) {
        dr[n_dr] = (struct seq_range){sdb_col_i64(st, 0), sdb_col_i64(st, 1), sdb_col_i64(st, 2)};
        if (dropped && n_dr < DROPPED_SHOWN)
            cJSON_AddItemToArray(dropped, range_json(dr[n_dr].epoch, dr[n_dr].first,
                                                     dr[n_dr].last));
        n_dr++;
    }
    sdb_reset(st);
    bool ok = rc != SDB_ERROR;
    cJSON_AddBoolToObject(o, "dropped_truncated", n_dr > DROPPED_SHOWN);

    /* Read the summaries first: the gap statement must not run while this one is open. */
    struct seq_range ep[EPOCHS_MAX];
    int64_t stored[EPOCHS_MAX];
    size_t n_ep = 0;
    st = prep(d, Q_EPOCHS);
    sdb_bind_text(st, 1, id);
    sdb_bind_i64(st, 2, EPOCHS_MAX);
    while (ok && (rc = sdb_step(st)) == SDB_ROW && n_ep < EPOCHS_MAX) {
        ep[n_ep] = (struct seq_range){sdb_col_i64(st, 0), sdb_col_i64(st, 1), sdb_col_i64(st, 2)};
        stored[n_ep++] = sdb_col_i64(st, 3);
    }
    sdb_reset(st);
    ok = ok && rc != SDB_ERROR;
    cJSON *epochs = cJSON_AddArrayToObject(o, "epochs");
    cJSON *gaps = cJSON_AddArrayToObject(o, "gaps");
    size_t n_gaps = 0;
    bool truncated = false;
    for (size_t i = 0; ok && epochs && gaps && i < n_ep; i++) {
        cJSON *e = range_json(ep[i].epoch, ep[i].first, ep[i].last);
        if (!e)
            break;
        cJSON_AddNumberToObject(e, "stored", (double)stored[i]);
        cJSON_AddItemToArray(epochs, e);
        if (ep[i].last - ep[i].first + 1 <= stored[i])
            continue; /* complete: no scan */
        if (n_gaps == GAPS_MAX) {
            truncated = true;
            continue;
        }
        st = prep(d, Q_GAPS);
        sdb_bind_text(st, 1, id);
        sdb_bind_i64(st, 2, ep[i].epoch);
        sdb_bind_i64(st, 3, GAPS_MAX + 1);
        while ((rc = sdb_step(st)) == SDB_ROW) {
            if (n_gaps == GAPS_MAX) {
                truncated = true;
                break;
            }
            n_gaps += add_gap(gaps, GAPS_MAX - n_gaps, ep[i].epoch, sdb_col_i64(st, 0),
                              sdb_col_i64(st, 1), dr, n_dr);
        }
        sdb_reset(st);
        ok = rc != SDB_ERROR;
    }
    cJSON_AddBoolToObject(o, "gaps_truncated", truncated);
    iot_free(dr);
    return ok ? IOT_OK : sdb_step_err(st);
}

void api_db_device(struct api_db *d, struct http_request *r, const char *id)
{
    struct sdb_stmt *st = prep(d, Q_DEVICE);
    sdb_bind_text(st, 1, id);
    enum sdb_step rc = sdb_step(st);
    if (rc == SDB_ERROR) {
        db_error(st, r);
        return;
    }
    bool known = rc == SDB_ROW;
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        sdb_reset(st);
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    cJSON_AddStringToObject(o, "id", id);
    cJSON *counters = cJSON_CreateObject();
    if (known) {
        cJSON_AddStringToObject(o, "presence", sdb_col_i64(st, 1) ? "online" : "offline");
        cJSON_AddStringToObject(o, "presence_reason", sdb_col_text(st, 7));
        add_int_or_null(o, "presence_ms", st, 6);
        add_int_or_null(o, "last_seen_ms", st, 5);
        cJSON_AddStringToObject(o, "agent_version", sdb_col_text(st, 3));
        add_int_or_null(o, "boot_time_ms", st, 4);
        json_add_u64_str(o, "connection", (uint64_t)sdb_col_i64(st, 2));
        if (!sdb_col_null(st, 9)) {
            cJSON *rep = cJSON_AddObjectToObject(o, "reported");
            if (rep) {
                cJSON_AddNumberToObject(rep, "version", (double)sdb_col_i64(st, 9));
                json_add_raw(rep, "settings", sdb_col_text(st, 10));
                add_int_or_null(rep, "at_ms", st, 11);
            }
        } else {
            cJSON_AddNullToObject(o, "reported");
        }
        if (counters)
            cJSON_AddNumberToObject(counters, "samples", (double)sdb_col_i64(st, 8));
    } else {
        cJSON_AddStringToObject(o, "presence", "unknown");
        cJSON_AddNullToObject(o, "reported");
        if (counters)
            cJSON_AddNumberToObject(counters, "samples", 0);
    }
    sdb_reset(st);
    if (counters)
        cJSON_AddItemToObject(o, "counters", counters);
    enum iot_err err = add_desired_and_counts(d, id, o, &known);
    if (err == IOT_OK && !known) {
        cJSON_Delete(o);
        http_reply_error(r, 404, "not_found", "no device %s", id);
        return;
    }
    if (err == IOT_OK)
        err = add_sequence(d, id, o);
    if (err != IOT_OK) {
        cJSON_Delete(o);
        reply_read_error(r, err);
        return;
    }
    http_reply_json(r, 200, o);
}

/* @return IOT_OK, IOT_ERR_NOMEM, IOT_ERR_TIMEOUT, IOT_ERR_IO */
static enum iot_err add_metrics(struct api_db *d, const char *id, int64_t epoch, int64_t seq,
                                const char *metric, cJSON *item)
{
    cJSON *m = cJSON_AddObjectToObject(item, "metrics");
    struct sdb_stmt *st = prep(d, Q_METRICS);
    sdb_bind_text(st, 1, id);
    sdb_bind_i64(st, 2, epoch);
    sdb_bind_i64(st, 3, seq);
    sdb_bind_text(st, 4, metric);
    enum sdb_step rc = SDB_DONE;
    while (m && (rc = sdb_step(st)) == SDB_ROW) {
        cJSON *v = cJSON_AddObjectToObject(m, sdb_col_text(st, 0));
        if (!v)
            continue;
        cJSON_AddNumberToObject(v, "value", sdb_col_f64(st, 1));
        if (!sdb_col_null(st, 2))
            cJSON_AddStringToObject(v, "unit", sdb_col_text(st, 2));
    }
    sdb_reset(st);
    if (rc == SDB_ERROR)
        return sdb_step_err(st);
    return m ? IOT_OK : IOT_ERR_NOMEM;
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
    struct sdb_stmt *st = prep(d, Q_SAMPLES);
    sdb_bind_text(st, 1, id);
    sdb_bind_i64(st, 2, from);
    sdb_bind_i64(st, 3, to);
    sdb_bind_text(st, 4, metric);
    if (cursor) {
        sdb_bind_i64(st, 5, ct);
        sdb_bind_i64(st, 6, ce);
        sdb_bind_i64(st, 7, cs);
    } else {
        sdb_bind_null(st, 5);
        sdb_bind_null(st, 6);
        sdb_bind_null(st, 7);
    }
    sdb_bind_i64(st, 8, limit + 1);
    /* Collect the page first: the metrics statement must not run while this one is open. */
    int64_t(*rows)[3] = iot_malloc((size_t)(limit + 1) * sizeof *rows);
    if (!rows) {
        sdb_reset(st);
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    int64_t n = 0;
    enum sdb_step rc = SDB_DONE;
    while (n <= limit && (rc = sdb_step(st)) == SDB_ROW) {
        rows[n][0] = sdb_col_i64(st, 0);
        rows[n][1] = sdb_col_i64(st, 1);
        rows[n][2] = sdb_col_i64(st, 2);
        n++;
    }
    if (rc == SDB_ERROR) {
        iot_free(rows);
        db_error(st, r);
        return;
    }
    sdb_reset(st);
    bool more = n > limit;
    if (more)
        n = limit;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "device_id", id);
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    enum iot_err err = IOT_OK;
    for (int64_t i = 0; items && i < n && err == IOT_OK; i++) {
        cJSON *it = cJSON_CreateObject();
        if (!it)
            break;
        json_add_u64_str(it, "epoch", (uint64_t)rows[i][0]);
        cJSON_AddNumberToObject(it, "seq", (double)rows[i][1]);
        cJSON_AddNumberToObject(it, "time_ms", (double)rows[i][2]);
        err = add_metrics(d, id, rows[i][0], rows[i][1], metric, it);
        cJSON_AddItemToArray(items, it);
    }
    if (err == IOT_ERR_TIMEOUT || err == IOT_ERR_IO) { /* a page without its values: none */
        iot_free(rows);
        cJSON_Delete(o);
        reply_read_error(r, err);
        return;
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
