/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's main loop: sample on a monotonic grid, keep samples in the store, feed MQTT one window
 * at a time (at most `inflight` publishes outstanding), reconnect with backoff, shut down cleanly.
 * Everything runs on the loop's thread; MQTT completions arrive as events (agent/mqtt.h). */
#define IOT_LOG_TAG "agent"
#include "agent/agent.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "encode.h"
#include "receipts.h"
#include "store_log.h"
#include "iot/codec.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_clock.h"
#include "iot/plat_crypto.h"
#include "iot/plat_event.h"
#include "iot/plat_service.h"
#include "iot/topic.h"
#include "sensors.h"
#include "state.h"
#include "store.h"

#define AGENT_MAX_SENSORS 16
#define AGENT_SHUTDOWN_ACK_MS 2000u
#define AGENT_DISCONNECT_MS 1000u
#define AGENT_CONNECT_TIMEOUT_S 10u
#define AGENT_EVENTS_PER_STEP 1000
/** Dropped ranges carried per batch: all of them, so that a receipt of any later seq proves the
 *  cloud got them (store.h, ack). */
#define AGENT_DROPPED_PER_BATCH AGENT_STORE_MAX_DROPPED_RANGES
/** Presence publishes may be outstanding beside the telemetry window. */
#define AGENT_PRESENCE_SLOTS 4

enum conn_state { CONN_IDLE, CONN_CONNECTING, CONN_CONNECTED };
enum run_state { RUN_RUNNING, RUN_DRAINING, RUN_STOP_PRESENCE, RUN_STOP_DISCONNECT, RUN_DONE };
enum pub_kind { PUB_TELEMETRY, PUB_PRESENCE };

/* One outstanding publish. */
struct outstanding {
    uint64_t token; /* 0 = free slot */
    enum pub_kind kind;
    uint32_t n;
    uint64_t *seqs; /* batch_max entries */
    uint64_t dropped_upto;
};

struct agent {
    struct agent_config cfg;
    const struct plat_clock *clock;
    struct plat_event *ev;
    struct agent_mqtt mqtt;
    struct agent_store store;
    struct agent_state state;
    struct agent_sensor sensors[AGENT_MAX_SENSORS];
    size_t n_sensors;
    struct agent_linux *lx;
    struct agent_sim *sim;
    struct agent_ctl *ctl; /* signed commands, desired state (commands.c) */

    char topic_telemetry[IOT_TOPIC_MAX];
    char topic_status[IOT_TOPIC_MAX];
    char topic_receipts[IOT_TOPIC_MAX];
    struct agent_receipts rcpt; /* receipts and the re-send timer (receipts.c) */
    int64_t boot_wall_ms;

    enum conn_state conn;
    uint64_t connection;
    uint32_t backoff_attempt;
    uint64_t reconnect_at;
    uint64_t send_pause_until;

    uint64_t t0, next_sample_at, next_stats_at;

    struct outstanding *out;
    uint32_t n_out_cap;
    uint32_t n_telemetry_out;
    uint32_t n_presence_out;
    uint64_t *seq_pool;
    uint64_t next_token;

    enum run_state run;
    uint64_t deadline;
    uint64_t shutdown_token;
    bool shutdown_acked;
    enum agent_exit exit_status;
    volatile int stop_flag;

    uint8_t *buf;
    size_t buf_cap;
    struct agent_stats stats;
};

void agent_mqtt_event_clear(struct agent_mqtt_event *ev)
{
    if (!ev)
        return;
    iot_free(ev->topic);
    iot_free(ev->payload);
    iot_free(ev->response_topic);
    iot_free(ev->correlation);
    ev->topic = NULL;
    ev->payload = NULL;
    ev->len = 0;
    ev->response_topic = NULL;
    ev->correlation = NULL;
    ev->correlation_len = 0;
}

static uint64_t now_mono(const struct agent *a) { return plat_clock_mono_ms(a->clock); }
static int64_t now_wall(const struct agent *a) { return plat_clock_wall_ms(a->clock); }

/* ---------------------------------------------------------------- outstanding publishes */

static struct outstanding *out_alloc(struct agent *a, enum pub_kind kind)
{
    if (kind == PUB_TELEMETRY && a->n_telemetry_out >= a->cfg.inflight)
        return NULL;
    if (kind == PUB_PRESENCE && a->n_presence_out >= AGENT_PRESENCE_SLOTS)
        return NULL;
    for (uint32_t i = 0; i < a->n_out_cap; i++) {
        if (a->out[i].token == 0) {
            struct outstanding *o = &a->out[i];
            o->kind = kind;
            o->n = 0;
            o->dropped_upto = 0;
            o->token = ++a->next_token;
            if (kind == PUB_TELEMETRY)
                a->n_telemetry_out++;
            else
                a->n_presence_out++;
            return o;
        }
    }
    return NULL;
}

static void out_free(struct agent *a, struct outstanding *o)
{
    if (o->kind == PUB_TELEMETRY)
        a->n_telemetry_out--;
    else
        a->n_presence_out--;
    o->token = 0;
}

static struct outstanding *out_find(struct agent *a, uint64_t token)
{
    for (uint32_t i = 0; token && i < a->n_out_cap; i++) {
        if (a->out[i].token == token)
            return &a->out[i];
    }
    return NULL;
}

