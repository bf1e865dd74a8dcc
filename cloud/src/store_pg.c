/* SPDX-License-Identifier: Apache-2.0 */
/* PostgreSQL backend of struct ingest_store_ops (libpq). Telemetry rows of a whole batch are
 * gathered as array literals and sent at commit as ONE prepared statement (unnest + INSERT ... ON
 * CONFLICT DO NOTHING RETURNING), so a batch of 500 messages costs one round trip. Presence,
 * reported state and dead letters are rare and run at once inside the batch's transaction. */
#define IOT_LOG_TAG "cloud.pg"
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/store.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "json_util.h"
#include "pg_util.h"
#include "sample_json.h"

#define PG_SCHEMA_VERSION 2

/* Each entry moves the schema one version up (index = the version it creates). One transaction,
 * under an advisory lock, so instances starting together never race. */
static const char *const migrations[PG_SCHEMA_VERSION + 1] = {
    NULL,
    "CREATE TABLE samples(device_id TEXT NOT NULL, epoch BIGINT NOT NULL, seq BIGINT NOT NULL,"
    " time_ms BIGINT NOT NULL, received_ms BIGINT NOT NULL, PRIMARY KEY(device_id, epoch, seq));"
    "CREATE INDEX samples_by_time ON samples(device_id, time_ms);"
    "CREATE TABLE metrics(device_id TEXT NOT NULL, epoch BIGINT NOT NULL, seq BIGINT NOT NULL,"
    " name TEXT NOT NULL, value DOUBLE PRECISION NOT NULL, unit TEXT);"
    "CREATE INDEX metrics_by_sample ON metrics(device_id, epoch, seq);"
    "CREATE TABLE devices(device_id TEXT PRIMARY KEY, online INTEGER NOT NULL DEFAULT 0,"
    " connection BIGINT NOT NULL DEFAULT 0, agent_version TEXT, boot_time_ms BIGINT,"
    " last_seen_ms BIGINT, presence_ms BIGINT, presence_reason TEXT,"
    " samples BIGINT NOT NULL DEFAULT 0, reported_version BIGINT, reported_settings TEXT,"
    " reported_ms BIGINT);"
    "CREATE TABLE dead_letters(id BIGSERIAL PRIMARY KEY, received_ms BIGINT NOT NULL,"
    " topic TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT, payload BYTEA);"
    "CREATE TABLE dropped_ranges(device_id TEXT NOT NULL, epoch BIGINT NOT NULL,"
    " first BIGINT NOT NULL, last BIGINT NOT NULL, received_ms BIGINT NOT NULL,"
    " UNIQUE(device_id, epoch, first, last));"
    "CREATE TABLE seq_stats(device_id TEXT NOT NULL, epoch BIGINT NOT NULL,"
    " min_seq BIGINT NOT NULL, max_seq BIGINT NOT NULL, stored BIGINT NOT NULL,"
    " PRIMARY KEY(device_id, epoch));"
    "CREATE TABLE desired_state(device_id TEXT PRIMARY KEY, version BIGINT NOT NULL,"
    " settings TEXT NOT NULL, updated_ms BIGINT NOT NULL, published INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE commands(id TEXT PRIMARY KEY, device_id TEXT NOT NULL, name TEXT NOT NULL,"
    " params TEXT NOT NULL, state TEXT NOT NULL, created_ms BIGINT NOT NULL,"
    " expires_ms BIGINT NOT NULL, timeout_s BIGINT NOT NULL, callback_url TEXT,"
    " idempotency_key TEXT, payload BYTEA NOT NULL, history TEXT NOT NULL, result TEXT,"
    " webhook_state TEXT, webhook_tries TEXT, updated_ms BIGINT NOT NULL);"
    "CREATE UNIQUE INDEX commands_idem ON commands(device_id, idempotency_key)"
    " WHERE idempotency_key IS NOT NULL;"
    "CREATE INDEX commands_active ON commands(state, expires_ms);"
    "CREATE INDEX commands_by_device ON commands(device_id, created_ms);",
    /* 2: like SQLite's schema 4, a sample's metrics are one JSON column of its row
     * ([["temperature",21.5,"C"],...]; json, not jsonb: stored as sent, no re-encoding per insert),
     * and `metrics` is a view with the old table's columns. One row and two index entries per
     * message instead of four rows and five. */
    "ALTER TABLE samples ADD COLUMN metrics JSON NOT NULL DEFAULT '[]';"
    "UPDATE samples s SET metrics = m.j FROM (SELECT device_id, epoch, seq, json_agg(CASE WHEN"
    " unit IS NULL THEN json_build_array(name, value) ELSE json_build_array(name, value, unit) END"
    " ORDER BY ctid) AS j FROM metrics GROUP BY device_id, epoch, seq) m"
    " WHERE s.device_id = m.device_id AND s.epoch = m.epoch AND s.seq = m.seq;"
    "DROP TABLE metrics;"
    "CREATE VIEW metrics(device_id, epoch, seq, name, value, unit) AS SELECT s.device_id, s.epoch,"
    " s.seq, e->>0, (e->>1)::float8, e->>2 FROM samples s CROSS JOIN LATERAL"
    " json_array_elements(s.metrics) e;",
};

