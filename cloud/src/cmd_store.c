/* SPDX-License-Identifier: Apache-2.0 */
/* Storage of commands and desired state (see cmd_store.h) over sdb (SQLite or PostgreSQL).
 * Histories and webhook tries are JSON arrays appended in SQL, so a transition is one UPDATE. */
#define IOT_LOG_TAG "cloud.cmdstore"
#include "cmd_store.h"

#include <stdio.h>
#include <string.h>

#include "iot/log.h"
#include "iot/mem.h"
#include "sdb.h"

enum stmt_id {
    Q_INSERT,
    Q_FIND_IDEM,
    Q_STATE,
    Q_TRANSITION,
    Q_SET_RESULT,
    Q_GET,
    Q_DUE,
    Q_SENT_OF_DEVICE,
    Q_EXPIRED,
    Q_NEXT_EXPIRY,
    Q_WEBHOOK_TRY,
    Q_WEBHOOK_PENDING,
    Q_DESIRED_GET,
    Q_DESIRED_PUT,
    Q_DESIRED_UNPUBLISHED,
    Q_DESIRED_PUBLISHED,
    Q_COUNT
};

/* JSON lives in TEXT columns on both backends. SQLite appends with its JSON1 functions;
 * PostgreSQL appends the json_build_object() text before the closing bracket (json, not jsonb:
 * the keys keep their order). */
static const struct sdb_sql sql[Q_COUNT] = {
    [Q_INSERT] = {
        "INSERT INTO commands(id, device_id, name, params, state, created_ms, expires_ms,"
        " timeout_s, callback_url, idempotency_key, payload, history, webhook_state,"
        " webhook_tries, updated_ms) VALUES(?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?7, ?8, ?9,"
        " ?10, json_array(json_object('state', 'queued', 'at_ms', ?5)),"
        " CASE WHEN ?8 IS NULL THEN NULL ELSE 'none' END, '[]', ?5)",
        "INSERT INTO commands(id, device_id, name, params, state, created_ms, expires_ms,"
        " timeout_s, callback_url, idempotency_key, payload, history, webhook_state,"
        " webhook_tries, updated_ms) VALUES($1, $2, $3, $4, 'queued', $5::int8, $6, $7, $8::text,"
        " $9, $10, json_build_array(json_build_object('state', 'queued', 'at_ms', $5::int8))::text,"
        " CASE WHEN $8::text IS NULL THEN NULL ELSE 'none' END, '[]', $5::int8)"},
    [Q_FIND_IDEM] = {"SELECT id, name = ?3 AND params = ?4 FROM commands"
                     " WHERE device_id = ?1 AND idempotency_key = ?2", NULL},
    [Q_STATE] = {"SELECT state, device_id FROM commands WHERE id = ?1", NULL},
    /* A terminal state makes a configured webhook due ("pending") in the same transaction, so a
     * restart finds it. */
    [Q_TRANSITION] = {
        "UPDATE commands SET state = ?3, updated_ms = ?4, history = json_insert(history,"
        " '$[#]', json_object('state', ?3, 'at_ms', ?4)), webhook_state = CASE WHEN"
        " ?5 AND callback_url IS NOT NULL THEN 'pending' ELSE webhook_state END"
        " WHERE id = ?1 AND state = ?2",
        "UPDATE commands SET state = $3::text, updated_ms = $4::int8, history = left(history, -1)"
        " || CASE WHEN history = '[]' THEN '' ELSE ',' END || json_build_object('state', $3::text,"
        " 'at_ms', $4::int8)::text || ']',"
        " webhook_state = CASE WHEN $5::int <> 0 AND callback_url IS NOT NULL THEN 'pending'"
        " ELSE webhook_state END WHERE id = $1 AND state = $2"},
    [Q_SET_RESULT] = {"UPDATE commands SET result = ?2 WHERE id = ?1", NULL},
    [Q_GET] = {"SELECT id, device_id, name, params, state, created_ms, expires_ms, timeout_s,"
               " callback_url, idempotency_key, history, result, webhook_state, webhook_tries,"
               " updated_ms FROM commands WHERE id = ?1", NULL},
    [Q_DUE] = {"SELECT c.id, c.device_id, c.payload, c.expires_ms FROM commands c"
               " JOIN devices d ON d.device_id = c.device_id"
               " WHERE c.state = 'queued' AND d.online = 1 AND c.expires_ms > ?1"
               " ORDER BY c.created_ms LIMIT ?2", NULL},
    [Q_SENT_OF_DEVICE] = {"SELECT id, device_id, payload, expires_ms FROM commands"
                          " WHERE device_id = ?1 AND state = 'sent' AND expires_ms > ?2"
                          " ORDER BY created_ms LIMIT ?3", NULL},
    [Q_EXPIRED] = {"SELECT id, state FROM commands WHERE state IN ('queued', 'sent')"
                   " AND expires_ms <= ?1 LIMIT ?2", NULL},
    [Q_NEXT_EXPIRY] = {"SELECT min(expires_ms) FROM commands WHERE state IN ('queued', 'sent')",
                       NULL},
    [Q_WEBHOOK_TRY] = {
        "UPDATE commands SET webhook_state = ?3, webhook_tries ="
        " json_insert(coalesce(webhook_tries, '[]'), '$[#]', json(?2)) WHERE id = ?1",
        "UPDATE commands SET webhook_state = $3, webhook_tries ="
        " left(coalesce(webhook_tries, '[]'), -1) || CASE WHEN coalesce(webhook_tries, '[]') = '[]'"
        " THEN '' ELSE ',' END || $2::json::text || ']' WHERE id = $1"},
    [Q_WEBHOOK_PENDING] = {
        "SELECT id, callback_url, json_array_length(coalesce(webhook_tries, '[]'))"
        " FROM commands WHERE webhook_state = 'pending' AND state NOT IN ('queued', 'sent')",
        "SELECT id, callback_url, json_array_length(coalesce(webhook_tries, '[]')::json)"
        " FROM commands WHERE webhook_state = 'pending' AND state NOT IN ('queued', 'sent')"},
    [Q_DESIRED_GET] = {"SELECT version FROM desired_state WHERE device_id = ?1", NULL},
    [Q_DESIRED_PUT] = {
        "INSERT INTO desired_state(device_id, version, settings, updated_ms, published)"
        " VALUES(?1, ?2, ?3, ?4, 0) ON CONFLICT(device_id) DO UPDATE SET"
        " version = excluded.version, settings = excluded.settings,"
        " updated_ms = excluded.updated_ms, published = 0", NULL},
    [Q_DESIRED_UNPUBLISHED] = {"SELECT device_id, version, settings FROM desired_state"
                               " WHERE published = 0", NULL},
    [Q_DESIRED_PUBLISHED] = {"UPDATE desired_state SET published = 1"
                             " WHERE device_id = ?1 AND version = ?2", NULL},
};

