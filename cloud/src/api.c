/* SPDX-License-Identifier: Apache-2.0 */
/* /v1 routing, authentication, command routes, long-polls and the event stream (see api.h).
 * Long-polls are suspended MHD connections in a list (one lock); whoever unlinks a waiter under
 * that lock resumes it, so each is resumed exactly once. */
#define IOT_LOG_TAG "cloud.api"
#include "api.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api_json.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_clock.h"
#include "iot/plat_crypto.h"
#include "iot/topic.h"
#include "sse.h"

#define ARG_MAX 128
#define MAX_ARGS 2

struct waiter {
    struct waiter *next, *prev;
    struct api *api;
    struct http_request *r;
    char cid[CMD_ID_LEN + 1];
    uint64_t deadline_ms;
};

struct api {
    struct cloud_config cfg;
    struct ingest_metrics *metrics;
    struct commands *commands;
    struct api_db *db;
    struct sse_hub *sse;
    pthread_mutex_t lp_lock; /* waiters, stopping */
    struct waiter *waiters;
    bool stopping;
    atomic_int answering; /* resumed waiters not yet answered */
};

typedef void (*route_fn)(struct api *a, struct http_request *r, char args[MAX_ARGS][ARG_MAX + 1]);

/* A failed storage operation: 503 with Retry-After when the database is busy (IOT_ERR_TIMEOUT:
 * another writer holds the lock past the busy timeout), 500 otherwise. */
void api_reply_store_error(struct http_request *r, enum iot_err rc, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (rc == IOT_ERR_TIMEOUT) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", API_RETRY_AFTER_S);
        http_reply_header(r, "Retry-After", secs);
        http_reply_error(r, 503, "unavailable", "%s: the database is busy, retry later", what);
        return;
    }
    http_reply_error(r, 500, "internal", "%s: %s", what, iot_err_str(rc));
}

/* ---- commands ---- */

static bool device_arg_ok(struct http_request *r, const char *id)
{
    if (iot_device_id_valid(id))
        return true;
    http_reply_error(r, 400, "bad_request", "device id must match [A-Za-z0-9_-]{1,64}");
    return false;
}

static bool command_arg_ok(struct http_request *r, const char *cid)
{
    if (cmd_id_valid(cid))
        return true;
    http_reply_error(r, 400, "bad_request", "command id must be cmd- and 24 hex digits");
    return false;
}

