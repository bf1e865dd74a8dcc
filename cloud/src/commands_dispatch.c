/* SPDX-License-Identifier: Apache-2.0 */
/* The main loop's part of commands (see commands.h): apply posted events (PUBACKs, device results,
 * presence: re-send unanswered commands to a device back online), expire commands past their
 * deadline, publish due commands (MQTT 5 expiry, response topic, correlation data) and unpublished
 * desired states (retained). */
#define IOT_LOG_TAG "cloud.commands"
#include <stdio.h>
#include <string.h>

#include "commands_internal.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_clock.h"

static void on_puback(struct commands *c, struct changes *ch, const struct inbox_ev *ev)
{
    struct inflight *f = NULL;
    for (size_t i = 0; i < c->n_inflight && !f; i++)
        if (c->inflight[i].token == ev->token)
            f = &c->inflight[i];
    if (!f)
        return;
    struct inflight copy = *f;
    commands__inflight_remove(c, f);
    if (!ev->ok) {
        IOT_LOG(IOT_LOG_WARN, "%s for device %s not acknowledged by the broker%s",
                copy.desired ? "desired state" : copy.cid, copy.device,
                copy.resend ? " (a re-send: the next reconnection tries again)" : "; retrying");
        c->dirty = true;
        c->next_scan_mono_ms = plat_mono_ms() + RETRY_AFTER_FAIL_MS;
        return;
    }
    if (copy.desired) {
        if (cmd_store_begin(c->store) == IOT_OK) {
            if (cmd_store_desired_published(c->store, copy.device, copy.version) == IOT_OK)
                (void)cmd_store_commit(c->store);
            else
                cmd_store_rollback(c->store);
        }
        c->dirty = true; /* a newer version may wait behind this one */
        return;
    }
    enum cmd_state st;
    if (cmd_store_state(c->store, copy.cid, &st, NULL) == IOT_OK && st == CMD_QUEUED)
        (void)commands__apply(c, ch, copy.cid, copy.device, st, CMD_EV_ACKED, plat_wall_ms(), NULL);
}

static void on_result(struct commands *c, struct changes *ch, const struct inbox_ev *ev)
{
    char device[IOT_DEVICE_ID_MAX + 1];
    enum cmd_state st;
    enum iot_err rc = cmd_store_state(c->store, ev->cid, &st, device);
    if (rc != IOT_OK || strcmp(device, ev->device) != 0) {
        atomic_fetch_add(&c->metrics->command_results_unmatched, 1);
        IOT_LOG(IOT_LOG_WARN, "result from device %s for %s command %.64s ignored", ev->device,
                rc == IOT_OK ? "another device's" : "an unknown", ev->cid);
        return;
    }
    int64_t now = plat_wall_ms();
    /* An answer proves delivery, even when its PUBACK is not processed yet (or was lost in a
     * restart): record `sent` first so the history stays a legal path. */
    if (st == CMD_QUEUED) {
        struct inflight *f = commands__inflight_find_cmd(c, ev->cid);
        if (f)
            commands__inflight_remove(c, f);
        if (commands__apply(c, ch, ev->cid, device, st, CMD_EV_ACKED, now, NULL) == IOT_OK)
            st = CMD_SENT;
    }
    rc = commands__apply(c, ch, ev->cid, device, st, cmd_event_of_result(ev->status), now, ev->result_json);
    if (rc == IOT_ERR_INVAL) {
        atomic_fetch_add(&c->metrics->command_results_late, 1);
        IOT_LOG(IOT_LOG_WARN, "late result %s for command %s, already %s: not applied",
                cmd_result_status_name(ev->status), ev->cid, cmd_state_name(st));
    }
}

static void resend_sent(struct commands *c, const char *device, int64_t now);

static void drain_inbox(struct commands *c, struct changes *ch)
{
    pthread_mutex_lock(&c->inbox_lock);
    struct inbox_ev *evs = c->inbox;
    size_t n = c->n_inbox;
    c->inbox = NULL;
    c->n_inbox = c->cap_inbox = 0;
    pthread_mutex_unlock(&c->inbox_lock);
    for (size_t i = 0; i < n; i++) {
        switch (evs[i].kind) {
        case EV_PUBACK: on_puback(c, ch, &evs[i]); break;
        case EV_RESULT: on_result(c, ch, &evs[i]); break;
        case EV_ONLINE:
            resend_sent(c, evs[i].device, plat_wall_ms());
            c->dirty = true;
            break;
        case EV_CONNECTED: c->dirty = true; break;
        }
        iot_free(evs[i].result_json);
    }
    iot_free(evs);
}

struct id_list {
    struct {
        char cid[CMD_ID_LEN + 1];
        char device[IOT_DEVICE_ID_MAX + 1];
        enum cmd_state st;
        uint8_t *payload;
        size_t len;
        int64_t expires_ms;
        uint64_t version;
    } v[DISPATCH_LIMIT];
    size_t n;
};