/* Connection gone: every outstanding publish is void (late completions find no slot and are
 * ignored); the store puts their samples back in line, to be re-sent in seq order. */
static void out_clear(struct agent *a)
{
    for (uint32_t i = 0; i < a->n_out_cap; i++)
        a->out[i].token = 0;
    a->n_telemetry_out = a->n_presence_out = 0;
    agent_store_requeue_all(&a->store);
    agent_receipts_on_lost(&a->rcpt);
}

/* ---------------------------------------------------------------- publishing */

static enum iot_err publish_presence(struct agent *a, enum agent_presence_kind kind,
                                     uint64_t *token)
{
    uint8_t buf[256];
    size_t len;
    enum iot_err rc = agent_encode_presence(kind, a->cfg.device_id, a->connection,
                                            a->boot_wall_ms, now_wall(a), buf, sizeof buf, &len);
    if (rc != IOT_OK)
        return rc;
    struct outstanding *o = out_alloc(a, PUB_PRESENCE);
    if (!o)
        return IOT_ERR_FULL;
    rc = agent_mqtt_publish(&a->mqtt, a->topic_status, buf, len, 1, true, o->token);
    if (rc != IOT_OK) {
        out_free(a, o);
        return rc;
    }
    if (token)
        *token = o->token;
    return IOT_OK;
}

/* Publish one batch of unsent samples. @return IOT_OK (sent), IOT_ERR_AGAIN (nothing to send or no
 * window), other codes from the adapter. */
static enum iot_err publish_batch(struct agent *a, bool live)
{
    struct agent_store_rec recs[1000];
    size_t n = 0, max = a->cfg.batch_max < 1000 ? a->cfg.batch_max : 1000;
    if (a->n_telemetry_out >= a->cfg.inflight)
        return IOT_ERR_AGAIN; /* no window: do not read the store for nothing */
    if (live)
        agent_store_peek_live(&a->store, recs, max, &n);
    else
        agent_store_peek(&a->store, recs, max, &n);
    if (n == 0)
        return IOT_ERR_AGAIN;
    struct outstanding *o = out_alloc(a, PUB_TELEMETRY);
    if (!o)
        return IOT_ERR_AGAIN;

    struct agent_seq_range dropped[AGENT_DROPPED_PER_BATCH];
    size_t nd = agent_store_dropped(&a->store, dropped, AGENT_DROPPED_PER_BATCH);
    size_t len = 0;
    enum iot_err rc = agent_encode_batch_header(a->cfg.device_id, agent_epoch(a),
                                                dropped, nd, a->buf, a->buf_cap, &len);
    if (rc != IOT_OK) {
        out_free(a, o);
        return rc;
    }
    size_t k = 0;
    while (k < n && agent_encode_batch_add(a->buf, a->buf_cap, &len, recs[k].data, recs[k].len) ==
                        IOT_OK) {
        o->seqs[k] = recs[k].seq;
        k++;
    }
    if (k == 0) {
        IOT_LOG(IOT_LOG_ERROR, "sample seq %" PRIu64 " (%zu B) does not fit a message", recs[0].seq,
                recs[0].len);
        out_free(a, o);
        return IOT_ERR_INTERNAL;
    }
    rc = agent_mqtt_publish(&a->mqtt, a->topic_telemetry, a->buf, len, 1, false, o->token);
    if (rc != IOT_OK) {
        out_free(a, o);
        return rc;
    }
    o->n = (uint32_t)k;
    o->dropped_upto = nd ? dropped[nd - 1].last : 0;
    for (size_t i = 0; i < k; i++)
        agent_store_mark_inflight(&a->store, o->seqs[i]);
    a->stats.batches_sent++;
    agent_receipts_on_sent(&a->rcpt, now_mono(a));
    a->stats.samples_sent += k;
    IOT_LOG(IOT_LOG_DEBUG, "published batch token %" PRIu64 ": seq %" PRIu64 "..%" PRIu64
            " (%zu samples, %zu B)", o->token, o->seqs[0], o->seqs[k - 1], k, len);
    return IOT_OK;
}

/* Fill the window. */
static void pump(struct agent *a, uint64_t now)
{
    if (a->conn != CONN_CONNECTED || now < a->send_pause_until)
        return;
    if (a->run != RUN_RUNNING && a->run != RUN_DRAINING)
        return;
    for (uint32_t i = 0; i <= a->cfg.inflight; i++) {
        /* Live samples first; a replayed backlog fills the rest of the window, as far as the
         * receipts keep up (receipts.h: agent_receipts_backlog_open). */
        enum iot_err rc = publish_batch(a, true);
        if (rc == IOT_ERR_AGAIN && (a->cfg.store.ack != AGENT_ACK_RECEIPT ||
                                    agent_receipts_backlog_open(&a->store, a->cfg.inflight,
                                                                a->cfg.batch_max)))
            rc = publish_batch(a, false);
        if (rc == IOT_OK)
            continue;
        if (rc != IOT_ERR_AGAIN && rc != IOT_ERR_CLOSED) {
            IOT_LOG(IOT_LOG_WARN, "telemetry publish failed (%s); pausing %u ms", iot_err_str(rc),
                    a->cfg.reconnect_min_ms);
            a->send_pause_until = now + a->cfg.reconnect_min_ms;
        }
        break;
    }
}

