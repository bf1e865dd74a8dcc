/* SPDX-License-Identifier: Apache-2.0 */
/* SQLite side of commands and desired state (see cmd_store.h). Histories and webhook tries are
 * JSON arrays appended with SQLite's JSON1 functions, so a transition is one UPDATE. */
#define IOT_LOG_TAG "cloud.cmdstore"
#include "cmd_store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "iot/log.h"
#include "iot/mem.h"

#define BUSY_TIMEOUT_MS 5000

enum stmt_id {
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_INSERT,
    Q_FIND_IDEM,
    Q_STATE,
    Q_TRANSITION,
    Q_SET_RESULT,
    Q_GET,
    Q_DUE,
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

static const char *const sql[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_INSERT] = "INSERT INTO commands(id, device_id, name, params, state, created_ms, expires_ms,"
                 " timeout_s, callback_url, idempotency_key, payload, history, webhook_state,"
                 " webhook_tries, updated_ms) VALUES(?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?7, ?8, ?9,"
                 " ?10, json_array(json_object('state', 'queued', 'at_ms', ?5)),"
                 " CASE WHEN ?8 IS NULL THEN NULL ELSE 'none' END, '[]', ?5)",
    [Q_FIND_IDEM] = "SELECT id, name = ?3 AND params = ?4 FROM commands"
                    " WHERE device_id = ?1 AND idempotency_key = ?2",
    [Q_STATE] = "SELECT state, device_id FROM commands WHERE id = ?1",
    /* A terminal state makes a configured webhook due ("pending") in the same transaction, so a
     * restart finds it. */
    [Q_TRANSITION] = "UPDATE commands SET state = ?3, updated_ms = ?4, history = json_insert(history,"
                     " '$[#]', json_object('state', ?3, 'at_ms', ?4)), webhook_state = CASE WHEN"
                     " ?5 AND callback_url IS NOT NULL THEN 'pending' ELSE webhook_state END"
                     " WHERE id = ?1 AND state = ?2",
    [Q_SET_RESULT] = "UPDATE commands SET result = ?2 WHERE id = ?1",
    [Q_GET] = "SELECT id, device_id, name, params, state, created_ms, expires_ms, timeout_s,"
              " callback_url, idempotency_key, history, result, webhook_state, webhook_tries,"
              " updated_ms FROM commands WHERE id = ?1",
    [Q_DUE] = "SELECT c.id, c.device_id, c.payload, c.expires_ms FROM commands c"
              " JOIN devices d ON d.device_id = c.device_id"
              " WHERE c.state = 'queued' AND d.online = 1 AND c.expires_ms > ?1"
              " ORDER BY c.created_ms LIMIT ?2",
    [Q_EXPIRED] = "SELECT id, state FROM commands WHERE state IN ('queued', 'sent')"
                  " AND expires_ms <= ?1 LIMIT ?2",
    [Q_NEXT_EXPIRY] = "SELECT min(expires_ms) FROM commands WHERE state IN ('queued', 'sent')",
    [Q_WEBHOOK_TRY] = "UPDATE commands SET webhook_state = ?3, webhook_tries ="
                      " json_insert(coalesce(webhook_tries, '[]'), '$[#]', json(?2)) WHERE id = ?1",
    [Q_WEBHOOK_PENDING] = "SELECT id, callback_url, json_array_length(coalesce(webhook_tries, '[]'))"
                          " FROM commands WHERE webhook_state = 'pending'"
                          " AND state NOT IN ('queued', 'sent')",
    [Q_DESIRED_GET] = "SELECT version FROM desired_state WHERE device_id = ?1",
    [Q_DESIRED_PUT] = "INSERT INTO desired_state(device_id, version, settings, updated_ms, published)"
                      " VALUES(?1, ?2, ?3, ?4, 0) ON CONFLICT(device_id) DO UPDATE SET"
                      " version = excluded.version, settings = excluded.settings,"
                      " updated_ms = excluded.updated_ms, published = 0",
    [Q_DESIRED_UNPUBLISHED] = "SELECT device_id, version, settings FROM desired_state"
                              " WHERE published = 0",
    [Q_DESIRED_PUBLISHED] = "UPDATE desired_state SET published = 1"
                            " WHERE device_id = ?1 AND version = ?2",
};

