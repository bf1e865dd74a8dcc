/* SPDX-License-Identifier: Apache-2.0 */
/* SQLite backend of struct ingest_store_ops: one writing connection (WAL, synchronous=NORMAL),
 * prepared statements reused, transactions driven by the caller (one per batch). */
#define IOT_LOG_TAG "cloud.store"
#include "ingest/store.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <string.h>

#include "iot/log.h"
#include "iot/mem.h"
#include "json_util.h"
#include "ingest_internal.h"
#include "sample_json.h"
#include "store_acc.h"

#define SCHEMA_VERSION 4
#define BUSY_TIMEOUT_MS 5000
/* 8 MiB of page cache (SQLite's default is 2 MiB): the three indexes keyed by device take
 * inserts at one leaf per device, and with 100 devices their hot leaves outgrow 2 MiB, so every
 * batch re-read pages with a syscall each. */
#define CACHE_SIZE_PRAGMA "-8192"
/* Checkpoint the WAL every 4,000 pages (16 MiB; SQLite's default is 1,000): a checkpoint writes
 * each page changed since the last one once, and the hot index leaves (one per device) change in
 * every batch, so fewer checkpoints write them fewer times (store bench: 5.3 -> 4.9 us/message). */
#define WAL_AUTOCHECKPOINT_PRAGMA "4000"

/* Exact schema: test scripts and operators query these tables with the sqlite3 CLI. */
static const char schema_sql[] =
    "CREATE TABLE samples(device_id TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " time_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL, UNIQUE(device_id, epoch, seq));"
    "CREATE TABLE metrics(device_id TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " name TEXT NOT NULL, value REAL NOT NULL, unit TEXT);"
    "CREATE INDEX metrics_by_name ON metrics(device_id, name, epoch, seq);"
    "CREATE INDEX metrics_by_sample ON metrics(device_id, epoch, seq);"
    "CREATE TABLE devices(device_id TEXT PRIMARY KEY, online INTEGER NOT NULL DEFAULT 0,"
    " connection INTEGER NOT NULL DEFAULT 0, agent_version TEXT, boot_time_ms INTEGER,"
    " last_seen_ms INTEGER, presence_ms INTEGER, presence_reason TEXT,"
    " samples INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE dead_letters(id INTEGER PRIMARY KEY, received_ms INTEGER NOT NULL,"
    " topic TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT, payload BLOB);"
    "CREATE TABLE dropped_ranges(device_id TEXT NOT NULL, epoch INTEGER NOT NULL,"
    " first INTEGER NOT NULL, last INTEGER NOT NULL, received_ms INTEGER NOT NULL,"
    " UNIQUE(device_id, epoch, first, last));"
    "PRAGMA user_version = 1;";

/* Version 2: the HTTP API (issue 4): reported state on the device row, desired state, commands.
 * JSON columns hold objects/arrays written with SQLite's JSON1 functions or cJSON. */
static const char schema_v2_sql[] =
    "ALTER TABLE devices ADD COLUMN reported_version INTEGER;"
    "ALTER TABLE devices ADD COLUMN reported_settings TEXT;"
    "ALTER TABLE devices ADD COLUMN reported_ms INTEGER;"
    "CREATE INDEX samples_by_time ON samples(device_id, time_ms);"
    "CREATE TABLE desired_state(device_id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
    " settings TEXT NOT NULL, updated_ms INTEGER NOT NULL, published INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE commands(id TEXT PRIMARY KEY, device_id TEXT NOT NULL, name TEXT NOT NULL,"
    " params TEXT NOT NULL, state TEXT NOT NULL, created_ms INTEGER NOT NULL,"
    " expires_ms INTEGER NOT NULL, timeout_s INTEGER NOT NULL, callback_url TEXT,"
    " idempotency_key TEXT, payload BLOB NOT NULL, history TEXT NOT NULL, result TEXT,"
    " webhook_state TEXT, webhook_tries TEXT, updated_ms INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX commands_idem ON commands(device_id, idempotency_key)"
    " WHERE idempotency_key IS NOT NULL;"
    "CREATE INDEX commands_active ON commands(state, expires_ms);"
    "CREATE INDEX commands_by_device ON commands(device_id, created_ms);"
    "PRAGMA user_version = 2;";

