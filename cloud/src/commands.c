/* SPDX-License-Identifier: Apache-2.0 */
/* Commands and desired state (see commands.h): creation, the API's operations and the events other
 * threads post. One lock guards the store connection and the in-flight table; events from other
 * threads go through a small inbox (its own lock) so Paho's and the worker's threads never wait
 * for SQLite here. Listeners and webhooks are told after commit. The main loop's part (events,
 * deadlines, publishing, retries of device updates the store refused) is in commands_dispatch.c. */
#define IOT_LOG_TAG "cloud.commands"
#include "commands.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "commands_internal.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_clock.h"

/* ---- helpers (lock held) ---- */

struct inflight *commands__inflight_find_cmd(struct commands *c, const char *cid)
{
    for (size_t i = 0; i < c->n_inflight; i++)
        if (!c->inflight[i].desired && strcmp(c->inflight[i].cid, cid) == 0)
            return &c->inflight[i];
    return NULL;
}

bool commands__inflight_has_desired(struct commands *c, const char *device)
{
    for (size_t i = 0; i < c->n_inflight; i++)
        if (c->inflight[i].desired && strcmp(c->inflight[i].device, device) == 0)
            return true;
    return false;
}

struct inflight *commands__inflight_add(struct commands *c)
{
    if (c->n_inflight == c->cap_inflight) {
        size_t cap = c->cap_inflight ? c->cap_inflight * 2 : 32;
        struct inflight *p = iot_realloc(c->inflight, cap * sizeof *p);
        if (!p)
            return NULL;
        c->inflight = p;
        c->cap_inflight = cap;
    }
    struct inflight *f = &c->inflight[c->n_inflight++];
    memset(f, 0, sizeof *f);
    f->token = ++c->next_token;
    return f;
}

void commands__inflight_remove(struct commands *c, struct inflight *f)
{
    size_t i = (size_t)(f - c->inflight);
    c->inflight[i] = c->inflight[--c->n_inflight];
}

void commands__wake_loop(struct commands *c)
{
    struct plat_event *w = __atomic_load_n(&c->wake, __ATOMIC_ACQUIRE);
    if (w)
        plat_event_signal(w);
}

void commands__note_change(struct commands *c, struct changes *ch, const char *cid,
                           const char *device, enum cmd_state st, int64_t at_ms)
{
    atomic_fetch_add(&c->metrics->commands_by_state[st], 1);
    if (ch->n == ch->cap) {
        size_t cap = ch->cap ? ch->cap * 2 : 8;
        struct change *v = iot_realloc(ch->v, cap * sizeof *v);
        if (!v) {
            IOT_LOG(IOT_LOG_WARN, "command %s is %s, but listeners are not told (out of memory)",
                    cid, cmd_state_name(st));
            return;
        }
        ch->v = v;
        ch->cap = cap;
    }
    struct change *x = &ch->v[ch->n++];
    snprintf(x->cid, sizeof x->cid, "%s", cid);
    snprintf(x->device, sizeof x->device, "%s", device);
    x->st = st;
    x->at_ms = at_ms;
}

/* Apply @p ev to @p cid in its own transaction. @return IOT_OK (applied), IOT_ERR_INVAL (illegal
 * or the state moved meanwhile), IOT_ERR_TIMEOUT (database locked), IOT_ERR_IO. */
enum iot_err commands__apply(struct commands *c, struct changes *ch, const char *cid,
                             const char *device, enum cmd_state from, enum cmd_event ev,
                             int64_t now_ms, const char *result_json)
{
    enum cmd_state to;
    if (cmd_state_next(from, ev, &to) != IOT_OK)
        return IOT_ERR_INVAL;
    bool changed = false;
    enum iot_err rc = cmd_store_begin(c->store);
    if (rc == IOT_OK)
        rc = cmd_store_transition(c->store, cid, from, to, now_ms, &changed);
    if (rc == IOT_OK && changed && result_json)
        rc = cmd_store_set_result(c->store, cid, result_json);
    if (rc == IOT_OK)
        rc = cmd_store_commit(c->store);
    else
        cmd_store_rollback(c->store);
    if (rc != IOT_OK)
        return rc;
    if (!changed)
        return IOT_ERR_INVAL;
    IOT_LOG(IOT_LOG_INFO, "command %s (device %s): %s -> %s", cid, device, cmd_state_name(from),
            cmd_state_name(to));
    commands__note_change(c, ch, cid, device, to, now_ms);
    return IOT_OK;
}

