/* SPDX-License-Identifier: Apache-2.0 */
/* The ingestion service: a bounded queue filled on Paho's thread, one worker thread that stores
 * batches (one transaction each), the HTTP endpoint, and the start/stop order that drains. */
#define IOT_LOG_TAG "cloud.ingest"
#include "ingest/ingest.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "commands.h"
#include "http_server.h"
#include "ingest_internal.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_clock.h"
#include "iot/plat_service.h"
#include "iot/topic.h"
#include "mqtt_client.h"
#include "receipts.h"
#include "validate.h"

#define BATCH_MAX 500               /* messages per transaction */
#define PUSH_WAIT_SLICE_MS 100      /* backpressure: Paho's thread waits for space in slices */
#define STOP_PUSH_WAIT_MS 2000u     /* when stopping, a full queue holds Paho at most this long */
#define PUSH_WAIT_LOG_SLICES 50     /* warn every 5 s of waiting */
#define DEAD_LETTER_PAYLOAD_MAX 4096 /* bytes of an oversize payload kept for inspection */
#define DEAD_LETTER_LOGS_PER_BATCH 5
#define RETRY_MAX_MS 5000u
#define RETRIES_WHEN_STOPPING 3u
#define DISCONNECT_TIMEOUT_MS 3000u
#define DRAIN_RECEIPTS_MS 5000u     /* SIGTERM: wait this long for the queue's commits, to receipt them */
#define SUMMARY_EVERY_MS 10000u
#define SEQ_TOTALS_BUSY_MS 2000u    /* gap metrics: one summary query on the worker, after commits */
#define SEQ_TOTALS_IDLE_MS 10000u   /* ... and this often anyway (other instances write too) */

struct ingest_service {
    struct cloud_config cfg;
    char storage_name[CLOUD_PATH_MAX]; /* cfg.storage without a password, for logs */
    struct ingest_metrics metrics;
    struct ingest_store store;
    struct ingest_mqtt *mqtt;
    struct http_server *http;
    ingest_commit_fn hook; /* commit_hook below: receipts, then user_hook */
    void *hook_ctx;
    ingest_commit_fn user_hook;
    void *user_hook_ctx;
    struct receipts *receipts;
    struct commands *commands; /* commands and desired state (the /v1 API's writer) */
    struct api *api;           /* NULL when HTTP is disabled */
    struct plat_event *wake; /* the main loop's, while ingest_service_run runs */

    pthread_mutex_t qlock; /* guards ring, head, count, closed */
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    struct ingest_msg **ring;
    size_t cap, head, count;
    bool closed;   /* no more pushes; the worker drains and exits */
    bool stopping; /* shutting down: a full queue no longer holds Paho's thread for long */
    uint64_t stop_mono_ms;
    atomic_uint_fast64_t not_taken; /* messages refused while stopping with a full queue */
    atomic_uint_fast64_t processed; /* messages the worker finished (committed or abandoned) */
    bool sync_ready; /* qlock and conds initialised */
    pthread_t worker;
    bool worker_started;
    unsigned stop_failures; /* worker thread only */
    atomic_int store_failing;
};

/* ---- messages and batches (shared with unit tests through ingest_internal.h) ---- */

struct ingest_msg *ingest__msg_new(const char *topic, const void *payload, size_t len,
                                   int64_t received_ms)
{
    size_t keep = len > IOT_MAX_PAYLOAD ? IOT_MAX_PAYLOAD + 1 : len;
    size_t tlen = strlen(topic);
    struct ingest_msg *msg = iot_malloc(sizeof *msg + keep + tlen + 1);
    if (!msg)
        return NULL;
    msg->received_ms = received_ms;
    msg->wire_len = len;
    msg->len = keep;
    if (keep)
        memcpy(msg->payload, payload, keep);
    msg->topic = (char *)msg->payload + keep;
    memcpy(msg->topic, topic, tlen + 1);
    return msg;
}

struct batch_delta {
    uint64_t telemetry, presence, stored, duplicate, dead, applied, stale, reported, results;
    uint64_t dead_by[INGEST_REASON_COUNT];
    unsigned dead_logged;
};

/* Durable ranges per telemetry message, gathered only when a commit hook is set. All ranges of a
 * batch share one array (items hold offsets), so a message costs no allocation. */
struct receipt_item {
    char device_id[IOT_DEVICE_ID_MAX + 1];
    uint64_t epoch;
    size_t first_range, n_ranges;
};