/* Version 3 (issue 5): per (device, epoch) the lowest and highest stored seq and how many are
 * stored, kept by every commit, so gaps are found without scanning complete epochs. The metrics
 * index by name goes: the API's name filter is served by metrics_by_sample (same device, epoch
 * and seq, then the name), and one index fewer on the biggest table is a quarter fewer b-tree
 * inserts per message. */
static const char schema_v3_sql[] =
    "DROP INDEX IF EXISTS metrics_by_name;"
    "CREATE TABLE seq_stats(device_id TEXT NOT NULL, epoch INTEGER NOT NULL,"
    " min_seq INTEGER NOT NULL, max_seq INTEGER NOT NULL, stored INTEGER NOT NULL,"
    " PRIMARY KEY(device_id, epoch));"
    "INSERT INTO seq_stats SELECT device_id, epoch, min(seq), max(seq), count(*) FROM samples"
    " GROUP BY device_id, epoch;"
    "PRAGMA user_version = 3;";

/* Version 4 (issue 5, ingest cost): a sample's metrics move into one JSON column of its row
 * (sample_json.h), and `metrics` becomes a view with the old table's columns, so queries (the
 * API's, operators', the tests') keep working. Per message this writes 3 b-tree entries instead
 * of 9 (the metrics table and its index per metric): measured ~2.5x less CPU per stored sample. */
static const char schema_v4_sql[] =
    "ALTER TABLE samples ADD COLUMN metrics TEXT NOT NULL DEFAULT '[]';"
    "UPDATE samples SET metrics = (SELECT json_group_array(CASE WHEN unit IS NULL"
    " THEN json_array(name, value) ELSE json_array(name, value, unit) END)"
    " FROM (SELECT name, value, unit FROM metrics m WHERE m.device_id = samples.device_id"
    " AND m.epoch = samples.epoch AND m.seq = samples.seq ORDER BY m.rowid));"
    "DROP TABLE metrics;"
    "CREATE VIEW metrics(device_id, epoch, seq, name, value, unit) AS"
    " SELECT s.device_id, s.epoch, s.seq, json_extract(j.value, '$[0]'),"
    " json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]')"
    " FROM samples s, json_each(s.metrics) j;"
    "PRAGMA user_version = 4;";