static void collect_expired(void *ctx, const char *cid, enum cmd_state st)
{
    struct id_list *l = ctx;
    if (l->n < DISPATCH_LIMIT) {
        snprintf(l->v[l->n].cid, sizeof l->v[l->n].cid, "%s", cid);
        l->v[l->n].st = st;
        l->n++;
    }
}

static void expire_due(struct commands *c, struct changes *ch, int64_t now)
{
    if (now < c->next_expiry_ms)
        return;
    struct id_list *l = iot_calloc(1, sizeof *l);
    if (!l)
        return;
    if (cmd_store_foreach_expired(c->store, now, DISPATCH_LIMIT, collect_expired, l) == IOT_OK) {
        for (size_t i = 0; i < l->n; i++) {
            char device[IOT_DEVICE_ID_MAX + 1];
            enum cmd_state st;
            if (cmd_store_state(c->store, l->v[i].cid, &st, device) == IOT_OK)
                (void)commands__apply(c, ch, l->v[i].cid, device, st, CMD_EV_DEADLINE, now, NULL);
        }
    }
    /* When the batch was full, the next tick continues (next_expiry stays due). */
    if (l->n < DISPATCH_LIMIT && cmd_store_next_expiry(c->store, &c->next_expiry_ms) != IOT_OK)
        c->next_expiry_ms = now + 1000;
    iot_free(l);
}

static void collect_due(void *ctx, const char *cid, const char *device, const uint8_t *payload,
                        size_t len, int64_t expires_ms)
{
    struct id_list *l = ctx;
    if (l->n >= DISPATCH_LIMIT)
        return;
    uint8_t *copy = iot_malloc(len);
    if (!copy)
        return;
    memcpy(copy, payload, len);
    snprintf(l->v[l->n].cid, sizeof l->v[l->n].cid, "%s", cid);
    snprintf(l->v[l->n].device, sizeof l->v[l->n].device, "%s", device);
    l->v[l->n].payload = copy;
    l->v[l->n].len = len;
    l->v[l->n].expires_ms = expires_ms;
    l->n++;
}