struct cmd_store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *st[Q_COUNT];
};

static sqlite3_stmt *stmt(struct cmd_store *s, enum stmt_id id)
{
    sqlite3_reset(s->st[id]);
    sqlite3_clear_bindings(s->st[id]);
    return s->st[id];
}

static enum iot_err failed(struct cmd_store *s, enum stmt_id id, int rc)
{
    IOT_LOG(IOT_LOG_ERROR, "%s: command statement %d failed: %s (%d)", s->path, (int)id,
            sqlite3_errmsg(s->db), rc);
    sqlite3_reset(s->st[id]);
    return IOT_ERR_IO;
}

static enum iot_err run(struct cmd_store *s, enum stmt_id id)
{
    int rc = sqlite3_step(s->st[id]);
    if (rc != SQLITE_DONE)
        return failed(s, id, rc);
    sqlite3_reset(s->st[id]);
    return IOT_OK;
}

static void bind_opt(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

enum iot_err cmd_store_open(const char *path, struct cmd_store **out)
{
    if (!path || !out)
        return IOT_ERR_INVAL;
    struct cmd_store *s = iot_calloc(1, sizeof *s);
    if (!s)
        return IOT_ERR_NOMEM;
    enum iot_err rc = IOT_ERR_NOMEM;
    s->path = iot_strdup(path);
    if (!s->path)
        goto out;
    rc = IOT_ERR_IO;
    int src = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* synchronous is per connection (FIELD-NOTES.md): NORMAL like the ingest connection. */
    if (src == SQLITE_OK)
        src = sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    for (int i = 0; src == SQLITE_OK && i < Q_COUNT; i++)
        src = sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
    if (src != SQLITE_OK) {
        IOT_LOG(IOT_LOG_ERROR, "commands: cannot use storage '%s': %s", path,
                s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(src));
        goto out;
    }
    rc = IOT_OK;
out:
    if (rc != IOT_OK) {
        cmd_store_close(s);
        return rc;
    }
    *out = s;
    return IOT_OK;
}

void cmd_store_close(struct cmd_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    if (s->db)
        sqlite3_close(s->db);
    iot_free(s->path);
    iot_free(s);
}

enum iot_err cmd_store_begin(struct cmd_store *s)
{
    stmt(s, Q_BEGIN);
    return run(s, Q_BEGIN);
}

enum iot_err cmd_store_commit(struct cmd_store *s)
{
    stmt(s, Q_COMMIT);
    enum iot_err rc = run(s, Q_COMMIT);
    if (rc != IOT_OK)
        cmd_store_rollback(s);
    return rc;
}

void cmd_store_rollback(struct cmd_store *s)
{
    if (!sqlite3_get_autocommit(s->db)) {
        stmt(s, Q_ROLLBACK);
        (void)run(s, Q_ROLLBACK);
    }
}

enum iot_err cmd_store_insert(struct cmd_store *s, const struct cmd_new *n)
{
    sqlite3_stmt *st = stmt(s, Q_INSERT);
    sqlite3_bind_text(st, 1, n->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, n->device_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, n->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, n->params_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, n->created_ms);
    sqlite3_bind_int64(st, 6, n->expires_ms);
    sqlite3_bind_int64(st, 7, n->timeout_s);
    bind_opt(st, 8, n->callback_url);
    bind_opt(st, 9, n->idem_key);
    sqlite3_bind_blob64(st, 10, n->payload, n->payload_len, SQLITE_STATIC);
    return run(s, Q_INSERT);
}

enum iot_err cmd_store_find_idem(struct cmd_store *s, const char *device, const char *key,
                                 const char *name, const char *params_json,
                                 char id[CMD_ID_LEN + 1], bool *same)
{
    sqlite3_stmt *st = stmt(s, Q_FIND_IDEM);
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, params_json, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return IOT_ERR_NOT_FOUND;
    }
    if (rc != SQLITE_ROW)
        return failed(s, Q_FIND_IDEM, rc);
    snprintf(id, CMD_ID_LEN + 1, "%s", col_text(st, 0));
    *same = sqlite3_column_int(st, 1) != 0;
    sqlite3_reset(st);
    return IOT_OK;
}