static const char *const migrations[] = {NULL, schema_sql, schema_v2_sql, schema_v3_sql,
                                         schema_v4_sql};

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_INS_SAMPLE,
    ST_INS_DROPPED,
    ST_DEV_TELEMETRY,
    ST_DEV_GET,
    ST_DEV_PRESENCE,
    ST_INS_DEAD,
    ST_DEV_REPORTED,
    ST_SEQ_STATS,
    ST_TOTALS,
    ST_DROPPED_TOTAL,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_INS_SAMPLE] = "INSERT OR IGNORE INTO samples(device_id, epoch, seq, time_ms, received_ms,"
                      " metrics) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_INS_DROPPED] = "INSERT OR IGNORE INTO dropped_ranges(device_id, epoch, first, last,"
                       " received_ms) VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_DEV_TELEMETRY] = "INSERT INTO devices(device_id, last_seen_ms, samples) VALUES(?1, ?2, ?3)"
                         " ON CONFLICT(device_id) DO UPDATE SET"
                         " last_seen_ms = max(coalesce(last_seen_ms, 0), excluded.last_seen_ms),"
                         " samples = samples + excluded.samples",
    [ST_DEV_GET] = "SELECT connection, online, presence_ms IS NOT NULL FROM devices"
                   " WHERE device_id = ?1",
    [ST_DEV_PRESENCE] =
        "INSERT INTO devices(device_id, online, connection, agent_version, boot_time_ms,"
        " last_seen_ms, presence_ms, presence_reason) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        " ON CONFLICT(device_id) DO UPDATE SET online = excluded.online,"
        " connection = excluded.connection,"
        " agent_version = coalesce(excluded.agent_version, agent_version),"
        " boot_time_ms = coalesce(excluded.boot_time_ms, boot_time_ms),"
        " last_seen_ms = max(coalesce(last_seen_ms, 0), coalesce(excluded.last_seen_ms, 0)),"
        " presence_ms = excluded.presence_ms, presence_reason = excluded.presence_reason",
    [ST_INS_DEAD] = "INSERT INTO dead_letters(received_ms, topic, reason, detail, payload)"
                    " VALUES(?1, ?2, ?3, ?4, ?5)",
    /* The highest version wins; the same version again (a re-report after a restart) refreshes. */
    [ST_DEV_REPORTED] =
        "INSERT INTO devices(device_id, last_seen_ms, reported_version, reported_settings,"
        " reported_ms) VALUES(?1, ?2, ?3, ?4, ?2)"
        " ON CONFLICT(device_id) DO UPDATE SET"
        " last_seen_ms = max(coalesce(last_seen_ms, 0), excluded.last_seen_ms),"
        " reported_version = excluded.reported_version,"
        " reported_settings = excluded.reported_settings, reported_ms = excluded.reported_ms"
        " WHERE reported_version IS NULL OR reported_version <= excluded.reported_version",
    [ST_SEQ_STATS] = "INSERT INTO seq_stats(device_id, epoch, min_seq, max_seq, stored)"
                     " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(device_id, epoch) DO UPDATE SET"
                     " min_seq = min(min_seq, excluded.min_seq),"
                     " max_seq = max(max_seq, excluded.max_seq), stored = stored + excluded.stored",
    /* missing = span - stored - (reported dropped seqs inside the span) */
    [ST_TOTALS] = "SELECT coalesce(sum(m), 0), count(*) FROM (SELECT s.max_seq - s.min_seq + 1"
                  " - s.stored - coalesce((SELECT sum(max(0, min(d.last, s.max_seq)"
                  " - max(d.first, s.min_seq) + 1)) FROM dropped_ranges d"
                  " WHERE d.device_id = s.device_id AND d.epoch = s.epoch), 0) AS m"
                  " FROM seq_stats s WHERE s.max_seq - s.min_seq + 1 > s.stored) WHERE m > 0",
    [ST_DROPPED_TOTAL] = "SELECT coalesce(sum(last - first + 1), 0) FROM dropped_ranges",
};

struct sqlite_store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *st[ST_COUNT];
    struct store_acc acc; /* device rows and seq summaries of the open transaction */
    struct sample_json json; /* the metrics column, reused sample to sample */
};

/* Run a statement that returns no rows; resets it for the next use. */
static enum iot_err step_done(struct sqlite_store *s, enum stmt_id id)
{
    sqlite3_stmt *st = s->st[id];
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        IOT_LOG(IOT_LOG_ERROR, "%s: statement %d failed: %s (%d)", s->path, (int)id,
                sqlite3_errmsg(s->db), rc);
        return IOT_ERR_IO;
    }
    return IOT_OK;
}

static void bind_text_or_null(sqlite3_stmt *st, int idx, const char *v)
{
    if (v && v[0])
        sqlite3_bind_text(st, idx, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, idx);
}

static enum iot_err sq_begin(void *ctx)
{
    struct sqlite_store *s = ctx;
    store_acc_clear(&s->acc);
    return step_done(s, ST_BEGIN);
}

/* The batch's device rows and seq summaries, once per (device, epoch). */
static enum iot_err flush_acc(struct sqlite_store *s)
{
    for (size_t i = 0; i < s->acc.n; i++) {
        const struct store_acc_entry *e = &s->acc.v[i];
        sqlite3_stmt *st = s->st[ST_DEV_TELEMETRY];
        sqlite3_bind_text(st, 1, e->key.device_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, e->last_seen_ms);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)e->stored);
        enum iot_err rc = step_done(s, ST_DEV_TELEMETRY);
        if (rc != IOT_OK)
            return rc;
        if (!e->stored)
            continue; /* only duplicates: already inside the summary */
        st = s->st[ST_SEQ_STATS];
        sqlite3_bind_text(st, 1, e->key.device_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)e->key.epoch);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)e->min_seq);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)e->max_seq);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)e->stored);
        rc = step_done(s, ST_SEQ_STATS);
        if (rc != IOT_OK)
            return rc;
    }
    return IOT_OK;
}

