/* SPDX-License-Identifier: Apache-2.0 */
/* Benchmark helper for the agent's disk store (device/src/store_log.c); not a test.
 *   iot-store-bench fill STATE_DIR N    an agent state dir whose store holds N simulated samples
 *                                       (seqs 1..N, the agent's own state file and encoder)
 *   iot-store-bench rates DIR N         write / reopen / replay / ack rates as one JSON object */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "agent/config.h"
#include "encode.h"
#include "iot/log.h"
#include "sensors.h"
#include "state.h"
#include "store.h"
#include "store_log.h"

/* Sensors as the agent has them with the five simulated models. */
struct gen {
    struct agent_sim *sim;
    struct agent_sensor sensors[16];
    size_t n;
    uint64_t t;
};

static int gen_init(struct gen *g)
{
    memset(g, 0, sizeof *g);
    return agent_sim_create(42, AGENT_SIM_ALL, &g->sim, g->sensors, 16, &g->n) == IOT_OK ? 0 : -1;
}

static size_t gen_sample(struct gen *g, uint64_t seq, uint8_t *buf, size_t cap)
{
    struct agent_metrics m = {.n = 0};
    g->t += 1000;
    for (size_t i = 0; i < g->n; i++)
        g->sensors[i].read(g->sensors[i].ctx, g->t, &m);
    size_t len = 0;
    if (agent_encode_sample(seq, 1700000000000 + (int64_t)g->t, &m, buf, cap, &len) != IOT_OK)
        return 0;
    return len;
}

static int fill(const char *state_dir, uint64_t n)
{
    struct agent_config cfg;
    agent_config_defaults(&cfg);
    snprintf(cfg.state_dir, sizeof cfg.state_dir, "%s", state_dir);
    cfg.store.fsync = AGENT_FSYNC_NEVER;
    struct agent_state st;
    struct agent_store s;
    struct gen g;
    if (agent_state_open(&st, state_dir, 0) != IOT_OK || agent_store_open(&cfg, &s) != IOT_OK ||
        gen_init(&g) != 0)
        return 1;
    uint8_t buf[AGENT_SAMPLE_MAX];
    for (uint64_t i = 0; i < n; i++) {
        uint64_t seq;
        size_t len;
        if (agent_state_next_seq(&st, &seq) != IOT_OK ||
            (len = gen_sample(&g, seq, buf, sizeof buf)) == 0 ||
            agent_store_append(&s, seq, buf, len) != IOT_OK) {
            fprintf(stderr, "fill failed at %" PRIu64 "\n", i);
            return 1;
        }
    }
    agent_store_destroy(&s);
    agent_state_close(&st);
    agent_sim_destroy(g.sim);
    return 0;
}

static struct agent_store open_store(const char *dir, enum agent_store_fsync policy)
{
    struct agent_store s = {0};
    struct agent_store_log_opts o = {.dir = dir, .max_bytes = 256ull << 20, .fsync = policy,
                                     .fsync_interval_ms = 1000};
    if (agent_store_log_create(&o, &s) != IOT_OK) {
        fprintf(stderr, "cannot open store %s\n", dir);
        exit(1);
    }
    return s;
}

/* Append n samples; with interval, tick as the agent would (every 1 ms of wall time). */
static double write_rate(const char *dir, enum agent_store_fsync policy, uint64_t n,
                         uint64_t *bytes)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        exit(1);
    struct agent_store s = open_store(dir, policy);
    struct gen g;
    if (gen_init(&g) != 0)
        exit(1);
    uint8_t buf[AGENT_SAMPLE_MAX];
    uint64_t total = 0;
    double t0 = bench_now_s();
    for (uint64_t seq = 1; seq <= n; seq++) {
        size_t len = gen_sample(&g, seq, buf, sizeof buf);
        total += len;
        if (agent_store_append(&s, seq, buf, len) != IOT_OK)
            exit(1);
        uint64_t next;
        agent_store_tick(&s, (uint64_t)(bench_now_s() * 1000), &next);
    }
    double dt = bench_now_s() - t0;
    agent_store_destroy(&s);
    agent_sim_destroy(g.sim);
    if (bytes)
        *bytes = total;
    return (double)n / dt;
}

static int rates(const char *dir, uint64_t n)
{
    uint64_t payload = 0;
    double w_never = write_rate(dir, AGENT_FSYNC_NEVER, n, NULL);
    uint64_t n_always = n / 50 < 500 ? 500 : n / 50;
    double w_always = write_rate(dir, AGENT_FSYNC_ALWAYS, n_always, NULL);
    double w_interval = write_rate(dir, AGENT_FSYNC_INTERVAL, n, &payload);

    double t0 = bench_now_s();
    struct agent_store s = open_store(dir, AGENT_FSYNC_INTERVAL);
    double reopen = bench_now_s() - t0;
    struct agent_store_stats st;
    agent_store_stats(&s, &st);
    uint64_t disk = st.disk_bytes, held = st.count;

    struct agent_store_rec recs[100];
    uint64_t sent = 0;
    t0 = bench_now_s();
    for (;;) {
        size_t k = 0;
        agent_store_peek(&s, recs, 100, &k);
        if (k == 0)
            break;
        for (size_t i = 0; i < k; i++)
            agent_store_mark_inflight(&s, recs[i].seq);
        sent += k;
    }
    double replay = bench_now_s() - t0;
    t0 = bench_now_s();
    for (uint64_t q = 1; q <= n; q += 100) /* receipts of 100 samples each */
        agent_store_ack(&s, q, q + 99 > n ? n : q + 99);
    uint64_t next;
    agent_store_tick(&s, (uint64_t)(bench_now_s() * 1000) + 5000, &next);
    double ack = bench_now_s() - t0;
    agent_store_stats(&s, &st);
    agent_store_destroy(&s);
    printf("{\"samples\": %" PRIu64 ", \"sample_bytes_avg\": %.1f, \"write_sps_fsync_never\": %.0f, "
           "\"write_sps_fsync_interval\": %.0f, \"write_sps_fsync_always\": %.0f, "
           "\"store_disk_bytes\": %" PRIu64 ", \"reopen_ms\": %.1f, \"replay_sps\": %.0f, "
           "\"replayed\": %" PRIu64 ", \"ack_sps\": %.0f, \"left_after_ack\": %" PRIu64 "}\n",
           held, (double)payload / (double)n, w_never, w_interval, w_always, disk, reopen * 1000,
           (double)sent / replay, sent, (double)n / ack, st.count);
    return sent == n && st.count == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    iot_log_set_level(IOT_LOG_WARN);
    if (argc == 4 && strcmp(argv[1], "fill") == 0)
        return fill(argv[2], strtoull(argv[3], NULL, 10));
    if (argc == 4 && strcmp(argv[1], "rates") == 0)
        return rates(argv[2], strtoull(argv[3], NULL, 10));
    fprintf(stderr, "usage: iot-store-bench fill STATE_DIR N | rates DIR N\n");
    return 2;
}