/* After unlocking: listeners, and webhooks of terminal states. Frees @p ch's array. */
void commands__tell(struct commands *c, struct changes *ch)
{
    for (size_t i = 0; i < ch->n; i++) {
        const struct change *x = &ch->v[i];
        if (c->on_change)
            c->on_change(c->change_ctx, x->cid, x->device, x->st, x->at_ms);
        if (!cmd_state_terminal(x->st) || !c->webhooks)
            continue;
        cJSON *j = NULL;
        pthread_mutex_lock(&c->lock);
        enum iot_err rc = cmd_store_get_json(c->store, x->cid, &j);
        pthread_mutex_unlock(&c->lock);
        if (rc != IOT_OK)
            continue;
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(j, "callback_url");
        if (cJSON_IsString(url)) {
            char *body = json_print(j);
            if (body)
                (void)webhooks_submit(c->webhooks, x->cid, url->valuestring, body, 0);
            cJSON_free(body);
        }
        cJSON_Delete(j);
    }
    iot_free(ch->v);
    memset(ch, 0, sizeof *ch);
}

/* ---- creation ---- */

static void on_webhook_try(void *ctx, const char *cid, const struct webhook_try *t,
                           enum webhook_outcome o)
{
    struct commands *c = ctx;
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return;
    cJSON_AddNumberToObject(j, "try", t->n);
    cJSON_AddNumberToObject(j, "at_ms", (double)t->at_ms);
    cJSON_AddNumberToObject(j, "duration_ms", t->duration_ms);
    if (t->http_status)
        cJSON_AddNumberToObject(j, "http_status", (double)t->http_status);
    else
        cJSON_AddNullToObject(j, "http_status");
    if (t->error[0])
        cJSON_AddStringToObject(j, "error", t->error);
    char *text = json_print(j);
    cJSON_Delete(j);
    if (!text)
        return;
    const char *state = o == WEBHOOK_DELIVERED ? "delivered" : o == WEBHOOK_GAVE_UP ? "failed"
                                                                                    : "pending";
    pthread_mutex_lock(&c->lock);
    enum iot_err rc = cmd_store_begin(c->store);
    if (rc == IOT_OK)
        rc = cmd_store_webhook_try(c->store, cid, text, state);
    if (rc == IOT_OK)
        rc = cmd_store_commit(c->store);
    else
        cmd_store_rollback(c->store);
    pthread_mutex_unlock(&c->lock);
    cJSON_free(text);
}

struct pending_hook {
    char cid[CMD_ID_LEN + 1];
    char *url;
    unsigned tries;
};

struct pending_hooks {
    struct pending_hook *v;
    size_t n, cap;
};

static void collect_pending_hook(void *ctx, const char *cid, const char *url, unsigned tries)
{
    struct pending_hooks *p = ctx;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct pending_hook *v = iot_realloc(p->v, cap * sizeof *v);
        if (!v)
            return;
        p->v = v;
        p->cap = cap;
    }
    struct pending_hook *h = &p->v[p->n];
    h->url = iot_strdup(url);
    if (!h->url)
        return;
    snprintf(h->cid, sizeof h->cid, "%s", cid);
    h->tries = tries;
    p->n++;
}

/* Webhooks a previous run left undelivered continue where they stopped. */
static void resume_webhooks(struct commands *c)
{
    struct pending_hooks p = {0};
    pthread_mutex_lock(&c->lock);
    (void)cmd_store_foreach_webhook_pending(c->store, collect_pending_hook, &p);
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < p.n; i++) {
        cJSON *j = NULL;
        pthread_mutex_lock(&c->lock);
        enum iot_err rc = cmd_store_get_json(c->store, p.v[i].cid, &j);
        pthread_mutex_unlock(&c->lock);
        char *body = rc == IOT_OK ? json_print(j) : NULL;
        if (body)
            (void)webhooks_submit(c->webhooks, p.v[i].cid, p.v[i].url, body, p.v[i].tries);
        cJSON_free(body);
        cJSON_Delete(j);
        iot_free(p.v[i].url);
    }
    if (p.n)
        IOT_LOG(IOT_LOG_INFO, "%zu webhooks from the previous run resumed", p.n);
    iot_free(p.v);
}