static void collect_desired(void *ctx, const char *device, uint64_t version, const char *settings)
{
    struct id_list *l = ctx;
    if (l->n >= DISPATCH_LIMIT)
        return;
    cJSON *o = cJSON_Parse(settings);
    size_t n = 0;
    struct cmd_kv kv[CMD_PARAMS_MAX * 2];
    const cJSON *it;
    cJSON_ArrayForEach(it, o) {
        if (n < sizeof kv / sizeof kv[0] && cJSON_IsString(it))
            kv[n++] = (struct cmd_kv){it->string, it->valuestring};
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (o && cmd_desired_encode(version, kv, n, &buf, &len) == IOT_OK) {
        snprintf(l->v[l->n].device, sizeof l->v[l->n].device, "%s", device);
        l->v[l->n].payload = buf;
        l->v[l->n].len = len;
        l->v[l->n].version = version;
        l->n++;
    }
    cJSON_Delete(o);
}

static void publish_desired(struct commands *c)
{
    struct id_list *l = iot_calloc(1, sizeof *l);
    if (!l)
        return;
    (void)cmd_store_desired_foreach_unpublished(c->store, collect_desired, l);
    for (size_t i = 0; i < l->n; i++) {
        if (commands__inflight_has_desired(c, l->v[i].device))
            continue;
        char topic[IOT_TOPIC_MAX];
        struct inflight *f = commands__inflight_add(c);
        if (!f || iot_topic_format(topic, sizeof topic, IOT_TOPIC_DESIRED, l->v[i].device) != IOT_OK) {
            if (f)
                c->n_inflight--;
            continue;
        }
        f->desired = true;
        f->version = l->v[i].version;
        snprintf(f->device, sizeof f->device, "%s", l->v[i].device);
        struct ingest_mqtt_pub p = {.topic = topic, .payload = l->v[i].payload, .len = l->v[i].len,
                                    .qos = 1, .retained = true, .token = f->token | DESIRED_TOKEN_BIT};
        f->token = p.token;
        if (ingest_mqtt_publish(c->mqtt, &p) != IOT_OK)
            c->n_inflight--;
        else
            IOT_LOG(IOT_LOG_INFO, "device %s: desired state version %llu published", f->device,
                    (unsigned long long)f->version);
    }
    for (size_t i = 0; i < l->n; i++)
        iot_free(l->v[i].payload);
    iot_free(l);
}

/* Publish entry @p i of @p l (MQTT 5 expiry = the time left). @return IOT_OK, IOT_ERR_INVAL
 * (skipped: bad topic), IOT_ERR_NOMEM, or the publish error. */
static enum iot_err publish_cmd(struct commands *c, const struct id_list *l, size_t i, int64_t now,
                                bool resend)
{
    char topic[IOT_TOPIC_MAX], resp[IOT_TOPIC_MAX];
    if (iot_topic_format(topic, sizeof topic, IOT_TOPIC_COMMANDS, l->v[i].device) != IOT_OK ||
        iot_topic_format(resp, sizeof resp, IOT_TOPIC_RESPONSES, l->v[i].device) != IOT_OK)
        return IOT_ERR_INVAL;
    struct inflight *f = commands__inflight_add(c);
    if (!f)
        return IOT_ERR_NOMEM;
    snprintf(f->cid, sizeof f->cid, "%s", l->v[i].cid);
    snprintf(f->device, sizeof f->device, "%s", l->v[i].device);
    f->resend = resend;
    int64_t left_ms = l->v[i].expires_ms - now;
    struct ingest_mqtt_pub p = {
        .topic = topic, .payload = l->v[i].payload, .len = l->v[i].len, .qos = 1,
        .expiry_s = (uint32_t)((left_ms + 999) / 1000), .response_topic = resp,
        .correlation = f->cid, .correlation_len = strlen(f->cid), .token = f->token};
    enum iot_err rc = ingest_mqtt_publish(c->mqtt, &p);
    if (rc != IOT_OK) {
        c->n_inflight--;
        IOT_LOG(IOT_LOG_WARN, "command %s: %s failed (%s)%s", l->v[i].cid,
                resend ? "re-send" : "publish", iot_err_str(rc), resend ? "" : "; retrying");
        return rc;
    }
    IOT_LOG(resend ? IOT_LOG_INFO : IOT_LOG_DEBUG, "command %s %s to %s (expiry %u s)", f->cid,
            resend ? "re-sent (device back online, no answer yet)" : "published", topic,
            p.expiry_s);
    return IOT_OK;
}

static void free_list(struct id_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        iot_free(l->v[i].payload);
    iot_free(l);
}

static void publish_due(struct commands *c, int64_t now)
{
    struct id_list *l = iot_calloc(1, sizeof *l);
    if (!l)
        return;
    (void)cmd_store_foreach_due(c->store, now, DISPATCH_LIMIT, collect_due, l);
    for (size_t i = 0; i < l->n; i++) {
        if (commands__inflight_find_cmd(c, l->v[i].cid))
            continue;
        enum iot_err rc = publish_cmd(c, l, i, now, false);
        if (rc == IOT_ERR_INVAL)
            continue;
        if (rc != IOT_OK) {
            c->next_scan_mono_ms = plat_mono_ms() + RETRY_AFTER_FAIL_MS;
            break;
        }
    }
    if (l->n == DISPATCH_LIMIT)
        c->dirty = true; /* more may wait */
    free_list(l);
}

/* The device came (back) online: commands it was sent but never answered are published again. It
 * has a clean session, so a command delivered just before it disconnected, or while it was away,
 * is otherwise lost until its deadline. The agent never runs an id twice: it answers a repeat from
 * its replay set (the stored result, or "interrupted" when it stopped while running it). */
static void resend_sent(struct commands *c, const char *device, int64_t now)
{
    if (!c->mqtt || !ingest_mqtt_connected(c->mqtt))
        return;
    struct id_list *l = iot_calloc(1, sizeof *l);
    if (!l)
        return;
    (void)cmd_store_foreach_sent(c->store, device, now, DISPATCH_LIMIT, collect_due, l);
    for (size_t i = 0; i < l->n; i++) {
        if (commands__inflight_find_cmd(c, l->v[i].cid))
            continue;
        enum iot_err rc = publish_cmd(c, l, i, now, true);
        if (rc == IOT_OK)
            atomic_fetch_add(&c->metrics->commands_resent, 1);
        else if (rc != IOT_ERR_INVAL)
            break;
    }
    free_list(l);
}

uint32_t commands_tick(struct commands *c)
{
    if (!c)
        return TICK_MAX_MS;
    struct changes ch = {0};
    pthread_mutex_lock(&c->lock);
    drain_inbox(c, &ch);
    int64_t now = plat_wall_ms();
    expire_due(c, &ch, now);
    uint64_t mono = plat_mono_ms();
    bool due = (c->dirty && mono >= c->next_scan_mono_ms) || mono >= c->next_scan_mono_ms + RESCAN_MS;
    if (due && c->mqtt && ingest_mqtt_connected(c->mqtt)) {
        c->dirty = false;
        c->next_scan_mono_ms = mono;
        publish_due(c, now);
        publish_desired(c);
    }
    int64_t left = c->next_expiry_ms - now;
    pthread_mutex_unlock(&c->lock);
    commands__tell(c, &ch);
    return left <= 0 ? 1 : left > TICK_MAX_MS ? TICK_MAX_MS : (uint32_t)left;
}

