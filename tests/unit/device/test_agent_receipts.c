/* SPDX-License-Identifier: Apache-2.0 */
/* The agent with the disk store and the cloud's receipts, driven by a fake clock and fake MQTT:
 * PUBACK only frees the window, a Receipt releases samples, receipts of another epoch are ignored,
 * unreceipted samples go again after the timeout, a restart re-sends what was not receipted, and
 * live samples overtake a replayed backlog. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "fake_clock.h"
#include "fake_mqtt.h"
#include "iot.pb-c.h"
#include "iot/log.h"
#include "iot/mem.h"

struct env {
    char dir[64];
    struct agent_config cfg;
    struct fake_clock clk;
    struct fake_mqtt mq;
    struct agent *a;
};

static struct env *env_new(void)
{
    struct env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    snprintf(e->dir, sizeof e->dir, "/tmp/iot-agent-rcpt-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    agent_config_defaults(&e->cfg);
    snprintf(e->cfg.device_id, sizeof e->cfg.device_id, "dev-1");
    snprintf(e->cfg.client_id, sizeof e->cfg.client_id, "dev-1");
    snprintf(e->cfg.state_dir, sizeof e->cfg.state_dir, "%s", e->dir);
    snprintf(e->cfg.ca_file, sizeof e->cfg.ca_file, "unused");
    snprintf(e->cfg.cert_file, sizeof e->cfg.cert_file, "unused");
    snprintf(e->cfg.key_file, sizeof e->cfg.key_file, "unused");
    e->cfg.linux_sensors = false;
    e->cfg.seed = 7;
    e->cfg.inflight = 5;
    e->cfg.batch_max = 3;
    e->cfg.interval_ms = 1000;
    e->cfg.reconnect_min_ms = 100;
    e->cfg.reconnect_max_ms = 1000;
    e->cfg.store.resend_after_ms = 5000;
    fake_clock_init(&e->clk, 5000, 1700000000000);
    fake_mqtt_init(&e->mq);
    return e;
}

static void step(struct env *e)
{
    uint32_t wait;
    for (int i = 0; i < 4; i++)
        assert_int_equal(agent_step(e->a, &wait), IOT_OK);
}

static void advance(struct env *e, uint64_t ms)
{
    fake_clock_advance(&e->clk, ms);
    step(e);
}

static void start(struct env *e)
{
    struct agent_deps deps = {.clock = &e->clk.clock, .mqtt = fake_mqtt_iface(&e->mq)};
    assert_int_equal(agent_create(&e->cfg, &deps, &e->a), IOT_OK);
}

static void connect_ok(struct env *e)
{
    step(e);
    assert_true(e->mq.connecting);
    fake_mqtt_connack(&e->mq, true, 0);
    step(e);
}

static void stop_agent(struct env *e)
{
    agent_destroy(e->a);
    e->a = NULL;
    fake_mqtt_free(&e->mq);
    fake_mqtt_init(&e->mq);
}

static void env_free(struct env *e)
{
    agent_destroy(e->a);
    fake_mqtt_free(&e->mq);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    assert_int_equal(system(cmd), 0);
    free(e);
}

static struct agent_stats stats(struct env *e)
{
    struct agent_stats st;
    agent_get_stats(e->a, &st);
    return st;
}

/* Deliver a Receipt for [first, last] of @p epoch on devices/dev-1/receipts. */
static void receipt(struct env *e, uint64_t epoch, uint64_t first, uint64_t last)
{
    Iot__V1__SeqRange r = IOT__V1__SEQ_RANGE__INIT;
    Iot__V1__SeqRange *rp = &r;
    Iot__V1__Receipt m = IOT__V1__RECEIPT__INIT;
    r.first = first;
    r.last = last;
    m.epoch = epoch;
    m.device_id = "dev-1";
    m.n_ranges = 1;
    m.ranges = &rp;
    struct agent_mqtt_event ev = {.kind = AGENT_MQTT_EV_MESSAGE};
    ev.topic = iot_strdup("devices/dev-1/receipts");
    ev.len = iot__v1__receipt__get_packed_size(&m);
    ev.payload = iot_malloc(ev.len);
    iot__v1__receipt__pack(&m, ev.payload);
    e->mq.q[(e->mq.q_head + e->mq.q_len++) % FAKE_MQTT_MAX_EVENTS] = ev;
    step(e);
}

/* Telemetry seqs published from publish index @p from on, in publish order. */
static size_t seqs_from(const struct env *e, size_t from, uint64_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = from; i < e->mq.n_pubs; i++) {
        const struct fake_pub *p = &e->mq.pubs[i];
        if (strcmp(p->topic, "devices/dev-1/telemetry") != 0)
            continue;
        Iot__V1__TelemetryBatch *b = iot__v1__telemetry_batch__unpack(NULL, p->len, p->payload);
        assert_non_null(b);
        for (size_t k = 0; k < b->n_samples && n < cap; k++)
            out[n++] = b->samples[k]->seq;
        iot__v1__telemetry_batch__free_unpacked(b, NULL);
    }
    return n;
}

