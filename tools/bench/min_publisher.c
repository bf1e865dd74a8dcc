/* SPDX-License-Identifier: Apache-2.0 */
/* The benchmark's reference: a minimal Paho MQTTAsync publisher (MQTT 5, mutual TLS, QoS 1) that
 * sends COUNT copies of a payload file keeping at most WINDOW publishes outstanding (the next is
 * sent when a PUBACK comes, as FIELD-NOTES.md advises). What any Paho-based device costs at least.
 *   iot-min-publisher HOST PORT CA CERT KEY CLIENT_ID TOPIC PAYLOAD_FILE COUNT WINDOW */
#include <MQTTAsync.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int outstanding, connected, failed, acked;

static void on_connect(void *ctx, MQTTAsync_successData5 *r)
{
    (void)ctx;
    (void)r;
    pthread_mutex_lock(&mu);
    connected = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData5 *r)
{
    (void)ctx;
    fprintf(stderr, "connect failed: %d %s\n", r ? r->code : -1, r && r->message ? r->message : "");
    pthread_mutex_lock(&mu);
    failed = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_sent(void *ctx, MQTTAsync_successData5 *r)
{
    (void)ctx;
    (void)r;
    pthread_mutex_lock(&mu);
    outstanding--;
    acked++;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_send_fail(void *ctx, MQTTAsync_failureData5 *r)
{
    (void)ctx;
    (void)r;
    pthread_mutex_lock(&mu);
    outstanding--;
    failed = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

static int on_message(void *ctx, char *topic, int len, MQTTAsync_message *m)
{
    (void)ctx;
    (void)len;
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 11) {
        fprintf(stderr, "usage: iot-min-publisher HOST PORT CA CERT KEY CLIENT_ID TOPIC "
                        "PAYLOAD_FILE COUNT WINDOW\n");
        return 2;
    }
    static char payload[262144];
    FILE *f = fopen(argv[8], "rb");
    if (!f)
        return 1;
    size_t plen = fread(payload, 1, sizeof payload, f);
    fclose(f);
    long count = atol(argv[9]), window = atol(argv[10]);
    char uri[300];
    snprintf(uri, sizeof uri, "ssl://%s:%s", argv[1], argv[2]);
    MQTTAsync c;
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
    if (MQTTAsync_createWithOptions(&c, uri, argv[6], MQTTCLIENT_PERSISTENCE_NONE, NULL, &co) !=
        MQTTASYNC_SUCCESS)
        return 1;
    MQTTAsync_setCallbacks(c, NULL, NULL, on_message, NULL);
    MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    ssl.trustStore = argv[3];
    ssl.keyStore = argv[4];
    ssl.privateKey = argv[5];
    ssl.enableServerCertAuth = 1;
    opts.ssl = &ssl;
    opts.cleanstart = 1;
    opts.keepAliveInterval = 30;
    opts.onSuccess5 = on_connect;
    opts.onFailure5 = on_connect_fail;
    if (MQTTAsync_connect(c, &opts) != MQTTASYNC_SUCCESS)
        return 1;
    pthread_mutex_lock(&mu);
    while (!connected && !failed)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    if (failed)
        return 1;
    double t0 = bench_now_s();
    for (long i = 0; i < count && !failed; i++) {
        pthread_mutex_lock(&mu);
        while (outstanding >= window && !failed)
            pthread_cond_wait(&cv, &mu);
        outstanding++;
        pthread_mutex_unlock(&mu);
        MQTTAsync_message m = MQTTAsync_message_initializer;
        m.payload = payload;
        m.payloadlen = (int)plen;
        m.qos = 1;
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        ro.onSuccess5 = on_sent;
        ro.onFailure5 = on_send_fail;
        if (MQTTAsync_sendMessage(c, argv[7], &m, &ro) != MQTTASYNC_SUCCESS) {
            failed = 1;
            break;
        }
    }
    pthread_mutex_lock(&mu);
    while (outstanding > 0 && !failed)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    double ms = (bench_now_s() - t0) * 1e3;
    printf("sent %d of %ld messages of %zu B in %.0f ms (%.0f msg/s)\n", acked, count, plen, ms,
           ms > 0 ? acked * 1000.0 / ms : 0.0);
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
    d.timeout = 1000;
    MQTTAsync_disconnect(c, &d);
    struct timespec pause = {0, 200000000};
    nanosleep(&pause, NULL);
    MQTTAsync_destroy(&c);
    return failed ? 1 : 0;
}
