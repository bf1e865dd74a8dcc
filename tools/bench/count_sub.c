/* SPDX-License-Identifier: Apache-2.0 */
/* The broker ceiling of the ingest benchmark (not a test): a Paho MQTTAsync subscriber (MQTT 5,
 * mutual TLS with the cloud's certificate, QoS 1; its session ends when it disconnects, so later
 * runs queue nothing for it) that only counts what arrives. It prints "ready" once subscribed,
 * then one JSON line when EXPECT messages arrived or nothing came for IDLE seconds:
 *   {"received":N,"seconds":first-to-last,"rate":N/seconds,"cpu_s":..,
 *    "us_per_msg":..}
 *   iot-count-sub --port P --pki DIR [--host H] [--topic devices/+/telemetry] [--expect N]
 *                 [--idle 10] [--client-id iot-count-sub] [--clean 1] [--expiry 0]
 *                 [--subscribe-only] [--forget]
 * For a backlog drain: --expiry 3600 --subscribe-only makes the session, the load fills it, then
 * --clean 0 resumes it and counts. --forget (with any --client-id, e.g. an iot-cloud instance's)
 * connects with a clean start and session expiry 0, which deletes that session, and exits. */
#include <MQTTAsync.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
static atomic_long received;
static atomic_int subscribed, failed;
static double first_s, last_s;

/* Paho's receive thread: count, free, return 1. Nothing else. */
static int on_message(void *ctx, char *topic, int len, MQTTAsync_message *m)
{
    (void)ctx;
    (void)len;
    double t = bench_now_s();
    if (atomic_fetch_add(&received, 1) == 0)
        first_s = t;
    last_s = t;
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_subscribed(void *ctx, MQTTAsync_successData5 *r)
{
    (void)ctx;
    (void)r;
    atomic_store(&subscribed, 1);
}

static void on_fail(void *ctx, MQTTAsync_failureData5 *r)
{
    (void)ctx;
    fprintf(stderr, "count-sub: failed: %d %s\n", r ? r->code : -1,
            r && r->message ? r->message : "");
    atomic_store(&failed, 1);
}

struct sub_ctx {
    MQTTAsync c;
    const char *topic;
};

static void on_connect(void *ctx, MQTTAsync_successData5 *r)
{
    (void)r;
    struct sub_ctx *s = ctx;
    if (!s->topic) { /* --forget */
        atomic_store(&subscribed, 1);
        return;
    }
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess5 = on_subscribed;
    ro.onFailure5 = on_fail;
    if (MQTTAsync_subscribe(s->c, s->topic, 1, &ro) != MQTTASYNC_SUCCESS)
        atomic_store(&failed, 1);
}

int main(int argc, char **argv)
{
    const char *host = bench_arg_of(argc, argv, "--host", "127.0.0.1");
    const char *port = bench_arg_of(argc, argv, "--port", NULL);
    const char *pki = bench_arg_of(argc, argv, "--pki", NULL);
    const char *topic = bench_arg_of(argc, argv, "--topic", "devices/+/telemetry");
    const char *client_id = bench_arg_of(argc, argv, "--client-id", "iot-count-sub");
    int clean = atoi(bench_arg_of(argc, argv, "--clean", "1"));
    int expiry = atoi(bench_arg_of(argc, argv, "--expiry", "0"));
    int sub_only = 0, forget = 0;
    for (int i = 1; i < argc; i++) {
        sub_only |= strcmp(argv[i], "--subscribe-only") == 0;
        forget |= strcmp(argv[i], "--forget") == 0;
    }
    long expect = atol(bench_arg_of(argc, argv, "--expect", "0"));
    double idle = atof(bench_arg_of(argc, argv, "--idle", "10"));
    if (!port || !pki) {
        fprintf(stderr, "usage: iot-count-sub --port P --pki DIR [--host H] [--topic T]"
                        " [--expect N] [--idle S] [--client-id ID]\n");
        return 2;
    }
    char uri[300], ca[600], crt[600], key[600];
    snprintf(uri, sizeof uri, "ssl://%s:%s", host, port);
    snprintf(ca, sizeof ca, "%s/ca.crt", pki);
    snprintf(crt, sizeof crt, "%s/cloud.crt", pki);
    snprintf(key, sizeof key, "%s/cloud.key", pki);
    struct sub_ctx s = {.topic = forget ? NULL : topic};
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
    if (MQTTAsync_createWithOptions(&s.c, uri, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &co) !=
        MQTTASYNC_SUCCESS)
        return 1;
    MQTTAsync_setCallbacks(s.c, NULL, NULL, on_message, NULL);
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    ssl.trustStore = ca;
    ssl.keyStore = crt;
    ssl.privateKey = key;
    ssl.enableServerCertAuth = 1;
    o.ssl = &ssl;
    o.cleanstart = forget || clean ? 1 : 0;
    o.keepAliveInterval = 60;
    MQTTProperties props = MQTTProperties_initializer;
    MQTTProperty ex = {.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL};
    ex.value.integer4 = forget ? 0u : (unsigned)expiry;
    MQTTProperties_add(&props, &ex);
    o.connectProperties = &props;
    o.onSuccess5 = on_connect;
    o.onFailure5 = on_fail;
    o.context = &s;
    if (MQTTAsync_connect(s.c, &o) != MQTTASYNC_SUCCESS)
        return 1;
    double deadline = bench_now_s() + 30;
    while (!atomic_load(&subscribed) && !atomic_load(&failed) && bench_now_s() < deadline)
        usleep(10000);
    MQTTProperties_free(&props);
    if (!atomic_load(&subscribed))
        return 1;
    printf("ready\n");
    fflush(stdout);
    if (sub_only || forget) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
        d.timeout = 1000;
        MQTTAsync_disconnect(s.c, &d);
        usleep(300000);
        MQTTAsync_destroy(&s.c);
        return 0;
    }
    double cpu0 = bench_cpu_s();
    long seen = 0;
    double last_change = bench_now_s();
    for (;;) {
        usleep(20000);
        long n = atomic_load(&received);
        if (n != seen) {
            seen = n;
            last_change = bench_now_s();
        }
        if ((expect > 0 && n >= expect) || bench_now_s() - last_change > idle)
            break;
    }
    double cpu = bench_cpu_s() - cpu0;
    long n = atomic_load(&received);
    double secs = n > 1 ? last_s - first_s : 0;
    printf("{\"received\":%ld,\"seconds\":%.3f,\"rate\":%.0f,\"cpu_s\":%.2f,\"us_per_msg\":%.2f}\n",
           n, secs, secs > 0 ? (double)n / secs : 0.0, cpu, n ? cpu * 1e6 / (double)n : 0.0);
    fflush(stdout);
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
    d.timeout = 500;
    MQTTAsync_disconnect(s.c, &d);
    usleep(200000);
    MQTTAsync_destroy(&s.c);
    return expect > 0 && n < expect ? 1 : 0;
}