enum iot_err commands_create(const struct cloud_config *cfg, struct ingest_metrics *metrics,
                             struct commands **out)
{
    if (!cfg || !metrics || !out)
        return IOT_ERR_INVAL;
    struct commands *c = iot_calloc(1, sizeof *c);
    if (!c)
        return IOT_ERR_NOMEM;
    c->cfg = cfg->commands;
    c->metrics = metrics;
    c->dirty = true;
    c->next_expiry_ms = 0; /* scan once at start */
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->inbox_lock, NULL);
    commands__retry_init(&c->retry, RETRY_MAX);
    enum iot_err rc = cmd_store_open(cfg->storage_kind, cfg->storage, &c->store);
    if (rc == IOT_OK && cfg->commands.signing_key_file[0]) {
        rc = plat_signer_load(cfg->commands.signing_key_file, &c->signer);
        if (rc != IOT_OK)
            IOT_LOG(IOT_LOG_ERROR, "[commands] signing_key_file '%s': cannot load the key (%s)",
                    cfg->commands.signing_key_file, iot_err_str(rc));
    } else if (rc == IOT_OK) {
        IOT_LOG(IOT_LOG_WARN, "[commands] signing_key_file not set: commands are refused (503)");
    }
    if (rc == IOT_OK)
        rc = webhooks_create(&cfg->webhooks, metrics, on_webhook_try, c, &c->webhooks);
    if (rc != IOT_OK) {
        commands_destroy(c);
        return rc;
    }
    resume_webhooks(c);
    *out = c;
    return IOT_OK;
}

void commands_destroy(struct commands *c)
{
    if (!c)
        return;
    webhooks_destroy(c->webhooks);
    if (c->retry.n)
        IOT_LOG(IOT_LOG_ERROR, "%zu command updates from devices were never stored (the database "
                "stayed unavailable): lost; their commands end at their deadline", c->retry.n);
    commands__retry_deinit(&c->retry);
    cmd_store_close(c->store);
    plat_signer_destroy(c->signer);
    for (size_t i = 0; i < c->n_inbox; i++)
        iot_free(c->inbox[i].result_json);
    iot_free(c->inbox);
    iot_free(c->inflight);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->inbox_lock);
    iot_free(c);
}

void commands_set_mqtt(struct commands *c, struct ingest_mqtt *mqtt) { c->mqtt = mqtt; }

void commands_set_listener(struct commands *c, commands_change_fn fn, void *ctx)
{
    c->on_change = fn;
    c->change_ctx = ctx;
}

void commands_set_wake(struct commands *c, struct plat_event *wake)
{
    if (c)
        __atomic_store_n(&c->wake, wake, __ATOMIC_RELEASE);
}

bool commands_enabled(const struct commands *c) { return c && c->signer; }

/* ---- API operations ---- */

static char *params_json(const struct cmd_request *rq)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < rq->n_params; i++)
        cJSON_AddStringToObject(o, rq->params[i].key, rq->params[i].value);
    char *text = json_print(o);
    cJSON_Delete(o);
    return text;
}