enum stmt_id { P_TELEMETRY, P_PRESENCE, P_DEAD, P_REPORTED, P_TOTALS, P_DROPPED_TOTAL, P_COUNT };

static const char *const stmt_sql[P_COUNT] = {
    /* $1..$6 sample columns ($6 its metrics as JSON text, sample_json.h), $7..$11 dropped ranges.
     * DISTINCT ON: a sample twice in one batch (a QoS 1 redelivery) counts once. Locks are
     * taken in one order by every instance: sample keys (sorted), device rows (sorted), then seq
     * summaries (sorted; the scalar subquery on dev makes the device rows come first, like a
     * presence update earlier in the same transaction). Answers the ordinals of the new samples. */
    [P_TELEMETRY] =
        "WITH s AS (SELECT DISTINCT ON (device_id, epoch, seq) device_id, epoch, seq, time_ms,"
        " received_ms, metrics, ord FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[],"
        " $5::int8[], $6::text[])"
        " WITH ORDINALITY AS u(device_id, epoch, seq, time_ms, received_ms, metrics, ord)"
        " ORDER BY device_id, epoch, seq, ord),"
        " ins AS (INSERT INTO samples(device_id, epoch, seq, time_ms, received_ms, metrics)"
        " SELECT device_id, epoch, seq, time_ms, received_ms, metrics::json FROM s"
        " ORDER BY device_id, epoch, seq ON CONFLICT DO NOTHING RETURNING device_id, epoch, seq),"
        " new AS (SELECT s.ord, s.device_id, s.epoch, s.seq FROM s JOIN ins"
        " USING (device_id, epoch, seq)),"
        " dr AS (INSERT INTO dropped_ranges(device_id, epoch, first, last, received_ms)"
        " SELECT * FROM unnest($7::text[], $8::int8[], $9::int8[], $10::int8[], $11::int8[])"
        " ON CONFLICT DO NOTHING),"
        " dev AS (INSERT INTO devices AS d(device_id, last_seen_ms, samples)"
        " SELECT u.device_id, max(u.received_ms), coalesce(max(c.n), 0)"
        " FROM unnest($1::text[], $5::int8[]) AS u(device_id, received_ms)"
        " LEFT JOIN (SELECT device_id, count(*) AS n FROM new GROUP BY device_id) c"
        " USING (device_id) GROUP BY u.device_id ORDER BY u.device_id"
        " ON CONFLICT (device_id) DO UPDATE SET"
        " last_seen_ms = greatest(coalesce(d.last_seen_ms, 0), excluded.last_seen_ms),"
        " samples = d.samples + excluded.samples RETURNING 1),"
        " st AS (INSERT INTO seq_stats AS q(device_id, epoch, min_seq, max_seq, stored)"
        " SELECT device_id, epoch, min(seq), max(seq), count(*) FROM new"
        " WHERE (SELECT count(*) FROM dev) >= 0"
        " GROUP BY device_id, epoch ORDER BY device_id, epoch"
        " ON CONFLICT (device_id, epoch) DO UPDATE SET"
        " min_seq = least(q.min_seq, excluded.min_seq),"
        " max_seq = greatest(q.max_seq, excluded.max_seq), stored = q.stored + excluded.stored)"
        " SELECT ord FROM new",
    /* Not stale (see store_sqlite.c): a higher connection wins, OFFLINE wins over ONLINE of the
     * same connection, a row without presence yet takes any. Answers a row when applied. */
    [P_PRESENCE] =
        "INSERT INTO devices AS d(device_id, online, connection, agent_version, boot_time_ms,"
        " last_seen_ms, presence_ms, presence_reason) VALUES($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (device_id) DO UPDATE SET online = excluded.online,"
        " connection = excluded.connection,"
        " agent_version = coalesce(excluded.agent_version, d.agent_version),"
        " boot_time_ms = coalesce(excluded.boot_time_ms, d.boot_time_ms),"
        " last_seen_ms = greatest(coalesce(d.last_seen_ms, 0), coalesce(excluded.last_seen_ms, 0)),"
        " presence_ms = excluded.presence_ms, presence_reason = excluded.presence_reason"
        " WHERE d.presence_ms IS NULL OR NOT (excluded.connection < d.connection OR"
        " (excluded.connection = d.connection AND excluded.online = 1 AND d.online = 0))"
        " RETURNING 1",
    [P_DEAD] = "INSERT INTO dead_letters(received_ms, topic, reason, detail, payload)"
               " VALUES($1, $2, $3, $4, $5)",
    [P_REPORTED] =
        "INSERT INTO devices AS d(device_id, last_seen_ms, reported_version, reported_settings,"
        " reported_ms) VALUES($1, $2, $3, $4, $2) ON CONFLICT (device_id) DO UPDATE SET"
        " last_seen_ms = greatest(coalesce(d.last_seen_ms, 0), excluded.last_seen_ms),"
        " reported_version = excluded.reported_version,"
        " reported_settings = excluded.reported_settings, reported_ms = excluded.reported_ms"
        " WHERE d.reported_version IS NULL OR d.reported_version <= excluded.reported_version",
    [P_TOTALS] = "SELECT coalesce(sum(m), 0)::int8, count(*)::int8 FROM (SELECT s.max_seq"
                 " - s.min_seq + 1 - s.stored - coalesce((SELECT sum(greatest(0, least(d.last,"
                 " s.max_seq) - greatest(d.first, s.min_seq) + 1)) FROM dropped_ranges d"
                 " WHERE d.device_id = s.device_id AND d.epoch = s.epoch), 0) AS m"
                 " FROM seq_stats s WHERE s.max_seq - s.min_seq + 1 > s.stored) t WHERE m > 0",
    [P_DROPPED_TOTAL] = "SELECT coalesce(sum(last - first + 1), 0)::int8 FROM dropped_ranges",
};