/* ---------------------------------------------------------------- connection */

static uint32_t schedule_reconnect(struct agent *a, uint64_t now)
{
    /* Exponential backoff with full jitter over [min, cap]; cap doubles per failed attempt. */
    uint32_t min = a->cfg.reconnect_min_ms, max = a->cfg.reconnect_max_ms;
    if (a->backoff_attempt < 32)
        a->backoff_attempt++;
    uint64_t cap = (uint64_t)min << (a->backoff_attempt < 20 ? a->backoff_attempt : 20);
    if (cap > max)
        cap = max;
    uint32_t delay = min + (cap > min ? plat_random_below((uint32_t)(cap - min + 1)) : 0);
    a->reconnect_at = now + delay;
    a->conn = CONN_IDLE;
    return delay;
}

static void start_connect(struct agent *a, uint64_t now)
{
    uint64_t n;
    enum iot_err rc = agent_state_next_connection(&a->state, &n);
    if (rc != IOT_OK) {
        uint32_t d = schedule_reconnect(a, now);
        IOT_LOG(IOT_LOG_ERROR, "cannot persist the connection counter (%s); retry in %u ms",
                iot_err_str(rc), d);
        return;
    }
    a->connection = n;
    uint8_t will[256];
    size_t will_len;
    rc = agent_encode_presence(AGENT_PRESENCE_WILL, a->cfg.device_id, n, a->boot_wall_ms,
                               now_wall(a), will, sizeof will, &will_len);
    if (rc != IOT_OK) {
        schedule_reconnect(a, now);
        return;
    }
    struct agent_mqtt_opts o = {
        .host = a->cfg.host,
        .port = a->cfg.port,
        .client_id = a->cfg.client_id,
        .ca_file = a->cfg.ca_file,
        .cert_file = a->cfg.cert_file,
        .key_file = a->cfg.key_file,
        .keepalive_s = a->cfg.keepalive_s,
        .connect_timeout_s = AGENT_CONNECT_TIMEOUT_S,
        .max_outstanding = a->cfg.inflight + AGENT_PRESENCE_SLOTS,
        .will_topic = a->topic_status,
        .will_payload = will,
        .will_len = will_len,
        .will_qos = 1,
        .will_retained = true,
    };
    IOT_LOG(IOT_LOG_INFO, "connecting to %s:%u as %s (connection %" PRIu64 ")", a->cfg.host,
            (unsigned)a->cfg.port, a->cfg.client_id, n);
    rc = agent_mqtt_connect(&a->mqtt, &o);
    if (rc != IOT_OK) {
        a->stats.connect_failures++;
        uint32_t d = schedule_reconnect(a, now);
        IOT_LOG(IOT_LOG_WARN, "connect to %s:%u could not start (%s); retry in %u ms", a->cfg.host,
                (unsigned)a->cfg.port, iot_err_str(rc), d);
        return;
    }
    a->conn = CONN_CONNECTING;
}

static void on_connected(struct agent *a, uint64_t now)
{
    if (a->conn != CONN_CONNECTING)
        return;
    a->conn = CONN_CONNECTED;
    a->backoff_attempt = 0;
    a->send_pause_until = 0;
    a->stats.connects++;
    struct agent_store_stats ss;
    agent_store_stats(&a->store, &ss);
    IOT_LOG(IOT_LOG_INFO, "connected to %s:%u as %s (connection %" PRIu64 ", backlog %" PRIu64 ")",
            a->cfg.host, (unsigned)a->cfg.port, a->cfg.client_id, a->connection, ss.count);
    /* The session is clean on every connect: subscribe first, then say "online". The cloud sends
     * queued (and re-sends unanswered) commands when it sees the online presence, and the broker
     * handles one connection's packets in order, so by then the subscriptions are in place;
     * announced first, a command published at once could reach the broker before the SUBSCRIBE
     * and be lost (seen: a re-sent command never arrived and the test waited 30 s for it). */
    agent_ctl_on_connected(a->ctl); /* subscribes commands and state/desired */
    enum iot_err rc;
    if (a->cfg.store.ack == AGENT_ACK_RECEIPT &&
        (rc = agent_mqtt_subscribe(&a->mqtt, a->topic_receipts, 1)) != IOT_OK)
        IOT_LOG(IOT_LOG_WARN, "cannot subscribe to %s (%s): samples go again every %u ms",
                a->topic_receipts, iot_err_str(rc), a->cfg.store.resend_after_ms);
    rc = publish_presence(a, AGENT_PRESENCE_BIRTH, NULL);
    if (rc != IOT_OK)
        IOT_LOG(IOT_LOG_WARN, "cannot publish the online presence: %s", iot_err_str(rc));
    agent_store_live_mark(&a->store); /* what waits now is backlog; newer samples are live */
    pump(a, now);
}

static void on_connect_failed(struct agent *a, const struct agent_mqtt_event *ev, uint64_t now)
{
    if (a->conn != CONN_CONNECTING)
        return;
    a->stats.connect_failures++;
    uint32_t d = schedule_reconnect(a, now);
    IOT_LOG(IOT_LOG_WARN, "connect to %s:%u failed: %s; retry in %u ms", a->cfg.host,
            (unsigned)a->cfg.port, ev->reason[0] ? ev->reason : "no reason given", d);
}