static void test_agent_puback_keeps_samples_until_receipt(void **state)
{
    (void)state;
    struct env *e = env_new();
    start(e);
    connect_ok(e);
    assert_true(fake_mqtt_subscribed(&e->mq, "devices/dev-1/receipts"));
    for (int i = 0; i < 5; i++) {
        advance(e, 1000);
        fake_mqtt_ack_all(&e->mq);
    }
    step(e);
    assert_int_equal(stats(e).samples, 6);
    assert_int_equal(stats(e).backlog, 6); /* the broker has them all; the cloud said nothing */
    receipt(e, agent_epoch(e->a), 1, 4);
    assert_int_equal(stats(e).backlog, 2);
    assert_int_equal(stats(e).samples_acked, 4);
    receipt(e, agent_epoch(e->a) ^ 1, 5, 6); /* another epoch: ignored */
    assert_int_equal(stats(e).backlog, 2);
    receipt(e, agent_epoch(e->a), 5, 6);
    assert_int_equal(stats(e).backlog, 0);
    assert_int_equal(stats(e).receipts, 2);
    env_free(e);
}

static void test_agent_resends_without_receipt_after_timeout(void **state)
{
    (void)state;
    struct env *e = env_new();
    start(e);
    connect_ok(e);
    advance(e, 1000);
    advance(e, 1000);
    fake_mqtt_ack_all(&e->mq);
    step(e);
    size_t before = e->mq.n_pubs;
    receipt(e, agent_epoch(e->a), 1, 1);
    advance(e, 4000); /* 5 s after the first send, but a receipt came 4 s ago */
    assert_int_equal(stats(e).resends, 0);
    fake_mqtt_ack_all(&e->mq);
    advance(e, 1500); /* now 5 s without progress: 2.. go again, in order */
    assert_int_equal(stats(e).resends, 1);
    uint64_t seqs[64];
    size_t n = seqs_from(e, before, seqs, 64);
    assert_true(n >= 3);
    size_t k = 0;
    while (k < n && seqs[k] != 2)
        k++;
    assert_true(k < n);
    for (uint64_t want = 2; k < n && want <= 5; k++, want++)
        assert_int_equal(seqs[k], want);
    env_free(e);
}

static void test_agent_restart_resends_unreceipted(void **state)
{
    (void)state;
    struct env *e = env_new();
    start(e);
    connect_ok(e);
    for (int i = 0; i < 4; i++)
        advance(e, 1000); /* seqs 1..5 */
    fake_mqtt_ack_all(&e->mq);
    step(e);
    receipt(e, agent_epoch(e->a), 1, 2);
    uint64_t epoch = agent_epoch(e->a);
    stop_agent(e);
    start(e);
    assert_true(agent_epoch(e->a) == epoch);
    assert_int_equal(stats(e).backlog, 3);
    connect_ok(e);
    advance(e, 1000);
    uint64_t seqs[64];
    size_t n = seqs_from(e, 0, seqs, 64);
    assert_true(n >= 4);
    assert_int_equal(seqs[0], 3);
    assert_int_equal(seqs[1], 4);
    assert_int_equal(seqs[2], 5);
    assert_true(seqs[3] > 5); /* the new sample: a new seq, never a reused one */
    env_free(e);
}

static void test_agent_live_samples_overtake_backlog(void **state)
{
    (void)state;
    struct env *e = env_new();
    start(e);
    step(e); /* connecting; the broker does not answer for a while */
    for (int i = 0; i < 99; i++)
        advance(e, 1000); /* 100 samples of backlog */
    fake_mqtt_connack(&e->mq, true, 0);
    step(e);
    size_t before = e->mq.n_pubs;
    advance(e, 1000); /* sample 101: live, but the window is full of backlog */
    assert_int_equal(e->mq.n_pubs, before);
    for (size_t i = 0; i < e->mq.n_pubs; i++) { /* one PUBACK frees one slot */
        if (!e->mq.pubs[i].completed && strstr(e->mq.pubs[i].topic, "telemetry")) {
            fake_mqtt_complete(&e->mq, e->mq.pubs[i].token, 0);
            break;
        }
    }
    step(e);
    uint64_t seqs[8];
    assert_int_equal(seqs_from(e, before, seqs, 8), 1);
    assert_int_equal(seqs[0], 101); /* the live sample goes first */
    fake_mqtt_ack_all(&e->mq);
    step(e);
    size_t n = seqs_from(e, before + 1, seqs, 8); /* then the backlog continues, in order */
    assert_true(n >= 3);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seqs[i], 16 + i);
    env_free(e);
}

int main(void)
{
    iot_log_set_level(IOT_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_puback_keeps_samples_until_receipt),
        cmocka_unit_test(test_agent_resends_without_receipt_after_timeout),
        cmocka_unit_test(test_agent_restart_resends_unreceipted),
        cmocka_unit_test(test_agent_live_samples_overtake_backlog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