static const char *const stmt_name[P_COUNT] = {"iot_telemetry", "iot_presence", "iot_dead",
                                                "iot_reported", "iot_totals", "iot_dropped_total"};

enum arr_id {
    A_DEV, A_EPOCH, A_SEQ, A_TIME, A_RECV, A_METRICS, /* samples */
    A_D_DEV, A_D_EPOCH, A_D_FIRST, A_D_LAST, A_D_RECV, /* dropped ranges */
    A_COUNT
};

struct pg_store {
    PGconn *conn;
    char name[CLOUD_PATH_MAX]; /* redacted URI, for logs */
    bool tx_open; /* BEGIN sent (lazily, by the first immediate statement) */
    struct pg_arr arr[A_COUNT];
    size_t n_samples; /* ordinals handed out in this batch */
    uint32_t *sample_msg; /* ordinal - 1 -> index into res */
    size_t sample_msg_cap;
    struct ingest_telemetry_result **res; /* per telemetry message of the batch */
    size_t n_res, res_cap;
    struct sample_json json; /* a sample's metrics column, reused */
};

static void clear_batch(struct pg_store *s)
{
    for (int i = 0; i < A_COUNT; i++)
        pg_arr_reset(&s->arr[i]);
    s->n_samples = 0;
    s->n_res = 0;
}

static enum iot_err prepare_all(struct pg_store *s)
{
    for (int i = 0; i < P_COUNT; i++) {
        PGresult *r = PQprepare(s->conn, stmt_name[i], stmt_sql[i], 0, NULL);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            pg_log_error(s->name, "prepare", r, s->conn);
        PQclear(r);
        if (!ok)
            return IOT_ERR_IO;
    }
    return IOT_OK;
}

