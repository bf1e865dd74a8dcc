/* SPDX-License-Identifier: Apache-2.0 */
/* Load generator of the ingest benchmark (not a test): N simulated devices, one Paho MQTTAsync
 * connection each (MQTT 5, mutual TLS with the device's certificate, QoS 1), each keeping at most
 * WINDOW publishes outstanding: the next is sent from the PUBACK callback itself (FIELD-NOTES.md),
 * so no thread hand-off per message. Every message is a TelemetryBatch of one sample with three
 * metrics, seqs 1.. per device, one epoch per run. Paho's receive thread polls every connection
 * of a process for each packet: run several processes of ~10-25 devices rather than one of 100.
 *   iot-ingest-load --port P --pki DIR [--host H] [--devices 100] [--first-device 1]
 *                   [--prefix load-] [--messages M] [--window 100] [--seconds 120] [--epoch E]
 *                   [--first-seq 1]
 * Prints one JSON line: {"sent":..,"acked":..,"seconds":..,"rate":..,"bytes":..,"epoch":"..."}.
 * Exits 0 when every message was acknowledged by the broker in time. */
#include <MQTTAsync.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "iot.pb-c.h"

struct dev {
    MQTTAsync client;
    char id[65];
    char topic[128];
    uint64_t next_seq;
    long quota; /* messages this device sends */
    long sent;  /* touched by the main thread before the start, then by Paho's callbacks only */
    bool connected, failed;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long total_acked, total_failed, total_sent;
static uint64_t run_epoch;
static _Atomic size_t msg_bytes;

static void send_next(struct dev *d);

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_connect(void *ctx, MQTTAsync_successData5 *r)
{
    (void)r;
    struct dev *d = ctx;
    pthread_mutex_lock(&mu);
    d->connected = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData5 *r)
{
    struct dev *d = ctx;
    fprintf(stderr, "ingest-load: %s: connect failed: %d %s\n", d->id, r ? r->code : -1,
            r && r->message ? r->message : "");
    pthread_mutex_lock(&mu);
    d->failed = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void finished_one(bool ok)
{
    pthread_mutex_lock(&mu);
    if (ok)
        total_acked++;
    else
        total_failed++;
    if (total_acked + total_failed >= total_sent)
        pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_sent(void *ctx, MQTTAsync_successData5 *r)
{
    (void)r;
    struct dev *d = ctx;
    send_next(d); /* keep the window full */
    finished_one(true);
}

static void on_send_fail(void *ctx, MQTTAsync_failureData5 *r)
{
    (void)r;
    struct dev *d = ctx;
    send_next(d);
    finished_one(false);
}

static int on_message(void *ctx, char *topic, int len, MQTTAsync_message *m)
{
    (void)ctx;
    (void)len;
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

/* One sample, three metrics: about the size of a small sensor reading. */
static size_t encode(const struct dev *d, uint64_t epoch, uint64_t seq, uint8_t *buf, size_t cap)
{
    Iot__V1__Metric m[3];
    Iot__V1__Metric *mp[3];
    static const char *const names[3] = {"temperature", "humidity", "power"};
    static const char *const units[3] = {"C", "%", "W"};
    for (int i = 0; i < 3; i++) {
        iot__v1__metric__init(&m[i]);
        m[i].name = (char *)names[i];
        m[i].unit = (char *)units[i];
        m[i].value = 20.0 + (double)((seq * 7 + (uint64_t)i) % 100) / 10.0;
        mp[i] = &m[i];
    }
    Iot__V1__Sample s = IOT__V1__SAMPLE__INIT;
    s.seq = seq;
    s.time_ms = wall_ms();
    s.n_metrics = 3;
    s.metrics = mp;
    Iot__V1__Sample *sp = &s;
    Iot__V1__TelemetryBatch b = IOT__V1__TELEMETRY_BATCH__INIT;
    b.device_id = (char *)d->id;
    b.epoch = epoch;
    b.n_samples = 1;
    b.samples = &sp;
    size_t len = iot__v1__telemetry_batch__get_packed_size(&b);
    return len <= cap ? iot__v1__telemetry_batch__pack(&b, buf) : 0;
}

static void send_next(struct dev *d)
{
    /* The main thread fills the windows while PUBACK callbacks already send: one short lock. */
    pthread_mutex_lock(&mu);
    if (d->sent >= d->quota) {
        pthread_mutex_unlock(&mu);
        return;
    }
    uint64_t seq = d->next_seq++;
    d->sent++;
    total_sent++;
    pthread_mutex_unlock(&mu);
    uint8_t buf[512];
    size_t len = encode(d, run_epoch, seq, buf, sizeof buf);
    MQTTAsync_message m = MQTTAsync_message_initializer;
    m.payload = buf;
    m.payloadlen = (int)len;
    m.qos = 1;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess5 = on_sent;
    ro.onFailure5 = on_send_fail;
    ro.context = d;
    msg_bytes = len;
    if (MQTTAsync_sendMessage(d->client, d->topic, &m, &ro) != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "ingest-load: %s: send refused\n", d->id);
        finished_one(false);
    }
}

int main(int argc, char **argv)
{
    const char *host = bench_arg_of(argc, argv, "--host", "127.0.0.1");
    const char *port = bench_arg_of(argc, argv, "--port", NULL);
    const char *pki = bench_arg_of(argc, argv, "--pki", NULL);
    const char *prefix = bench_arg_of(argc, argv, "--prefix", "load-");
    long n_dev = atol(bench_arg_of(argc, argv, "--devices", "100"));
    long first_dev = atol(bench_arg_of(argc, argv, "--first-device", "1"));
    long total = atol(bench_arg_of(argc, argv, "--messages", "100000"));
    long window = atol(bench_arg_of(argc, argv, "--window", "100"));
    double limit_s = atof(bench_arg_of(argc, argv, "--seconds", "120"));
    uint64_t first_seq = strtoull(bench_arg_of(argc, argv, "--first-seq", "1"), NULL, 10);
    uint64_t epoch = strtoull(bench_arg_of(argc, argv, "--epoch", "0"), NULL, 10);
    if (!port || !pki || n_dev < 1 || n_dev > 10000 || first_dev < 0 || total < 0 || window < 1 ||
        first_seq < 1) {
        fprintf(stderr, "usage: iot-ingest-load --port P --pki DIR [--host H] [--devices N]"
                        " [--first-device K] [--prefix P] [--messages M] [--window W]"
                        " [--seconds S] [--epoch E] [--first-seq S]\n");
        return 2;
    }
    if (!epoch)
        epoch = ((uint64_t)wall_ms() << 16) ^ (uint64_t)getpid();
    run_epoch = epoch;
    struct dev *devs = calloc((size_t)n_dev, sizeof *devs);
    if (!devs)
        return 1;
    char uri[300], ca[600], crt[600], key[600];
    snprintf(uri, sizeof uri, "ssl://%s:%s", host, port);
    snprintf(ca, sizeof ca, "%s/ca.crt", pki);
    for (long i = 0; i < n_dev; i++) {
        struct dev *d = &devs[i];
        snprintf(d->id, sizeof d->id, "%s%03ld", prefix, first_dev + i);
        d->quota = total / n_dev + (i < total % n_dev ? 1 : 0);
        snprintf(d->topic, sizeof d->topic, "devices/%s/telemetry", d->id);
        d->next_seq = first_seq;
        snprintf(crt, sizeof crt, "%s/devices/%s.crt", pki, d->id);
        snprintf(key, sizeof key, "%s/devices/%s.key", pki, d->id);
        MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
        if (MQTTAsync_createWithOptions(&d->client, uri, d->id, MQTTCLIENT_PERSISTENCE_NONE, NULL,
                                        &co) != MQTTASYNC_SUCCESS)
            return 1;
        MQTTAsync_setCallbacks(d->client, d, NULL, on_message, NULL);
        MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer5;
        MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
        ssl.trustStore = ca;
        ssl.keyStore = crt;
        ssl.privateKey = key;
        ssl.enableServerCertAuth = 1;
        o.ssl = &ssl;
        o.cleanstart = 1;
        o.keepAliveInterval = 60;
        o.onSuccess5 = on_connect;
        o.onFailure5 = on_connect_fail;
        o.context = d;
        if (MQTTAsync_connect(d->client, &o) != MQTTASYNC_SUCCESS) {
            fprintf(stderr, "ingest-load: %s: connect refused\n", d->id);
            return 1;
        }
    }
    double deadline = bench_now_s() + 30;
    pthread_mutex_lock(&mu);
    for (;;) {
        long up = 0, bad = 0;
        for (long i = 0; i < n_dev; i++) {
            up += devs[i].connected;
            bad += devs[i].failed;
        }
        if (up + bad == n_dev || bench_now_s() > deadline) {
            if (bad || up < n_dev) {
                pthread_mutex_unlock(&mu);
                fprintf(stderr, "ingest-load: only %ld of %ld devices connected\n", up, n_dev);
                return 1;
            }
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&cv, &mu, &ts);
    }
    pthread_mutex_unlock(&mu);

    double t0 = bench_now_s(), end = t0 + limit_s;
    for (long i = 0; i < n_dev; i++)
        for (long k = 0; k < window; k++)
            send_next(&devs[i]);
    pthread_mutex_lock(&mu);
    while (total_acked + total_failed < total && bench_now_s() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&cv, &mu, &ts);
    }
    long sent = total_sent;
    size_t bytes = msg_bytes;
    pthread_mutex_unlock(&mu);
    double secs = bench_now_s() - t0;
    pthread_mutex_lock(&mu);
    long acked = total_acked, failed = total_failed;
    pthread_mutex_unlock(&mu);
    printf("{\"sent\":%ld,\"acked\":%ld,\"failed\":%ld,\"seconds\":%.3f,\"rate\":%.0f,"
           "\"bytes\":%zu,\"devices\":%ld,\"epoch\":\"%" PRIu64 "\"}\n",
           sent, acked, failed, secs, secs > 0 ? (double)acked / secs : 0.0, bytes, n_dev, epoch);
    fflush(stdout);
    for (long i = 0; i < n_dev; i++) {
        MQTTAsync_disconnectOptions dopt = MQTTAsync_disconnectOptions_initializer5;
        dopt.timeout = 500;
        MQTTAsync_disconnect(devs[i].client, &dopt);
    }
    usleep(300000);
    for (long i = 0; i < n_dev; i++)
        MQTTAsync_destroy(&devs[i].client);
    free(devs);
    return acked == total ? 0 : 1;
}
