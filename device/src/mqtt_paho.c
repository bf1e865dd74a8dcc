/* SPDX-License-Identifier: Apache-2.0 */
/* The agent_mqtt ops over Paho MQTTAsync (MQTT 5, mutual TLS). The only file that includes
 * MQTTAsync.h. Paho's callbacks run on Paho's threads: they only copy what they need into a
 * mutex-protected event list and signal the main loop; nothing else happens there. */
#define IOT_LOG_TAG "agent.mqtt"
#include <MQTTAsync.h>
#include <stdio.h>
#include <string.h>

#include "agent/mqtt.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_event.h"
#include "iot/plat_net.h"

#define AGENT_URI_MAX 300

/* Context of one publish, so its completion can report our token. Linked in a list so the ones Paho
 * never completes (dropped with a lost session) are freed at destroy. */
struct pub_ctx {
    struct paho *p;
    uint64_t token;
    struct pub_ctx *prev, *next;
};

struct ev_node {
    struct agent_mqtt_event ev;
    struct ev_node *next;
};

struct paho {
    MQTTAsync client;
    char uri[AGENT_URI_MAX];
    char client_id[160];
    char host[AGENT_URI_MAX]; /* the broker, to find Paho's socket (plat_tcp_nodelay_to) */
    unsigned port;
    struct plat_event *wake;
    struct plat_mutex *mu;       /* guards everything below */
    struct ev_node *head, *tail;
    struct pub_ctx pending;      /* list sentinel */
    char tls_err[200];           /* OpenSSL's words for the last TLS failure */
};

/* Called on Paho threads. Takes ownership of topic/payload in @p ev. */
static void push_event(struct paho *p, const struct agent_mqtt_event *ev)
{
    struct ev_node *n = iot_malloc(sizeof *n);
    if (!n) {
        struct agent_mqtt_event tmp = *ev;
        agent_mqtt_event_clear(&tmp);
        return; /* out of memory: the publish re-sends at the next reconnect */
    }
    n->ev = *ev;
    n->next = NULL;
    plat_mutex_lock(p->mu);
    if (p->tail)
        p->tail->next = n;
    else
        p->head = n;
    p->tail = n;
    plat_mutex_unlock(p->mu);
    plat_event_signal(p->wake);
}

/* Words for a failure: the MQTT 5 reason code, else Paho's code, plus Paho's and OpenSSL's text. */
static int describe(struct paho *p, int code, enum MQTTReasonCodes rc, const char *msg, char *out,
                    size_t cap)
{
    int ours;
    const char *what;
    if (rc >= 0x80) {
        ours = (int)rc;
        what = MQTTReasonCode_toString(rc);
    } else {
        ours = code ? code : MQTTASYNC_FAILURE;
        what = MQTTAsync_strerror(ours);
    }
    char tls[sizeof p->tls_err];
    plat_mutex_lock(p->mu);
    memcpy(tls, p->tls_err, sizeof tls);
    plat_mutex_unlock(p->mu);
    snprintf(out, cap, "%s (%d)%s%s%s%s", what ? what : "unknown", ours, msg ? ": " : "",
             msg ? msg : "", tls[0] ? "; TLS: " : "", tls);
    return ours;
}

static void on_connect_ok(void *ctx, MQTTAsync_successData5 *r)
{
    (void)r;
    struct paho *p = ctx;
    /* Paho leaves Nagle on: a command's result would wait for the broker's delayed ACK. */
    if (plat_tcp_nodelay_to(p->host, p->port, 1) == 0)
        IOT_LOG(IOT_LOG_DEBUG, "no socket to %s:%u found for TCP_NODELAY", p->host, p->port);
    struct agent_mqtt_event ev = {.kind = AGENT_MQTT_EV_CONNECTED};
    push_event(p, &ev);
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData5 *r)
{
    struct paho *p = ctx;
    struct agent_mqtt_event ev = {.kind = AGENT_MQTT_EV_CONNECT_FAILED};
    ev.code = describe(p, r ? r->code : MQTTASYNC_FAILURE,
                       r ? r->reasonCode : MQTTREASONCODE_SUCCESS, r ? r->message : NULL,
                       ev.reason, sizeof ev.reason);
    push_event(p, &ev);
}