struct receipt_buf {
    struct receipt_item *items;
    size_t n, cap;
    struct ingest_seq_range *ranges;
    size_t n_ranges, ranges_cap;
    uint64_t *seqs; /* scratch for unsorted batches */
    size_t seqs_cap;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *np = iot_realloc(*p, c * elem);
    if (!np)
        return false;
    *p = np;
    *cap = c;
    return true;
}

static void add_seq(struct receipt_buf *rb, size_t first, uint64_t seq)
{
    struct ingest_seq_range *last = rb->n_ranges > first ? &rb->ranges[rb->n_ranges - 1] : NULL;
    if (last && (seq == last->last || seq == last->last + 1))
        last->last = seq;
    else
        rb->ranges[rb->n_ranges++] = (struct ingest_seq_range){seq, seq};
}

static enum iot_err receipt_add(struct receipt_buf *rb, const Iot__V1__TelemetryBatch *b)
{
    size_t ns = b->n_samples;
    if (!grow((void **)&rb->items, &rb->cap, rb->n + 1, sizeof *rb->items) ||
        !grow((void **)&rb->ranges, &rb->ranges_cap, rb->n_ranges + ns, sizeof *rb->ranges))
        return IOT_ERR_NOMEM;
    bool sorted = true;
    for (size_t i = 1; i < ns && sorted; i++)
        sorted = b->samples[i - 1]->seq < b->samples[i]->seq;
    size_t first = rb->n_ranges;
    if (sorted) {
        for (size_t i = 0; i < ns; i++)
            add_seq(rb, first, b->samples[i]->seq);
    } else {
        if (!grow((void **)&rb->seqs, &rb->seqs_cap, ns, sizeof *rb->seqs))
            return IOT_ERR_NOMEM;
        for (size_t i = 0; i < ns; i++)
            rb->seqs[i] = b->samples[i]->seq;
        qsort(rb->seqs, ns, sizeof *rb->seqs, cmp_u64);
        for (size_t i = 0; i < ns; i++)
            add_seq(rb, first, rb->seqs[i]);
    }
    struct receipt_item *it = &rb->items[rb->n++];
    snprintf(it->device_id, sizeof it->device_id, "%s", b->device_id);
    it->epoch = b->epoch;
    it->first_range = first;
    it->n_ranges = rb->n_ranges - first;
    return IOT_OK;
}

static void receipt_buf_free(struct receipt_buf *rb)
{
    iot_free(rb->items);
    iot_free(rb->ranges);
    iot_free(rb->seqs);
    memset(rb, 0, sizeof *rb);
}

static void call_hook(const struct receipt_buf *rb, ingest_commit_fn hook, void *ctx)
{
    if (!rb->n)
        return;
    struct ingest_receipt *r = iot_malloc(rb->n * sizeof *r);
    if (!r) {
        IOT_LOG(IOT_LOG_WARN, "commit hook skipped: out of memory");
        return;
    }
    for (size_t i = 0; i < rb->n; i++)
        r[i] = (struct ingest_receipt){rb->items[i].device_id, rb->items[i].epoch,
                                       rb->ranges + rb->items[i].first_range,
                                       rb->items[i].n_ranges};
    hook(ctx, r, rb->n);
    iot_free(r);
}

static enum iot_err put_dead_letter(struct ingest_store *store, const struct ingest_msg *msg,
                                    struct ingest_reject *rej, struct batch_delta *d)
{
    if (rej->reason == INGEST_REASON_OVERSIZE)
        snprintf(rej->detail, sizeof rej->detail, "payload %zu bytes > %u (first %u bytes kept)",
                 msg->wire_len, IOT_MAX_PAYLOAD, DEAD_LETTER_PAYLOAD_MAX);
    const char *reason = ingest_reason_name(rej->reason);
    struct ingest_dead_letter dl = {
        .received_ms = msg->received_ms,
        .topic = msg->topic,
        .reason = reason,
        .detail = rej->detail,
        .payload = msg->payload,
        .len = msg->len > IOT_MAX_PAYLOAD ? DEAD_LETTER_PAYLOAD_MAX : msg->len,
    };
    if (d->dead_logged++ < DEAD_LETTER_LOGS_PER_BATCH)
        IOT_LOG(IOT_LOG_WARN, "dead letter from %.100s: %s: %s", msg->topic, reason, rej->detail);
    d->dead++;
    d->dead_by[rej->reason]++;
    return ingest_store_put_dead_letter(store, &dl);
}

/* Decoded messages of a batch kept until after the commit, for the events hook. */
struct ev_buf {
    struct ingest_decoded *dec;
    struct ingest_event *ev;
    size_t *msg; /* index of each event's message in the batch */
    size_t n, cap;
};

