/* SPDX-License-Identifier: Apache-2.0 */
/* Paho MQTTAsync adapter of mqtt_client.h: the only file that includes MQTTAsync.h. Paho owns the
 * socket and TLS (OpenSSL). Its callbacks only copy, update state and log; never ingest work here.
 * Publishes go through an outbox and one sender thread (see "outbox" below). */
#define IOT_LOG_TAG "cloud.mqtt"
#include "mqtt_client.h"

#include <MQTTAsync.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "iot/log.h"
#include "iot/plat_net.h"
#include "iot/mem.h"
#include "iot/plat_clock.h"
#include "iot/plat_event.h"

#define BACKOFF_MIN_MS 500u
#define BACKOFF_MAX_MS 30000u
#define CONNECT_TIMEOUT_S 10
#define OUTBOX_MAX 20000u /* publishes waiting for the sender thread */
/* Publishes handed to Paho and not yet acknowledged: below the broker's Receive Maximum (100 in
 * the configs iot-pki writes), because Paho's send thread stalls for up to a second per window
 * when more are queued (FIELD-NOTES.md). Waiting longer than WINDOW_WAIT_MS (e.g. acks lost with
 * a connection) sends anyway. */
#define PUB_WINDOW 64u
#define WINDOW_WAIT_MS 2000u
#define PAHO_BUFFER_MAX 1000 /* Paho's own queue (createOptions.maxBufferedMessages) */
#define PAHO_FULL_PAUSE_MS 5u

enum conn_state { ST_IDLE, ST_CONNECTING, ST_CONNECTED, ST_WAIT_RETRY, ST_STOPPED };

struct ingest_mqtt {
    MQTTAsync client;
    struct cloud_mqtt_config cfg;
    struct ingest_mqtt_handlers h;
    char uri[300];
    char filters[INGEST_MQTT_MAX_FILTERS][160];
    int n_filters;
    struct plat_mutex *lock; /* guards state, next_attempt_ms, backoff_ms */
    enum conn_state state;
    uint64_t next_attempt_ms;
    uint32_t backoff_ms;
    uint64_t resubscribe_at_ms; /* non-zero: subscribe again at this time (a SUBSCRIBE failed) */
    atomic_int connected;
    atomic_int disconnect_done;
    /* outbox (see below) */
    pthread_mutex_t olock;
    pthread_cond_t ocond;   /* something to send, or stop */
    pthread_cond_t oidle;   /* outbox empty and nothing being sent */
    struct outmsg *ohead, *otail;
    size_t n_out;
    bool sending, outbox_ready, sender_started;
    atomic_bool ostop; /* set under olock; read without it by a sender waiting on Paho */
    unsigned in_flight;     /* handed to Paho, not acknowledged yet (olock) */
    pthread_cond_t owindow; /* in_flight went down */
    pthread_t sender;
};

/* ---- outbox: ingest_mqtt_publish never calls Paho ----
 * Paho's receive thread holds Paho's own mutex while it runs our message callback, and that
 * callback blocks while the ingest queue is full (backpressure). Any Paho call from another thread
 * then waits as long as the storage is stalled; measured: the main loop blocked in
 * MQTTAsync_sendMessage while holding the receipts lock that the worker needed to free the queue,
 * a deadlock. So a publish is copied into a bounded outbox, and one sender thread (which may wait
 * on Paho) hands them over in order. */
struct outmsg {
    struct outmsg *next;
    uint64_t token;
    int qos;
    bool retained;
    uint32_t expiry_s;
    char *topic, *response_topic; /* NULL: none */
    uint8_t *payload, *corr;
    size_t len, corr_len;
    uint8_t data[];
};

static enum iot_err outbox_start(struct ingest_mqtt *m);
static void outbox_drain(struct ingest_mqtt *m, uint32_t timeout_ms);
static void outbox_stop(struct ingest_mqtt *m);

static void set_retry(struct ingest_mqtt *m)
{
    /* caller holds m->lock */
    if (m->state == ST_STOPPED)
        return;
    m->state = ST_WAIT_RETRY;
    m->next_attempt_ms = plat_mono_ms() + m->backoff_ms;
    m->backoff_ms = m->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : m->backoff_ms * 2;
}

static void notify_state(struct ingest_mqtt *m, bool up)
{
    atomic_store(&m->connected, up ? 1 : 0);
    if (m->h.on_state)
        m->h.on_state(m->h.ctx, up);
}

