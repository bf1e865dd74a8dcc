/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's logic driven by a fake clock and a fake MQTT: seq order, device id and epoch, the
 * in-flight window, re-sends after a connection loss, presence payloads, clean stop, max_samples. */
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
#include "iot/mem.h"

static struct agent_fx *env_new(void)
{
    struct agent_fx *e = agent_fx_new("agent-test");
    /* These tests script PUBACKs; receipts and the disk store: test_agent_receipts.c */
    e->cfg.store.kind = AGENT_STORE_MEMORY;
    e->cfg.store.ack = AGENT_ACK_PUBACK;
    return e;
}

static bool is_telemetry(const struct fake_pub *p)
{
    return strcmp(p->topic, "devices/dev-1/telemetry") == 0;
}

static size_t telemetry_outstanding(const struct agent_fx *e)
{
    size_t n = 0;
    for (size_t i = 0; i < e->mq.n_pubs; i++)
        n += is_telemetry(&e->mq.pubs[i]) && !e->mq.pubs[i].completed;
    return n;
}

static Iot__V1__Presence *presence_at(const struct agent_fx *e, size_t i)
{
    assert_string_equal(e->mq.pubs[i].topic, "devices/dev-1/status");
    Iot__V1__Presence *p = iot__v1__presence__unpack(NULL, e->mq.pubs[i].len, e->mq.pubs[i].payload);
    assert_non_null(p);
    return p;
}

/* Every telemetry seq published (in publish order) from publish index @p from. */
static size_t collect_seqs(const struct agent_fx *e, size_t from, uint64_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = from; i < e->mq.n_pubs; i++) {
        const struct fake_pub *p = &e->mq.pubs[i];
        if (!is_telemetry(p))
            continue;
        assert_int_equal(p->qos, 1);
        assert_false(p->retained);
        Iot__V1__TelemetryBatch *b = iot__v1__telemetry_batch__unpack(NULL, p->len, p->payload);
        assert_non_null(b);
        assert_string_equal(b->device_id, "dev-1");
        assert_true(b->epoch == agent_epoch(e->a));
        assert_true(b->n_samples >= 1 && b->n_samples <= e->cfg.batch_max);
        for (size_t k = 0; k < b->n_samples && n < cap; k++) {
            assert_true(b->samples[k]->n_metrics == 6); /* the five simulated sensors */
            out[n++] = b->samples[k]->seq;
        }
        iot__v1__telemetry_batch__free_unpacked(b, NULL);
    }
    return n;
}

static void test_agent_publishes_in_seq_order_with_id_and_epoch(void **state)
{
    (void)state;
    struct agent_fx *e = env_new();
    agent_fx_start(e);
    agent_fx_connect(e);
    for (int i = 0; i < 20; i++) {
        fake_mqtt_ack_all(&e->mq);
        agent_fx_advance(e, 1000);
    }
    fake_mqtt_ack_all(&e->mq);
    agent_fx_step(e);
    uint64_t seqs[64];
    size_t n = collect_seqs(e, 0, seqs, 64);
    assert_int_equal(n, 21);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seqs[i], i + 1);
    struct agent_stats st;
    agent_get_stats(e->a, &st);
    assert_int_equal(st.samples_acked, 21);
    assert_int_equal(st.backlog, 0);
    agent_fx_free(e);
}

static void test_agent_never_exceeds_inflight_window(void **state)
{
    (void)state;
    struct agent_fx *e = env_new();
    agent_fx_start(e);
    agent_fx_connect(e);
    for (int i = 0; i < 30; i++) { /* no acks: the window fills and stays full */
        agent_fx_advance(e, 1000);
        assert_true(telemetry_outstanding(e) <= e->cfg.inflight);
    }
    assert_int_equal(telemetry_outstanding(e), e->cfg.inflight);
    /* acks free the window: the backlog goes out in batches of batch_max, in order */
    for (int i = 0; i < 10; i++) {
        fake_mqtt_ack_all(&e->mq);
        agent_fx_step(e);
        assert_true(telemetry_outstanding(e) <= e->cfg.inflight);
    }
    uint64_t seqs[64];
    size_t n = collect_seqs(e, 0, seqs, 64);
    assert_int_equal(n, 31);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seqs[i], i + 1);
    agent_fx_free(e);
}