static struct ingest_event *ev_slot(struct ev_buf *eb, struct ingest_decoded *dec, size_t msg)
{
    if (eb->n == eb->cap) {
        size_t cap = eb->cap ? eb->cap * 2 : 32;
        struct ingest_decoded *d = iot_realloc(eb->dec, cap * sizeof *d);
        if (!d)
            return NULL;
        eb->dec = d;
        struct ingest_event *e = iot_realloc(eb->ev, cap * sizeof *e);
        if (!e)
            return NULL;
        eb->ev = e;
        size_t *m = iot_realloc(eb->msg, cap * sizeof *m);
        if (!m)
            return NULL;
        eb->msg = m;
        eb->cap = cap;
    }
    eb->dec[eb->n] = *dec; /* takes over the decoded message */
    memset(dec, 0, sizeof *dec);
    eb->msg[eb->n] = msg;
    struct ingest_event *e = &eb->ev[eb->n];
    const struct ingest_decoded *d = &eb->dec[eb->n];
    eb->n++;
    memset(e, 0, sizeof *e);
    e->kind = d->kind;
    e->telemetry = d->telemetry;
    e->presence = d->presence;
    e->result = d->result;
    e->reported = d->reported;
    return e;
}

static void ev_buf_free(struct ev_buf *eb)
{
    for (size_t i = 0; i < eb->n; i++)
        ingest_decoded_free(&eb->dec[i]);
    iot_free(eb->dec);
    iot_free(eb->ev);
    iot_free(eb->msg);
    memset(eb, 0, sizeof *eb);
}

/* @p tres: this message's telemetry outcome, filled by the commit at the latest (store.h). */
static enum iot_err handle_one(struct ingest_store *store, const struct ingest_msg *msg,
                               size_t index, struct ingest_telemetry_result *tres,
                               struct batch_delta *d, struct receipt_buf *rb, struct ev_buf *eb)
{
    struct ingest_decoded dec;
    struct ingest_reject rej;
    enum iot_err rc =
        ingest_message_decode(msg->topic, msg->payload, msg->len, msg->received_ms, &dec, &rej);
    if (rc == IOT_ERR_MALFORMED)
        return put_dead_letter(store, msg, &rej, d);
    if (rc != IOT_OK)
        return rc;
    bool applied = false;
    if (dec.telemetry) {
        rc = ingest_store_put_telemetry(store, dec.telemetry, msg->received_ms, tres);
        if (rc == IOT_OK) {
            d->telemetry++;
            if (rb)
                rc = receipt_add(rb, dec.telemetry);
        }
    } else if (dec.presence) {
        enum ingest_presence_result r;
        rc = ingest_store_put_presence(store, dec.presence, msg->received_ms, &r);
        if (rc == IOT_OK) {
            d->presence++;
            if (r == INGEST_PRESENCE_APPLIED) {
                d->applied++;
                applied = true;
                IOT_LOG(IOT_LOG_INFO, "device %s is %s (connection %llu)", dec.device_id,
                        dec.presence->state == IOT__V1__PRESENCE__STATE__ONLINE ? "online"
                                                                               : "offline",
                        (unsigned long long)dec.presence->connection);
            } else {
                d->stale++;
                IOT_LOG(IOT_LOG_DEBUG, "device %s: stale presence (connection %llu) ignored",
                        dec.device_id, (unsigned long long)dec.presence->connection);
            }
        }
    } else if (dec.reported) {
        rc = ingest_store_put_reported(store, dec.reported, msg->received_ms);
        if (rc == IOT_OK)
            d->reported++;
    } else if (dec.result) {
        d->results++; /* applied by the commands module after the commit (events hook) */
    }
    if (rc == IOT_OK && eb) {
        struct ingest_event *e = ev_slot(eb, &dec, index);
        if (!e)
            rc = IOT_ERR_NOMEM;
        else
            e->applied = applied;
    }
    ingest_decoded_free(&dec);
    return rc;
}

static void apply_delta(struct ingest_metrics *m, const struct batch_delta *d)
{
    atomic_fetch_add(&m->telemetry_messages, d->telemetry);
    atomic_fetch_add(&m->presence_messages, d->presence);
    atomic_fetch_add(&m->samples_stored, d->stored);
    atomic_fetch_add(&m->samples_duplicate, d->duplicate);
    atomic_fetch_add(&m->dead_letters, d->dead);
    for (int i = 0; i < INGEST_REASON_COUNT; i++)
        atomic_fetch_add(&m->dead_letters_by_reason[i], d->dead_by[i]);
    atomic_fetch_add(&m->presence_applied, d->applied);
    atomic_fetch_add(&m->presence_stale, d->stale);
    atomic_fetch_add(&m->reported_states, d->reported);
    atomic_fetch_add(&m->command_results, d->results);
    atomic_fetch_add(&m->batches_committed, 1);
}