static enum iot_err migrate(struct pg_store *s)
{
    enum iot_err rc =
        pg_exec(s->conn, s->name,
                "BEGIN; SELECT pg_advisory_xact_lock(7301050001);"
                " CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)");
    if (rc != IOT_OK)
        return rc;
    int64_t version = 0;
    rc = pg_query_i64(s->conn, s->name, "SELECT coalesce(max(version), 0) FROM schema_version",
                      &version);
    if (rc == IOT_OK && version > PG_SCHEMA_VERSION) {
        IOT_LOG(IOT_LOG_ERROR, "storage '%s' has schema version %" PRId64
                "; this build knows up to %d", s->name, version, PG_SCHEMA_VERSION);
        rc = IOT_ERR_INVAL;
    }
    for (; rc == IOT_OK && version < PG_SCHEMA_VERSION; version++) {
        char sql[96];
        rc = pg_exec(s->conn, s->name, migrations[version + 1]);
        snprintf(sql, sizeof sql, "INSERT INTO schema_version VALUES(%d)", (int)version + 1);
        if (rc == IOT_OK)
            rc = pg_exec(s->conn, s->name, sql);
        if (rc == IOT_OK)
            IOT_LOG(IOT_LOG_INFO, "storage '%s': schema version %d", s->name, (int)version + 1);
    }
    if (rc == IOT_OK)
        rc = pg_exec(s->conn, s->name, "COMMIT");
    if (rc != IOT_OK)
        (void)pg_exec(s->conn, s->name, "ROLLBACK");
    return rc;
}

/* A lost connection (server restart) is re-opened before the next batch; the batch retries. */
static enum iot_err ensure_conn(struct pg_store *s)
{
    if (PQstatus(s->conn) == CONNECTION_OK)
        return IOT_OK;
    IOT_LOG(IOT_LOG_WARN, "storage '%s': connection lost; reconnecting", s->name);
    PQreset(s->conn);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        pg_log_error(s->name, "reconnect", NULL, s->conn);
        return IOT_ERR_IO;
    }
    s->tx_open = false;
    return prepare_all(s);
}

static enum iot_err ensure_tx(struct pg_store *s)
{
    if (s->tx_open)
        return IOT_OK;
    enum iot_err rc = pg_exec(s->conn, s->name, "BEGIN");
    if (rc == IOT_OK)
        s->tx_open = true;
    return rc;
}

static enum iot_err pg_begin(void *ctx)
{
    struct pg_store *s = ctx;
    clear_batch(s);
    s->tx_open = false;
    return ensure_conn(s);
}

static void pg_rollback(void *ctx)
{
    struct pg_store *s = ctx;
    clear_batch(s);
    if (s->tx_open)
        (void)pg_exec(s->conn, s->name, "ROLLBACK");
    s->tx_open = false;
}

/* Runs the batch's telemetry statement and counts what was new per message. */
static enum iot_err flush_telemetry(struct pg_store *s)
{
    const char *v[A_COUNT];
    for (int i = 0; i < A_COUNT; i++) {
        v[i] = pg_arr_finish(&s->arr[i]);
        if (!v[i])
            return IOT_ERR_NOMEM;
    }
    PGresult *r = PQexecPrepared(s->conn, stmt_name[P_TELEMETRY], A_COUNT, v, NULL, NULL, 0);
    enum iot_err rc = IOT_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_log_error(s->name, "storing telemetry", r, s->conn);
        rc = pg_failure(r);
    } else {
        int rows = PQntuples(r);
        for (int i = 0; i < rows; i++) {
            unsigned long long ord = strtoull(PQgetvalue(r, i, 0), NULL, 10);
            if (ord == 0 || ord > s->n_samples)
                continue;
            struct ingest_telemetry_result *res = s->res[s->sample_msg[ord - 1]];
            res->stored++;
            res->duplicate--;
        }
    }
    PQclear(r);
    return rc;
}

static enum iot_err pg_commit(void *ctx)
{
    struct pg_store *s = ctx;
    enum iot_err rc = IOT_OK;
    if (s->n_samples)
        rc = flush_telemetry(s); /* alone, it is its own transaction: one round trip */
    if (rc == IOT_OK && s->tx_open) {
        rc = pg_exec(s->conn, s->name, "COMMIT");
        s->tx_open = rc == IOT_OK ? false : s->tx_open;
    }
    if (rc != IOT_OK)
        pg_rollback(s);
    clear_batch(s);
    return rc;
}