static void on_subscribe_ok(void *context, MQTTAsync_successData5 *r)
{
    struct ingest_mqtt *m = context;
    int n = r->alt.sub.reasonCodeCount;
    for (int i = 0; i < m->n_filters; i++) {
        enum MQTTReasonCodes rc = (n > i && r->alt.sub.reasonCodes) ? r->alt.sub.reasonCodes[i]
                                  : (i == 0 || n == 0)             ? r->reasonCode
                                                                    : MQTTREASONCODE_SUCCESS;
        if ((int)rc >= 0x80)
            IOT_LOG(IOT_LOG_ERROR, "subscription to %s refused: %s (%d)", m->filters[i],
                    MQTTReasonCode_toString(rc), (int)rc);
        else if (rc == MQTTREASONCODE_GRANTED_QOS_0)
            IOT_LOG(IOT_LOG_WARN, "subscribed to %s but only with QoS 0", m->filters[i]);
        else
            IOT_LOG(IOT_LOG_INFO, "subscribed to %s (QoS %d)", m->filters[i], (int)rc);
    }
}

static void on_subscribe_fail(void *context, MQTTAsync_failureData5 *r)
{
    struct ingest_mqtt *m = context;
    plat_mutex_lock(m->lock);
    bool stopped = m->state == ST_STOPPED;
    plat_mutex_unlock(m->lock);
    IOT_LOG(stopped ? IOT_LOG_DEBUG : IOT_LOG_ERROR,
            "subscribe to %s (and %d more) failed: %s (code %d, reason %d)%s", m->filters[0],
            m->n_filters - 1,
            r->message ? r->message : MQTTAsync_strerror(r->code), r->code, (int)r->reasonCode,
            stopped ? "" : "; retrying");
    if (!stopped) {
        plat_mutex_lock(m->lock);
        m->resubscribe_at_ms = plat_mono_ms() + BACKOFF_MIN_MS;
        plat_mutex_unlock(m->lock);
    }
}

/* Subscribing on every connect is harmless when the broker kept the session (the subscription is
 * replaced) and required when it did not (session expired or broker state lost). */
static void subscribe_all(struct ingest_mqtt *m)
{
    char *topics[INGEST_MQTT_MAX_FILTERS];
    int qos[INGEST_MQTT_MAX_FILTERS];
    for (int i = 0; i < m->n_filters; i++) {
        topics[i] = m->filters[i];
        qos[i] = 1;
    }
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess5 = on_subscribe_ok;
    ro.onFailure5 = on_subscribe_fail;
    ro.context = m;
    int rc = MQTTAsync_subscribeMany(m->client, m->n_filters, topics, qos, &ro);
    if (rc != MQTTASYNC_SUCCESS)
        IOT_LOG(IOT_LOG_ERROR, "subscribe request failed: %s (%d)", MQTTAsync_strerror(rc), rc);
}

static void on_connect_ok(void *context, MQTTAsync_successData5 *r)
{
    struct ingest_mqtt *m = context;
    plat_mutex_lock(m->lock);
    bool stopped = m->state == ST_STOPPED;
    if (!stopped) {
        m->state = ST_CONNECTED;
        m->backoff_ms = BACKOFF_MIN_MS;
    }
    plat_mutex_unlock(m->lock);
    IOT_LOG(IOT_LOG_INFO, "connected to %s as client id %s (MQTT %d, session %s)", m->uri,
            m->cfg.client_id, r->alt.connect.MQTTVersion,
            r->alt.connect.sessionPresent ? "resumed" : "new");
    /* Paho leaves Nagle on: a command publish or a receipt would wait for the broker's delayed
     * ACK of our previous PUBACK (plat_net.h). */
    if (plat_tcp_nodelay_to(m->cfg.host, m->cfg.port, 1) == 0)
        IOT_LOG(IOT_LOG_DEBUG, "no socket to %s:%u found for TCP_NODELAY", m->cfg.host,
                (unsigned)m->cfg.port);
    if (stopped)
        return;
    subscribe_all(m);
    notify_state(m, true);
}

static void on_connect_fail(void *context, MQTTAsync_failureData5 *r)
{
    struct ingest_mqtt *m = context;
    plat_mutex_lock(m->lock);
    uint32_t wait = m->backoff_ms;
    set_retry(m);
    plat_mutex_unlock(m->lock);
    const char *msg = r ? r->message : NULL;
    int code = r ? r->code : 0;
    int reason = r ? (int)r->reasonCode : 0;
    IOT_LOG(IOT_LOG_WARN, "connect to %s as %s failed: %s%s%s (code %d, reason %d); retry in %u ms",
            m->uri, m->cfg.client_id, msg ? msg : MQTTAsync_strerror(code),
            reason ? ": " : "", reason ? MQTTReasonCode_toString((enum MQTTReasonCodes)reason) : "",
            code, reason, wait);
}

