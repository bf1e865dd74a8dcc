/* SPDX-License-Identifier: Apache-2.0 */
/* A scripted agent_mqtt for unit tests (see fake_mqtt.h). */
#include "fake_mqtt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iot/mem.h"

static void push(struct fake_mqtt *f, const struct agent_mqtt_event *ev)
{
    if (f->q_len == FAKE_MQTT_MAX_EVENTS)
        abort(); /* a test bug: too many events without a step */
    f->q[(f->q_head + f->q_len++) % FAKE_MQTT_MAX_EVENTS] = *ev;
}

static enum iot_err fm_connect(void *ctx, const struct agent_mqtt_opts *o)
{
    struct fake_mqtt *f = ctx;
    f->n_connects++;
    if (f->connect_rc != IOT_OK)
        return f->connect_rc;
    f->last_opts = *o;
    snprintf(f->client_id, sizeof f->client_id, "%s", o->client_id);
    snprintf(f->will_topic, sizeof f->will_topic, "%s", o->will_topic ? o->will_topic : "");
    f->will_len = o->will_len < sizeof f->will ? o->will_len : sizeof f->will;
    if (o->will_payload)
        memcpy(f->will, o->will_payload, f->will_len);
    f->last_opts.will_payload = f->will;
    f->last_opts.will_topic = f->will_topic;
    f->last_opts.client_id = f->client_id;
    f->connecting = true;
    return IOT_OK;
}

static enum iot_err fm_publish_props(void *ctx, const char *topic, const uint8_t *buf, size_t len,
                                     int qos, bool retained,
                                     const struct agent_mqtt_pub_props *props, uint64_t token)
{
    struct fake_mqtt *f = ctx;
    if (!f->connected)
        return IOT_ERR_CLOSED;
    if (f->n_pubs == f->cap_pubs) {
        size_t cap = f->cap_pubs ? f->cap_pubs * 2 : 64;
        struct fake_pub *p = realloc(f->pubs, cap * sizeof *p);
        if (!p)
            return IOT_ERR_NOMEM;
        f->pubs = p;
        f->cap_pubs = cap;
    }
    struct fake_pub *p = &f->pubs[f->n_pubs];
    memset(p, 0, sizeof *p);
    snprintf(p->topic, sizeof p->topic, "%s", topic);
    p->payload = malloc(len ? len : 1);
    if (!p->payload)
        return IOT_ERR_NOMEM;
    memcpy(p->payload, buf, len);
    p->len = len;
    p->qos = qos;
    p->retained = retained;
    p->token = token;
    p->connection = f->n_connects;
    if (props && props->correlation && props->correlation_len <= sizeof p->correlation) {
        memcpy(p->correlation, props->correlation, props->correlation_len);
        p->correlation_len = props->correlation_len;
        p->has_correlation = true;
    }
    f->n_pubs++;
    return IOT_OK;
}

static enum iot_err fm_publish(void *ctx, const char *topic, const uint8_t *buf, size_t len,
                               int qos, bool retained, uint64_t token)
{
    return fm_publish_props(ctx, topic, buf, len, qos, retained, NULL, token);
}

static enum iot_err fm_subscribe(void *ctx, const char *filter, int qos)
{
    struct fake_mqtt *f = ctx;
    if (!f->connected)
        return IOT_ERR_CLOSED;
    if (f->n_subs < FAKE_MQTT_MAX_SUBS) {
        snprintf(f->subs[f->n_subs], sizeof f->subs[0], "%s", filter);
        f->sub_qos[f->n_subs] = qos;
        f->n_subs++;
    }
    return IOT_OK;
}

static enum iot_err fm_disconnect(void *ctx, uint32_t timeout_ms)
{
    (void)timeout_ms;
    struct fake_mqtt *f = ctx;
    if (!f->connected)
        return IOT_ERR_CLOSED;
    f->connected = false;
    f->n_disconnects++;
    struct agent_mqtt_event ev = {.kind = AGENT_MQTT_EV_DISCONNECTED};
    push(f, &ev);
    return IOT_OK;
}

static enum iot_err fm_next_event(void *ctx, struct agent_mqtt_event *ev)
{
    struct fake_mqtt *f = ctx;
    if (f->q_len == 0)
        return IOT_ERR_AGAIN;
    *ev = f->q[f->q_head];
    f->q_head = (f->q_head + 1) % FAKE_MQTT_MAX_EVENTS;
    f->q_len--;
    return IOT_OK;
}

