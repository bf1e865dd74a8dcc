/* SPDX-License-Identifier: Apache-2.0 */
/* Test support: a minimal device for the cloud's command tests (Paho MQTT 5 over mutual TLS).
 * It subscribes to its commands and desired state, announces itself ONLINE (retained, with an
 * OFFLINE last will), answers commands on the MQTT 5 response topic echoing the correlation data,
 * reports every desired state back, and can publish telemetry. Never linked into products.
 *
 *   iot-fake-device --port P --pki DIR --id ID [--pub FILE] [--telemetry-ms N]
 *
 * Commands: ping -> OK {pong}; echo -> OK with params as outputs; fail -> ERROR (code 42);
 * sleep (param ms) -> OK after ms; anything else -> UNKNOWN_COMMAND. With --pub, a signature that
 * does not verify is answered BAD_SIGNATURE; an expired command EXPIRED. Each handled command is
 * printed as one line "command ID NAME STATUS" on stdout. */
#include <MQTTAsync.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iot.pb-c.h"
#include "iot/plat_crypto.h"

#define QUEUE_MAX 256

struct inmsg {
    char topic[128];
    uint8_t *payload;
    size_t len;
    char corr[256];
    size_t corr_len;
    char resp_topic[128];
};

static struct {
    MQTTAsync client;
    char id[65];
    char topic_cmd[128], topic_desired[128], topic_status[128], topic_resp[128], topic_rep[128],
        topic_tel[128];
    struct plat_verifier *verifier;
    uint64_t connection;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct inmsg q[QUEUE_MAX];
    size_t n;
    atomic_int connected, subscribed, failed; /* set on Paho's threads, read by main */
} g;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint8_t *pack_presence(bool online, Iot__V1__Presence__Reason reason, size_t *len)
{
    Iot__V1__Presence p = IOT__V1__PRESENCE__INIT;
    p.device_id = g.id;
    p.state = online ? IOT__V1__PRESENCE__STATE__ONLINE : IOT__V1__PRESENCE__STATE__OFFLINE;
    p.reason = reason;
    p.agent_version = "fake-device";
    p.boot_time_ms = now_ms();
    p.connection = g.connection;
    p.time_ms = now_ms();
    *len = iot__v1__presence__get_packed_size(&p);
    uint8_t *buf = malloc(*len + 1);
    iot__v1__presence__pack(&p, buf);
    return buf;
}

static void publish(const char *topic, const uint8_t *buf, size_t len, bool retained,
                    const char *corr, size_t corr_len)
{
    MQTTProperties props = MQTTProperties_initializer;
    if (corr_len) {
        MQTTProperty cd = {.identifier = MQTTPROPERTY_CODE_CORRELATION_DATA};
        cd.value.data.data = (char *)corr;
        cd.value.data.len = (int)corr_len;
        MQTTProperties_add(&props, &cd);
    }
    MQTTAsync_message m = MQTTAsync_message_initializer;
    m.payload = (void *)buf;
    m.payloadlen = (int)len;
    m.qos = 1;
    m.retained = retained;
    m.properties = props;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int rc = MQTTAsync_sendMessage(g.client, topic, &m, &ro);
    MQTTProperties_free(&props);
    if (rc != MQTTASYNC_SUCCESS)
        fprintf(stderr, "fake-device: publish to %s failed: %d\n", topic, rc);
}

static void on_subscribed(void *ctx, MQTTAsync_successData5 *r)
{
    (void)ctx;
    (void)r;
    /* Subscribed first, then ONLINE: a command sent on our ONLINE finds the subscription. */
    size_t len;
    uint8_t *buf = pack_presence(true, IOT__V1__PRESENCE__REASON__CONNECTED, &len);
    publish(g.topic_status, buf, len, true, NULL, 0);
    free(buf);
    g.subscribed = 1;
    fprintf(stderr, "fake-device %s: online (connection %llu)\n", g.id,
            (unsigned long long)g.connection);
}

static void on_connected(void *ctx, MQTTAsync_successData5 *r)
{
    (void)ctx;
    (void)r;
    g.connected = 1;
    char *topics[2] = {g.topic_cmd, g.topic_desired};
    int qos[2] = {1, 1};
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess5 = on_subscribed;
    MQTTAsync_subscribeMany(g.client, 2, topics, qos, &ro);
}

