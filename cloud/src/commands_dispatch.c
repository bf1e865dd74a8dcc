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

/* ---- device-driven updates: applied, or kept for a retry while the store fails ----
 * A PUBACK (queued -> sent) and a device's CommandResult arrive once: Paho acknowledged them to the
 * broker before we saw them, so nothing re-delivers one we fail to store. When the store fails
 * (IOT_ERR_TIMEOUT: another connection held a lock past our lock wait; or another error) the
 * update waits in c->retry and is tried again from commands_tick with a backoff, in arrival order
 * per command, until it is applied or has become moot (the command ended meanwhile). Meanwhile its
 * command is not expired, cancelled or published again: its device has it (or answered). */

/* queued -> sent. @return IOT_OK (applied, or moot), or the store's error (retry) */
static enum iot_err apply_acked(struct commands *c, struct changes *ch, const struct inbox_ev *ev,
                                int64_t at_ms)
{
    enum cmd_state st;
    enum iot_err rc = cmd_store_state(c->store, ev->cid, &st, NULL);
    if (rc == IOT_ERR_NOT_FOUND || (rc == IOT_OK && st != CMD_QUEUED))
        return IOT_OK;
    if (rc == IOT_OK)
        rc = commands__apply(c, ch, ev->cid, ev->device, st, CMD_EV_ACKED, at_ms, NULL);
    return rc == IOT_ERR_INVAL ? IOT_OK : rc;
}

/* A device's answer. @return IOT_OK (applied, ignored or late), or the store's error (retry) */
static enum iot_err apply_result(struct commands *c, struct changes *ch, const struct inbox_ev *ev,
                                 int64_t at_ms)
{
    char device[IOT_DEVICE_ID_MAX + 1];
    enum cmd_state st;
    enum iot_err rc = cmd_store_state(c->store, ev->cid, &st, device);
    if (rc == IOT_ERR_NOT_FOUND || (rc == IOT_OK && strcmp(device, ev->device) != 0)) {
        atomic_fetch_add(&c->metrics->command_results_unmatched, 1);
        IOT_LOG(IOT_LOG_WARN, "result from device %s for %s command %.64s ignored", ev->device,
                rc == IOT_OK ? "another device's" : "an unknown", ev->cid);
        return IOT_OK;
    }
    if (rc != IOT_OK)
        return rc;
    /* An answer proves delivery, even when its PUBACK is not processed yet (or was lost in a
     * restart): record `sent` first so the history stays a legal path. */
    if (st == CMD_QUEUED) {
        struct inflight *f = commands__inflight_find_cmd(c, ev->cid);
        if (f)
            commands__inflight_remove(c, f);
        rc = commands__apply(c, ch, ev->cid, device, st, CMD_EV_ACKED, at_ms, NULL);
        if (rc == IOT_OK)
            st = CMD_SENT;
        else if (rc != IOT_ERR_INVAL)
            return rc;
    }
    rc = commands__apply(c, ch, ev->cid, device, st, cmd_event_of_result(ev->status), at_ms,
                         ev->result_json);
    if (rc == IOT_ERR_INVAL) {
        atomic_fetch_add(&c->metrics->command_results_late, 1);
        IOT_LOG(IOT_LOG_WARN, "late result %s for command %s, already %s: not applied",
                cmd_result_status_name(ev->status), ev->cid, cmd_state_name(st));
        return IOT_OK;
    }
    return rc;
}

static enum iot_err apply_update(struct commands *c, struct changes *ch, const struct inbox_ev *ev,
                                 int64_t at_ms)
{
    return ev->kind == EV_RESULT ? apply_result(c, ch, ev, at_ms) : apply_acked(c, ch, ev, at_ms);
}

static const char *update_name(const struct inbox_ev *ev)
{
    return ev->kind == EV_RESULT ? cmd_result_status_name(ev->status) : "PUBACK";
}

static void set_pending_gauge(struct commands *c)
{
    atomic_store(&c->metrics->command_updates_pending, (uint_fast64_t)c->retry.n);
}

static void drop_update(struct commands *c, const struct inbox_ev *ev, const char *why)
{
    uint64_t n = atomic_fetch_add(&c->metrics->command_updates_dropped, 1) + 1;
    if ((n & (n - 1)) == 0 || n % 1000 == 0) /* the 1st, 2nd, 4th, ... and every 1000th */
        IOT_LOG(IOT_LOG_ERROR, "command %s: %s from device %s dropped (%s); %llu dropped so far",
                ev->cid, update_name(ev), ev->device, why, (unsigned long long)n);
}

/* Keep @p ev (its first try failed with @p err, or an older update of its command waits) for a
 * retry. Takes ev->result_json when kept. */
static void defer_update(struct commands *c, struct inbox_ev *ev, int64_t at_ms, enum iot_err err)
{
    bool was_empty = c->retry.n == 0;
    enum iot_err rc = commands__retry_push(&c->retry, ev, at_ms, err, plat_mono_ms());
    if (rc != IOT_OK) {
        drop_update(c, ev, rc == IOT_ERR_FULL ? "the retry list is full" : "out of memory");
        return;
    }
    atomic_fetch_add(&c->metrics->command_updates_deferred, 1);
    set_pending_gauge(c);
    if (was_empty)
        IOT_LOG(IOT_LOG_WARN, "command %s: %s from device %s not stored (%s): kept, retrying",
                ev->cid, update_name(ev), ev->device, iot_err_str(err));
    else
        IOT_LOG(IOT_LOG_DEBUG, "command %s: %s from device %s kept for a retry (%zu waiting)",
                ev->cid, update_name(ev), ev->device, c->retry.n);
}

/* A new update: applied now, unless an older one of its command waits or the store was found
 * locked in this tick (*busy: one lock wait per tick at most; the main loop also sends
 * receipts). */