struct cmd_store {
    struct sdb *db;
};

static struct sdb_stmt *stmt(struct cmd_store *s, enum stmt_id id) { return sdb_stmt(s->db, id); }

static enum iot_err run(struct sdb_stmt *st)
{
    enum sdb_step r = sdb_step(st);
    sdb_reset(st);
    return r == SDB_ERROR ? sdb_step_err(st) : IOT_OK;
}

enum iot_err cmd_store_open(enum cloud_storage_kind kind, const char *storage,
                            struct cmd_store **out)
{
    if (!storage || !out)
        return IOT_ERR_INVAL;
    struct cmd_store *s = iot_calloc(1, sizeof *s);
    if (!s)
        return IOT_ERR_NOMEM;
    enum iot_err rc = sdb_open(kind, storage, false, sql, Q_COUNT, "commands", &s->db);
    if (rc != IOT_OK) {
        iot_free(s);
        return rc;
    }
    *out = s;
    return IOT_OK;
}

void cmd_store_close(struct cmd_store *s)
{
    if (!s)
        return;
    sdb_close(s->db);
    iot_free(s);
}

enum iot_err cmd_store_begin(struct cmd_store *s)
{
    return sdb_begin(s->db); /* IOT_ERR_TIMEOUT: locked (the API answers 503) */
}

enum iot_err cmd_store_commit(struct cmd_store *s) { return sdb_commit(s->db); }