static void on_lost(void *ctx, char *cause)
{
    struct agent_mqtt_event ev = {.kind = AGENT_MQTT_EV_LOST, .code = MQTTASYNC_DISCONNECTED};
    snprintf(ev.reason, sizeof ev.reason, "%s", cause ? cause : "connection closed");
    push_event(ctx, &ev);
}

static void on_server_disconnect(void *ctx, MQTTProperties *props, enum MQTTReasonCodes rc)
{
    (void)props;
    struct agent_mqtt_event ev = {.kind = AGENT_MQTT_EV_LOST, .code = (int)rc};
    snprintf(ev.reason, sizeof ev.reason, "broker sent DISCONNECT: %s (%d)",
             MQTTReasonCode_toString(rc), (int)rc);
    push_event(ctx, &ev);
}

/* MQTT 5 response topic and correlation data of an incoming message, for command answers. A copy
 * that fails leaves the property out (the answer then goes without it). */
static void copy_props(const MQTTAsync_message *m, struct agent_mqtt_event *ev)
{
    MQTTProperties *props = (MQTTProperties *)&m->properties;
    MQTTProperty *rt = MQTTProperties_getProperty(props, MQTTPROPERTY_CODE_RESPONSE_TOPIC);
    MQTTProperty *cd = MQTTProperties_getProperty(props, MQTTPROPERTY_CODE_CORRELATION_DATA);
    if (rt && rt->value.data.len >= 0 &&
        (ev->response_topic = iot_malloc((size_t)rt->value.data.len + 1))) {
        memcpy(ev->response_topic, rt->value.data.data, (size_t)rt->value.data.len);
        ev->response_topic[rt->value.data.len] = 0;
    }
    if (cd && cd->value.data.len >= 0 &&
        (ev->correlation = iot_malloc(cd->value.data.len ? (size_t)cd->value.data.len : 1))) {
        memcpy(ev->correlation, cd->value.data.data, (size_t)cd->value.data.len);
        ev->correlation_len = (size_t)cd->value.data.len;
    }
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct agent_mqtt_event ev = {.kind = AGENT_MQTT_EV_MESSAGE};
    size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    ev.topic = iot_malloc(tlen + 1);
    ev.len = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
    ev.payload = iot_malloc(ev.len ? ev.len : 1);
    if (ev.topic && ev.payload) {
        memcpy(ev.topic, topic, tlen);
        ev.topic[tlen] = 0;
        if (ev.len)
            memcpy(ev.payload, m->payload, ev.len);
        copy_props(m, &ev);
        push_event(ctx, &ev);
    } else {
        agent_mqtt_event_clear(&ev);
    }
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void unlink_pub(struct paho *p, struct pub_ctx *c)
{
    plat_mutex_lock(p->mu);
    c->prev->next = c->next;
    c->next->prev = c->prev;
    plat_mutex_unlock(p->mu);
}

static void on_publish_ok(void *ctx, MQTTAsync_successData5 *r)
{
    (void)r;
    struct pub_ctx *c = ctx;
    struct paho *p = c->p;
    struct agent_mqtt_event ev = {.kind = AGENT_MQTT_EV_PUBLISHED, .token = c->token};
    unlink_pub(p, c);
    iot_free(c);
    push_event(p, &ev);
}

static void on_publish_fail(void *ctx, MQTTAsync_failureData5 *r)
{
    struct pub_ctx *c = ctx;
    struct paho *p = c->p;
    struct agent_mqtt_event ev = {.kind = AGENT_MQTT_EV_PUBLISHED, .token = c->token};
    ev.code = describe(p, r ? r->code : MQTTASYNC_FAILURE,
                       r ? r->reasonCode : MQTTREASONCODE_SUCCESS, r ? r->message : NULL,
                       ev.reason, sizeof ev.reason);
    unlink_pub(p, c);
    iot_free(c);
    push_event(p, &ev);
}

static void on_disconnect_ok(void *ctx, MQTTAsync_successData5 *r)
{
    (void)r;
    struct agent_mqtt_event ev = {.kind = AGENT_MQTT_EV_DISCONNECTED};
    push_event(ctx, &ev);
}

static void on_disconnect_fail(void *ctx, MQTTAsync_failureData5 *r)
{
    struct paho *p = ctx;
    struct agent_mqtt_event ev = {.kind = AGENT_MQTT_EV_DISCONNECTED};
    ev.code = describe(p, r ? r->code : MQTTASYNC_FAILURE,
                       r ? r->reasonCode : MQTTREASONCODE_SUCCESS, r ? r->message : NULL,
                       ev.reason, sizeof ev.reason);
    push_event(p, &ev);
}

static int on_ssl_error(const char *str, size_t len, void *u)
{
    struct paho *p = u;
    /* OpenSSL 3 lines read "thread:error:code:library:function:reason:file:line:": keep the
     * reason and the function, which say what failed in words. */
    const char *f[8] = {0};
    size_t fl[8] = {0};
    int nf = 0;
    for (size_t i = 0, start = 0; i <= len && nf < 8; i++) {
        if (i == len || str[i] == ':') {
            f[nf] = str + start;
            fl[nf++] = i - start;
            start = i + 1;
        }
    }
    plat_mutex_lock(p->mu);
    size_t have = strlen(p->tls_err);
    if (have + 3 < sizeof p->tls_err) {
        if (nf >= 6 && fl[5] > 0)
            snprintf(p->tls_err + have, sizeof p->tls_err - have, "%s%.*s (%.*s)",
                     have ? "; " : "", (int)fl[5], f[5], (int)fl[4], f[4]);
        else
            snprintf(p->tls_err + have, sizeof p->tls_err - have, "%s%.*s", have ? "; " : "",
                     (int)(len && str[len - 1] == '\n' ? len - 1 : len), str);
    }
    plat_mutex_unlock(p->mu);
    return 1;
}

static enum iot_err ensure_client(struct paho *p, const struct agent_mqtt_opts *o)
{
    char uri[AGENT_URI_MAX];
    if (snprintf(uri, sizeof uri, "ssl://%s:%u", o->host, (unsigned)o->port) >= (int)sizeof uri)
        return IOT_ERR_INVAL;
    if (p->client && strcmp(uri, p->uri) == 0 && strcmp(o->client_id, p->client_id) == 0)
        return IOT_OK;
    if (p->client)
        MQTTAsync_destroy(&p->client);
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
    co.maxBufferedMessages = (int)(o->max_outstanding + 16);
    int rc = MQTTAsync_createWithOptions(&p->client, uri, o->client_id, MQTTCLIENT_PERSISTENCE_NONE,
                                         NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        IOT_LOG(IOT_LOG_ERROR, "MQTTAsync_create(%s, %s) failed: %s (%d)", uri, o->client_id,
                MQTTAsync_strerror(rc), rc);
        p->client = NULL;
        return IOT_ERR_INVAL;
    }
    rc = MQTTAsync_setCallbacks(p->client, p, on_lost, on_message, NULL);
    if (rc == MQTTASYNC_SUCCESS)
        rc = MQTTAsync_setDisconnected(p->client, p, on_server_disconnect);
    if (rc != MQTTASYNC_SUCCESS) {
        IOT_LOG(IOT_LOG_ERROR, "MQTTAsync_setCallbacks failed: %d", rc);
        MQTTAsync_destroy(&p->client);
        return IOT_ERR_INTERNAL;
    }
    snprintf(p->uri, sizeof p->uri, "%s", uri);
    snprintf(p->client_id, sizeof p->client_id, "%s", o->client_id);
    snprintf(p->host, sizeof p->host, "%s", o->host);
    p->port = o->port;
    return IOT_OK;
}

static enum iot_err paho_connect(void *ctx, const struct agent_mqtt_opts *o)
{
    struct paho *p = ctx;
    if (!o || !o->host || !o->client_id || !o->ca_file || !o->cert_file || !o->key_file)
        return IOT_ERR_INVAL;
    enum iot_err err = ensure_client(p, o);
    if (err != IOT_OK)
        return err;
    plat_mutex_lock(p->mu);
    p->tls_err[0] = 0;
    plat_mutex_unlock(p->mu);

    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    co.keepAliveInterval = (int)o->keepalive_s;
    co.cleanstart = 1;
    co.connectTimeout = (int)(o->connect_timeout_s ? o->connect_timeout_s : 10);
    co.automaticReconnect = 0;
    co.onSuccess5 = on_connect_ok;
    co.onFailure5 = on_connect_fail;
    co.context = p;
    ssl.trustStore = o->ca_file;
    ssl.keyStore = o->cert_file;
    ssl.privateKey = o->key_file;
    ssl.enableServerCertAuth = 1;
    ssl.verify = 1;
    ssl.ssl_error_cb = on_ssl_error;
    ssl.ssl_error_context = p;
    co.ssl = &ssl;
    if (o->will_topic) {
        will.topicName = o->will_topic;
        will.message = NULL;
        will.payload.data = o->will_payload;
        will.payload.len = (int)o->will_len;
        will.qos = o->will_qos;
        will.retained = o->will_retained;
        co.will = &will;
    }
    /* Paho copies the options it keeps (will, TLS paths) during this call. */
    int rc = MQTTAsync_connect(p->client, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        IOT_LOG(IOT_LOG_ERROR, "MQTTAsync_connect to %s failed to start: %s (%d)", p->uri,
                MQTTAsync_strerror(rc), rc);
        return IOT_ERR_IO;
    }
    return IOT_OK;
}

static enum iot_err paho_publish_props(void *ctx, const char *topic, const uint8_t *buf, size_t len,
                                       int qos, bool retained,
                                       const struct agent_mqtt_pub_props *props, uint64_t token)
{
    struct paho *p = ctx;
    if (!p->client)
        return IOT_ERR_CLOSED;
    if (len > INT32_MAX)
        return IOT_ERR_INVAL;
    struct pub_ctx *c = iot_malloc(sizeof *c);
    if (!c)
        return IOT_ERR_NOMEM;
    c->p = p;
    c->token = token;
    plat_mutex_lock(p->mu);
    c->next = p->pending.next;
    c->prev = &p->pending;
    p->pending.next->prev = c;
    p->pending.next = c;
    plat_mutex_unlock(p->mu);

    MQTTAsync_message msg = MQTTAsync_message_initializer;
    msg.payload = (void *)buf;
    msg.payloadlen = (int)len;
    msg.qos = qos;
    msg.retained = retained;
    if (props && props->correlation && props->correlation_len <= INT16_MAX) {
        MQTTProperty cd = {.identifier = MQTTPROPERTY_CODE_CORRELATION_DATA};
        cd.value.data.data = (char *)props->correlation;
        cd.value.data.len = (int)props->correlation_len;
        MQTTProperties_add(&msg.properties, &cd); /* copies */
    }
    if (props && props->response_topic) {
        MQTTProperty rt = {.identifier = MQTTPROPERTY_CODE_RESPONSE_TOPIC};
        rt.value.data.data = (char *)props->response_topic;
        rt.value.data.len = (int)strlen(props->response_topic);
        MQTTProperties_add(&msg.properties, &rt);
    }
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess5 = on_publish_ok;
    ro.onFailure5 = on_publish_fail;
    ro.context = c;
    int rc = MQTTAsync_sendMessage(p->client, topic, &msg, &ro); /* copies the properties */
    MQTTProperties_free(&msg.properties);
    if (rc == MQTTASYNC_SUCCESS)
        return IOT_OK;
    unlink_pub(p, c);
    iot_free(c);
    if (rc == MQTTASYNC_DISCONNECTED)
        return IOT_ERR_CLOSED;
    IOT_LOG(IOT_LOG_WARN, "publish to %s failed: %s (%d)", topic, MQTTAsync_strerror(rc), rc);
    return rc == MQTTASYNC_MAX_BUFFERED_MESSAGES || rc == MQTTASYNC_MAX_MESSAGES_INFLIGHT
               ? IOT_ERR_FULL
               : IOT_ERR_IO;
}

static enum iot_err paho_publish(void *ctx, const char *topic, const uint8_t *buf, size_t len,
                                 int qos, bool retained, uint64_t token)
{
    return paho_publish_props(ctx, topic, buf, len, qos, retained, NULL, token);
}

static enum iot_err paho_subscribe(void *ctx, const char *filter, int qos)
{
    struct paho *p = ctx;
    if (!p->client)
        return IOT_ERR_CLOSED;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int rc = MQTTAsync_subscribe(p->client, filter, qos, &ro);
    if (rc == MQTTASYNC_SUCCESS)
        return IOT_OK;
    IOT_LOG(IOT_LOG_WARN, "subscribe %s failed: %s (%d)", filter, MQTTAsync_strerror(rc), rc);
    return rc == MQTTASYNC_DISCONNECTED ? IOT_ERR_CLOSED : IOT_ERR_IO;
}

static enum iot_err paho_disconnect(void *ctx, uint32_t timeout_ms)
{
    struct paho *p = ctx;
    if (!p->client || !MQTTAsync_isConnected(p->client))
        return IOT_ERR_CLOSED;
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
    d.timeout = (int)timeout_ms;
    d.reasonCode = MQTTREASONCODE_NORMAL_DISCONNECTION; /* the broker discards the will */
    d.onSuccess5 = on_disconnect_ok;
    d.onFailure5 = on_disconnect_fail;
    d.context = p;
    int rc = MQTTAsync_disconnect(p->client, &d);
    if (rc != MQTTASYNC_SUCCESS) {
        IOT_LOG(IOT_LOG_WARN, "disconnect failed: %s (%d)", MQTTAsync_strerror(rc), rc);
        return IOT_ERR_CLOSED;
    }
    return IOT_OK;
}

static enum iot_err paho_next_event(void *ctx, struct agent_mqtt_event *ev)
{
    struct paho *p = ctx;
    plat_mutex_lock(p->mu);
    struct ev_node *n = p->head;
    if (n) {
        p->head = n->next;
        if (!p->head)
            p->tail = NULL;
    }
    plat_mutex_unlock(p->mu);
    if (!n)
        return IOT_ERR_AGAIN;
    *ev = n->ev;
    iot_free(n);
    return IOT_OK;
}

static void paho_destroy(void *ctx)
{
    struct paho *p = ctx;
    if (!p)
        return;
    if (p->client)
        MQTTAsync_destroy(&p->client); /* no callbacks after this */
    for (struct ev_node *n = p->head; n;) {
        struct ev_node *next = n->next;
        agent_mqtt_event_clear(&n->ev);
        iot_free(n);
        n = next;
    }
    for (struct pub_ctx *c = p->pending.next; c != &p->pending;) {
        struct pub_ctx *next = c->next;
        iot_free(c);
        c = next;
    }
    plat_mutex_destroy(p->mu);
    iot_free(p);
}

static const struct agent_mqtt_ops paho_ops = {
    .connect = paho_connect,
    .publish = paho_publish,
    .subscribe = paho_subscribe,
    .disconnect = paho_disconnect,
    .next_event = paho_next_event,
    .destroy = paho_destroy,
    .publish_props = paho_publish_props,
};

enum iot_err agent_mqtt_paho_create(struct plat_event *wake, struct agent_mqtt *out)
{
    if (!wake || !out)
        return IOT_ERR_INVAL;
    struct paho *p = iot_calloc(1, sizeof *p);
    if (!p)
        return IOT_ERR_NOMEM;
    if (plat_mutex_create(&p->mu) != IOT_OK) {
        iot_free(p);
        return IOT_ERR_NOMEM;
    }
    p->wake = wake;
    p->pending.next = p->pending.prev = &p->pending;
    out->ops = &paho_ops;
    out->ctx = p;
    return IOT_OK;
}