static void on_connection_lost(void *context, char *cause)
{
    struct ingest_mqtt *m = context;
    plat_mutex_lock(m->lock);
    m->backoff_ms = BACKOFF_MIN_MS;
    set_retry(m);
    plat_mutex_unlock(m->lock);
    IOT_LOG(IOT_LOG_WARN, "connection to %s lost: %s; reconnecting", m->uri,
            cause ? cause : "no cause given");
    notify_state(m, false);
}

static int on_message(void *context, char *topic, int topic_len, MQTTAsync_message *msg)
{
    struct ingest_mqtt *m = context;
    /* Paho passes topic_len > 0 at least when the topic holds an embedded NUL (and, as measured with
     * 1.3.12 and MQTT 5, often otherwise too). A topic with a NUL is not one of ours: it is
     * dead-lettered as unknown_topic under a placeholder rather than parsed up to the NUL. */
    char copy[256];
    const char *t = topic;
    if (topic_len > 0) {
        size_t n = (size_t)topic_len;
        if (memchr(topic, 0, n))
            t = "(topic with embedded NUL)";
        else if (n >= sizeof copy)
            t = "(topic too long)";
        else {
            memcpy(copy, topic, n);
            copy[n] = 0;
            t = copy;
        }
    }
    size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    bool taken = m->h.on_message(m->h.ctx, t, msg->payload, len);
    if (!taken)
        return 0; /* Paho keeps the message and calls us again */
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

static int on_ssl_error(const char *str, size_t len, void *u)
{
    (void)u;
    IOT_LOG(IOT_LOG_WARN, "TLS: %.*s", (int)(len > 0 && str[len - 1] == '\n' ? len - 1 : len), str);
    return 0;
}

enum iot_err ingest_mqtt_create(const struct cloud_mqtt_config *cfg,
                                const struct ingest_mqtt_handlers *h, struct ingest_mqtt **out)
{
    if (!cfg || !h || !h->on_message || !out)
        return IOT_ERR_INVAL;
    struct ingest_mqtt *m = iot_calloc(1, sizeof *m);
    if (!m)
        return IOT_ERR_NOMEM;
    enum iot_err rc = IOT_ERR_NOMEM;
    m->cfg = *cfg;
    m->h = *h;
    m->state = ST_IDLE;
    m->backoff_ms = BACKOFF_MIN_MS;
    atomic_init(&m->connected, 0);
    atomic_init(&m->disconnect_done, 0);
    atomic_init(&m->ostop, false);
    snprintf(m->uri, sizeof m->uri, strchr(cfg->host, ':') ? "ssl://[%s]:%u" : "ssl://%s:%u",
             cfg->host, (unsigned)cfg->port);
    static const char *const default_suffixes[] = {"telemetry", "status"};
    for (int i = 0; i < INGEST_MQTT_MAX_FILTERS; i++) {
        const char *sfx = h->suffixes[0] ? h->suffixes[i] : (i < 2 ? default_suffixes[i] : NULL);
        if (!sfx)
            break;
        snprintf(m->filters[i], sizeof m->filters[i], "$share/%s/devices/+/%s", cfg->share_group,
                 sfx);
        m->n_filters++;
    }
    if (plat_mutex_create(&m->lock) != IOT_OK)
        goto out;
    rc = outbox_start(m);
    if (rc != IOT_OK)
        goto out;
    rc = IOT_ERR_NOMEM;

    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
    co.maxBufferedMessages = PAHO_BUFFER_MAX;
    int prc = MQTTAsync_createWithOptions(&m->client, m->uri, cfg->client_id,
                                          MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (prc == MQTTASYNC_SUCCESS)
        prc = MQTTAsync_setCallbacks(m->client, m, on_connection_lost, on_message, NULL);
    if (prc != MQTTASYNC_SUCCESS) {
        IOT_LOG(IOT_LOG_ERROR, "cannot create MQTT client for %s: %s (%d)", m->uri,
                MQTTAsync_strerror(prc), prc);
        rc = IOT_ERR_INTERNAL;
        goto out;
    }
    rc = IOT_OK;
out:
    if (rc != IOT_OK) {
        ingest_mqtt_destroy(m);
        return rc;
    }
    *out = m;
    return IOT_OK;
}

static void start_connect(struct ingest_mqtt *m)
{
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    ssl.trustStore = m->cfg.ca_file;
    ssl.keyStore = m->cfg.cert_file;
    ssl.privateKey = m->cfg.key_file;
    ssl.enableServerCertAuth = 1;
    ssl.verify = 1;
    ssl.ssl_error_cb = on_ssl_error;
    ssl.ssl_error_context = m;

    MQTTProperties props = MQTTProperties_initializer;
    MQTTProperty expiry = {.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL};
    expiry.value.integer4 = m->cfg.session_expiry_s;
    MQTTProperties_add(&props, &expiry);

    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
    co.keepAliveInterval = m->cfg.keepalive_s;
    co.cleanstart = 0; /* resume the persistent session: the broker queued messages for us */
    co.connectTimeout = CONNECT_TIMEOUT_S;
    co.automaticReconnect = 0; /* ingest_mqtt_tick reconnects, faster than Paho's 3 s cadence */
    co.ssl = &ssl;
    co.connectProperties = &props;
    co.onSuccess5 = on_connect_ok;
    co.onFailure5 = on_connect_fail;
    co.context = m;
    IOT_LOG(IOT_LOG_DEBUG, "connecting to %s as %s", m->uri, m->cfg.client_id);
    int rc = MQTTAsync_connect(m->client, &co);
    MQTTProperties_free(&props);
    if (rc != MQTTASYNC_SUCCESS) {
        plat_mutex_lock(m->lock);
        set_retry(m);
        plat_mutex_unlock(m->lock);
        IOT_LOG(IOT_LOG_WARN, "connect to %s could not start: %s (%d)", m->uri,
                MQTTAsync_strerror(rc), rc);
    }
}

void ingest_mqtt_tick(struct ingest_mqtt *m, uint64_t now_mono_ms)
{
    if (!m)
        return;
    plat_mutex_lock(m->lock);
    bool go = m->state == ST_IDLE || (m->state == ST_WAIT_RETRY && now_mono_ms >= m->next_attempt_ms);
    if (go)
        m->state = ST_CONNECTING;
    bool resub = m->state == ST_CONNECTED && m->resubscribe_at_ms &&
                 now_mono_ms >= m->resubscribe_at_ms;
    if (resub || go)
        m->resubscribe_at_ms = 0;
    plat_mutex_unlock(m->lock);
    if (go)
        start_connect(m);
    else if (resub)
        subscribe_all(m);
}

struct pub_ctx {
    struct ingest_mqtt *m;
    uint64_t token;
};

static void window_release(struct ingest_mqtt *m)
{
    pthread_mutex_lock(&m->olock);
    if (m->in_flight)
        m->in_flight--;
    pthread_cond_signal(&m->owindow);
    pthread_mutex_unlock(&m->olock);
}

static void on_publish_ok(void *context, MQTTAsync_successData5 *r)
{
    struct pub_ctx *pc = context;
    window_release(pc->m);
    bool ok = !r || (int)r->reasonCode < 0x80;
    if (pc->m->h.on_published)
        pc->m->h.on_published(pc->m->h.ctx, pc->token, ok);
    iot_free(pc);
}

static void on_publish_fail(void *context, MQTTAsync_failureData5 *r)
{
    struct pub_ctx *pc = context;
    window_release(pc->m);
    IOT_LOG(IOT_LOG_DEBUG, "publish (token %llu) failed: %s (code %d, reason %d)",
            (unsigned long long)pc->token, r && r->message ? r->message : "", r ? r->code : 0,
            r ? (int)r->reasonCode : 0);
    if (pc->m->h.on_published)
        pc->m->h.on_published(pc->m->h.ctx, pc->token, false);
    iot_free(pc);
}

static void send_now(struct ingest_mqtt *m, const struct outmsg *o)
{
    struct pub_ctx *pc = iot_malloc(sizeof *pc);
    if (!pc) {
        if (m->h.on_published)
            m->h.on_published(m->h.ctx, o->token, false);
        return;
    }
    pc->m = m;
    pc->token = o->token;
    MQTTProperties props = MQTTProperties_initializer;
    if (o->expiry_s) {
        MQTTProperty e = {.identifier = MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL};
        e.value.integer4 = o->expiry_s;
        MQTTProperties_add(&props, &e);
    }
    if (o->response_topic) {
        MQTTProperty rt = {.identifier = MQTTPROPERTY_CODE_RESPONSE_TOPIC};
        rt.value.data.data = o->response_topic;
        rt.value.data.len = (int)strlen(o->response_topic);
        MQTTProperties_add(&props, &rt);
    }
    if (o->corr) {
        MQTTProperty cd = {.identifier = MQTTPROPERTY_CODE_CORRELATION_DATA};
        cd.value.data.data = (char *)o->corr;
        cd.value.data.len = (int)o->corr_len;
        MQTTProperties_add(&props, &cd);
    }
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    msg.payload = o->payload;
    msg.payloadlen = (int)o->len;
    msg.qos = o->qos;
    msg.retained = o->retained ? 1 : 0;
    msg.properties = props;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess5 = on_publish_ok;
    ro.onFailure5 = on_publish_fail;
    ro.context = pc;
    pthread_mutex_lock(&m->olock);
    m->in_flight++;
    pthread_mutex_unlock(&m->olock);
    int rc;
    /* Paho's queue full: this thread is the one that may wait (bounded by the stop flag). */
    while ((rc = MQTTAsync_sendMessage(m->client, o->topic, &msg, &ro)) ==
               MQTTASYNC_MAX_BUFFERED_MESSAGES &&
           !m->ostop)
        plat_sleep_ms(PAHO_FULL_PAUSE_MS);
    MQTTProperties_free(&props);
    if (rc == MQTTASYNC_SUCCESS)
        return;
    window_release(m);
    iot_free(pc);
    if (rc != MQTTASYNC_DISCONNECTED)
        IOT_LOG(IOT_LOG_WARN, "publish to %s refused by Paho: %s (%d)", o->topic,
                MQTTAsync_strerror(rc), rc);
    if (m->h.on_published)
        m->h.on_published(m->h.ctx, o->token, false);
}

static void *sender_main(void *arg)
{
    struct ingest_mqtt *m = arg;
    pthread_mutex_lock(&m->olock);
    for (;;) {
        while (!m->ohead && !m->ostop)
            pthread_cond_wait(&m->ocond, &m->olock);
        if (m->ohead && !m->ostop && m->in_flight >= PUB_WINDOW) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += WINDOW_WAIT_MS / 1000u;
            while (m->in_flight >= PUB_WINDOW && !m->ostop &&
                   pthread_cond_timedwait(&m->owindow, &m->olock, &ts) == 0)
                ;
        }
        struct outmsg *o = m->ohead;
        if (!o)
            break; /* stopping, nothing left */
        m->ohead = o->next;
        if (!m->ohead)
            m->otail = NULL;
        m->n_out--;
        m->sending = true;
        bool stop = m->ostop;
        pthread_mutex_unlock(&m->olock);
        if (stop) { /* destroyed: what is left fails */
            if (m->h.on_published)
                m->h.on_published(m->h.ctx, o->token, false);
        } else {
            send_now(m, o);
        }
        iot_free(o);
        pthread_mutex_lock(&m->olock);
        m->sending = false;
        if (!m->ohead)
            pthread_cond_broadcast(&m->oidle);
    }
    pthread_mutex_unlock(&m->olock);
    return NULL;
}

static enum iot_err outbox_start(struct ingest_mqtt *m)
{
    pthread_mutex_init(&m->olock, NULL);
    pthread_cond_init(&m->ocond, NULL);
    pthread_cond_init(&m->oidle, NULL);
    pthread_cond_init(&m->owindow, NULL);
    m->outbox_ready = true;
    if (pthread_create(&m->sender, NULL, sender_main, m) != 0) {
        IOT_LOG(IOT_LOG_ERROR, "cannot start the MQTT sender thread");
        return IOT_ERR_INTERNAL;
    }
    m->sender_started = true;
    return IOT_OK;
}

/* Wait until the sender handed everything to Paho (at most @p timeout_ms). */
static void outbox_drain(struct ingest_mqtt *m, uint32_t timeout_ms)
{
    if (!m->sender_started)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(timeout_ms / 1000u);
    ts.tv_nsec += (long)(timeout_ms % 1000u) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->olock);
    while ((m->ohead || m->sending) && pthread_cond_timedwait(&m->oidle, &m->olock, &ts) == 0)
        ;
    pthread_mutex_unlock(&m->olock);
}