void cmd_store_rollback(struct cmd_store *s) { sdb_rollback(s->db); }

enum iot_err cmd_store_insert(struct cmd_store *s, const struct cmd_new *n)
{
    struct sdb_stmt *st = stmt(s, Q_INSERT);
    sdb_bind_text(st, 1, n->id);
    sdb_bind_text(st, 2, n->device_id);
    sdb_bind_text(st, 3, n->name);
    sdb_bind_text(st, 4, n->params_json);
    sdb_bind_i64(st, 5, n->created_ms);
    sdb_bind_i64(st, 6, n->expires_ms);
    sdb_bind_i64(st, 7, n->timeout_s);
    sdb_bind_text(st, 8, n->callback_url);
    sdb_bind_text(st, 9, n->idem_key);
    sdb_bind_blob(st, 10, n->payload, n->payload_len);
    return run(st);
}

/* The first row of @p st: IOT_OK (a row), IOT_ERR_NOT_FOUND (none), IOT_ERR_TIMEOUT, IOT_ERR_IO. */
static enum iot_err first_row(struct sdb_stmt *st)
{
    enum sdb_step r = sdb_step(st);
    if (r == SDB_ROW)
        return IOT_OK;
    sdb_reset(st);
    return r == SDB_DONE ? IOT_ERR_NOT_FOUND : sdb_step_err(st);
}

enum iot_err cmd_store_find_idem(struct cmd_store *s, const char *device, const char *key,
                                 const char *name, const char *params_json,
                                 char id[CMD_ID_LEN + 1], bool *same)
{
    struct sdb_stmt *st = stmt(s, Q_FIND_IDEM);
    sdb_bind_text(st, 1, device);
    sdb_bind_text(st, 2, key);
    sdb_bind_text(st, 3, name);
    sdb_bind_text(st, 4, params_json);
    enum iot_err rc = first_row(st);
    if (rc != IOT_OK)
        return rc;
    snprintf(id, CMD_ID_LEN + 1, "%s", sdb_col_text(st, 0));
    *same = sdb_col_i64(st, 1) != 0;
    sdb_reset(st);
    return IOT_OK;
}

enum iot_err cmd_store_state(struct cmd_store *s, const char *cid, enum cmd_state *state,
                             char device[IOT_DEVICE_ID_MAX + 1])
{
    struct sdb_stmt *st = stmt(s, Q_STATE);
    sdb_bind_text(st, 1, cid);
    enum iot_err rc = first_row(st);
    if (rc != IOT_OK)
        return rc;
    enum iot_err e = cmd_state_parse(sdb_col_text(st, 0), state) ? IOT_OK : IOT_ERR_IO;
    if (device)
        snprintf(device, IOT_DEVICE_ID_MAX + 1, "%s", sdb_col_text(st, 1));
    sdb_reset(st);
    return e;
}

enum iot_err cmd_store_transition(struct cmd_store *s, const char *cid, enum cmd_state from,
                                  enum cmd_state to, int64_t at_ms, bool *changed)
{
    struct sdb_stmt *st = stmt(s, Q_TRANSITION);
    sdb_bind_text(st, 1, cid);
    sdb_bind_text(st, 2, cmd_state_name(from));
    sdb_bind_text(st, 3, cmd_state_name(to));
    sdb_bind_i64(st, 4, at_ms);
    sdb_bind_i64(st, 5, cmd_state_terminal(to) ? 1 : 0);
    enum sdb_step r = sdb_step(st);
    if (r != SDB_ERROR)
        *changed = sdb_changes(st) == 1;
    sdb_reset(st);
    return r == SDB_ERROR ? sdb_step_err(st) : IOT_OK;
}

enum iot_err cmd_store_set_result(struct cmd_store *s, const char *cid, const char *result_json)
{
    struct sdb_stmt *st = stmt(s, Q_SET_RESULT);
    sdb_bind_text(st, 1, cid);
    sdb_bind_text(st, 2, result_json);
    return run(st);
}