static void test_agent_resends_unacked_after_connection_loss(void **state)
{
    (void)state;
    struct agent_fx *e = env_new();
    agent_fx_start(e);
    agent_fx_connect(e);
    for (int i = 0; i < 4; i++)
        agent_fx_advance(e, 1000); /* seqs 1..5 published, none acked */
    /* the broker acks the first two batches, then the connection drops */
    size_t acked = 0;
    for (size_t i = 0; i < e->mq.n_pubs && acked < 2; i++) {
        if (is_telemetry(&e->mq.pubs[i])) {
            fake_mqtt_complete(&e->mq, e->mq.pubs[i].token, 0);
            acked++;
        }
    }
    agent_fx_step(e);
    fake_mqtt_lose(&e->mq, "test cut");
    size_t before = e->mq.n_pubs;
    agent_fx_step(e);
    /* a sample while offline (seq 6); reconnect due within reconnect_max_ms */
    agent_fx_advance(e, 1000);
    assert_int_equal(e->mq.n_connects, 2);
    fake_mqtt_connack(&e->mq, true, 0);
    agent_fx_step(e);
    uint64_t seqs[64];
    size_t n = collect_seqs(e, before, seqs, 64);
    assert_int_equal(n, 4); /* 3, 4, 5 re-sent, then 6 */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seqs[i], i + 3);
    /* late completion of a publish of the old connection is ignored */
    fake_mqtt_complete(&e->mq, e->mq.pubs[before - 1].token, 0);
    agent_fx_step(e);
    struct agent_stats st;
    agent_get_stats(e->a, &st);
    assert_int_equal(st.losses, 1);
    assert_int_equal(st.backlog, 4);
    agent_fx_free(e);
}

static void test_agent_presence_carries_connection_counter(void **state)
{
    (void)state;
    struct agent_fx *e = env_new();
    agent_fx_start(e);
    agent_fx_step(e);
    /* the will: OFFLINE / LOST_CONNECTION, retained QoS 1, connection 1 */
    assert_string_equal(e->mq.last_opts.will_topic, "devices/dev-1/status");
    assert_true(e->mq.last_opts.will_retained);
    assert_int_equal(e->mq.last_opts.will_qos, 1);
    Iot__V1__Presence *w = iot__v1__presence__unpack(NULL, e->mq.will_len, e->mq.will);
    assert_non_null(w);
    assert_int_equal(w->state, IOT__V1__PRESENCE__STATE__OFFLINE);
    assert_int_equal(w->reason, IOT__V1__PRESENCE__REASON__LOST_CONNECTION);
    assert_int_equal(w->connection, 1);
    assert_string_equal(w->device_id, "dev-1");
    assert_string_equal(w->agent_version, AGENT_VERSION);
    iot__v1__presence__free_unpacked(w, NULL);

    /* a refused connect still counts: the next will and birth carry 2 */
    fake_mqtt_connack(&e->mq, false, 135);
    agent_fx_step(e);
    assert_int_equal(e->mq.n_connects, 1); /* backoff: not at once */
    agent_fx_advance(e, e->cfg.reconnect_max_ms);
    assert_int_equal(e->mq.n_connects, 2);
    w = iot__v1__presence__unpack(NULL, e->mq.will_len, e->mq.will);
    assert_int_equal(w->connection, 2);
    iot__v1__presence__free_unpacked(w, NULL);
    fake_mqtt_connack(&e->mq, true, 0);
    agent_fx_step(e);
    assert_true(e->mq.n_pubs >= 1);
    assert_true(e->mq.pubs[0].retained);
    assert_int_equal(e->mq.pubs[0].qos, 1);
    Iot__V1__Presence *b = presence_at(e, 0);
    assert_int_equal(b->state, IOT__V1__PRESENCE__STATE__ONLINE);
    assert_int_equal(b->reason, IOT__V1__PRESENCE__REASON__CONNECTED);
    assert_int_equal(b->connection, 2);
    assert_true(b->boot_time_ms == 1700000000000);
    iot__v1__presence__free_unpacked(b, NULL);

    /* the counter survives a restart of the agent */
    agent_fx_stop_agent(e);
    agent_fx_start(e);
    agent_fx_step(e);
    w = iot__v1__presence__unpack(NULL, e->mq.will_len, e->mq.will);
    assert_int_equal(w->connection, 3);
    iot__v1__presence__free_unpacked(w, NULL);
    agent_fx_free(e);
}