enum iot_err cmd_store_state(struct cmd_store *s, const char *cid, enum cmd_state *state,
                             char device[IOT_DEVICE_ID_MAX + 1])
{
    sqlite3_stmt *st = stmt(s, Q_STATE);
    sqlite3_bind_text(st, 1, cid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return IOT_ERR_NOT_FOUND;
    }
    if (rc != SQLITE_ROW)
        return failed(s, Q_STATE, rc);
    enum iot_err e = cmd_state_parse(col_text(st, 0), state) ? IOT_OK : IOT_ERR_IO;
    if (device)
        snprintf(device, IOT_DEVICE_ID_MAX + 1, "%s", col_text(st, 1));
    sqlite3_reset(st);
    return e;
}

enum iot_err cmd_store_transition(struct cmd_store *s, const char *cid, enum cmd_state from,
                                  enum cmd_state to, int64_t at_ms, bool *changed)
{
    sqlite3_stmt *st = stmt(s, Q_TRANSITION);
    sqlite3_bind_text(st, 1, cid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, cmd_state_name(from), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, cmd_state_name(to), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, at_ms);
    sqlite3_bind_int(st, 5, cmd_state_terminal(to) ? 1 : 0);
    enum iot_err rc = run(s, Q_TRANSITION);
    if (rc == IOT_OK)
        *changed = sqlite3_changes(s->db) == 1;
    return rc;
}

enum iot_err cmd_store_set_result(struct cmd_store *s, const char *cid, const char *result_json)
{
    sqlite3_stmt *st = stmt(s, Q_SET_RESULT);
    sqlite3_bind_text(st, 1, cid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, result_json, -1, SQLITE_STATIC);
    return run(s, Q_SET_RESULT);
}

enum iot_err cmd_store_get_json(struct cmd_store *s, const char *cid, cJSON **out)
{
    sqlite3_stmt *st = stmt(s, Q_GET);
    sqlite3_bind_text(st, 1, cid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return IOT_ERR_NOT_FOUND;
    }
    if (rc != SQLITE_ROW)
        return failed(s, Q_GET, rc);
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        sqlite3_reset(st);
        return IOT_ERR_NOMEM;
    }
    char url[64];
    snprintf(url, sizeof url, "/v1/commands/%s", col_text(st, 0));
    cJSON_AddStringToObject(o, "id", col_text(st, 0));
    cJSON_AddStringToObject(o, "device_id", col_text(st, 1));
    cJSON_AddStringToObject(o, "name", col_text(st, 2));
    json_add_raw(o, "params", col_text(st, 3));
    cJSON_AddStringToObject(o, "status", col_text(st, 4));
    cJSON_AddStringToObject(o, "status_url", url);
    cJSON_AddNumberToObject(o, "created_ms", (double)sqlite3_column_int64(st, 5));
    cJSON_AddNumberToObject(o, "expires_ms", (double)sqlite3_column_int64(st, 6));
    cJSON_AddNumberToObject(o, "timeout_s", (double)sqlite3_column_int64(st, 7));
    cJSON_AddNumberToObject(o, "updated_ms", (double)sqlite3_column_int64(st, 14));
    if (sqlite3_column_type(st, 8) != SQLITE_NULL)
        cJSON_AddStringToObject(o, "callback_url", col_text(st, 8));
    if (sqlite3_column_type(st, 9) != SQLITE_NULL)
        cJSON_AddStringToObject(o, "idempotency_key", col_text(st, 9));
    json_add_raw(o, "history", col_text(st, 10));
    json_add_raw(o, "result", sqlite3_column_type(st, 11) == SQLITE_NULL ? NULL : col_text(st, 11));
    if (sqlite3_column_type(st, 12) != SQLITE_NULL) {
        cJSON *w = cJSON_AddObjectToObject(o, "webhook");
        if (w) {
            cJSON_AddStringToObject(w, "state", col_text(st, 12));
            json_add_raw(w, "tries", col_text(st, 13));
        }
    }
    sqlite3_reset(st);
    *out = o;
    return IOT_OK;
}