static void on_lost(struct agent *a, const struct agent_mqtt_event *ev, uint64_t now)
{
    if (a->conn != CONN_CONNECTED)
        return;
    a->stats.losses++;
    out_clear(a);
    agent_ctl_on_lost(a->ctl);
    if (a->run == RUN_RUNNING || a->run == RUN_DRAINING) {
        a->backoff_attempt = 0;
        uint32_t d = schedule_reconnect(a, now);
        IOT_LOG(IOT_LOG_WARN, "connection lost: %s; reconnecting in %u ms",
                ev->reason[0] ? ev->reason : "no reason given", d);
    } else {
        a->conn = CONN_IDLE;
        IOT_LOG(IOT_LOG_WARN, "connection lost while stopping: %s", ev->reason);
    }
}

static void on_published(struct agent *a, const struct agent_mqtt_event *ev, uint64_t now)
{
    if (agent_ctl_owns_token(ev->token)) {
        agent_ctl_on_published(a->ctl, ev);
        return;
    }
    struct outstanding *o = out_find(a, ev->token);
    if (!o) {
        IOT_LOG(IOT_LOG_DEBUG, "completion of stale publish token %" PRIu64 " ignored", ev->token);
        return;
    }
    if (o->kind == PUB_PRESENCE) {
        if (ev->code != 0)
            IOT_LOG(IOT_LOG_WARN, "presence publish failed: %s", ev->reason);
        if (ev->token == a->shutdown_token)
            a->shutdown_acked = true;
        out_free(a, o);
        return;
    }
    if (ev->code == 0 && a->cfg.store.ack == AGENT_ACK_RECEIPT) {
        /* The broker has them: that frees the window only; the samples wait for a Receipt. */
    } else if (ev->code == 0) {
        /* [store] ack = puback: the broker's acknowledgement releases the samples. */
        for (uint32_t i = 0; i < o->n; i++)
            agent_store_ack(&a->store, o->seqs[i], o->seqs[i]);
        if (o->dropped_upto)
            agent_store_dropped_reported(&a->store, o->dropped_upto);
        a->stats.samples_acked += o->n;
    } else if (ev->code < 0) {
        /* The client library gave up on it (connection going down): the samples wait for the next
         * connection; no pause, the loss event follows. */
        for (uint32_t i = 0; i < o->n; i++)
            agent_store_requeue(&a->store, o->seqs[i]);
        IOT_LOG(IOT_LOG_INFO, "telemetry seq %" PRIu64 "..%" PRIu64 " not completed: %s",
                o->seqs[0], o->seqs[o->n ? o->n - 1 : 0], ev->reason);
    } else {
        /* The broker refused it (MQTT 5 reason code): retry later, not in a tight loop. */
        a->stats.publish_failures++;
        for (uint32_t i = 0; i < o->n; i++)
            agent_store_requeue(&a->store, o->seqs[i]);
        a->send_pause_until = now + a->cfg.reconnect_min_ms;
        IOT_LOG(IOT_LOG_WARN,
                "telemetry seq %" PRIu64 "..%" PRIu64 " refused by the broker: %s; retry in %u ms",
                o->seqs[0], o->seqs[o->n ? o->n - 1 : 0], ev->reason, a->cfg.reconnect_min_ms);
    }
    out_free(a, o);
}

/* Incoming messages: the seam for commands, receipts and desired state (a later issue). */
static void on_receipt(struct agent *a, const struct agent_mqtt_event *ev)
{
    uint64_t before = a->rcpt.acked;
    agent_receipts_apply(&a->rcpt, &a->store, a->cfg.device_id, agent_epoch(a), ev->payload,
                         ev->len, now_mono(a));
    a->stats.samples_acked += a->rcpt.acked - before;
}

static void on_message(struct agent *a, const struct agent_mqtt_event *ev)
{
    char id[IOT_DEVICE_ID_MAX + 1];
    enum iot_topic_kind kind;
    if (!ev->topic || iot_topic_parse(ev->topic, id, &kind) != IOT_OK ||
        strcmp(id, a->cfg.device_id) != 0) {
        IOT_LOG(IOT_LOG_WARN, "message on unexpected topic %s ignored", ev->topic ? ev->topic : "?");
        return;
    }
    switch (kind) {
    case IOT_TOPIC_COMMANDS:
    case IOT_TOPIC_DESIRED:
        agent_ctl_on_message(a->ctl, kind, ev);
        break;
    case IOT_TOPIC_RECEIPTS:
        on_receipt(a, ev);
        break;
    default:
        IOT_LOG(IOT_LOG_DEBUG, "message on %s (%zu B): no handler yet", ev->topic, ev->len);
        break;
    }
}