static void update(struct commands *c, struct changes *ch, struct inbox_ev *ev, bool *busy)
{
    int64_t at_ms = plat_wall_ms();
    enum iot_err rc = IOT_ERR_TIMEOUT;
    if (!*busy && !commands__retry_has(&c->retry, ev->cid)) {
        rc = apply_update(c, ch, ev, at_ms);
        if (rc == IOT_OK)
            return;
        *busy = rc == IOT_ERR_TIMEOUT;
    }
    defer_update(c, ev, at_ms, rc);
}

/* Retry what is due, oldest first. */
static void retry_updates(struct commands *c, struct changes *ch, bool *busy)
{
    if (!c->retry.n)
        return;
    uint64_t now = plat_mono_ms();
    size_t i = 0;
    for (unsigned tries = 0; !*busy && tries < RETRY_PASS_MAX; tries++) {
        i = commands__retry_next(&c->retry, i, now);
        if (i >= c->retry.n)
            break;
        struct retry_entry *e = &c->retry.v[i];
        enum iot_err rc = apply_update(c, ch, &e->ev, e->at_ms);
        if (rc == IOT_OK) {
            IOT_LOG(IOT_LOG_INFO, "command %s: %s from device %s applied after %u tries",
                    e->ev.cid, update_name(&e->ev), e->ev.device, e->tries + 1);
            commands__retry_remove(&c->retry, i); /* i is now the next entry */
            continue;
        }
        if (rc != IOT_ERR_TIMEOUT && now - e->first_mono_ms >= RETRY_GIVE_UP_MS) {
            drop_update(c, &e->ev, iot_err_str(rc));
            commands__retry_remove(&c->retry, i);
            continue;
        }
        commands__retry_failed(&c->retry, i, rc, now);
        *busy = rc == IOT_ERR_TIMEOUT;
        i++;
    }
    set_pending_gauge(c);
    if (!c->retry.n)
        IOT_LOG(IOT_LOG_INFO, "every command update kept for a retry is applied");
}

static void on_puback(struct commands *c, struct changes *ch, struct inbox_ev *ev, bool *busy)
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
        c->dirty = true; /* a newer version may wait behind this one (or this one, not stored) */
        return;
    }
    if (copy.resend)
        return; /* the command is already sent */
    snprintf(ev->cid, sizeof ev->cid, "%s", copy.cid);
    snprintf(ev->device, sizeof ev->device, "%s", copy.device);
    update(c, ch, ev, busy);
}

static void resend_sent(struct commands *c, const char *device, int64_t now);

static void drain_inbox(struct commands *c, struct changes *ch, bool *busy)
{
    pthread_mutex_lock(&c->inbox_lock);
    struct inbox_ev *evs = c->inbox;
    size_t n = c->n_inbox;
    c->inbox = NULL;
    c->n_inbox = c->cap_inbox = 0;
    pthread_mutex_unlock(&c->inbox_lock);
    for (size_t i = 0; i < n; i++) {
        switch (evs[i].kind) {
        case EV_PUBACK: on_puback(c, ch, &evs[i], busy); break;
        case EV_RESULT: update(c, ch, &evs[i], busy); break;
        case EV_ONLINE:
            resend_sent(c, evs[i].device, plat_wall_ms());
            c->dirty = true;
            break;
        case EV_CONNECTED: c->dirty = true; break;
        }
        iot_free(evs[i].result_json); /* NULL when kept for a retry */
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
    bool skipped = false, locked = false;
    if (cmd_store_foreach_expired(c->store, now, DISPATCH_LIMIT, collect_expired, l) == IOT_OK) {
        for (size_t i = 0; i < l->n && !locked; i++) {
            /* Its device answered (or got it) in time; the update waits for the store. */
            if (commands__retry_has(&c->retry, l->v[i].cid)) {
                skipped = true;
                continue;
            }
            char device[IOT_DEVICE_ID_MAX + 1];
            enum cmd_state st;
            if (cmd_store_state(c->store, l->v[i].cid, &st, device) == IOT_OK)
                locked = commands__apply(c, ch, l->v[i].cid, device, st, CMD_EV_DEADLINE, now,
                                         NULL) == IOT_ERR_TIMEOUT;
        }
    }
    /* When the batch was full, the next tick continues (next_expiry stays due). */
    if (l->n < DISPATCH_LIMIT && cmd_store_next_expiry(c->store, &c->next_expiry_ms) != IOT_OK)
        c->next_expiry_ms = now + 1000;
    /* Not every tick while the store is locked or an expired command's update waits. */
    if ((skipped || locked) && c->next_expiry_ms < now + (int64_t)RETRY_AFTER_FAIL_MS)
        c->next_expiry_ms = now + (int64_t)RETRY_AFTER_FAIL_MS;
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
        /* published and acknowledged, or answered: its update waits for the store */
        if (commands__inflight_find_cmd(c, l->v[i].cid) ||
            commands__retry_has(&c->retry, l->v[i].cid))
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
        if (commands__inflight_find_cmd(c, l->v[i].cid) ||
            commands__retry_has(&c->retry, l->v[i].cid))
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
    bool busy = false; /* the store timed out on a lock in this tick */
    pthread_mutex_lock(&c->lock);
    retry_updates(c, &ch, &busy);
    drain_inbox(c, &ch, &busy);
    int64_t now = plat_wall_ms();
    if (!busy)
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
    uint32_t retry_ms = commands__retry_wait_ms(&c->retry, plat_mono_ms());
    pthread_mutex_unlock(&c->lock);
    commands__tell(c, &ch);
    if (retry_ms < left)
        left = retry_ms;
    return left <= 0 ? 1 : left > TICK_MAX_MS ? TICK_MAX_MS : (uint32_t)left;
}