static enum iot_err pg_put_telemetry(void *ctx, const Iot__V1__TelemetryBatch *b,
                                     int64_t received_ms, struct ingest_telemetry_result *res)
{
    struct pg_store *s = ctx;
    if (s->n_res == s->res_cap) {
        size_t cap = s->res_cap ? s->res_cap * 2 : 64;
        struct ingest_telemetry_result **p = iot_realloc(s->res, cap * sizeof *p);
        if (!p)
            return IOT_ERR_NOMEM;
        s->res = p;
        s->res_cap = cap;
    }
    if (s->n_samples + b->n_samples > s->sample_msg_cap) {
        size_t cap = s->sample_msg_cap ? s->sample_msg_cap : 256;
        while (cap < s->n_samples + b->n_samples)
            cap *= 2;
        uint32_t *p = iot_realloc(s->sample_msg, cap * sizeof *p);
        if (!p)
            return IOT_ERR_NOMEM;
        s->sample_msg = p;
        s->sample_msg_cap = cap;
    }
    uint32_t msg = (uint32_t)s->n_res;
    s->res[s->n_res++] = res;
    res->stored = 0;
    res->duplicate = (uint32_t)b->n_samples;
    int64_t epoch = (int64_t)b->epoch; /* u64 -> i64 cast, see store.h */
    for (size_t i = 0; i < b->n_samples; i++) {
        const Iot__V1__Sample *smp = b->samples[i];
        int64_t ord = (int64_t)++s->n_samples;
        s->sample_msg[ord - 1] = msg;
        pg_arr_text(&s->arr[A_DEV], b->device_id);
        pg_arr_i64(&s->arr[A_EPOCH], epoch);
        pg_arr_i64(&s->arr[A_SEQ], (int64_t)smp->seq);
        pg_arr_i64(&s->arr[A_TIME], smp->time_ms);
        pg_arr_i64(&s->arr[A_RECV], received_ms);
        enum iot_err jrc = sample_json_encode(&s->json, smp);
        if (jrc != IOT_OK)
            return jrc;
        pg_arr_text(&s->arr[A_METRICS], s->json.buf);
    }
    for (size_t i = 0; i < b->n_dropped; i++) {
        pg_arr_text(&s->arr[A_D_DEV], b->device_id);
        pg_arr_i64(&s->arr[A_D_EPOCH], epoch);
        pg_arr_i64(&s->arr[A_D_FIRST], (int64_t)b->dropped[i]->first);
        pg_arr_i64(&s->arr[A_D_LAST], (int64_t)b->dropped[i]->last);
        pg_arr_i64(&s->arr[A_D_RECV], received_ms);
    }
    for (int i = 0; i < A_COUNT; i++)
        if (s->arr[i].failed)
            return IOT_ERR_NOMEM;
    return IOT_OK;
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

static enum iot_err pg_put_presence(void *ctx, const Iot__V1__Presence *p, int64_t received_ms,
                                    enum ingest_presence_result *res)
{
    struct pg_store *s = ctx;
    enum iot_err rc = ensure_tx(s);
    if (rc != IOT_OK)
        return rc;
    bool online = p->state == IOT__V1__PRESENCE__STATE__ONLINE;
    char conn[24], boot[24], seen[24], at[24];
    snprintf(conn, sizeof conn, "%" PRId64, (int64_t)p->connection);
    snprintf(boot, sizeof boot, "%" PRId64, p->boot_time_ms);
    snprintf(seen, sizeof seen, "%" PRId64, received_ms);
    snprintf(at, sizeof at, "%" PRId64, p->time_ms ? p->time_ms : received_ms);
    const char *v[8] = {p->device_id,
                        online ? "1" : "0",
                        conn,
                        p->agent_version && p->agent_version[0] ? p->agent_version : NULL,
                        p->boot_time_ms ? boot : NULL,
                        online ? seen : NULL, /* an LWT is the broker speaking */
                        at,
                        presence_reason_name(p->reason)};
    PGresult *r = PQexecPrepared(s->conn, stmt_name[P_PRESENCE], 8, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_log_error(s->name, "presence", r, s->conn);
        rc = pg_failure(r);
    } else {
        *res = PQntuples(r) > 0 ? INGEST_PRESENCE_APPLIED : INGEST_PRESENCE_STALE;
    }
    PQclear(r);
    return rc;
}

static enum iot_err pg_put_dead_letter(void *ctx, const struct ingest_dead_letter *dl)
{
    struct pg_store *s = ctx;
    enum iot_err rc = ensure_tx(s);
    if (rc != IOT_OK)
        return rc;
    char at[24];
    snprintf(at, sizeof at, "%" PRId64, dl->received_ms);
    const char *v[5] = {at, dl->topic ? dl->topic : "", dl->reason ? dl->reason : "unknown",
                        dl->detail && dl->detail[0] ? dl->detail : NULL,
                        dl->payload && dl->len ? (const char *)dl->payload : NULL};
    int lens[5] = {0, 0, 0, 0, (int)dl->len};
    int fmts[5] = {0, 0, 0, 0, 1};
    PGresult *r = PQexecPrepared(s->conn, stmt_name[P_DEAD], 5, v, lens, fmts, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        pg_log_error(s->name, "dead letter", r, s->conn);
        rc = pg_failure(r);
    }
    PQclear(r);
    return rc;
}

static enum iot_err pg_put_reported(void *ctx, const Iot__V1__ReportedState *rep,
                                    int64_t received_ms)
{
    struct pg_store *s = ctx;
    enum iot_err rc = ensure_tx(s);
    if (rc != IOT_OK)
        return rc;
    cJSON *obj = cJSON_CreateObject();
    if (!obj)
        return IOT_ERR_NOMEM;
    JSON_ADD_PB_MAP(obj, rep->settings, rep->n_settings);
    char *json = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (!json)
        return IOT_ERR_NOMEM;
    char at[24], ver[24];
    snprintf(at, sizeof at, "%" PRId64, received_ms);
    snprintf(ver, sizeof ver, "%" PRId64, (int64_t)rep->version);
    const char *v[4] = {rep->device_id, at, ver, json};
    PGresult *r = PQexecPrepared(s->conn, stmt_name[P_REPORTED], 4, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        pg_log_error(s->name, "reported state", r, s->conn);
        rc = pg_failure(r);
    }
    PQclear(r);
    cJSON_free(json);
    return rc;
}

static enum iot_err pg_seq_totals(void *ctx, struct ingest_seq_totals *out)
{
    struct pg_store *s = ctx;
    if (ensure_conn(s) != IOT_OK)
        return IOT_ERR_IO;
    struct ingest_seq_totals t = {0, 0, 0};
    PGresult *r = PQexecPrepared(s->conn, stmt_name[P_TOTALS], 0, NULL, NULL, NULL, 0);
    enum iot_err rc = IOT_ERR_IO;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        t.missing = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        t.gap_epochs = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
        rc = IOT_OK;
    } else {
        pg_log_error(s->name, "seq totals", r, s->conn);
    }
    PQclear(r);
    if (rc == IOT_OK) {
        r = PQexecPrepared(s->conn, stmt_name[P_DROPPED_TOTAL], 0, NULL, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
            t.dropped = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        else
            rc = IOT_ERR_IO;
        PQclear(r);
    }
    if (rc == IOT_OK)
        *out = t;
    return rc;
}

static void pg_close(void *ctx)
{
    struct pg_store *s = ctx;
    if (!s)
        return;
    if (s->conn)
        PQfinish(s->conn);
    for (int i = 0; i < A_COUNT; i++)
        pg_arr_free(&s->arr[i]);
    iot_free(s->sample_msg);
    iot_free(s->res);
    sample_json_free(&s->json);
    iot_free(s);
}

static const struct ingest_store_ops pg_ops = {
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .put_telemetry = pg_put_telemetry,
    .put_presence = pg_put_presence,
    .put_dead_letter = pg_put_dead_letter,
    .put_reported = pg_put_reported,
    .seq_totals = pg_seq_totals,
    .close = pg_close,
};

enum iot_err ingest_store_pg_open(const char *url, struct ingest_store *out)
{
    if (!url || !url[0] || !out)
        return IOT_ERR_INVAL;
    struct pg_store *s = iot_calloc(1, sizeof *s);
    if (!s)
        return IOT_ERR_NOMEM;
    ingest_storage_redact(url, s->name, sizeof s->name);
    enum iot_err rc = pg_connect(url, s->name, &s->conn);
    if (rc == IOT_OK)
        rc = migrate(s);
    if (rc == IOT_OK)
        rc = prepare_all(s);
    if (rc != IOT_OK) {
        pg_close(s);
        return rc;
    }
    out->ops = &pg_ops;
    out->ctx = s;
    return IOT_OK;
}