static void outbox_stop(struct ingest_mqtt *m)
{
    if (!m->outbox_ready)
        return;
    if (m->sender_started) {
        pthread_mutex_lock(&m->olock);
        m->ostop = true;
        pthread_cond_broadcast(&m->ocond);
        pthread_cond_broadcast(&m->owindow);
        pthread_mutex_unlock(&m->olock);
        pthread_join(m->sender, NULL);
    }
    pthread_cond_destroy(&m->ocond);
    pthread_cond_destroy(&m->oidle);
    pthread_cond_destroy(&m->owindow);
    pthread_mutex_destroy(&m->olock);
}

enum iot_err ingest_mqtt_publish(struct ingest_mqtt *m, const struct ingest_mqtt_pub *p)
{
    if (!m || !p || !p->topic || (p->len && !p->payload) || p->len > INT32_MAX ||
        p->correlation_len > INT32_MAX)
        return IOT_ERR_INVAL;
    if (!atomic_load(&m->connected))
        return IOT_ERR_CLOSED;
    size_t tlen = strlen(p->topic) + 1;
    size_t rlen = p->response_topic ? strlen(p->response_topic) + 1 : 0;
    size_t clen = p->correlation ? p->correlation_len : 0;
    struct outmsg *o = iot_malloc(sizeof *o + tlen + rlen + p->len + clen);
    if (!o)
        return IOT_ERR_NOMEM;
    memset(o, 0, sizeof *o);
    uint8_t *w = o->data;
    o->topic = (char *)w;
    memcpy(w, p->topic, tlen);
    w += tlen;
    if (rlen) {
        o->response_topic = (char *)w;
        memcpy(w, p->response_topic, rlen);
        w += rlen;
    }
    o->payload = w;
    if (p->len)
        memcpy(w, p->payload, p->len);
    w += p->len;
    if (clen) {
        o->corr = w;
        memcpy(w, p->correlation, clen);
        o->corr_len = clen;
    }
    o->len = p->len;
    o->qos = p->qos;
    o->retained = p->retained;
    o->expiry_s = p->expiry_s;
    o->token = p->token;
    pthread_mutex_lock(&m->olock);
    bool full = m->n_out >= OUTBOX_MAX || m->ostop;
    if (!full) {
        if (m->otail)
            m->otail->next = o;
        else
            m->ohead = o;
        m->otail = o;
        m->n_out++;
        pthread_cond_signal(&m->ocond);
    }
    pthread_mutex_unlock(&m->olock);
    if (full) {
        iot_free(o);
        return IOT_ERR_FULL;
    }
    return IOT_OK;
}