static void handle_events(struct agent *a, uint64_t now)
{
    struct agent_mqtt_event ev;
    for (int i = 0; i < AGENT_EVENTS_PER_STEP; i++) {
        memset(&ev, 0, sizeof ev);
        if (agent_mqtt_next_event(&a->mqtt, &ev) != IOT_OK)
            break;
        switch (ev.kind) {
        case AGENT_MQTT_EV_CONNECTED: on_connected(a, now); break;
        case AGENT_MQTT_EV_CONNECT_FAILED: on_connect_failed(a, &ev, now); break;
        case AGENT_MQTT_EV_LOST: on_lost(a, &ev, now); break;
        case AGENT_MQTT_EV_PUBLISHED: on_published(a, &ev, now); break;
        case AGENT_MQTT_EV_MESSAGE: on_message(a, &ev); break;
        case AGENT_MQTT_EV_DISCONNECTED:
            if (a->run == RUN_STOP_DISCONNECT) {
                IOT_LOG(IOT_LOG_INFO, "disconnected%s%s", ev.code ? ": " : "", ev.reason);
                a->conn = CONN_IDLE;
                a->run = RUN_DONE;
            }
            break;
        }
        agent_mqtt_event_clear(&ev);
    }
}

/* ---------------------------------------------------------------- sampling */

static void take_sample(struct agent *a, uint64_t now)
{
    uint64_t seq;
    enum iot_err rc = agent_state_next_seq(&a->state, &seq);
    if (rc != IOT_OK) {
        IOT_LOG(IOT_LOG_ERROR, "cannot reserve a seq (%s): sample skipped", iot_err_str(rc));
        return;
    }
    struct agent_metrics m = {.n = 0};
    for (size_t i = 0; i < a->n_sensors; i++) {
        rc = a->sensors[i].read(a->sensors[i].ctx, now, &m);
        if (rc != IOT_OK)
            IOT_LOG(IOT_LOG_DEBUG, "sensor %s: %s", a->sensors[i].name, iot_err_str(rc));
    }
    uint8_t buf[AGENT_SAMPLE_MAX];
    size_t len;
    rc = agent_encode_sample(seq, now_wall(a), &m, buf, sizeof buf, &len);
    if (rc == IOT_OK)
        rc = agent_store_append(&a->store, seq, buf, len);
    if (rc != IOT_OK) {
        IOT_LOG(IOT_LOG_ERROR, "sample seq %" PRIu64 " lost: %s", seq, iot_err_str(rc));
        return;
    }
    a->stats.samples++;
    struct agent_store_stats ss;
    agent_store_stats(&a->store, &ss);
    if (ss.dropped_total > a->stats.dropped) {
        if (a->stats.dropped == 0 || ss.dropped_total % 1000 == 0)
            IOT_LOG(IOT_LOG_WARN, "backlog full: oldest dropped, %" PRIu64 " so far",
                    ss.dropped_total);
        a->stats.dropped = ss.dropped_total;
    }
}

static void sample_if_due(struct agent *a, uint64_t now)
{
    if (now < a->next_sample_at)
        return;
    take_sample(a, now);
    /* Next point of the grid t0 + k*interval after now: no drift, and no burst after a stall. */
    uint64_t iv = a->cfg.interval_ms;
    uint64_t next = a->next_sample_at + iv;
    if (next <= now) {
        uint64_t k = (now - a->t0) / iv + 1;
        IOT_LOG(IOT_LOG_DEBUG, "sampling fell behind: %" PRIu64 " ms skipped",
                a->t0 + k * iv - next);
        next = a->t0 + k * iv;
    }
    a->next_sample_at = next;
    if (a->cfg.max_samples && a->stats.samples >= a->cfg.max_samples && a->run == RUN_RUNNING) {
        a->run = RUN_DRAINING;
        a->deadline = now + a->cfg.drain_timeout_ms;
        IOT_LOG(IOT_LOG_INFO, "%" PRIu64 " samples taken; waiting up to %u ms for their acks",
                a->stats.samples, a->cfg.drain_timeout_ms);
    }
}

/* ---------------------------------------------------------------- shutdown */

static void begin_shutdown(struct agent *a, uint64_t now)
{
    if (a->conn == CONN_CONNECTED &&
        publish_presence(a, AGENT_PRESENCE_SHUTDOWN, &a->shutdown_token) == IOT_OK) {
        IOT_LOG(IOT_LOG_INFO, "stopping: offline presence sent, waiting up to %u ms for its ack",
                AGENT_SHUTDOWN_ACK_MS);
        a->shutdown_acked = false;
        a->run = RUN_STOP_PRESENCE;
        a->deadline = now + AGENT_SHUTDOWN_ACK_MS;
        return;
    }
    IOT_LOG(IOT_LOG_INFO, "stopping (not connected)");
    a->run = RUN_DONE;
}

static void shutdown_progress(struct agent *a, uint64_t now)
{
    if (a->run == RUN_STOP_PRESENCE) {
        if (a->conn != CONN_CONNECTED) {
            a->run = RUN_DONE;
        } else if (a->shutdown_acked || now >= a->deadline) {
            if (!a->shutdown_acked)
                IOT_LOG(IOT_LOG_WARN, "offline presence not acknowledged in %u ms",
                        AGENT_SHUTDOWN_ACK_MS);
            if (agent_mqtt_disconnect(&a->mqtt, AGENT_DISCONNECT_MS) == IOT_OK) {
                a->run = RUN_STOP_DISCONNECT;
                a->deadline = now + AGENT_DISCONNECT_MS + 500;
            } else {
                a->run = RUN_DONE;
            }
        }
    } else if (a->run == RUN_STOP_DISCONNECT && now >= a->deadline) {
        IOT_LOG(IOT_LOG_WARN, "disconnect not confirmed in time");
        a->run = RUN_DONE;
    }
}