static void test_agent_stop_sends_offline_presence_then_disconnects(void **state)
{
    (void)state;
    struct agent_fx *e = env_new();
    agent_fx_start(e);
    agent_fx_connect(e);
    fake_mqtt_ack_all(&e->mq);
    agent_fx_step(e);
    agent_stop(e->a);
    agent_fx_step(e);
    assert_int_equal(e->last, IOT_OK); /* waiting for the PUBACK of the offline presence */
    size_t last = e->mq.n_pubs - 1;
    assert_true(e->mq.pubs[last].retained);
    Iot__V1__Presence *p = presence_at(e, last);
    assert_int_equal(p->state, IOT__V1__PRESENCE__STATE__OFFLINE);
    assert_int_equal(p->reason, IOT__V1__PRESENCE__REASON__CLEAN_SHUTDOWN);
    assert_int_equal(p->connection, 1);
    iot__v1__presence__free_unpacked(p, NULL);
    assert_int_equal(e->mq.n_disconnects, 0);
    fake_mqtt_ack_all(&e->mq);
    agent_fx_step(e);
    assert_int_equal(e->mq.n_disconnects, 1);
    assert_int_equal(e->last, IOT_ERR_CLOSED);
    assert_int_equal(agent_exit_status(e->a), AGENT_EXIT_OK);
    agent_fx_free(e);
}

static void test_agent_stop_without_ack_gives_up_after_deadline(void **state)
{
    (void)state;
    struct agent_fx *e = env_new();
    agent_fx_start(e);
    agent_fx_connect(e);
    agent_stop(e->a);
    agent_fx_step(e);
    assert_int_equal(e->last, IOT_OK);
    agent_fx_advance(e, 2000);
    assert_int_equal(e->mq.n_disconnects, 1);
    assert_int_equal(e->last, IOT_ERR_CLOSED);
    agent_fx_free(e);
}

static void test_agent_max_samples_drains_then_stops(void **state)
{
    (void)state;
    struct agent_fx *e = env_new();
    e->cfg.max_samples = 3;
    agent_fx_start(e);
    agent_fx_connect(e);
    for (int i = 0; i < 5 && e->last == IOT_OK; i++) {
        fake_mqtt_ack_all(&e->mq);
        agent_fx_advance(e, 1000);
    }
    assert_int_equal(e->last, IOT_ERR_CLOSED);
    assert_int_equal(agent_exit_status(e->a), AGENT_EXIT_OK);
    struct agent_stats st;
    agent_get_stats(e->a, &st);
    assert_int_equal(st.samples, 3);
    assert_int_equal(st.samples_acked, 3);
    agent_fx_free(e);
}

static void test_agent_max_samples_drain_timeout(void **state)
{
    (void)state;
    struct agent_fx *e = env_new();
    e->cfg.max_samples = 2;
    e->cfg.drain_timeout_ms = 5000;
    agent_fx_start(e);
    agent_fx_connect(e);
    agent_fx_advance(e, 1000); /* 2 samples, never acked */
    for (int i = 0; i < 6 && e->last == IOT_OK; i++)
        agent_fx_advance(e, 1000);
    assert_int_equal(agent_exit_status(e->a), AGENT_EXIT_DRAIN_TIMEOUT);
    agent_fx_free(e);
}

static void test_agent_samples_on_a_grid_without_drift(void **state)
{
    (void)state;
    struct agent_fx *e = env_new();
    agent_fx_start(e);
    agent_fx_connect(e); /* sample 1 at t0 */
    for (int i = 0; i < 10; i++) {
        fake_mqtt_ack_all(&e->mq);
        agent_fx_advance(e, 999); /* not yet due */
        agent_fx_advance(e, 1);
    }
    fake_mqtt_ack_all(&e->mq);
    agent_fx_advance(e, 5500); /* a stall: sampling resumes on the grid, with no burst */
    struct agent_stats st;
    agent_get_stats(e->a, &st);
    assert_int_equal(st.samples, 12);
    agent_fx_free(e);
}