static enum iot_err sq_commit(void *ctx)
{
    struct sqlite_store *s = ctx;
    enum iot_err rc = flush_acc(s);
    store_acc_clear(&s->acc);
    if (rc == IOT_OK)
        rc = step_done(s, ST_COMMIT);
    if (rc != IOT_OK && !sqlite3_get_autocommit(s->db))
        (void)step_done(s, ST_ROLLBACK);
    return rc;
}

static void sq_rollback(void *ctx)
{
    struct sqlite_store *s = ctx;
    store_acc_clear(&s->acc);
    if (!sqlite3_get_autocommit(s->db))
        (void)step_done(s, ST_ROLLBACK);
}

static enum iot_err sq_put_telemetry(void *ctx, const Iot__V1__TelemetryBatch *b,
                                     int64_t received_ms, struct ingest_telemetry_result *res)
{
    struct sqlite_store *s = ctx;
    const char *dev = b->device_id;
    sqlite3_int64 epoch = (sqlite3_int64)b->epoch; /* u64 -> i64 cast, see store.h */
    struct ingest_telemetry_result r = {0, 0};
    enum iot_err rc = IOT_OK;
    uint64_t lo = UINT64_MAX, hi = 0;

    for (size_t i = 0; i < b->n_samples; i++) {
        const Iot__V1__Sample *smp = b->samples[i];
        lo = smp->seq < lo ? smp->seq : lo;
        hi = smp->seq > hi ? smp->seq : hi;
        sqlite3_stmt *st = s->st[ST_INS_SAMPLE];
        sqlite3_bind_text(st, 1, dev, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, epoch);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)smp->seq);
        sqlite3_bind_int64(st, 4, smp->time_ms);
        sqlite3_bind_int64(st, 5, received_ms);
        rc = sample_json_encode(&s->json, smp);
        if (rc != IOT_OK)
            return rc;
        sqlite3_bind_text(st, 6, s->json.buf, (int)s->json.len, SQLITE_STATIC);
        rc = step_done(s, ST_INS_SAMPLE);
        if (rc != IOT_OK)
            return rc;
        if (sqlite3_changes(s->db) == 0)
            r.duplicate++;
        else
            r.stored++;
    }
    for (size_t i = 0; i < b->n_dropped; i++) {
        sqlite3_stmt *st = s->st[ST_INS_DROPPED];
        sqlite3_bind_text(st, 1, dev, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, epoch);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)b->dropped[i]->first);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)b->dropped[i]->last);
        sqlite3_bind_int64(st, 5, received_ms);
        rc = step_done(s, ST_INS_DROPPED);
        if (rc != IOT_OK)
            return rc;
    }
    if (!b->n_samples)
        lo = hi = 0;
    rc = store_acc_add(&s->acc, dev, b->epoch, received_ms, r.stored, lo, hi);
    if (rc == IOT_OK)
        *res = r;
    return rc;
}

static const char *presence_reason_name(Iot__V1__Presence__Reason r)
{
    switch (r) {
    case IOT__V1__PRESENCE__REASON__CONNECTED: return "connected";
    case IOT__V1__PRESENCE__REASON__CLEAN_SHUTDOWN: return "clean_shutdown";
    case IOT__V1__PRESENCE__REASON__LOST_CONNECTION: return "lost_connection";
    default: return "unspecified";
    }
}

/* Ordering rule: a higher connection counter wins; for the same counter OFFLINE wins over ONLINE,
 * because the LWT (OFFLINE) of connection N is necessarily later than its birth (ONLINE). A device
 * row created by telemetry has no presence yet (presence_ms NULL): any Presence applies. */