bool ingest_mqtt_connected(struct ingest_mqtt *m) { return m && atomic_load(&m->connected) != 0; }

static void on_disconnect_done(void *context, MQTTAsync_successData5 *r)
{
    (void)r;
    struct ingest_mqtt *m = context;
    atomic_store(&m->disconnect_done, 1);
}

static void on_disconnect_fail(void *context, MQTTAsync_failureData5 *r)
{
    (void)r;
    struct ingest_mqtt *m = context;
    atomic_store(&m->disconnect_done, 1);
}

void ingest_mqtt_disconnect(struct ingest_mqtt *m, uint32_t timeout_ms)
{
    if (!m || !m->client)
        return;
    plat_mutex_lock(m->lock);
    m->state = ST_STOPPED;
    plat_mutex_unlock(m->lock);
    outbox_drain(m, timeout_ms / 2); /* e.g. the receipts of the final drain */
    if (!MQTTAsync_isConnected(m->client)) {
        notify_state(m, false);
        return;
    }
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
    d.timeout = (int)timeout_ms;
    d.onSuccess5 = on_disconnect_done;
    d.onFailure5 = on_disconnect_fail;
    d.context = m;
    int rc = MQTTAsync_disconnect(m->client, &d);
    if (rc == MQTTASYNC_SUCCESS) {
        for (uint32_t waited = 0; waited < timeout_ms && !atomic_load(&m->disconnect_done);
             waited += 10)
            plat_sleep_ms(10);
    } else {
        IOT_LOG(IOT_LOG_WARN, "disconnect from %s: %s (%d)", m->uri, MQTTAsync_strerror(rc), rc);
    }
    notify_state(m, false);
    IOT_LOG(IOT_LOG_INFO, "disconnected from %s (session kept by the broker for %u s)", m->uri,
            m->cfg.session_expiry_s);
}

void ingest_mqtt_destroy(struct ingest_mqtt *m)
{
    if (!m)
        return;
    outbox_stop(m); /* before Paho goes: the sender may be inside a Paho call */
    if (m->client)
        MQTTAsync_destroy(&m->client);
    plat_mutex_destroy(m->lock);
    iot_free(m);
}