enum iot_err ingest__process_batch(struct ingest_store *store, struct ingest_metrics *m,
                                   struct ingest_msg *const *msgs, size_t n, ingest_commit_fn hook,
                                   void *hook_ctx)
{
    return ingest__process_batch_ev(store, m, msgs, n, hook, hook_ctx, NULL, NULL);
}

enum iot_err ingest__process_batch_ev(struct ingest_store *store, struct ingest_metrics *m,
                                      struct ingest_msg *const *msgs, size_t n,
                                      ingest_commit_fn hook, void *hook_ctx,
                                      ingest_events_fn ev_fn, void *ev_ctx)
{
    if (!store || !m || (!msgs && n))
        return IOT_ERR_INVAL;
    struct batch_delta d;
    memset(&d, 0, sizeof d);
    struct receipt_buf rb = {0};
    struct ev_buf eb = {0};
    struct ingest_telemetry_result *tres = iot_calloc(n ? n : 1, sizeof *tres);
    if (!tres)
        return IOT_ERR_NOMEM;
    enum iot_err rc = ingest_store_begin(store);
    if (rc != IOT_OK) {
        iot_free(tres);
        return rc;
    }
    for (size_t i = 0; i < n && rc == IOT_OK; i++)
        rc = handle_one(store, msgs[i], i, &tres[i], &d, hook ? &rb : NULL, ev_fn ? &eb : NULL);
    if (rc == IOT_OK)
        rc = ingest_store_commit(store);
    else
        ingest_store_rollback(store);
    if (rc == IOT_OK) {
        for (size_t i = 0; i < n; i++) {
            d.stored += tres[i].stored;
            d.duplicate += tres[i].duplicate;
        }
        for (size_t i = 0; i < eb.n; i++)
            eb.ev[i].stored = tres[eb.msg[i]].stored;
        apply_delta(m, &d);
        if (d.dead > DEAD_LETTER_LOGS_PER_BATCH)
            IOT_LOG(IOT_LOG_WARN, "%llu dead letters in this batch (%u logged)",
                    (unsigned long long)d.dead, DEAD_LETTER_LOGS_PER_BATCH);
        IOT_LOG(IOT_LOG_DEBUG, "batch of %zu committed: stored %llu samples, %llu duplicate, %llu dead",
                n, (unsigned long long)d.stored, (unsigned long long)d.duplicate,
                (unsigned long long)d.dead);
        if (hook)
            call_hook(&rb, hook, hook_ctx);
        if (ev_fn && eb.n) {
            for (size_t i = 0; i < eb.n; i++) /* eb.dec may have moved while growing */
                eb.ev[i].device_id = eb.dec[i].device_id;
            ev_fn(ev_ctx, eb.ev, eb.n);
        }
    }
    receipt_buf_free(&rb);
    ev_buf_free(&eb);
    iot_free(tres);
    return rc;
}

/* ---- the bounded queue ---- */

static struct timespec deadline_in(uint32_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000u);
    ts.tv_nsec += (long)(ms % 1000u) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Paho's thread. Never drops: while the queue is full it holds Paho's receive thread (backpressure:
 * Paho stops reading, so the broker keeps the rest in our session). Returning 0 to Paho instead is
 * no option: measured with Paho 1.3.12, a refused message is offered again only when another
 * packet arrives, so the last messages of a burst could sit in Paho's memory indefinitely.
 * Only when stopping does the wait end (STOP_PUSH_WAIT_MS): such messages are then lost here,
 * and the device re-sends it when no receipt covers it. */