static enum iot_err sq_put_presence(void *ctx, const Iot__V1__Presence *p, int64_t received_ms,
                                    enum ingest_presence_result *res)
{
    struct sqlite_store *s = ctx;
    bool online = p->state == IOT__V1__PRESENCE__STATE__ONLINE;
    sqlite3_stmt *st = s->st[ST_DEV_GET];
    sqlite3_bind_text(st, 1, p->device_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    bool stale = false;
    if (rc == SQLITE_ROW && sqlite3_column_int(st, 2)) {
        uint64_t cur_conn = (uint64_t)sqlite3_column_int64(st, 0);
        bool cur_online = sqlite3_column_int(st, 1) != 0;
        stale = p->connection < cur_conn || (p->connection == cur_conn && online && !cur_online);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        IOT_LOG(IOT_LOG_ERROR, "%s: device lookup failed: %s (%d)", s->path, sqlite3_errmsg(s->db),
                rc);
        return IOT_ERR_IO;
    }
    if (stale) {
        *res = INGEST_PRESENCE_STALE;
        return IOT_OK;
    }
    st = s->st[ST_DEV_PRESENCE];
    sqlite3_bind_text(st, 1, p->device_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, online ? 1 : 0);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)p->connection);
    bind_text_or_null(st, 4, p->agent_version);
    if (p->boot_time_ms)
        sqlite3_bind_int64(st, 5, p->boot_time_ms);
    else
        sqlite3_bind_null(st, 5);
    if (online) /* an LWT is the broker speaking: the device was not seen then */
        sqlite3_bind_int64(st, 6, received_ms);
    else
        sqlite3_bind_null(st, 6);
    sqlite3_bind_int64(st, 7, p->time_ms ? p->time_ms : received_ms);
    sqlite3_bind_text(st, 8, presence_reason_name(p->reason), -1, SQLITE_STATIC);
    enum iot_err e = step_done(s, ST_DEV_PRESENCE);
    if (e == IOT_OK)
        *res = INGEST_PRESENCE_APPLIED;
    return e;
}

static enum iot_err sq_put_dead_letter(void *ctx, const struct ingest_dead_letter *dl)
{
    struct sqlite_store *s = ctx;
    sqlite3_stmt *st = s->st[ST_INS_DEAD];
    sqlite3_bind_int64(st, 1, dl->received_ms);
    sqlite3_bind_text(st, 2, dl->topic ? dl->topic : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, dl->reason ? dl->reason : "unknown", -1, SQLITE_STATIC);
    bind_text_or_null(st, 4, dl->detail);
    if (dl->payload && dl->len)
        sqlite3_bind_blob64(st, 5, dl->payload, dl->len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 5);
    return step_done(s, ST_INS_DEAD);
}

static enum iot_err sq_put_reported(void *ctx, const Iot__V1__ReportedState *r, int64_t received_ms)
{
    struct sqlite_store *s = ctx;
    cJSON *obj = cJSON_CreateObject();
    if (!obj)
        return IOT_ERR_NOMEM;
    JSON_ADD_PB_MAP(obj, r->settings, r->n_settings);
    char *json = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (!json)
        return IOT_ERR_NOMEM;
    enum iot_err rc;
    sqlite3_stmt *st = s->st[ST_DEV_REPORTED];
    sqlite3_bind_text(st, 1, r->device_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, received_ms);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)r->version);
    sqlite3_bind_text(st, 4, json, -1, SQLITE_STATIC);
    rc = step_done(s, ST_DEV_REPORTED);
    cJSON_free(json);
    return rc;
}