/* ---------------------------------------------------------------- loop */

static void log_stats(struct agent *a)
{
    struct agent_stats s;
    agent_get_stats(a, &s);
    IOT_LOG(IOT_LOG_INFO,
            "samples %" PRIu64 ", published %" PRIu64 " batches (%" PRIu64 " samples), acked %" PRIu64
            ", backlog %" PRIu64 ", dropped %" PRIu64 ", outstanding %u, connection %" PRIu64
            " (%s)",
            s.samples, s.batches_sent, s.samples_sent, s.samples_acked, s.backlog, s.dropped,
            s.outstanding, a->connection, a->conn == CONN_CONNECTED ? "up" : "down");
    IOT_LOG(IOT_LOG_INFO,
            "store: %" PRIu64 " waiting, %" PRIu64 " B on disk, %" PRIu64 " corrupt, receipts %"
            PRIu64 " (%" PRIu64 " ignored), re-sends %" PRIu64,
            s.backlog, s.store_disk_bytes, s.corrupt, a->rcpt.applied, a->rcpt.ignored, s.resends);
}

static uint64_t min_u64(uint64_t x, uint64_t y) { return x < y ? x : y; }

/* The store's timers (fsync, saving acks) and the re-send timer. @return when next due. */
static uint64_t store_step(struct agent *a, uint64_t now)
{
    uint64_t next = UINT64_MAX, rnext = UINT64_MAX;
    agent_store_tick(&a->store, now, &next); /* failures are logged where detected */
    if (a->cfg.store.ack == AGENT_ACK_RECEIPT &&
        agent_receipts_poll(&a->rcpt, &a->store, now, &rnext))
        a->stats.resends++;
    return min_u64(next, rnext);
}

enum iot_err agent_step(struct agent *a, uint32_t *wait_ms)
{
    uint64_t now = now_mono(a);
    if (a->run == RUN_DONE) {
        *wait_ms = 0;
        return IOT_ERR_CLOSED;
    }
    handle_events(a, now);
    uint64_t store_next = store_step(a, now);
    uint32_t ctl_wait = agent_ctl_poll(a->ctl, now);
    if (a->stop_flag && (a->run == RUN_RUNNING || a->run == RUN_DRAINING)) {
        IOT_LOG(IOT_LOG_INFO, "stop requested (%s)",
                a->stop_flag > 0 ? "signal" : "agent_stop");
        a->exit_status = AGENT_EXIT_OK;
        begin_shutdown(a, now);
    }
    if (a->run == RUN_RUNNING)
        sample_if_due(a, now);
    if (a->run == RUN_DRAINING) {
        struct agent_store_stats ss;
        agent_store_stats(&a->store, &ss);
        if (ss.count == 0) {
            IOT_LOG(IOT_LOG_INFO, "all %" PRIu64 " samples acknowledged", a->stats.samples);
            a->exit_status = AGENT_EXIT_OK;
            begin_shutdown(a, now);
        } else if (now >= a->deadline) {
            IOT_LOG(IOT_LOG_WARN, "drain timeout: %" PRIu64 " samples not acknowledged", ss.count);
            a->exit_status = AGENT_EXIT_DRAIN_TIMEOUT;
            begin_shutdown(a, now);
        }
    }
    shutdown_progress(a, now);
    if (a->conn == CONN_IDLE && (a->run == RUN_RUNNING || a->run == RUN_DRAINING) &&
        now >= a->reconnect_at)
        start_connect(a, now);
    pump(a, now);
    if (now >= a->next_stats_at) {
        log_stats(a);
        a->next_stats_at = now + a->cfg.store.stats_interval_ms;
    }
    if (a->run == RUN_DONE) {
        *wait_ms = 0;
        return IOT_ERR_CLOSED;
    }

    uint64_t next = a->next_stats_at;
    if (a->run == RUN_RUNNING)
        next = min_u64(next, a->next_sample_at);
    if (a->run != RUN_RUNNING)
        next = min_u64(next, a->deadline);
    if (a->conn == CONN_IDLE && (a->run == RUN_RUNNING || a->run == RUN_DRAINING))
        next = min_u64(next, a->reconnect_at);
    if (a->conn == CONN_CONNECTED && a->send_pause_until > now)
        next = min_u64(next, a->send_pause_until);
    next = min_u64(next, now + ctl_wait);
    next = min_u64(next, store_next);
    *wait_ms = next <= now ? 0 : (uint32_t)min_u64(next - now, 60000);
    return IOT_OK;
}

enum agent_exit agent_run(struct agent *a)
{
    uint32_t wait_ms;
    /* Under systemd (Type=notify, WatchdogSec): ready once configured and the store is open (being
     * offline is a normal state, not a failed start); keep-alives come from this loop only, so a
     * hung loop gets the agent restarted. All no-ops elsewhere. */
    uint32_t wd_ms = plat_service_watchdog_ms() / 2;
    uint64_t next_wd = 0;
    plat_service_ready();
    while (agent_step(a, &wait_ms) == IOT_OK) {
        if (wd_ms) {
            uint64_t now = now_mono(a);
            if (now >= next_wd) {
                plat_service_watchdog();
                next_wd = now + wd_ms;
            }
            if (wait_ms > wd_ms)
                wait_ms = wd_ms;
        }
        if (wait_ms > 0)
            plat_event_wait(a->ev, wait_ms);
    }
    plat_service_stopping();
    log_stats(a);
    return a->exit_status;
}