static void fm_destroy(void *ctx) { ((struct fake_mqtt *)ctx)->destroyed = true; }

static const struct agent_mqtt_ops fake_ops = {
    .connect = fm_connect,
    .publish = fm_publish,
    .subscribe = fm_subscribe,
    .disconnect = fm_disconnect,
    .next_event = fm_next_event,
    .destroy = fm_destroy,
    .publish_props = fm_publish_props,
};

void fake_mqtt_init(struct fake_mqtt *f)
{
    memset(f, 0, sizeof *f);
    f->connect_rc = IOT_OK;
}

void fake_mqtt_free(struct fake_mqtt *f)
{
    for (size_t i = 0; i < f->n_pubs; i++)
        free(f->pubs[i].payload);
    free(f->pubs);
    f->pubs = NULL;
    f->n_pubs = f->cap_pubs = 0;
}

struct agent_mqtt fake_mqtt_iface(struct fake_mqtt *f)
{
    return (struct agent_mqtt){.ops = &fake_ops, .ctx = f};
}

void fake_mqtt_connack(struct fake_mqtt *f, bool ok, int code)
{
    struct agent_mqtt_event ev = {.kind = ok ? AGENT_MQTT_EV_CONNECTED
                                             : AGENT_MQTT_EV_CONNECT_FAILED,
                                  .code = code};
    if (!ok)
        snprintf(ev.reason, sizeof ev.reason, "fake refusal (%d)", code);
    f->connecting = false;
    f->connected = ok;
    push(f, &ev);
}

void fake_mqtt_complete(struct fake_mqtt *f, uint64_t token, int code)
{
    for (size_t i = 0; i < f->n_pubs; i++) {
        if (f->pubs[i].token == token && !f->pubs[i].completed) {
            f->pubs[i].completed = true;
            struct agent_mqtt_event ev = {
                .kind = AGENT_MQTT_EV_PUBLISHED, .token = token, .code = code};
            if (code)
                snprintf(ev.reason, sizeof ev.reason, "fake failure (%d)", code);
            push(f, &ev);
            return;
        }
    }
}

size_t fake_mqtt_ack_all(struct fake_mqtt *f)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n_pubs; i++) {
        if (!f->pubs[i].completed) {
            fake_mqtt_complete(f, f->pubs[i].token, 0);
            n++;
        }
    }
    return n;
}

void fake_mqtt_lose(struct fake_mqtt *f, const char *reason)
{
    for (size_t i = 0; i < f->n_pubs; i++)
        f->pubs[i].completed = true;
    f->connected = false;
    f->connecting = false;
    struct agent_mqtt_event ev = {.kind = AGENT_MQTT_EV_LOST, .code = -3};
    snprintf(ev.reason, sizeof ev.reason, "%s", reason ? reason : "fake loss");
    push(f, &ev);
}

size_t fake_mqtt_outstanding(const struct fake_mqtt *f)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n_pubs; i++)
        n += !f->pubs[i].completed;
    return n;
}

void fake_mqtt_deliver(struct fake_mqtt *f, const char *topic, const uint8_t *payload, size_t len,
                       const char *response_topic, const uint8_t *corr, size_t corr_len)
{
    /* The agent frees these with agent_mqtt_event_clear (iot_free). */
    struct agent_mqtt_event ev = {.kind = AGENT_MQTT_EV_MESSAGE};
    ev.topic = iot_strdup(topic);
    ev.payload = iot_malloc(len ? len : 1);
    if (!ev.topic || !ev.payload)
        abort();
    if (len)
        memcpy(ev.payload, payload, len);
    ev.len = len;
    if (response_topic && !(ev.response_topic = iot_strdup(response_topic)))
        abort();
    if (corr) {
        ev.correlation = iot_malloc(corr_len ? corr_len : 1);
        if (!ev.correlation)
            abort();
        memcpy(ev.correlation, corr, corr_len);
        ev.correlation_len = corr_len;
    }
    push(f, &ev);
}

bool fake_mqtt_subscribed(const struct fake_mqtt *f, const char *filter)
{
    for (size_t i = 0; i < f->n_subs; i++) {
        if (strcmp(f->subs[i], filter) == 0)
            return true;
    }
    return false;
}
