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

#include "agent_fx.h"
#include "iot.pb-c.h"
#include "iot/log.h"
#include "test_msg.h"

static struct agent_fx *env_new(void)
{
    struct agent_fx *e = agent_fx_new("agent-rcpt");
    e->strict = true; /* every agent_step must succeed */
    e->cfg.store.resend_after_ms = 5000;
    return e;
}

static struct agent_stats stats(struct agent_fx *e)
{
    struct agent_stats st;
    agent_get_stats(e->a, &st);
    return st;
}

/* Deliver a Receipt for [first, last] of @p epoch on devices/dev-1/receipts. */
static void receipt(struct agent_fx *e, uint64_t epoch, uint64_t first, uint64_t last)
{
    uint8_t buf[256];
    size_t len;
    assert_int_equal(test_msg_receipt("dev-1", epoch, first, last, buf, sizeof buf, &len), IOT_OK);
    fake_mqtt_deliver(&e->mq, "devices/dev-1/receipts", buf, len, NULL, NULL, 0);
    agent_fx_step(e);
}

/* Telemetry seqs published from publish index @p from on, in publish order. */
static size_t seqs_from(const struct agent_fx *e, size_t from, uint64_t *out, size_t cap)
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
    struct agent_fx *e = env_new();
    agent_fx_start(e);
    agent_fx_connect(e);
    assert_true(fake_mqtt_subscribed(&e->mq, "devices/dev-1/receipts"));
    for (int i = 0; i < 5; i++) {
        agent_fx_advance(e, 1000);
        fake_mqtt_ack_all(&e->mq);
    }
    agent_fx_step(e);
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
    agent_fx_free(e);
}

static void test_agent_resends_without_receipt_after_timeout(void **state)
{
    (void)state;
    struct agent_fx *e = env_new();
    agent_fx_start(e);
    agent_fx_connect(e);
    agent_fx_advance(e, 1000);
    agent_fx_advance(e, 1000);
    fake_mqtt_ack_all(&e->mq);
    agent_fx_step(e);
    size_t before = e->mq.n_pubs;
    receipt(e, agent_epoch(e->a), 1, 1);
    agent_fx_advance(e, 4000); /* 5 s after the first send, but a receipt came 4 s ago */
    assert_int_equal(stats(e).resends, 0);
    fake_mqtt_ack_all(&e->mq);
    agent_fx_advance(e, 1500); /* now 5 s without progress: 2.. go again, in order */
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
    agent_fx_free(e);
}

static void test_agent_restart_resends_unreceipted(void **state)
{
    (void)state;
    struct agent_fx *e = env_new();
    agent_fx_start(e);
    agent_fx_connect(e);
    for (int i = 0; i < 4; i++)
        agent_fx_advance(e, 1000); /* seqs 1..5 */
    fake_mqtt_ack_all(&e->mq);
    agent_fx_step(e);
    receipt(e, agent_epoch(e->a), 1, 2);
    uint64_t epoch = agent_epoch(e->a);
    agent_fx_stop_agent(e);
    agent_fx_start(e);
    assert_true(agent_epoch(e->a) == epoch);
    assert_int_equal(stats(e).backlog, 3);
    agent_fx_connect(e);
    agent_fx_advance(e, 1000);
    uint64_t seqs[64];
    size_t n = seqs_from(e, 0, seqs, 64);
    assert_true(n >= 4);
    assert_int_equal(seqs[0], 3);
    assert_int_equal(seqs[1], 4);
    assert_int_equal(seqs[2], 5);
    assert_true(seqs[3] > 5); /* the new sample: a new seq, never a reused one */
    agent_fx_free(e);
}

static void test_agent_live_samples_overtake_backlog(void **state)
{
    (void)state;
    struct agent_fx *e = env_new();
    agent_fx_start(e);
    agent_fx_step(e); /* connecting; the broker does not answer for a while */
    for (int i = 0; i < 99; i++)
        agent_fx_advance(e, 1000); /* 100 samples of backlog */
    fake_mqtt_connack(&e->mq, true, 0);
    agent_fx_step(e);
    size_t before = e->mq.n_pubs;
    agent_fx_advance(e, 1000); /* sample 101: live, but the window is full of backlog */
    assert_int_equal(e->mq.n_pubs, before);
    for (size_t i = 0; i < e->mq.n_pubs; i++) { /* one PUBACK frees one slot */
        if (!e->mq.pubs[i].completed && strstr(e->mq.pubs[i].topic, "telemetry")) {
            fake_mqtt_complete(&e->mq, e->mq.pubs[i].token, 0);
            break;
        }
    }
    agent_fx_step(e);
    uint64_t seqs[8];
    assert_int_equal(seqs_from(e, before, seqs, 8), 1);
    assert_int_equal(seqs[0], 101); /* the live sample goes first */
    fake_mqtt_ack_all(&e->mq);
    agent_fx_step(e);
    size_t n = seqs_from(e, before + 1, seqs, 8); /* then the backlog continues, in order */
    assert_true(n >= 3);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seqs[i], 16 + i);
    agent_fx_free(e);
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