static bool on_mqtt_message(void *ctx, const char *topic, const void *payload, size_t len)
{
    struct ingest_service *s = ctx;
    struct ingest_msg *msg = ingest__msg_new(topic, payload, len, plat_wall_ms());
    if (!msg)
        return false;
    unsigned slices = 0;
    pthread_mutex_lock(&s->qlock);
    while (s->count == s->cap &&
           !(s->stopping && plat_mono_ms() >= s->stop_mono_ms + STOP_PUSH_WAIT_MS)) {
        struct timespec ts = deadline_in(PUSH_WAIT_SLICE_MS);
        pthread_cond_timedwait(&s->not_full, &s->qlock, &ts);
        if (++slices % PUSH_WAIT_LOG_SLICES == 0)
            IOT_LOG(IOT_LOG_WARN, "ingest queue full (%zu messages) for %u ms: holding MQTT intake",
                    s->cap, slices * PUSH_WAIT_SLICE_MS);
    }
    bool ok = s->count < s->cap;
    if (ok) {
        s->ring[(s->head + s->count) % s->cap] = msg;
        s->count++;
        atomic_store(&s->metrics.queue_depth, s->count);
        pthread_cond_signal(&s->not_empty);
    }
    pthread_mutex_unlock(&s->qlock);
    if (slices)
        atomic_fetch_add(&s->metrics.queue_full_waits, 1);
    if (!ok) {
        iot_free(msg);
        if (atomic_fetch_add(&s->not_taken, 1) == 0)
            IOT_LOG(IOT_LOG_ERROR, "stopping with the ingest queue full: messages not taken");
        return false;
    }
    atomic_fetch_add(&s->metrics.messages_received, 1);
    return true;
}

static bool is_stopping(struct ingest_service *s)
{
    pthread_mutex_lock(&s->qlock);
    bool c = s->stopping;
    pthread_mutex_unlock(&s->qlock);
    return c;
}

/* Worker thread, after a commit: results and presence to the commands, everything to the event
 * stream (ingest_events.c). */
static void on_batch_events(void *ctx, const struct ingest_event *ev, size_t n)
{
    struct ingest_service *s = ctx;
    ingest__route_events(s->commands, s->api, ev, n);
}

/* Storage errors keep the batch in memory and retry: the queue then fills and backpressure reaches
 * the broker, which keeps queueing for our persistent session. When stopping, a failing store gets
 * RETRIES_WHEN_STOPPING attempts in all; what is left then is abandoned (devices re-send samples
 * that no receipt covers), so shutdown stays bounded. */
static void store_with_retry(struct ingest_service *s, struct ingest_msg **batch, size_t n)
{
    uint32_t backoff_ms = 100;
    for (unsigned attempt = 1;; attempt++) {
        if (s->stop_failures >= RETRIES_WHEN_STOPPING) {
            IOT_LOG(IOT_LOG_ERROR, "storage failing while stopping: %zu messages not stored", n);
            return;
        }
        enum iot_err rc = ingest__process_batch_ev(&s->store, &s->metrics, batch, n, s->hook,
                                                   s->hook_ctx, on_batch_events, s);
        if (rc == IOT_OK) {
            if (atomic_exchange(&s->store_failing, 0))
                IOT_LOG(IOT_LOG_INFO, "storage '%s' works again", s->storage_name);
            return;
        }
        atomic_fetch_add(&s->metrics.store_errors, 1);
        atomic_store(&s->store_failing, 1);
        if (is_stopping(s))
            s->stop_failures++;
        IOT_LOG(IOT_LOG_ERROR, "storing a batch of %zu messages failed (%s); retry %u in %u ms", n,
                iot_err_str(rc), attempt, backoff_ms);
        plat_sleep_ms(backoff_ms);
        backoff_ms = backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff_ms * 2;
    }
}

static void refresh_seq_totals(struct ingest_service *s, uint64_t *last_ms, bool *dirty)
{
    uint64_t now = plat_mono_ms();
    if (*last_ms && now < *last_ms + (*dirty ? SEQ_TOTALS_BUSY_MS : SEQ_TOTALS_IDLE_MS))
        return;
    *last_ms = now;
    *dirty = false;
    struct ingest_seq_totals t;
    if (ingest_store_seq_totals(&s->store, &t) != IOT_OK)
        return;
    atomic_store(&s->metrics.seq_missing, t.missing);
    atomic_store(&s->metrics.seq_gap_epochs, t.gap_epochs);
    atomic_store(&s->metrics.seq_dropped, t.dropped);
}

static void *worker_main(void *arg)
{
    struct ingest_service *s = arg;
    struct ingest_msg *batch[BATCH_MAX];
    uint64_t totals_ms = 0;
    bool dirty = false;
    for (;;) {
        refresh_seq_totals(s, &totals_ms, &dirty);
        pthread_mutex_lock(&s->qlock);
        if (s->count == 0 && !s->closed) {
            struct timespec ts = deadline_in(1000);
            pthread_cond_timedwait(&s->not_empty, &s->qlock, &ts);
        }
        if (s->count == 0) {
            bool done = s->closed; /* closed and drained */
            pthread_mutex_unlock(&s->qlock);
            if (done)
                break;
            continue; /* idle: time for the totals */
        }
        size_t n = s->count < BATCH_MAX ? s->count : BATCH_MAX;
        for (size_t i = 0; i < n; i++) {
            batch[i] = s->ring[s->head];
            s->head = (s->head + 1) % s->cap;
        }
        s->count -= n;
        atomic_store(&s->metrics.queue_depth, s->count);
        pthread_cond_broadcast(&s->not_full);
        pthread_mutex_unlock(&s->qlock);

        store_with_retry(s, batch, n);
        atomic_fetch_add(&s->processed, n);
        dirty = true;
        for (size_t i = 0; i < n; i++)
            iot_free(batch[i]);
    }
    return NULL;
}