enum iot_err commands_submit(struct commands *c, const struct cmd_request *rq,
                             char id[CMD_ID_LEN + 1], enum cmd_submit_outcome *outcome)
{
    if (!c || !rq || !id || !outcome)
        return IOT_ERR_INVAL;
    if (!c->signer)
        return IOT_ERR_CLOSED;
    char *params = params_json(rq);
    if (!params)
        return IOT_ERR_NOMEM;
    uint8_t *payload = NULL;
    size_t payload_len = 0;
    char new_id[CMD_ID_LEN + 1];
    struct cmd_kv kv[CMD_PARAMS_MAX];
    for (size_t i = 0; i < rq->n_params; i++)
        kv[i] = (struct cmd_kv){rq->params[i].key, rq->params[i].value};
    int64_t now = plat_wall_ms();
    struct cmd_sign_input in = {.id = new_id, .device_id = rq->device_id, .name = rq->name,
                                .params = kv, .n_params = rq->n_params, .issued_ms = now,
                                .expires_ms = now + (int64_t)rq->timeout_s * 1000};
    enum iot_err rc = cmd_id_new(new_id);
    if (rc != IOT_OK)
        goto out;
    struct changes ch = {0};
    pthread_mutex_lock(&c->lock);
    rc = cmd_store_begin(c->store);
    if (rc == IOT_OK && rq->idem_key[0]) {
        bool same = false;
        rc = cmd_store_find_idem(c->store, rq->device_id, rq->idem_key, rq->name, params, id,
                                 &same);
        if (rc == IOT_OK) {
            *outcome = same ? CMD_SUBMIT_EXISTING : CMD_SUBMIT_KEY_CONFLICT;
            cmd_store_rollback(c->store);
            pthread_mutex_unlock(&c->lock);
            goto out;
        }
        if (rc == IOT_ERR_NOT_FOUND)
            rc = IOT_OK;
    }
    if (rc == IOT_OK)
        rc = cmd_sign_encode(c->signer, c->cfg.key_id, &in, &payload, &payload_len);
    if (rc == IOT_OK) {
        struct cmd_new n = {.id = new_id, .device_id = rq->device_id, .name = rq->name,
                            .params_json = params, .created_ms = now, .expires_ms = in.expires_ms,
                            .timeout_s = rq->timeout_s,
                            .callback_url = rq->callback_url[0] ? rq->callback_url : NULL,
                            .idem_key = rq->idem_key[0] ? rq->idem_key : NULL,
                            .payload = payload, .payload_len = payload_len};
        rc = cmd_store_insert(c->store, &n);
    }
    if (rc == IOT_OK)
        rc = cmd_store_commit(c->store);
    else
        cmd_store_rollback(c->store);
    if (rc == IOT_OK) {
        c->dirty = true;
        if (in.expires_ms < c->next_expiry_ms || c->next_expiry_ms == 0)
            c->next_expiry_ms = in.expires_ms;
        commands__note_change(c, &ch, new_id, rq->device_id, CMD_QUEUED, now);
        memcpy(id, new_id, sizeof new_id);
        *outcome = CMD_SUBMIT_CREATED;
        IOT_LOG(IOT_LOG_INFO, "command %s (%s) for device %s queued, deadline in %u s", new_id,
                rq->name, rq->device_id, rq->timeout_s);
    }
    pthread_mutex_unlock(&c->lock);
    if (rc == IOT_OK) {
        commands__tell(c, &ch);
        commands__wake_loop(c);
    }
out:
    iot_free(payload);
    cJSON_free(params);
    return rc;
}

enum iot_err commands_get(struct commands *c, const char *cid, cJSON **json, enum cmd_state *st)
{
    if (!c || !cid || !json)
        return IOT_ERR_INVAL;
    pthread_mutex_lock(&c->lock);
    enum cmd_state s = CMD_QUEUED;
    enum iot_err rc = cmd_store_state(c->store, cid, &s, NULL);
    if (rc == IOT_OK)
        rc = cmd_store_get_json(c->store, cid, json);
    pthread_mutex_unlock(&c->lock);
    if (rc == IOT_OK && st)
        *st = s;
    return rc;
}

enum iot_err commands_cancel(struct commands *c, const char *cid, bool *cancelled)
{
    if (!c || !cid || !cancelled)
        return IOT_ERR_INVAL;
    struct changes ch = {0};
    char device[IOT_DEVICE_ID_MAX + 1];
    enum cmd_state st;
    *cancelled = false;
    pthread_mutex_lock(&c->lock);
    enum iot_err rc = cmd_store_state(c->store, cid, &st, device);
    /* Queued but published and awaiting its PUBACK counts as delivered: the device may run it; so
     * does one whose PUBACK or result waits for a retry. */
    if (rc == IOT_OK && st == CMD_QUEUED && !commands__inflight_find_cmd(c, cid) &&
        !commands__retry_has(&c->retry, cid)) {
        rc = commands__apply(c, &ch, cid, device, st, CMD_EV_CANCEL, plat_wall_ms(), NULL);
        *cancelled = rc == IOT_OK;
        if (rc == IOT_ERR_INVAL)
            rc = IOT_OK;
    }
    pthread_mutex_unlock(&c->lock);
    commands__tell(c, &ch);
    return rc;
}