static void on_connect_failed(void *ctx, MQTTAsync_failureData5 *r)
{
    (void)ctx;
    fprintf(stderr, "fake-device: connect failed: %s (%d)\n", r && r->message ? r->message : "",
            r ? r->code : 0);
    g.failed = 1;
}

static void on_lost(void *ctx, char *cause)
{
    (void)ctx;
    fprintf(stderr, "fake-device: connection lost: %s\n", cause ? cause : "");
    g.failed = 1;
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *msg)
{
    (void)ctx;
    (void)topic_len;
    pthread_mutex_lock(&g.lock);
    if (g.n < QUEUE_MAX) {
        struct inmsg *m = &g.q[g.n];
        memset(m, 0, sizeof *m);
        snprintf(m->topic, sizeof m->topic, "%s", topic);
        m->len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
        m->payload = malloc(m->len + 1);
        memcpy(m->payload, msg->payload, m->len);
        MQTTProperty *p = MQTTProperties_getProperty(&msg->properties,
                                                     MQTTPROPERTY_CODE_CORRELATION_DATA);
        if (p && p->value.data.len > 0 && (size_t)p->value.data.len <= sizeof m->corr) {
            memcpy(m->corr, p->value.data.data, (size_t)p->value.data.len);
            m->corr_len = (size_t)p->value.data.len;
        }
        p = MQTTProperties_getProperty(&msg->properties, MQTTPROPERTY_CODE_RESPONSE_TOPIC);
        if (p && p->value.data.len > 0 && (size_t)p->value.data.len < sizeof m->resp_topic)
            memcpy(m->resp_topic, p->value.data.data, (size_t)p->value.data.len);
        g.n++;
        pthread_cond_signal(&g.cond);
    }
    pthread_mutex_unlock(&g.lock);
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

static void answer(const struct inmsg *m, const char *cid, Iot__V1__CommandResult__Status st,
                   int code, const char *message, Iot__V1__CommandResult__OutputsEntry **outs,
                   size_t n_outs, const char *name)
{
    Iot__V1__CommandResult r = IOT__V1__COMMAND_RESULT__INIT;
    r.command_id = (char *)cid;
    r.device_id = g.id;
    r.status = st;
    r.code = code;
    r.message = (char *)message;
    r.outputs = outs;
    r.n_outputs = n_outs;
    r.done_ms = now_ms();
    size_t len = iot__v1__command_result__get_packed_size(&r);
    uint8_t *buf = malloc(len + 1);
    iot__v1__command_result__pack(&r, buf);
    publish(m->resp_topic[0] ? m->resp_topic : g.topic_resp, buf, len, false, m->corr,
            m->corr_len);
    free(buf);
    static const char *const names[] = {"UNSPECIFIED", "OK", "ERROR", "REJECTED",
                                        "UNKNOWN_COMMAND", "EXPIRED", "BAD_SIGNATURE"};
    printf("command %s %s %s\n", cid, name, names[st <= 6 ? st : 0]);
    fflush(stdout);
}

static void handle_command(const struct inmsg *m)
{
    Iot__V1__SignedCommand *sc = iot__v1__signed_command__unpack(NULL, m->len, m->payload);
    if (!sc) {
        fprintf(stderr, "fake-device: not a SignedCommand\n");
        return;
    }
    Iot__V1__Command *c = iot__v1__command__unpack(NULL, sc->body.len, sc->body.data);
    char cid[160];
    snprintf(cid, sizeof cid, "%.*s", (int)m->corr_len, m->corr);
    if (!c) {
        answer(m, cid, IOT__V1__COMMAND_RESULT__STATUS__REJECTED, 0, "bad body", NULL, 0, "?");
        iot__v1__signed_command__free_unpacked(sc, NULL);
        return;
    }
    Iot__V1__CommandResult__OutputsEntry ents[40], *outs[40];
    size_t n = 0;
    if (g.verifier && plat_verifier_verify(g.verifier, sc->body.data, sc->body.len,
                                           sc->signature.data, sc->signature.len) != IOT_OK) {
        answer(m, c->id, IOT__V1__COMMAND_RESULT__STATUS__BAD_SIGNATURE, 0, "signature", NULL, 0,
               c->name);
    } else if (strcmp(c->device_id, g.id) != 0) {
        answer(m, c->id, IOT__V1__COMMAND_RESULT__STATUS__REJECTED, 0, "not mine", NULL, 0,
               c->name);
    } else if (c->expires_ms && c->expires_ms < now_ms()) {
        answer(m, c->id, IOT__V1__COMMAND_RESULT__STATUS__EXPIRED, 0, "expired", NULL, 0, c->name);
    } else if (strcmp(c->name, "ping") == 0 || strcmp(c->name, "echo") == 0 ||
               strcmp(c->name, "sleep") == 0) {
        if (strcmp(c->name, "sleep") == 0) {
            for (size_t i = 0; i < c->n_params; i++)
                if (strcmp(c->params[i]->key, "ms") == 0)
                    usleep((useconds_t)atoi(c->params[i]->value) * 1000u);
        }
        if (strcmp(c->name, "echo") == 0) {
            for (size_t i = 0; i < c->n_params && n < 40; i++, n++) {
                iot__v1__command_result__outputs_entry__init(&ents[n]);
                ents[n].key = c->params[i]->key;
                ents[n].value = c->params[i]->value;
                outs[n] = &ents[n];
            }
        } else {
            iot__v1__command_result__outputs_entry__init(&ents[0]);
            ents[0].key = "pong";
            ents[0].value = g.id;
            outs[0] = &ents[0];
            n = 1;
        }
        answer(m, c->id, IOT__V1__COMMAND_RESULT__STATUS__OK, 0, "done", outs, n, c->name);
    } else if (strcmp(c->name, "fail") == 0) {
        answer(m, c->id, IOT__V1__COMMAND_RESULT__STATUS__ERROR, 42, "asked to fail", NULL, 0,
               c->name);
    } else {
        answer(m, c->id, IOT__V1__COMMAND_RESULT__STATUS__UNKNOWN_COMMAND, 0, "unknown", NULL, 0,
               c->name);
    }
    iot__v1__command__free_unpacked(c, NULL);
    iot__v1__signed_command__free_unpacked(sc, NULL);
}

static void handle_desired(const struct inmsg *m)
{
    Iot__V1__DesiredState *d = iot__v1__desired_state__unpack(NULL, m->len, m->payload);
    if (!d)
        return;
    Iot__V1__ReportedState r = IOT__V1__REPORTED_STATE__INIT;
    Iot__V1__ReportedState__SettingsEntry ents[64], *ptrs[64];
    size_t n = 0;
    for (; n < d->n_settings && n < 64; n++) {
        iot__v1__reported_state__settings_entry__init(&ents[n]);
        ents[n].key = d->settings[n]->key;
        ents[n].value = d->settings[n]->value;
        ptrs[n] = &ents[n];
    }
    r.version = d->version;
    r.device_id = g.id;
    r.settings = ptrs;
    r.n_settings = n;
    size_t len = iot__v1__reported_state__get_packed_size(&r);
    uint8_t *buf = malloc(len + 1);
    iot__v1__reported_state__pack(&r, buf);
    publish(g.topic_rep, buf, len, false, NULL, 0);
    free(buf);
    printf("desired %llu %zu\n", (unsigned long long)d->version, n);
    fflush(stdout);
    iot__v1__desired_state__free_unpacked(d, NULL);
}

static void send_telemetry(uint64_t epoch, uint64_t seq)
{
    Iot__V1__Metric m = IOT__V1__METRIC__INIT, *mp = &m;
    m.name = "temperature";
    m.value = 20.0 + (double)(seq % 10);
    m.unit = "C";
    Iot__V1__Sample s = IOT__V1__SAMPLE__INIT, *sp = &s;
    s.seq = seq;
    s.time_ms = now_ms();
    s.metrics = &mp;
    s.n_metrics = 1;
    Iot__V1__TelemetryBatch b = IOT__V1__TELEMETRY_BATCH__INIT;
    b.device_id = g.id;
    b.epoch = epoch;
    b.samples = &sp;
    b.n_samples = 1;
    size_t len = iot__v1__telemetry_batch__get_packed_size(&b);
    uint8_t *buf = malloc(len + 1);
    iot__v1__telemetry_batch__pack(&b, buf);
    publish(g.topic_tel, buf, len, false, NULL, 0);
    free(buf);
}

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

int main(int argc, char **argv)
{
    const char *port = arg(argc, argv, "--port", NULL), *pki = arg(argc, argv, "--pki", NULL);
    const char *id = arg(argc, argv, "--id", NULL), *pub = arg(argc, argv, "--pub", NULL);
    int telemetry_ms = atoi(arg(argc, argv, "--telemetry-ms", "0"));
    if (!port || !pki || !id) {
        fprintf(stderr, "usage: iot-fake-device --port P --pki DIR --id ID [--pub FILE] "
                        "[--telemetry-ms N]\n");
        return 2;
    }
    snprintf(g.id, sizeof g.id, "%s", id);
    snprintf(g.topic_cmd, sizeof g.topic_cmd, "devices/%s/commands", id);
    snprintf(g.topic_desired, sizeof g.topic_desired, "devices/%s/state/desired", id);
    snprintf(g.topic_status, sizeof g.topic_status, "devices/%s/status", id);
    snprintf(g.topic_resp, sizeof g.topic_resp, "devices/%s/responses", id);
    snprintf(g.topic_rep, sizeof g.topic_rep, "devices/%s/state/reported", id);
    snprintf(g.topic_tel, sizeof g.topic_tel, "devices/%s/telemetry", id);
    g.connection = (uint64_t)now_ms();
    pthread_mutex_init(&g.lock, NULL);
    pthread_cond_init(&g.cond, NULL);
    if (pub && plat_verifier_load(pub, &g.verifier) != IOT_OK) {
        fprintf(stderr, "fake-device: cannot load %s\n", pub);
        return 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    char uri[128], ca[512], crt[512], key[512];
    snprintf(uri, sizeof uri, "ssl://127.0.0.1:%s", port);
    snprintf(ca, sizeof ca, "%s/ca.crt", pki);
    snprintf(crt, sizeof crt, "%s/devices/%s.crt", pki, id);
    snprintf(key, sizeof key, "%s/devices/%s.key", pki, id);
    MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer5;
    if (MQTTAsync_createWithOptions(&g.client, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &cro) !=
            MQTTASYNC_SUCCESS ||
        MQTTAsync_setCallbacks(g.client, NULL, on_lost, on_message, NULL) != MQTTASYNC_SUCCESS)
        return 1;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    ssl.trustStore = ca;
    ssl.keyStore = crt;
    ssl.privateKey = key;
    ssl.enableServerCertAuth = 1;
    size_t will_len;
    uint8_t *will_buf = pack_presence(false, IOT__V1__PRESENCE__REASON__LOST_CONNECTION, &will_len);
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    will.topicName = g.topic_status;
    will.message = NULL;
    will.payload.data = will_buf;
    will.payload.len = (int)will_len;
    will.qos = 1;
    will.retained = 1;
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
    co.keepAliveInterval = 10;
    co.cleanstart = 1;
    co.ssl = &ssl;
    co.will = &will;
    co.onSuccess5 = on_connected;
    co.onFailure5 = on_connect_failed;
    if (MQTTAsync_connect(g.client, &co) != MQTTASYNC_SUCCESS)
        return 1;

    uint64_t epoch = ((uint64_t)now_ms() << 16) | 1u, seq = 0;
    int64_t next_tel = now_ms();
    while (!stop && !g.failed) {
        pthread_mutex_lock(&g.lock);
        if (g.n == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&g.cond, &g.lock, &ts);
        }
        size_t n = g.n;
        struct inmsg batch[QUEUE_MAX];
        memcpy(batch, g.q, n * sizeof batch[0]);
        g.n = 0;
        pthread_mutex_unlock(&g.lock);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(batch[i].topic, g.topic_cmd) == 0)
                handle_command(&batch[i]);
            else if (strcmp(batch[i].topic, g.topic_desired) == 0)
                handle_desired(&batch[i]);
            free(batch[i].payload);
        }
        if (telemetry_ms > 0 && g.subscribed && now_ms() >= next_tel) {
            send_telemetry(epoch, ++seq);
            next_tel = now_ms() + telemetry_ms;
        }
    }
    if (g.connected && !g.failed) {
        size_t len;
        uint8_t *buf = pack_presence(false, IOT__V1__PRESENCE__REASON__CLEAN_SHUTDOWN, &len);
        publish(g.topic_status, buf, len, true, NULL, 0);
        free(buf);
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
        d.timeout = 2000;
        MQTTAsync_disconnect(g.client, &d);
        usleep(300 * 1000);
    }
    MQTTAsync_destroy(&g.client);
    free(will_buf);
    plat_verifier_destroy(g.verifier);
    return g.failed ? 1 : 0;
}