/* ---- service ---- */

/* Worker thread, right after a commit: what it made durable becomes due for a Receipt. */
static void commit_hook(void *ctx, const struct ingest_receipt *r, size_t n)
{
    struct ingest_service *s = ctx;
    receipts_add(s->receipts, r, n);
    if (s->user_hook)
        s->user_hook(s->user_hook_ctx, r, n);
    struct plat_event *wake = __atomic_load_n(&s->wake, __ATOMIC_ACQUIRE);
    if (wake)
        plat_event_signal(wake);
}

static enum iot_err send_receipt(void *ctx, const char *topic, const uint8_t *buf, size_t len)
{
    struct ingest_service *s = ctx;
    struct ingest_mqtt_pub p = {.topic = topic, .payload = buf, .len = len, .qos = 1};
    enum iot_err rc = ingest_mqtt_publish(s->mqtt, &p);
    if (rc == IOT_OK)
        atomic_fetch_add(&s->metrics.receipts_sent, 1);
    return rc;
}

static void on_mqtt_state(void *ctx, bool connected)
{
    struct ingest_service *s = ctx;
    atomic_store(&s->metrics.mqtt_connected, connected ? 1 : 0);
    if (connected && s->commands)
        commands_on_connected(s->commands);
}

/* Paho's thread. Receipts publish with token 0; commands and desired states use non-zero tokens. */
static void on_mqtt_published(void *ctx, uint64_t token, bool ok)
{
    struct ingest_service *s = ctx;
    if (token && s->commands)
        commands_on_published(s->commands, token, ok);
}

static bool is_ready(void *ctx, char *why, size_t cap)
{
    struct ingest_service *s = ctx;
    if (!atomic_load(&s->metrics.storage_open))
        snprintf(why, cap, "storage not open");
    else if (atomic_load(&s->store_failing))
        snprintf(why, cap, "storage writes failing");
    else if (!atomic_load(&s->metrics.mqtt_connected))
        snprintf(why, cap, "not connected to the MQTT broker");
    else
        return true;
    return false;
}

static enum iot_err queue_init(struct ingest_service *s)
{
    s->cap = s->cfg.mqtt.queue_max;
    s->ring = iot_calloc(s->cap, sizeof *s->ring);
    if (!s->ring)
        return IOT_ERR_NOMEM;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&s->qlock, NULL);
    pthread_cond_init(&s->not_empty, &ca);
    pthread_cond_init(&s->not_full, &ca);
    pthread_condattr_destroy(&ca);
    s->sync_ready = true;
    atomic_store(&s->metrics.queue_capacity, s->cap);
    return IOT_OK;
}

enum iot_err ingest_service_create(const struct cloud_config *cfg, struct ingest_service **out)
{
    if (!cfg || !out || cfg->mqtt.queue_max == 0)
        return IOT_ERR_INVAL;
    struct ingest_service *s = iot_calloc(1, sizeof *s);
    if (!s)
        return IOT_ERR_NOMEM;
    s->cfg = *cfg;
    ingest_metrics_init(&s->metrics);
    atomic_init(&s->store_failing, 0);
    atomic_init(&s->not_taken, 0);
    atomic_init(&s->processed, 0);
    enum iot_err rc = queue_init(s);
    if (rc == IOT_OK)
        rc = receipts_create(cfg->mqtt.receipt_interval_ms, &s->receipts);
    if (rc != IOT_OK)
        goto out;
    s->hook = commit_hook;
    s->hook_ctx = s;

    ingest_storage_redact(cfg->storage, s->storage_name, sizeof s->storage_name);
    rc = ingest_store_open(cfg->storage_kind, cfg->storage, &s->store);
    if (rc != IOT_OK)
        goto out;
    atomic_store(&s->metrics.storage_open, 1);
    if (cfg->storage_kind == CLOUD_STORAGE_POSTGRESQL)
        IOT_LOG(IOT_LOG_INFO, "storage: PostgreSQL '%s'", s->storage_name);
    else
        IOT_LOG(IOT_LOG_INFO, "storage: SQLite '%s' (WAL, synchronous=NORMAL)", s->storage_name);
    json_util_init();
    rc = commands_create(&s->cfg, &s->metrics, &s->commands);
    if (rc != IOT_OK)
        goto out;