void agent_stop(struct agent *a)
{
    if (!a->stop_flag)
        a->stop_flag = -1;
    plat_event_signal(a->ev);
}

void agent_install_signals(struct agent *a) { plat_signals_install(a->ev, &a->stop_flag); }

enum agent_exit agent_exit_status(const struct agent *a) { return a->exit_status; }

uint64_t agent_epoch(const struct agent *a) { return a->state.epoch; }

void agent_get_stats(const struct agent *a, struct agent_stats *out)
{
    *out = a->stats;
    struct agent_store_stats ss;
    agent_store_stats((struct agent_store *)&a->store, &ss);
    out->backlog = ss.count;
    out->dropped = ss.dropped_total;
    out->corrupt = ss.corrupt_total;
    out->store_disk_bytes = ss.disk_bytes;
    out->receipts = a->rcpt.applied;
    out->outstanding = a->n_telemetry_out + a->n_presence_out;
}

/* ---------------------------------------------------------------- create / destroy */

static enum iot_err make_sensors(struct agent *a, const char *root)
{
    size_t n = 0;
    enum iot_err rc;
    if (a->cfg.linux_sensors) {
        rc = agent_linux_create(root ? root : "", &a->lx, a->sensors, AGENT_MAX_SENSORS, &n);
        if (rc != IOT_OK)
            return rc;
        a->n_sensors = n;
    }
    if (a->cfg.sim_sensors) {
        rc = agent_sim_create(a->cfg.seed, a->cfg.sim_sensors, &a->sim, a->sensors + a->n_sensors,
                              AGENT_MAX_SENSORS - a->n_sensors, &n);
        if (rc != IOT_OK)
            return rc;
        a->n_sensors += n;
    }
    char names[256] = "";
    for (size_t i = 0; i < a->n_sensors; i++) {
        size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, "%s%s", i ? "," : "", a->sensors[i].name);
    }
    IOT_LOG(IOT_LOG_INFO, "sensors: %s", a->n_sensors ? names : "none (samples carry no metrics)");
    return IOT_OK;
}

enum iot_err agent_create(const struct agent_config *cfg, const struct agent_deps *deps,
                          struct agent **out)
{
    if (!cfg || !out || !iot_device_id_valid(cfg->device_id) || cfg->inflight == 0 ||
        cfg->batch_max == 0 || cfg->interval_ms == 0 || cfg->buffer_max_samples == 0)
        return IOT_ERR_INVAL;
    struct agent_deps none = {0};
    if (!deps)
        deps = &none;
    char err[700];
    if (!deps->mqtt.ops && !cfg->tls_files_checked) {
        struct plat_cert_info ci;
        enum iot_err frc = agent_config_check_files(cfg, &ci, err, sizeof err);
        if (frc != IOT_OK) {
            IOT_LOG(IOT_LOG_ERROR, "%s", err);
            return frc;
        }
        agent_config_log_cert_dates(cfg, &ci, plat_wall_ms());
    }
    struct agent *a = iot_calloc(1, sizeof *a);
    if (!a)
        return IOT_ERR_NOMEM;
    a->cfg = *cfg;
    a->clock = deps->clock ? deps->clock : plat_clock_system();
    enum iot_err rc = IOT_ERR_NOMEM;

    if (iot_topic_format(a->topic_telemetry, sizeof a->topic_telemetry, IOT_TOPIC_TELEMETRY,
                         cfg->device_id) != IOT_OK ||
        iot_topic_format(a->topic_status, sizeof a->topic_status, IOT_TOPIC_STATUS,
                         cfg->device_id) != IOT_OK ||
        iot_topic_format(a->topic_receipts, sizeof a->topic_receipts, IOT_TOPIC_RECEIPTS,
                         cfg->device_id) != IOT_OK) {
        rc = IOT_ERR_INVAL;
        goto fail;
    }
    if ((rc = plat_event_create(&a->ev)) != IOT_OK)
        goto fail;
    if ((rc = agent_state_open(&a->state, cfg->state_dir, 0)) != IOT_OK) {
        IOT_LOG(IOT_LOG_ERROR, "state directory %s: %s", cfg->state_dir, iot_err_str(rc));
        goto fail;
    }
    if ((rc = make_sensors(a, deps->sys_root)) != IOT_OK)
        goto fail;
    if ((rc = agent_store_open(cfg, &a->store)) != IOT_OK)
        goto fail;
    /* After a crash the state resumes at its reserved high-water mark: the seqs between the last
     * one stored and it were never used. Told to the cloud as dropped, they are no false gap. */
    uint64_t skipped = agent_store_resume_at(&a->store, a->state.next_seq, a->state.block);
    if (skipped)
        IOT_LOG(IOT_LOG_WARN,
                "seqs %" PRIu64 "..%" PRIu64 " were reserved but never used (the last run stopped "
                "without saving its state): reported as dropped, so the cloud does not wait for them",
                a->state.next_seq - skipped, a->state.next_seq - 1);
    agent_receipts_init(&a->rcpt, cfg->store.resend_after_ms);
    rc = IOT_ERR_NOMEM;
    a->n_out_cap = cfg->inflight + AGENT_PRESENCE_SLOTS;
    a->out = iot_calloc(a->n_out_cap, sizeof *a->out);
    a->seq_pool = iot_calloc((size_t)a->n_out_cap * cfg->batch_max, sizeof *a->seq_pool);
    a->buf_cap = IOT_MAX_PAYLOAD;
    a->buf = iot_malloc(a->buf_cap);
    if (!a->out || !a->seq_pool || !a->buf)
        goto fail;
    for (uint32_t i = 0; i < a->n_out_cap; i++)
        a->out[i].seqs = a->seq_pool + (size_t)i * cfg->batch_max;
    if (deps->mqtt.ops) {
        a->mqtt = deps->mqtt;
    } else if ((rc = agent_mqtt_paho_create(a->ev, &a->mqtt)) != IOT_OK) {
        goto fail;
    }