static enum iot_err sq_seq_totals(void *ctx, struct ingest_seq_totals *out)
{
    struct sqlite_store *s = ctx;
    sqlite3_stmt *st = s->st[ST_TOTALS];
    int rc = sqlite3_step(st);
    struct ingest_seq_totals t = {0, 0, 0};
    if (rc == SQLITE_ROW) {
        t.missing = (uint64_t)sqlite3_column_int64(st, 0);
        t.gap_epochs = (uint64_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW) {
        st = s->st[ST_DROPPED_TOTAL];
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            t.dropped = (uint64_t)sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
    }
    if (rc != SQLITE_ROW) {
        IOT_LOG(IOT_LOG_WARN, "%s: seq totals: %s (%d)", s->path, sqlite3_errmsg(s->db), rc);
        return IOT_ERR_IO;
    }
    *out = t;
    return IOT_OK;
}

static void sq_close(void *ctx)
{
    struct sqlite_store *s = ctx;
    if (!s)
        return;
    store_acc_free(&s->acc);
    sample_json_free(&s->json);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    if (s->db) {
        int rc = sqlite3_close(s->db);
        if (rc != SQLITE_OK)
            IOT_LOG(IOT_LOG_WARN, "%s: close: %s", s->path, sqlite3_errstr(rc));
    }
    iot_free(s->path);
    iot_free(s);
}

static const struct ingest_store_ops sqlite_ops = {
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .put_telemetry = sq_put_telemetry,
    .put_presence = sq_put_presence,
    .put_dead_letter = sq_put_dead_letter,
    .put_reported = sq_put_reported,
    .seq_totals = sq_seq_totals,
    .close = sq_close,
};

static int query_int(sqlite3 *db, const char *sql, int *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* Open settings, then the migrations up to @p target; statements are prepared only for the
 * current version (an older @p target is for tests of the upgrades). */
static enum iot_err setup_db(struct sqlite_store *s, int target)
{
    char *msg = NULL;
    int version = 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(st, 0);
        if (!mode || strcmp((const char *)mode, "wal") != 0)
            IOT_LOG(IOT_LOG_WARN, "%s: journal_mode is %s, not wal", s->path,
                    mode ? (const char *)mode : "?");
    } else if (rc == SQLITE_OK) {
        rc = sqlite3_errcode(s->db);
    }
    sqlite3_finalize(st);
    /* synchronous is per connection, and Debian defaults it to FULL (FIELD-NOTES.md). */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL; PRAGMA cache_size=" CACHE_SIZE_PRAGMA
                          "; PRAGMA wal_autocheckpoint=" WAL_AUTOCHECKPOINT_PRAGMA,
                          NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        rc = query_int(s->db, "PRAGMA user_version", &version);
    if (rc != SQLITE_OK) {
        IOT_LOG(IOT_LOG_ERROR, "cannot use storage '%s': %s", s->path,
                msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return IOT_ERR_IO;
    }
    if (version > SCHEMA_VERSION) {
        IOT_LOG(IOT_LOG_ERROR, "storage '%s' has schema version %d; this build knows up to %d",
                s->path, version, SCHEMA_VERSION);
        return IOT_ERR_INVAL;
    }
    /* One transaction per step, so an interrupted upgrade resumes where it stopped. */
    for (; version < target; version++) {
        rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->db, migrations[version + 1], NULL, NULL, &msg);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            IOT_LOG(IOT_LOG_ERROR, "storage '%s': upgrading the schema to version %d failed: %s",
                    s->path, version + 1, msg ? msg : sqlite3_errmsg(s->db));
            sqlite3_free(msg);
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return IOT_ERR_IO;
        }
        IOT_LOG(IOT_LOG_INFO, "storage '%s': schema version %d", s->path, version + 1);
    }
    for (int i = 0; target == SCHEMA_VERSION && i < ST_COUNT; i++) {
        rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (rc != SQLITE_OK) {
            IOT_LOG(IOT_LOG_ERROR, "storage '%s': prepare failed: %s", s->path,
                    sqlite3_errmsg(s->db));
            return IOT_ERR_IO;
        }
    }
    return IOT_OK;
}

static enum iot_err open_at(const char *path, int target, struct ingest_store *out)
{
    if (!path || !path[0] || !out || target < 1 || target > SCHEMA_VERSION)
        return IOT_ERR_INVAL;
    struct sqlite_store *s = iot_calloc(1, sizeof *s);
    if (!s)
        return IOT_ERR_NOMEM;
    enum iot_err rc = IOT_ERR_NOMEM;
    s->path = iot_strdup(path);
    if (!s->path)
        goto out;
    int src = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (src != SQLITE_OK) {
        IOT_LOG(IOT_LOG_ERROR, "cannot open storage '%s': %s", path,
                s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(src));
        rc = IOT_ERR_IO;
        goto out;
    }
    rc = setup_db(s, target);
out:
    if (rc != IOT_OK) {
        sq_close(s);
        return rc;
    }
    out->ops = &sqlite_ops;
    out->ctx = s;
    return IOT_OK;
}

enum iot_err ingest_store_sqlite_open(const char *path, struct ingest_store *out)
{
    return open_at(path, SCHEMA_VERSION, out);
}

enum iot_err ingest__sqlite_migrate_to(const char *path, int version)
{
    struct ingest_store st;
    enum iot_err rc = open_at(path, version, &st);
    if (rc == IOT_OK)
        sq_close(st.ctx);
    return rc;
}