static void h_post_command(struct api *a, struct http_request *r, char args[MAX_ARGS][ARG_MAX + 1])
{
    if (!device_arg_ok(r, args[0]))
        return;
    if (!commands_enabled(a->commands)) {
        http_reply_error(r, 503, "unavailable",
                         "commands are disabled: [commands] signing_key_file is not configured");
        return;
    }
    struct cmd_request *rq = iot_malloc(sizeof *rq);
    if (!rq) {
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    char detail[256];
    size_t len = 0;
    const char *body = http_req_body(r, &len);
    enum iot_err rc = api_parse_command(body, len, args[0], http_req_header(r, "Idempotency-Key"),
                                        &a->cfg.commands, rq, detail, sizeof detail);
    if (rc != IOT_OK) {
        http_reply_error(r, 400, "bad_request", "%s", detail);
        iot_free(rq);
        return;
    }
    char id[CMD_ID_LEN + 1];
    enum cmd_submit_outcome o = CMD_SUBMIT_CREATED;
    rc = commands_submit(a->commands, rq, id, &o);
    iot_free(rq);
    if (rc != IOT_OK) {
        api_reply_store_error(r, rc, "cannot store the command");
        return;
    }
    char url[64];
    snprintf(url, sizeof url, "/v1/commands/%s", id);
    if (o == CMD_SUBMIT_KEY_CONFLICT) {
        http_reply_error(r, 409, "conflict",
                         "Idempotency-Key already used by command %s with a different name or "
                         "params",
                         id);
        return;
    }
    http_reply_header(r, "Location", url);
    if (o == CMD_SUBMIT_EXISTING) {
        cJSON *j = NULL;
        if (commands_get(a->commands, id, &j, NULL) != IOT_OK) {
            http_reply_error(r, 500, "internal", "cannot read command %s", id);
            return;
        }
        http_reply_json(r, 200, j);
        return;
    }
    cJSON *o_json = cJSON_CreateObject();
    if (o_json) {
        cJSON_AddStringToObject(o_json, "id", id);
        cJSON_AddStringToObject(o_json, "status", "queued");
        cJSON_AddStringToObject(o_json, "status_url", url);
    }
    http_reply_json(r, 202, o_json);
}

static void reply_command(struct api *a, struct http_request *r, const char *cid)
{
    cJSON *j = NULL;
    enum iot_err rc = commands_get(a->commands, cid, &j, NULL);
    if (rc == IOT_ERR_NOT_FOUND)
        http_reply_error(r, 404, "not_found", "no command %s", cid);
    else if (rc != IOT_OK)
        api_reply_store_error(r, rc, "cannot read command %s", cid);
    else
        http_reply_json(r, 200, j);
}

static void unlink_waiter(struct api *a, struct waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        a->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->next = w->prev = NULL;
    atomic_fetch_sub(&a->metrics->longpolls_waiting, 1);
    atomic_fetch_add(&a->answering, 1);
}

static void on_waiter_resumed(struct http_request *r, void *ctx)
{
    struct waiter *w = ctx;
    reply_command(w->api, r, w->cid);
    atomic_fetch_sub(&w->api->answering, 1);
    iot_free(w);
}

static void h_get_command(struct api *a, struct http_request *r, char args[MAX_ARGS][ARG_MAX + 1])
{
    const char *cid = args[0];
    if (!command_arg_ok(r, cid))
        return;
    int64_t wait_s = 0;
    const char *wq = http_req_query(r, "wait");
    if (wq && !api_parse_i64(wq, 0, API_WAIT_MAX_S, &wait_s)) {
        http_reply_error(r, 400, "bad_request", "wait must be an integer from 0 to %d seconds",
                         API_WAIT_MAX_S);
        return;
    }
    struct waiter *w = wait_s ? iot_calloc(1, sizeof *w) : NULL;
    pthread_mutex_lock(&a->lp_lock);
    enum cmd_state st = CMD_QUEUED;
    cJSON *j = NULL;
    enum iot_err rc = commands_get(a->commands, cid, &j, &st);
    if (rc != IOT_OK || cmd_state_terminal(st) || !w || a->stopping) {
        pthread_mutex_unlock(&a->lp_lock);
        iot_free(w);
        if (rc == IOT_OK)
            http_reply_json(r, 200, j);
        else if (rc == IOT_ERR_NOT_FOUND)
            http_reply_error(r, 404, "not_found", "no command %s", cid);
        else
            api_reply_store_error(r, rc, "cannot read command %s", cid);
        return;
    }
    cJSON_Delete(j);
    /* Suspended while holding lp_lock: a change committed after commands_get above finds the
     * waiter in the list; one committed before was seen by commands_get. */
    w->api = a;
    w->r = r;
    snprintf(w->cid, sizeof w->cid, "%s", cid);
    w->deadline_ms = plat_mono_ms() + (uint64_t)wait_s * 1000u;
    w->next = a->waiters;
    if (a->waiters)
        a->waiters->prev = w;
    a->waiters = w;
    atomic_fetch_add(&a->metrics->longpolls_waiting, 1);
    http_req_suspend(r, on_waiter_resumed, iot_free, w);
    pthread_mutex_unlock(&a->lp_lock);
}

static void h_delete_command(struct api *a, struct http_request *r,
                             char args[MAX_ARGS][ARG_MAX + 1])
{
    const char *cid = args[0];
    if (!command_arg_ok(r, cid))
        return;
    bool cancelled = false;
    enum iot_err rc = commands_cancel(a->commands, cid, &cancelled);
    if (rc == IOT_ERR_NOT_FOUND) {
        http_reply_error(r, 404, "not_found", "no command %s", cid);
        return;
    }
    if (rc != IOT_OK) {
        api_reply_store_error(r, rc, "cannot cancel %s", cid);
        return;
    }
    if (!cancelled) {
        cJSON *j = NULL;
        enum cmd_state st = CMD_SENT;
        (void)commands_get(a->commands, cid, &j, &st);
        cJSON_Delete(j);
        http_reply_error(r, 409, "conflict", "command %s is %s: only a command not yet "
                         "delivered can be cancelled", cid,
                         st == CMD_QUEUED ? "being delivered" : cmd_state_name(st));
        return;
    }
    reply_command(a, r, cid);
}

/* ---- registry, telemetry, desired state, events ---- */

static void h_devices(struct api *a, struct http_request *r, char args[MAX_ARGS][ARG_MAX + 1])
{
    (void)args;
    api_db_devices(a->db, r);
}

static void h_device(struct api *a, struct http_request *r, char args[MAX_ARGS][ARG_MAX + 1])
{
    if (device_arg_ok(r, args[0]))
        api_db_device(a->db, r, args[0]);
}

static void h_telemetry(struct api *a, struct http_request *r, char args[MAX_ARGS][ARG_MAX + 1])
{
    if (device_arg_ok(r, args[0]))
        api_db_telemetry(a->db, r, args[0]);
}

static void h_put_desired(struct api *a, struct http_request *r, char args[MAX_ARGS][ARG_MAX + 1])
{
    if (!device_arg_ok(r, args[0]))
        return;
    struct desired_request *d = iot_malloc(sizeof *d);
    if (!d) {
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    char detail[256];
    size_t len = 0;
    const char *body = http_req_body(r, &len);
    enum iot_err rc = api_parse_desired(body, len, d, detail, sizeof detail);
    if (rc != IOT_OK) {
        iot_free(d);
        http_reply_error(r, 400, "bad_request", "%s", detail);
        return;
    }
    struct cmd_kv kv[DESIRED_MAX];
    for (size_t i = 0; i < d->n; i++)
        kv[i] = (struct cmd_kv){d->settings[i].key, d->settings[i].value};
    uint64_t version = 0;
    rc = commands_set_desired(a->commands, args[0], kv, d->n, &version);
    iot_free(d);
    if (rc != IOT_OK) {
        api_reply_store_error(r, rc, "cannot store the desired state");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "device_id", args[0]);
        cJSON_AddNumberToObject(o, "version", (double)version);
    }
    http_reply_json(r, 200, o);
}

static void h_events(struct api *a, struct http_request *r, char args[MAX_ARGS][ARG_MAX + 1])
{
    (void)args;
    const char *dev = http_req_query(r, "device");
    if (dev && !device_arg_ok(r, dev))
        return;
    /* EventSource sends the header on reconnection; the query serves clients that cannot set it. */
    const char *last = http_req_header(r, "Last-Event-ID");
    if (!last || !last[0])
        last = http_req_query(r, "last_event_id");
    int64_t last_id = 0;
    if (last && last[0] && !api_parse_i64(last, 0, INT64_MAX, &last_id)) {
        http_reply_error(r, 400, "bad_request",
                         "Last-Event-ID / last_event_id must be an event id (a decimal integer)");
        return;
    }
    uint64_t id = (uint64_t)last_id;
    sse_hub_open(a->sse, r, dev, last && last[0] ? &id : NULL);
}

/* ---- routing ---- */

static const struct route {
    const char *method;
    const char *pattern; /* "{}" matches one path segment */
    route_fn fn;
    bool body; /* JSON body expected: Content-Type checked */
} routes[] = {
    {"POST", "/v1/devices/{}/commands", h_post_command, true},
    {"GET", "/v1/commands/{}", h_get_command, false},
    {"DELETE", "/v1/commands/{}", h_delete_command, false},
    {"GET", "/v1/devices", h_devices, false},
    {"GET", "/v1/devices/{}", h_device, false},
    {"PUT", "/v1/devices/{}/state/desired", h_put_desired, true},
    {"GET", "/v1/devices/{}/telemetry", h_telemetry, false},
    {"GET", "/v1/events", h_events, false},
};

static bool match(const char *pattern, const char *path, char args[MAX_ARGS][ARG_MAX + 1])
{
    int n_args = 0;
    while (*pattern && *path) {
        if (pattern[0] == '{' && pattern[1] == '}') {
            size_t seg = strcspn(path, "/");
            if (seg == 0 || seg > ARG_MAX || n_args >= MAX_ARGS)
                return false;
            memcpy(args[n_args], path, seg);
            args[n_args++][seg] = 0;
            path += seg;
            pattern += 2;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return !*pattern && !*path;
}

static bool authorized(struct api *a, struct http_request *r)
{
    const char *h = http_req_header(r, "Authorization");
    const char *tok = a->cfg.http.token;
    size_t tlen = strlen(tok);
    if (!tlen || !h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    /* Constant time and length-independent: compare digests (plat_ct_memcmp). */
    uint8_t got[32], want[32];
    plat_sha256(h, strlen(h), got);
    plat_sha256(tok, tlen, want);
    return plat_ct_memcmp(got, want, sizeof got) == 0;
}

static bool json_content_type(struct http_request *r)
{
    const char *ct = http_req_header(r, "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16) != 0)
        return false;
    return ct[16] == 0 || ct[16] == ';' || ct[16] == ' ';
}

void api_handle(struct api *a, struct http_request *r)
{
    const char *path = http_req_path(r);
    const char *method = http_req_method(r);
    if (strncmp(path, "/v1/", 4) != 0) {
        http_reply_error(r, 404, "not_found", "no route for %s", path);
        return;
    }
    if (!authorized(a, r)) {
        http_reply_header(r, "WWW-Authenticate", "Bearer realm=\"iot-cloud\"");
        http_reply_error(r, 401, "unauthorized", a->cfg.http.token[0]
                                                     ? "missing or wrong bearer token"
                                                     : "no [http] token is configured");
        return;
    }
    char args[MAX_ARGS][ARG_MAX + 1];
    char allow[64] = "";
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!match(routes[i].pattern, path, args))
            continue;
        if (strcmp(routes[i].method, method) != 0) {
            size_t n = strlen(allow);
            snprintf(allow + n, sizeof allow - n, "%s%s", n ? ", " : "", routes[i].method);
            continue;
        }
        if (routes[i].body && !json_content_type(r)) {
            http_reply_error(r, 415, "unsupported_media_type",
                             "Content-Type must be application/json");
            return;
        }
        routes[i].fn(a, r, args);
        return;
    }
    if (allow[0]) {
        http_reply_header(r, "Allow", allow);
        http_reply_error(r, 405, "method_not_allowed", "%s is not allowed on %s (allowed: %s)",
                         method, path, allow);
        return;
    }
    http_reply_error(r, 404, "not_found", "no route for %s", path);
}

/* ---- events and lifecycle ---- */

void api_event(struct api *a, const char *event, const char *device, cJSON *data)
{
    char *text = json_print(data);
    cJSON_Delete(data);
    if (text)
        sse_hub_publish(a->sse, event, device, text);
    cJSON_free(text);
}

bool api_events_wanted(struct api *a) { return a && sse_hub_active(a->sse); }

void api_on_command_change(void *ctx, const char *cid, const char *device_id, enum cmd_state st,
                           int64_t at_ms)
{
    struct api *a = ctx;
    if (api_events_wanted(a)) {
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddStringToObject(o, "id", cid);
            cJSON_AddStringToObject(o, "device_id", device_id);
            cJSON_AddStringToObject(o, "status", cmd_state_name(st));
            cJSON_AddNumberToObject(o, "at_ms", (double)at_ms);
            api_event(a, "command", device_id, o);
        }
    }
    if (!cmd_state_terminal(st))
        return;
    pthread_mutex_lock(&a->lp_lock);
    for (struct waiter *w = a->waiters, *next; w; w = next) {
        next = w->next;
        if (strcmp(w->cid, cid) == 0) {
            unlink_waiter(a, w);
            http_req_resume(w->r);
        }
    }
    pthread_mutex_unlock(&a->lp_lock);
}

void api_tick(struct api *a, uint64_t now_mono_ms)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lp_lock);
    for (struct waiter *w = a->waiters, *next; w; w = next) {
        next = w->next;
        if (now_mono_ms >= w->deadline_ms) {
            unlink_waiter(a, w);
            http_req_resume(w->r);
        }
    }
    pthread_mutex_unlock(&a->lp_lock);
    sse_hub_tick(a->sse, now_mono_ms);
}