    if (pthread_create(&s->worker, NULL, worker_main, s) != 0) {
        IOT_LOG(IOT_LOG_ERROR, "cannot start the ingest worker thread");
        rc = IOT_ERR_INTERNAL;
        goto out;
    }
    s->worker_started = true;

    if (cfg->http.port) {
        rc = api_create(&s->cfg, &s->metrics, s->commands, &s->api);
        if (rc != IOT_OK)
            goto out;
        commands_set_listener(s->commands, api_on_command_change, s->api);
        struct http_app app = {.metrics = &s->metrics, .ready = is_ready, .ctx = s,
                               .api = s->api, .max_body = cfg->http.max_body,
                               .connection_limit = cfg->http.connection_limit};
        rc = http_server_start(cfg->http.listen, cfg->http.port, &app, &s->http);
        if (rc != IOT_OK)
            goto out;
        IOT_LOG(IOT_LOG_INFO, "HTTP on %s:%u (/healthz, /readyz, /metrics, /v1)", cfg->http.listen,
                (unsigned)cfg->http.port);
    } else {
        IOT_LOG(IOT_LOG_INFO, "HTTP disabled ([http] port = 0)");
    }

    struct ingest_mqtt_handlers h = {
        .on_message = on_mqtt_message, .on_state = on_mqtt_state,
        .on_published = on_mqtt_published, .ctx = s,
        .suffixes = {"telemetry", "status", "responses", "state/reported"}};
    rc = ingest_mqtt_create(&s->cfg.mqtt, &h, &s->mqtt);
    if (rc == IOT_OK)
        commands_set_mqtt(s->commands, s->mqtt);
out:
    if (rc != IOT_OK) {
        ingest_service_destroy(s);
        return rc;
    }
    *out = s;
    return IOT_OK;
}

void ingest_service_set_commit_hook(struct ingest_service *s, ingest_commit_fn fn, void *ctx)
{
    if (!s)
        return;
    s->user_hook = fn;
    s->user_hook_ctx = ctx;
}

static void log_summary(struct ingest_service *s, uint64_t *last_received)
{
    struct ingest_metrics *m = &s->metrics;
    uint64_t rx = atomic_load(&m->messages_received);
    if (rx == *last_received)
        return;
    *last_received = rx;
    IOT_LOG(IOT_LOG_INFO,
            "received %llu messages: stored %llu samples (%llu duplicate), %llu dead letters, "
            "%llu stale presence; queue %llu/%zu",
            (unsigned long long)rx, (unsigned long long)atomic_load(&m->samples_stored),
            (unsigned long long)atomic_load(&m->samples_duplicate),
            (unsigned long long)atomic_load(&m->dead_letters),
            (unsigned long long)atomic_load(&m->presence_stale),
            (unsigned long long)atomic_load(&m->queue_depth), s->cap);
}

static void set_stopping(struct ingest_service *s)
{
    pthread_mutex_lock(&s->qlock);
    if (!s->stopping)
        s->stop_mono_ms = plat_mono_ms();
    s->stopping = true;
    pthread_cond_broadcast(&s->not_full);
    pthread_mutex_unlock(&s->qlock);
}