enum iot_err commands_set_desired(struct commands *c, const char *device, const struct cmd_kv *kv,
                                  size_t n, uint64_t *version)
{
    if (!c || !device || (n && !kv) || !version)
        return IOT_ERR_INVAL;
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < n; i++)
        cJSON_AddStringToObject(o, kv[i].key, kv[i].value);
    char *settings = json_print(o);
    cJSON_Delete(o);
    if (!settings)
        return IOT_ERR_NOMEM;
    pthread_mutex_lock(&c->lock);
    enum iot_err rc = cmd_store_begin(c->store);
    if (rc == IOT_OK)
        rc = cmd_store_desired_put(c->store, device, settings, plat_wall_ms(), version);
    if (rc == IOT_OK)
        rc = cmd_store_commit(c->store);
    else
        cmd_store_rollback(c->store);
    if (rc == IOT_OK)
        c->dirty = true;
    pthread_mutex_unlock(&c->lock);
    cJSON_free(settings);
    if (rc == IOT_OK) {
        IOT_LOG(IOT_LOG_INFO, "device %s: desired state version %llu stored", device,
                (unsigned long long)*version);
        commands__wake_loop(c);
    }
    return rc;
}

/* ---- events from other threads ---- */

static void post(struct commands *c, struct inbox_ev *ev)
{
    pthread_mutex_lock(&c->inbox_lock);
    bool ok = c->n_inbox < INBOX_MAX;
    if (ok && c->n_inbox == c->cap_inbox) {
        size_t cap = c->cap_inbox ? c->cap_inbox * 2 : 64;
        struct inbox_ev *p = iot_realloc(c->inbox, cap * sizeof *p);
        if (p) {
            c->inbox = p;
            c->cap_inbox = cap;
        } else {
            ok = false;
        }
    }
    if (ok)
        c->inbox[c->n_inbox++] = *ev;
    pthread_mutex_unlock(&c->inbox_lock);
    if (!ok) {
        IOT_LOG(IOT_LOG_ERROR, "command event dropped (inbox full or out of memory)");
        iot_free(ev->result_json);
    }
    commands__wake_loop(c);
}

void commands_on_published(struct commands *c, uint64_t token, bool ok)
{
    struct inbox_ev ev = {.kind = EV_PUBACK, .token = token, .ok = ok};
    post(c, &ev);
}

cJSON *commands_result_json(const Iot__V1__CommandResult *r)
{
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return NULL;
    cJSON_AddStringToObject(j, "status", cmd_result_status_name((int)r->status));
    cJSON_AddNumberToObject(j, "code", r->code);
    cJSON_AddStringToObject(j, "message", r->message ? r->message : "");
    cJSON *outs = cJSON_AddObjectToObject(j, "outputs");
    if (outs)
        JSON_ADD_PB_MAP(outs, r->outputs, r->n_outputs);
    cJSON_AddNumberToObject(j, "done_ms", (double)r->done_ms);
    return j;
}

void commands_on_result(struct commands *c, const Iot__V1__CommandResult *r)
{
    struct inbox_ev ev = {.kind = EV_RESULT, .status = (int)r->status};
    snprintf(ev.device, sizeof ev.device, "%s", r->device_id ? r->device_id : "");
    snprintf(ev.cid, sizeof ev.cid, "%s", r->command_id ? r->command_id : "");
    cJSON *j = commands_result_json(r);
    ev.result_json = json_print(j);
    cJSON_Delete(j);
    if (!ev.result_json) {
        IOT_LOG(IOT_LOG_ERROR, "result of command %s dropped: out of memory", ev.cid);
        return;
    }
    post(c, &ev);
}

void commands_on_presence(struct commands *c, const char *device, bool online)
{
    if (!online)
        return;
    struct inbox_ev ev = {.kind = EV_ONLINE};
    snprintf(ev.device, sizeof ev.device, "%s", device);
    post(c, &ev);
}

void commands_on_connected(struct commands *c)
{
    struct inbox_ev ev = {.kind = EV_CONNECTED};
    post(c, &ev);
}