void api_quiesce(struct api *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lp_lock);
    a->stopping = true;
    while (a->waiters) {
        struct waiter *w = a->waiters;
        unlink_waiter(a, w);
        http_req_resume(w->r);
    }
    pthread_mutex_unlock(&a->lp_lock);
    sse_hub_quiesce(a->sse);
    /* Let MHD's thread answer what was just resumed before the daemon stops (bounded). */
    for (int i = 0; i < 200 && atomic_load(&a->answering) > 0; i++)
        plat_sleep_ms(5);
}

enum iot_err api_create(const struct cloud_config *cfg, struct ingest_metrics *metrics,
                        struct commands *commands, struct api **out)
{
    if (!cfg || !metrics || !commands || !out)
        return IOT_ERR_INVAL;
    struct api *a = iot_calloc(1, sizeof *a);
    if (!a)
        return IOT_ERR_NOMEM;
    a->cfg = *cfg;
    a->metrics = metrics;
    a->commands = commands;
    pthread_mutex_init(&a->lp_lock, NULL);
    atomic_init(&a->answering, 0);
    enum iot_err rc = api_db_open(cfg->storage_kind, cfg->storage, &a->db);
    if (rc == IOT_OK)
        rc = sse_hub_create(&cfg->sse, metrics, &a->sse);
    if (rc != IOT_OK) {
        api_destroy(a);
        return rc;
    }
    if (!cfg->http.token[0])
        IOT_LOG(IOT_LOG_WARN, "[http] token is empty: every /v1 request is refused (401)");
    *out = a;
    return IOT_OK;
}

void api_destroy(struct api *a)
{
    if (!a)
        return;
    sse_hub_destroy(a->sse);
    api_db_close(a->db);
    pthread_mutex_destroy(&a->lp_lock);
    iot_free(a);
}
