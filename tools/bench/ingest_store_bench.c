/* SPDX-License-Identifier: Apache-2.0 */
/* The ingest worker's share of the cost, without MQTT (not a test): N encoded TelemetryBatch
 * messages (one sample, three metrics, like iot-ingest-load's) from D devices go through
 * ingest__process_batch_ev in batches of B, with the receipts hook on, into SQLite or PostgreSQL.
 *   iot-ingest-store-bench STORAGE [N 200000] [B 500] [D 100]
 * STORAGE: a new SQLite file path, or a postgresql:// URI (an empty database). Prints one JSON
 * line: {"storage":..,"messages":N,"seconds":..,"rate":..,"cpu_us_per_msg":..}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "ingest/store.h"
#include "ingest_internal.h"
#include "iot.pb-c.h"
#include "iot/log.h"
#include "receipts.h"

static struct ingest_msg *make_msg(const char *dev, uint64_t seq, int64_t now_ms)
{
    static const char *const names[3] = {"temperature", "humidity", "power"};
    static const char *const units[3] = {"C", "%", "W"};
    Iot__V1__Metric m[3];
    Iot__V1__Metric *mp[3];
    for (int i = 0; i < 3; i++) {
        iot__v1__metric__init(&m[i]);
        m[i].name = (char *)names[i];
        m[i].unit = (char *)units[i];
        m[i].value = 20.0 + (double)((seq * 7 + (uint64_t)i) % 100) / 10.0;
        mp[i] = &m[i];
    }
    Iot__V1__Sample s = IOT__V1__SAMPLE__INIT;
    s.seq = seq;
    s.time_ms = now_ms;
    s.n_metrics = 3;
    s.metrics = mp;
    Iot__V1__Sample *sp = &s;
    Iot__V1__TelemetryBatch b = IOT__V1__TELEMETRY_BATCH__INIT;
    b.device_id = (char *)dev;
    b.epoch = 42;
    b.n_samples = 1;
    b.samples = &sp;
    uint8_t buf[512];
    size_t len = iot__v1__telemetry_batch__pack(&b, buf);
    char topic[128];
    snprintf(topic, sizeof topic, "devices/%s/telemetry", dev);
    return ingest__msg_new(topic, buf, len, now_ms);
}

static void on_commit(void *ctx, const struct ingest_receipt *r, size_t n)
{
    receipts_add(ctx, r, n);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: iot-ingest-store-bench STORAGE [N] [B] [D]\n");
        return 2;
    }
    const char *storage = argv[1];
    long n = argc > 2 ? atol(argv[2]) : 200000;
    long b = argc > 3 ? atol(argv[3]) : 500;
    long d = argc > 4 ? atol(argv[4]) : 100;
    if (n < 1 || b < 1 || d < 1)
        return 2;
    iot_log_set_level(IOT_LOG_WARN);
    bool pg = strncmp(storage, "postgres", 8) == 0;
    struct ingest_store store;
    if (ingest_store_open(pg ? CLOUD_STORAGE_POSTGRESQL : CLOUD_STORAGE_SQLITE, storage, &store) !=
        IOT_OK)
        return 1;
    struct receipts *rc = NULL;
    if (receipts_create(200, &rc) != IOT_OK)
        return 1;
    struct ingest_metrics m;
    ingest_metrics_init(&m);
    struct ingest_msg **msgs = calloc((size_t)n, sizeof *msgs);
    if (!msgs)
        return 1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    for (long i = 0; i < n; i++) {
        char dev[32];
        snprintf(dev, sizeof dev, "load-%03ld", i % d + 1);
        msgs[i] = make_msg(dev, (uint64_t)(i / d + 1), now_ms);
        if (!msgs[i])
            return 1;
    }
    double t0 = bench_now_s(), c0 = bench_cpu_s();
    for (long i = 0; i < n; i += b) {
        size_t k = (size_t)(n - i < b ? n - i : b);
        if (ingest__process_batch(&store, &m, msgs + i, k, on_commit, rc) != IOT_OK) {
            fprintf(stderr, "batch at %ld failed\n", i);
            return 1;
        }
    }
    double secs = bench_now_s() - t0, cpu = bench_cpu_s() - c0;
    printf("{\"storage\":\"%s\",\"messages\":%ld,\"batch\":%ld,\"devices\":%ld,\"stored\":%llu,"
           "\"seconds\":%.3f,\"rate\":%.0f,\"cpu_us_per_msg\":%.2f}\n",
           pg ? "postgresql" : "sqlite", n, b, d,
           (unsigned long long)atomic_load(&m.samples_stored), secs, (double)n / secs,
           cpu * 1e6 / (double)n);
    for (long i = 0; i < n; i++)
        free(msgs[i]);
    free(msgs);
    receipts_destroy(rc);
    ingest_store_close(&store);
    return 0;
}