enum iot_err ingest_service_run(struct ingest_service *s, struct plat_event *wake,
                                volatile int *stop_flag)
{
    if (!s || !wake || !stop_flag)
        return IOT_ERR_INVAL;
    IOT_LOG(IOT_LOG_INFO, "connecting to ssl://%s:%u as client id %s (share group %s)",
            s->cfg.mqtt.host, (unsigned)s->cfg.mqtt.port, s->cfg.mqtt.client_id,
            s->cfg.mqtt.share_group);
    uint64_t last_summary = plat_mono_ms();
    uint64_t last_received = 0;
    __atomic_store_n(&s->wake, wake, __ATOMIC_RELEASE);
    commands_set_wake(s->commands, wake);
    /* Receipts are due at most every receipt_interval_ms per device: wake often enough for that. */
    uint32_t tick_ms = s->cfg.mqtt.receipt_interval_ms / 2;
    tick_ms = tick_ms < 10 ? 10 : tick_ms > 250 ? 250 : tick_ms;
    /* systemd (Type=notify, WatchdogSec): ready once storage and HTTP are up; keep-alives from this
     * loop only, so a hung main loop is restarted. No-ops elsewhere. */
    uint32_t wd_ms = plat_service_watchdog_ms() / 2;
    uint64_t next_wd = 0;
    plat_service_ready();
    while (!*stop_flag) {
        uint64_t now = plat_mono_ms();
        if (wd_ms && now >= next_wd) {
            plat_service_watchdog();
            next_wd = now + wd_ms;
        }
        ingest_mqtt_tick(s->mqtt, now);
        if (ingest_mqtt_connected(s->mqtt))
            receipts_flush(s->receipts, now, send_receipt, s);
        if (now - last_summary >= SUMMARY_EVERY_MS) {
            log_summary(s, &last_received);
            last_summary = now;
        }
        uint32_t wait_ms = commands_tick(s->commands);
        api_tick(s->api, plat_mono_ms());
        (void)plat_event_wait(wake, wait_ms < tick_ms ? wait_ms : tick_ms);
    }
    plat_service_stopping();
    IOT_LOG(IOT_LOG_INFO, "shutting down (signal %d): no new messages, draining %llu queued",
            *stop_flag, (unsigned long long)atomic_load(&s->metrics.queue_depth));
    set_stopping(s);
    /* Drain what arrived before the signal while still connected, so its receipts go out now
     * (bounded: a failing store or a flood does not hold the exit). Receipts of everything
     * committed are then sent without waiting for the interval; what the final drain commits after
     * the disconnect is receipted when the devices re-send it (their timeout). */
    uint64_t before = atomic_load(&s->metrics.messages_received);
    uint64_t until = plat_mono_ms() + DRAIN_RECEIPTS_MS;
    while (ingest_mqtt_connected(s->mqtt) && atomic_load(&s->processed) < before &&
           !atomic_load(&s->store_failing) && plat_mono_ms() < until)
        (void)plat_event_wait(wake, 10);
    if (ingest_mqtt_connected(s->mqtt))
        receipts_flush(s->receipts, UINT64_MAX / 2, send_receipt, s);
    ingest_mqtt_disconnect(s->mqtt, DISCONNECT_TIMEOUT_MS);
    commands_set_wake(s->commands, NULL);
    __atomic_store_n(&s->wake, NULL, __ATOMIC_RELEASE);
    return IOT_OK;
}

void ingest_service_destroy(struct ingest_service *s)
{
    if (!s)
        return;
    if (s->sync_ready)
        set_stopping(s);
    /* Order matters: MQTT first (no new messages; the worker still drains what Paho's thread may be
     * waiting to push), then close the queue and let the worker drain it, then HTTP and storage. */
    if (s->mqtt) {
        ingest_mqtt_disconnect(s->mqtt, DISCONNECT_TIMEOUT_MS);
        ingest_mqtt_destroy(s->mqtt);
        s->mqtt = NULL;
    }
    if (s->sync_ready) {
        pthread_mutex_lock(&s->qlock);
        s->closed = true;
        pthread_cond_broadcast(&s->not_empty);
        pthread_mutex_unlock(&s->qlock);
    }
    if (s->worker_started)
        pthread_join(s->worker, NULL);
    http_server_stop(s->http); /* answers waiting long-polls, ends event streams */
    s->http = NULL;
    api_destroy(s->api);
    s->api = NULL;
    commands_destroy(s->commands); /* stops webhooks; pending ones resume at the next start */
    s->commands = NULL;
    if (s->store.ops) {
        IOT_LOG(IOT_LOG_INFO, "stored %llu samples (%llu duplicate), %llu dead letters; closing '%s'",
                (unsigned long long)atomic_load(&s->metrics.samples_stored),
                (unsigned long long)atomic_load(&s->metrics.samples_duplicate),
                (unsigned long long)atomic_load(&s->metrics.dead_letters), s->storage_name);
        if (atomic_load(&s->not_taken))
            IOT_LOG(IOT_LOG_ERROR, "%llu messages were not taken while stopping",
                    (unsigned long long)atomic_load(&s->not_taken));
        ingest_store_close(&s->store);
        atomic_store(&s->metrics.storage_open, 0);
    }
    for (size_t i = 0; i < s->count; i++) /* only when the worker never ran */
        iot_free(s->ring[(s->head + i) % s->cap]);
    if (s->sync_ready) {
        pthread_cond_destroy(&s->not_empty);
        pthread_cond_destroy(&s->not_full);
        pthread_mutex_destroy(&s->qlock);
    }
    iot_free(s->ring);
    receipts_destroy(s->receipts);
    iot_free(s);
}
