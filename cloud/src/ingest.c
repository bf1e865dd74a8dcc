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

#define BATCH_MAX 4000              /* messages per transaction */
/* Group commit: with fewer than BATCH_FULL telemetry messages queued, the worker waits up to
 * BATCH_LINGER_MS for more before it commits. A commit costs per dirty page, and the index pages
 * are per device, so larger batches cost less per message: SQLite, 100 devices, store bench:
 * 8.1 us per message at 1,000 per batch, 6.5 at 2,000, 5.0 at 5,000 (iot-cloud's worker thread:
 * 11-13 -> 6.5 us at 4,000). Receipts go out every receipt_interval_ms (200) anyway, so the wait
 * delays no acknowledgement by much; anything but telemetry (presence, command results, reported
 * state) ends the wait at once. A batch of 4,000 decoded messages takes ~1.5 MiB. */
#define BATCH_FULL 4000
#define BATCH_LINGER_MS 100u
#define PUSH_WAIT_SLICE_MS 100      /* backpressure: Paho's thread waits for space in slices */
#define STOP_PUSH_WAIT_MS 2000u     /* when stopping, a full queue holds Paho at most this long */
#define PUSH_WAIT_LOG_SLICES 50     /* warn every 5 s of waiting */
#define RETRY_MAX_MS 5000u
#define CONFLICT_RETRIES 10u        /* deadlocks with another instance: retried at once */
#define CONFLICT_PAUSE_MS 5u
#define RETRIES_WHEN_STOPPING 3u
#define DISCONNECT_TIMEOUT_MS 3000u
#define DRAIN_RECEIPTS_MS 5000u     /* SIGTERM: wait for the queue's commits, to receipt them */
#define SUMMARY_EVERY_MS 10000u
#define SEQ_TOTALS_BUSY_MS 2000u    /* gap metrics: one summary query by the worker after commits */
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
    size_t batch_full; /* BATCH_FULL, or the queue's capacity when smaller */
    size_t urgent; /* queued messages that are not telemetry: no group-commit wait */
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
        s->urgent += !msg->telemetry;
        atomic_store(&s->metrics.queue_depth, s->count);
        /* the worker waits for a first message, or in a group-commit wait for a full batch */
        if (s->count == 1 || s->count == s->batch_full || !msg->telemetry)
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
        if (rc == IOT_ERR_AGAIN && attempt < CONFLICT_RETRIES) {
            /* another instance's transaction won a lock conflict: not a failing store */
            atomic_fetch_add(&s->metrics.store_conflicts, 1);
            IOT_LOG(IOT_LOG_INFO, "batch of %zu messages lost a lock conflict; retry %u", n,
                    attempt);
            plat_sleep_ms(CONFLICT_PAUSE_MS * attempt);
            continue;
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
        if (s->count < s->batch_full && !s->urgent && !s->closed && !s->stopping) {
            struct timespec ts = deadline_in(BATCH_LINGER_MS);
            while (s->count < s->batch_full && !s->urgent && !s->closed && !s->stopping &&
                   pthread_cond_timedwait(&s->not_empty, &s->qlock, &ts) == 0) {
            }
        }
        size_t n = s->count < BATCH_MAX ? s->count : BATCH_MAX;
        for (size_t i = 0; i < n; i++) {
            batch[i] = s->ring[s->head];
            s->urgent -= !batch[i]->telemetry;
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
    /* a full queue ends the group-commit wait: with queue_max below BATCH_FULL the worker would
     * otherwise wait out BATCH_LINGER_MS for messages that cannot come */
    s->batch_full = s->cap < BATCH_FULL ? s->cap : BATCH_FULL;
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
    pthread_cond_broadcast(&s->not_empty); /* no group-commit wait while stopping */
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