enum iot_err cmd_store_get_json(struct cmd_store *s, const char *cid, cJSON **out)
{
    struct sdb_stmt *st = stmt(s, Q_GET);
    sdb_bind_text(st, 1, cid);
    enum iot_err rc = first_row(st);
    if (rc != IOT_OK)
        return rc;
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        sdb_reset(st);
        return IOT_ERR_NOMEM;
    }
    char url[64];
    snprintf(url, sizeof url, "/v1/commands/%s", sdb_col_text(st, 0));
    cJSON_AddStringToObject(o, "id", sdb_col_text(st, 0));
    cJSON_AddStringToObject(o, "device_id", sdb_col_text(st, 1));
    cJSON_AddStringToObject(o, "name", sdb_col_text(st, 2));
    json_add_raw(o, "params", sdb_col_text(st, 3));
    cJSON_AddStringToObject(o, "status", sdb_col_text(st, 4));
    cJSON_AddStringToObject(o, "status_url", url);
    cJSON_AddNumberToObject(o, "created_ms", (double)sdb_col_i64(st, 5));
    cJSON_AddNumberToObject(o, "expires_ms", (double)sdb_col_i64(st, 6));
    cJSON_AddNumberToObject(o, "timeout_s", (double)sdb_col_i64(st, 7));
    cJSON_AddNumberToObject(o, "updated_ms", (double)sdb_col_i64(st, 14));
    if (!sdb_col_null(st, 8))
        cJSON_AddStringToObject(o, "callback_url", sdb_col_text(st, 8));
    if (!sdb_col_null(st, 9))
        cJSON_AddStringToObject(o, "idempotency_key", sdb_col_text(st, 9));
    json_add_raw(o, "history", sdb_col_text(st, 10));
    json_add_raw(o, "result", sdb_col_null(st, 11) ? NULL : sdb_col_text(st, 11));
    if (!sdb_col_null(st, 12)) {
        cJSON *w = cJSON_AddObjectToObject(o, "webhook");
        if (w) {
            cJSON_AddStringToObject(w, "state", sdb_col_text(st, 12));
            json_add_raw(w, "tries", sdb_col_text(st, 13));
        }
    }
    sdb_reset(st);
    *out = o;
    return IOT_OK;
}

/* Walk every row of @p st through @p row; IOT_ERR_TIMEOUT or IOT_ERR_IO when the statement
 * failed. */
static enum iot_err each_row(struct sdb_stmt *st, void (*row)(struct sdb_stmt *, void *),
                             void *arg)
{
    enum sdb_step r;
    while ((r = sdb_step(st)) == SDB_ROW)
        row(st, arg);
    sdb_reset(st);
    return r == SDB_ERROR ? sdb_step_err(st) : IOT_OK;
}

struct cb {
    cmd_store_due_fn due;
    cmd_store_id_fn id;
    cmd_store_webhook_fn webhook;
    cmd_store_desired_fn desired;
    void *ctx;
};

static void due_row(struct sdb_stmt *st, void *arg)
{
    const struct cb *c = arg;
    size_t len = 0;
    const void *p = sdb_col_blob(st, 2, &len);
    c->due(c->ctx, sdb_col_text(st, 0), sdb_col_text(st, 1), p, len,
                              sdb_col_i64(st, 3));
}

enum iot_err cmd_store_foreach_due(struct cmd_store *s, int64_t now_ms, unsigned limit,
                                   cmd_store_due_fn fn, void *ctx)
{
    struct sdb_stmt *st = stmt(s, Q_DUE);
    sdb_bind_i64(st, 1, now_ms);
    sdb_bind_i64(st, 2, limit);
    struct cb c = {.due = fn, .ctx = ctx};
    return each_row(st, due_row, &c);
}

enum iot_err cmd_store_foreach_sent(struct cmd_store *s, const char *device, int64_t now_ms,
                                    unsigned limit, cmd_store_due_fn fn, void *ctx)
{
    struct sdb_stmt *st = stmt(s, Q_SENT_OF_DEVICE);
    sdb_bind_text(st, 1, device);
    sdb_bind_i64(st, 2, now_ms);
    sdb_bind_i64(st, 3, limit);
    struct cb c = {.due = fn, .ctx = ctx};
    return each_row(st, due_row, &c);
}