enum iot_err cmd_store_foreach_due(struct cmd_store *s, int64_t now_ms, unsigned limit,
                                   cmd_store_due_fn fn, void *ctx)
{
    sqlite3_stmt *st = stmt(s, Q_DUE);
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int(st, 2, (int)limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(ctx, col_text(st, 0), col_text(st, 1), sqlite3_column_blob(st, 2),
           (size_t)sqlite3_column_bytes(st, 2), sqlite3_column_int64(st, 3));
    if (rc != SQLITE_DONE)
        return failed(s, Q_DUE, rc);
    sqlite3_reset(st);
    return IOT_OK;
}

enum iot_err cmd_store_foreach_expired(struct cmd_store *s, int64_t now_ms, unsigned limit,
                                       cmd_store_id_fn fn, void *ctx)
{
    sqlite3_stmt *st = stmt(s, Q_EXPIRED);
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int(st, 2, (int)limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        enum cmd_state state;
        if (cmd_state_parse(col_text(st, 1), &state))
            fn(ctx, col_text(st, 0), state);
    }
    if (rc != SQLITE_DONE)
        return failed(s, Q_EXPIRED, rc);
    sqlite3_reset(st);
    return IOT_OK;
}

enum iot_err cmd_store_next_expiry(struct cmd_store *s, int64_t *out)
{
    sqlite3_stmt *st = stmt(s, Q_NEXT_EXPIRY);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return failed(s, Q_NEXT_EXPIRY, rc);
    *out = sqlite3_column_type(st, 0) == SQLITE_NULL ? INT64_MAX : sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return IOT_OK;
}

enum iot_err cmd_store_webhook_try(struct cmd_store *s, const char *cid, const char *try_json,
                                   const char *state)
{
    sqlite3_stmt *st = stmt(s, Q_WEBHOOK_TRY);
    sqlite3_bind_text(st, 1, cid, -1, SQLITE_STATIC);
    bind_opt(st, 2, try_json);
    sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC);
    return run(s, Q_WEBHOOK_TRY);
}

enum iot_err cmd_store_foreach_webhook_pending(struct cmd_store *s, cmd_store_webhook_fn fn,
                                               void *ctx)
{
    sqlite3_stmt *st = stmt(s, Q_WEBHOOK_PENDING);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(ctx, col_text(st, 0), col_text(st, 1), (unsigned)sqlite3_column_int(st, 2));
    if (rc != SQLITE_DONE)
        return failed(s, Q_WEBHOOK_PENDING, rc);
    sqlite3_reset(st);
    return IOT_OK;
}

enum iot_err cmd_store_desired_put(struct cmd_store *s, const char *device,
                                   const char *settings_json, int64_t now_ms, uint64_t *version)
{
    sqlite3_stmt *st = stmt(s, Q_DESIRED_GET);
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    uint64_t v = 1;
    if (rc == SQLITE_ROW)
        v = (uint64_t)sqlite3_column_int64(st, 0) + 1;
    else if (rc != SQLITE_DONE)
        return failed(s, Q_DESIRED_GET, rc);
    sqlite3_reset(st);
    st = stmt(s, Q_DESIRED_PUT);
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)v);
    sqlite3_bind_text(st, 3, settings_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_ms);
    enum iot_err e = run(s, Q_DESIRED_PUT);
    if (e == IOT_OK)
        *version = v;
    return e;
}

enum iot_err cmd_store_desired_foreach_unpublished(struct cmd_store *s, cmd_store_desired_fn fn,
                                                   void *ctx)
{
    sqlite3_stmt *st = stmt(s, Q_DESIRED_UNPUBLISHED);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(ctx, col_text(st, 0), (uint64_t)sqlite3_column_int64(st, 1), col_text(st, 2));
    if (rc != SQLITE_DONE)
        return failed(s, Q_DESIRED_UNPUBLISHED, rc);
    sqlite3_reset(st);
    return IOT_OK;
}

enum iot_err cmd_store_desired_published(struct cmd_store *s, const char *device,
                                         uint64_t version)
{
    sqlite3_stmt *st = stmt(s, Q_DESIRED_PUBLISHED);
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)version);
    return run(s, Q_DESIRED_PUBLISHED);
}