static void test_agent_refused_publish_is_retried_after_pause(void **state)
{
    (void)state;
    struct agent_fx *e = env_new();
    agent_fx_start(e);
    agent_fx_connect(e);
    size_t first = e->mq.n_pubs - 1;
    assert_true(is_telemetry(&e->mq.pubs[first]));
    fake_mqtt_complete(&e->mq, e->mq.pubs[first].token, 135); /* not authorized */
    agent_fx_step(e);
    assert_int_equal(e->mq.n_pubs, first + 1); /* paused, no tight loop */
    agent_fx_advance(e, e->cfg.reconnect_min_ms);
    uint64_t seqs[8];
    size_t n = collect_seqs(e, first + 1, seqs, 8);
    assert_int_equal(n, 1);
    assert_int_equal(seqs[0], 1);
    struct agent_stats st;
    agent_get_stats(e->a, &st);
    assert_int_equal(st.publish_failures, 1);
    agent_fx_free(e);
}

static void test_agent_full_backlog_reports_dropped_ranges(void **state)
{
    (void)state;
    struct agent_fx *e = env_new();
    e->cfg.buffer_max_samples = 4;
    e->cfg.batch_max = 10;
    agent_fx_start(e);
    agent_fx_step(e); /* connecting; the broker does not answer */
    for (int i = 0; i < 9; i++)
        agent_fx_advance(e, 1000); /* seqs 1..10; 1..6 dropped */
    fake_mqtt_connack(&e->mq, true, 0);
    agent_fx_step(e);
    const struct fake_pub *p = &e->mq.pubs[e->mq.n_pubs - 1];
    assert_true(is_telemetry(p));
    Iot__V1__TelemetryBatch *b = iot__v1__telemetry_batch__unpack(NULL, p->len, p->payload);
    assert_non_null(b);
    assert_int_equal(b->n_samples, 4);
    assert_int_equal(b->samples[0]->seq, 7);
    assert_int_equal(b->n_dropped, 1);
    assert_int_equal(b->dropped[0]->first, 1);
    assert_int_equal(b->dropped[0]->last, 6);
    iot__v1__telemetry_batch__free_unpacked(b, NULL);
    /* once a batch carrying the ranges is acknowledged, they are not repeated */
    fake_mqtt_ack_all(&e->mq);
    agent_fx_advance(e, 1000);
    p = &e->mq.pubs[e->mq.n_pubs - 1];
    b = iot__v1__telemetry_batch__unpack(NULL, p->len, p->payload);
    assert_non_null(b);
    assert_int_equal(b->samples[0]->seq, 11);
    assert_int_equal(b->n_dropped, 0);
    iot__v1__telemetry_batch__free_unpacked(b, NULL);
    agent_fx_free(e);
}

static void test_agent_incoming_message_is_dispatched_without_harm(void **state)
{
    (void)state;
    struct agent_fx *e = env_new();
    agent_fx_start(e);
    agent_fx_connect(e);
    struct agent_mqtt_event ev = {.kind = AGENT_MQTT_EV_MESSAGE};
    ev.topic = iot_strdup("devices/dev-1/commands");
    ev.payload = iot_malloc(3);
    ev.len = 3;
    memcpy(ev.payload, "abc", 3);
    e->mq.q[(e->mq.q_head + e->mq.q_len++) % FAKE_MQTT_MAX_EVENTS] = ev;
    ev.topic = iot_strdup("devices/other/commands");
    ev.payload = NULL;
    ev.len = 0;
    e->mq.q[(e->mq.q_head + e->mq.q_len++) % FAKE_MQTT_MAX_EVENTS] = ev;
    agent_fx_step(e);
    assert_int_equal(e->last, IOT_OK);
    assert_int_equal(e->mq.q_len, 0);
    agent_fx_free(e);
}

int main(void)
{
    iot_log_set_level(IOT_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_publishes_in_seq_order_with_id_and_epoch),
        cmocka_unit_test(test_agent_never_exceeds_inflight_window),
        cmocka_unit_test(test_agent_resends_unacked_after_connection_loss),
        cmocka_unit_test(test_agent_presence_carries_connection_counter),
        cmocka_unit_test(test_agent_stop_sends_offline_presence_then_disconnects),
        cmocka_unit_test(test_agent_stop_without_ack_gives_up_after_deadline),
        cmocka_unit_test(test_agent_max_samples_drains_then_stops),
        cmocka_unit_test(test_agent_max_samples_drain_timeout),
        cmocka_unit_test(test_agent_samples_on_a_grid_without_drift),
        cmocka_unit_test(test_agent_refused_publish_is_retried_after_pause),
        cmocka_unit_test(test_agent_full_backlog_reports_dropped_ranges),
        cmocka_unit_test(test_agent_incoming_message_is_dispatched_without_harm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