static void expired_row(struct sdb_stmt *st, void *arg)
{
    const struct cb *c = arg;
    enum cmd_state state;
    if (cmd_state_parse(sdb_col_text(st, 1), &state))
        c->id(c->ctx, sdb_col_text(st, 0), state);
}

enum iot_err cmd_store_foreach_expired(struct cmd_store *s, int64_t now_ms, unsigned limit,
                                       cmd_store_id_fn fn, void *ctx)
{
    struct sdb_stmt *st = stmt(s, Q_EXPIRED);
    sdb_bind_i64(st, 1, now_ms);
    sdb_bind_i64(st, 2, limit);
    struct cb c = {.id = fn, .ctx = ctx};
    return each_row(st, expired_row, &c);
}

enum iot_err cmd_store_next_expiry(struct cmd_store *s, int64_t *out)
{
    struct sdb_stmt *st = stmt(s, Q_NEXT_EXPIRY);
    enum iot_err rc = first_row(st);
    if (rc == IOT_ERR_NOT_FOUND)
        return IOT_ERR_IO; /* an aggregate always answers one row */
    if (rc != IOT_OK)
        return rc;
    *out = sdb_col_null(st, 0) ? INT64_MAX : sdb_col_i64(st, 0);
    sdb_reset(st);
    return IOT_OK;
}

enum iot_err cmd_store_webhook_try(struct cmd_store *s, const char *cid, const char *try_json,
                                   const char *state)
{
    struct sdb_stmt *st = stmt(s, Q_WEBHOOK_TRY);
    sdb_bind_text(st, 1, cid);
    sdb_bind_text(st, 2, try_json);
    sdb_bind_text(st, 3, state);
    return run(st);
}

static void webhook_row(struct sdb_stmt *st, void *arg)
{
    const struct cb *c = arg;
    c->webhook(c->ctx, sdb_col_text(st, 0), sdb_col_text(st, 1),
                                  (unsigned)sdb_col_i64(st, 2));
}

enum iot_err cmd_store_foreach_webhook_pending(struct cmd_store *s, cmd_store_webhook_fn fn,
                                               void *ctx)
{
    struct cb c = {.webhook = fn, .ctx = ctx};
    return each_row(stmt(s, Q_WEBHOOK_PENDING), webhook_row, &c);
}

enum iot_err cmd_store_desired_put(struct cmd_store *s, const char *device,
                                   const char *settings_json, int64_t now_ms, uint64_t *version)
{
    struct sdb_stmt *st = stmt(s, Q_DESIRED_GET);
    sdb_bind_text(st, 1, device);
    enum iot_err rc = first_row(st);
    uint64_t v = 1;
    if (rc == IOT_OK)
        v = (uint64_t)sdb_col_i64(st, 0) + 1;
    else if (rc != IOT_ERR_NOT_FOUND)
        return rc;
    sdb_reset(st);
    st = stmt(s, Q_DESIRED_PUT);
    sdb_bind_text(st, 1, device);
    sdb_bind_i64(st, 2, (int64_t)v);
    sdb_bind_text(st, 3, settings_json);
    sdb_bind_i64(st, 4, now_ms);
    rc = run(st);
    if (rc == IOT_OK)
        *version = v;
    return rc;
}

static void desired_row(struct sdb_stmt *st, void *arg)
{
    const struct cb *c = arg;
    c->desired(c->ctx, sdb_col_text(st, 0), (uint64_t)sdb_col_i64(st, 1),
                                  sdb_col_text(st, 2));
}

enum iot_err cmd_store_desired_foreach_unpublished(struct cmd_store *s, cmd_store_desired_fn fn,
                                                   void *ctx)
{
    struct cb c = {.desired = fn, .ctx = ctx};
    return each_row(stmt(s, Q_DESIRED_UNPUBLISHED), desired_row, &c);
}

enum iot_err cmd_store_desired_published(struct cmd_store *s, const char *device,
                                         uint64_t version)
{
    struct sdb_stmt *st = stmt(s, Q_DESIRED_PUBLISHED);
    sdb_bind_text(st, 1, device);
    sdb_bind_i64(st, 2, (int64_t)version);
    return run(st);
}