    if ((rc = agent_ctl_create(a, a->clock, &a->mqtt, &a->ctl)) != IOT_OK)
        goto fail;
    uint64_t now = now_mono(a);
    a->boot_wall_ms = now_wall(a);
    a->t0 = a->next_sample_at = a->reconnect_at = now;
    a->next_stats_at = now + a->cfg.store.stats_interval_ms;
    a->conn = CONN_IDLE;
    a->run = RUN_RUNNING;
    IOT_LOG(IOT_LOG_INFO, "iot-agent %s: device %s, epoch %016" PRIx64 ", every %u ms%s",
            AGENT_VERSION, cfg->device_id, a->state.epoch, a->cfg.interval_ms,
            cfg->max_samples ? " (bounded run)" : "");
    *out = a;
    return IOT_OK;
fail:
    if (deps->mqtt.ops && !a->mqtt.ops)
        a->mqtt = deps->mqtt; /* we own it from the call on */
    agent_destroy(a);
    return rc;
}

void agent_destroy(struct agent *a)
{
    if (!a)
        return;
    agent_mqtt_destroy(&a->mqtt); /* first: no Paho callbacks after this */
    agent_ctl_destroy(a->ctl);    /* kills running command handlers */
    agent_store_destroy(&a->store);
    if (a->state.path[0]) {
        enum iot_err rc = agent_state_close(&a->state);
        if (rc != IOT_OK)
            IOT_LOG(IOT_LOG_WARN, "state not saved (%s): the next run skips some seqs",
                    iot_err_str(rc));
    }
    agent_linux_destroy(a->lx);
    agent_sim_destroy(a->sim);
    plat_event_destroy(a->ev);
    iot_free(a->out);
    iot_free(a->seq_pool);
    iot_free(a->buf);
    iot_free(a);
}

/* ---------------------------------------------------------------- control seam (commands.h) */

const struct agent_config *agent__config(const struct agent *a) { return &a->cfg; }

void agent__set_interval(struct agent *a, uint32_t interval_ms)
{
    uint64_t now = now_mono(a);
    IOT_LOG(IOT_LOG_INFO, "interval %u -> %u ms", a->cfg.interval_ms, interval_ms);
    a->cfg.interval_ms = interval_ms;
    a->t0 = now;
    a->next_sample_at = now + interval_ms;
}

void agent__sample_now(struct agent *a)
{
    if (a->run == RUN_RUNNING)
        take_sample(a, now_mono(a));
}

struct agent_sim *agent__sim(struct agent *a) { return a->sim; }

enum iot_err agent__set_sim_sensors(struct agent *a, unsigned which)
{
    size_t n = 0;
    if (!a->sim) {
        if (which == 0)
            return IOT_OK;
        enum iot_err rc = agent_sim_create(a->cfg.seed, which, &a->sim, a->sensors + a->n_sensors,
                                           AGENT_MAX_SENSORS - a->n_sensors, &n);
        if (rc != IOT_OK)
            return rc;
    } else {
        size_t k = 0; /* drop the simulated ones, keep the rest in order */
        for (size_t i = 0; i < a->n_sensors; i++) {
            if (a->sensors[i].ctx != a->sim)
                a->sensors[k++] = a->sensors[i];
        }
        a->n_sensors = k;
        n = agent_sim_sensors(a->sim, which, a->sensors + k, AGENT_MAX_SENSORS - k);
    }
    a->n_sensors += n;
    a->cfg.sim_sensors = which;
    char names[256];
    agent__sensor_names(a, names, sizeof names);
    IOT_LOG(IOT_LOG_INFO, "sensors now: %s", a->n_sensors ? names : "none");
    return IOT_OK;
}

void agent__sensor_names(const struct agent *a, char *buf, size_t cap)
{
    size_t used = 0;
    if (cap)
        buf[0] = 0;
    for (size_t i = 0; i < a->n_sensors && used < cap; i++) {
        int n = snprintf(buf + used, cap - used, "%s%s", i ? "," : "", a->sensors[i].name);
        used += n > 0 ? (size_t)n : 0;
    }
}

void agent__restart(struct agent *a)
{
    if (a->run != RUN_RUNNING && a->run != RUN_DRAINING)
        return;
    a->exit_status = AGENT_EXIT_RESTART;
    begin_shutdown(a, now_mono(a));
}
