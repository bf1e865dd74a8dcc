/* SPDX-License-Identifier: Apache-2.0 */
/* Signed commands end to end inside the agent (fake MQTT, fake clock, real mbedTLS keys): rejection
 * of forged, foreign-key, expired and wrong-device commands without running them, at-most-once
 * execution with stored answers (also across a restart), correlation data, built-ins, restart,
 * and the configuration of the [commands] sections. Handler processes: test_commands_exec.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "cmd_replay.h"
#include "commands.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_file.h"
#include "sensors.h"
#include "test_commands_env.h"

#define OK IOT__V1__COMMAND_RESULT__STATUS__OK
#define ERROR IOT__V1__COMMAND_RESULT__STATUS__ERROR
#define ST(x) IOT__V1__COMMAND_RESULT__STATUS__##x

static uint64_t samples(const struct cenv *e)
{
    struct agent_stats s;
    agent_get_stats(e->fx.a, &s);
    return s.samples;
}

static void expect_status(const struct cenv *e, size_t nth, const char *id, int status)
{
    Iot__V1__CommandResult *r = cenv_result(e, nth);
    assert_string_equal(r->command_id, id);
    assert_int_equal(r->status, status);
    iot__v1__command_result__free_unpacked(r, NULL);
}

static void test_commands_subscribed_qos1_on_every_connect(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    cenv_start(e);
    assert_true(fake_mqtt_subscribed(&e->fx.mq, "devices/dev-1/commands"));
    assert_true(fake_mqtt_subscribed(&e->fx.mq, "devices/dev-1/state/desired"));
    for (size_t i = 0; i < e->fx.mq.n_subs; i++)
        assert_int_equal(e->fx.mq.sub_qos[i], 1);
    size_t before = e->fx.mq.n_subs;
    fake_mqtt_lose(&e->fx.mq, "test");
    cenv_step(e);
    cenv_advance(e, 2000);
    assert_true(e->fx.mq.connecting);
    fake_mqtt_connack(&e->fx.mq, true, 0);
    cenv_step(e);
    assert_int_equal(e->fx.mq.n_subs, before * 2);
    cenv_free(e);
}

static void test_commands_disabled_no_subscription(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(false);
    cenv_start(e);
    assert_false(fake_mqtt_subscribed(&e->fx.mq, "devices/dev-1/commands"));
    assert_true(fake_mqtt_subscribed(&e->fx.mq, "devices/dev-1/state/desired"));
    cenv_run(e, "c1", "sample_now", NULL);
    assert_int_equal(cenv_count(e, "responses"), 0);
    cenv_free(e);
}

static void test_commands_valid_ping_ok_with_correlation(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    cenv_start(e);
    uint8_t buf[4096];
    size_t n = cenv_command(e->signer, "c-ping", "dev-1", "ping", CENV_NOW_WALL + 60000, NULL,
                            buf, sizeof buf);
    cenv_send(e, buf, n, "corr-42");
    cenv_step(e);
    assert_int_equal(cenv_count(e, "responses"), 1);
    const struct fake_pub *p = cenv_pub(e, "responses", 0);
    assert_true(p->has_correlation);
    assert_int_equal(p->correlation_len, 7);
    assert_memory_equal(p->correlation, "corr-42", 7);
    Iot__V1__CommandResult *r = cenv_result(e, 0);
    assert_string_equal(r->command_id, "c-ping");
    assert_int_equal(r->status, OK);
    assert_string_equal(cenv_output(r, "reply"), "pong");
    assert_non_null(cenv_output(r, "time_ms"));
    assert_int_equal(r->done_ms, CENV_NOW_WALL + (int64_t)0);
    iot__v1__command_result__free_unpacked(r, NULL);
    cenv_free(e);
}

static void test_commands_forged_signature_rejected_not_run(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    cenv_start(e);
    uint64_t s0 = samples(e);
    uint8_t buf[4096];
    /* 1. signed by another key */
    size_t n = cenv_command(e->foreign, "c-forged", "dev-1", "sample_now", CENV_NOW_WALL + 60000,
                            NULL, buf, sizeof buf);
    cenv_send(e, buf, n, NULL);
    cenv_step(e);
    /* 2. a valid signature, then the body altered (name sample_now -> sample_nov) */
    n = cenv_command(e->signer, "c-tamper", "dev-1", "sample_now", CENV_NOW_WALL + 60000, NULL,
                     buf, sizeof buf);
    uint8_t *hit = NULL;
    for (size_t i = 0; i + 10 <= n && !hit; i++)
        hit = memcmp(buf + i, "sample_now", 10) == 0 ? buf + i : NULL;
    if (!hit) {
        fail_msg("command name not found in the encoded body");
        return;
    }
    hit[9] = 'v';
    cenv_send(e, buf, n, NULL);
    cenv_step(e);
    /* 3. not a SignedCommand at all */
    cenv_send(e, (const uint8_t *)"\xff\xff\xff", 3, NULL);
    cenv_step(e);
    assert_int_equal(cenv_count(e, "responses"), 3);
    expect_status(e, 0, "c-forged", ST(BAD_SIGNATURE));
    expect_status(e, 1, "c-tamper", ST(BAD_SIGNATURE));
    expect_status(e, 2, "", ST(BAD_SIGNATURE));
    assert_int_equal(samples(e), s0);
    /* a forged id is not remembered: the genuine command with that id still runs */
    cenv_run(e, "c-forged", "sample_now", NULL);
    expect_status(e, 3, "c-forged", OK);
    assert_int_equal(samples(e), s0 + 1);
    cenv_free(e);
}

static void test_commands_expired_rejected_not_run(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    cenv_start(e);
    uint64_t s0 = samples(e);
    uint8_t buf[4096];
    size_t n = cenv_command(e->signer, "c-old", "dev-1", "sample_now", CENV_NOW_WALL - 1, NULL,
                            buf, sizeof buf);
    cenv_send(e, buf, n, NULL);
    cenv_step(e);
    expect_status(e, 0, "c-old", ST(EXPIRED));
    /* no expiry at all is refused too */
    n = cenv_command(e->signer, "c-noexp", "dev-1", "sample_now", 0, NULL, buf, sizeof buf);
    cenv_send(e, buf, n, NULL);
    cenv_step(e);
    expect_status(e, 1, "c-noexp", ST(REJECTED));
    assert_int_equal(samples(e), s0);
    cenv_free(e);
}

static void test_commands_other_device_rejected_not_run(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    cenv_start(e);
    uint64_t s0 = samples(e);
    uint8_t buf[4096];
    size_t n = cenv_command(e->signer, "c-other", "dev-2", "sample_now", CENV_NOW_WALL + 60000,
                            NULL, buf, sizeof buf);
    cenv_send(e, buf, n, NULL);
    cenv_step(e);
    expect_status(e, 0, "c-other", ST(REJECTED));
    assert_int_equal(samples(e), s0);
    cenv_free(e);
}

static void test_commands_duplicate_answered_from_store_run_once(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    cenv_start(e);
    uint64_t s0 = samples(e);
    uint8_t buf[4096];
    size_t n = cenv_command(e->signer, "c-dup", "dev-1", "sample_now", CENV_NOW_WALL + 600000,
                            NULL, buf, sizeof buf);
    cenv_send(e, buf, n, "first");
    cenv_step(e);
    assert_int_equal(samples(e), s0 + 1);
    fake_clock_advance(&e->fx.clk, 50); /* a later answer would carry a later done_ms */
    cenv_send(e, buf, n, "second");
    cenv_step(e);
    assert_int_equal(samples(e), s0 + 1);
    assert_int_equal(cenv_count(e, "responses"), 2);
    const struct fake_pub *a = cenv_pub(e, "responses", 0), *b = cenv_pub(e, "responses", 1);
    assert_int_equal(a->len, b->len);
    assert_memory_equal(a->payload, b->payload, a->len); /* the stored result, byte for byte */
    assert_memory_equal(b->correlation, "second", 6);   /* this delivery's correlation */
    expect_status(e, 1, "c-dup", OK);

    /* A new agent on the same state dir remembers it. */
    cenv_restart_agent(e);
    uint64_t s1 = samples(e);
    cenv_send(e, buf, n, NULL);
    cenv_step(e);
    assert_int_equal(samples(e), s1);
    assert_int_equal(cenv_count(e, "responses"), 1);
    const struct fake_pub *c = cenv_pub(e, "responses", 0);
    Iot__V1__CommandResult *r = cenv_result(e, 0);
    assert_string_equal(r->command_id, "c-dup");
    assert_int_equal(r->status, OK);
    assert_int_equal(r->done_ms, CENV_NOW_WALL); /* the original time */
    iot__v1__command_result__free_unpacked(r, NULL);
    (void)c;
    cenv_free(e);
}

static void test_commands_interrupted_command_not_rerun_after_restart(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    /* A crash after the id was recorded, before the result: simulate the record on disk. */
    assert_int_equal(plat_dir_ensure(e->fx.cfg.state_dir, 0700), IOT_OK);
    struct agent_replay *rp;
    assert_int_equal(agent_replay_open(e->fx.cfg.state_dir, 100, &rp), IOT_OK);
    assert_int_equal(agent_replay_begin(rp, "c-crash", CENV_NOW_WALL, 0), IOT_OK);
    agent_replay_close(rp);
    cenv_start(e);
    uint64_t s0 = samples(e);
    cenv_run(e, "c-crash", "sample_now", NULL);
    assert_int_equal(samples(e), s0);
    Iot__V1__CommandResult *r = cenv_result(e, 0);
    assert_int_equal(r->status, ERROR);
    assert_non_null(strstr(r->message, "interrupted"));
    iot__v1__command_result__free_unpacked(r, NULL);
    cenv_free(e);
}

static void test_commands_replay_set_bounded_and_damage_detected(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    assert_int_equal(plat_dir_ensure(e->fx.cfg.state_dir, 0700), IOT_OK);
    struct agent_replay *rp;
    assert_int_equal(agent_replay_open(e->fx.cfg.state_dir, 16, &rp), IOT_OK);
    char id[32];
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "id-%d", i);
        assert_int_equal(agent_replay_begin(rp, id, 1000 + i, 0), IOT_OK);
        assert_int_equal(agent_replay_finish(rp, id, (const uint8_t *)"res", 3), IOT_OK);
    }
    assert_int_equal(agent_replay_count(rp), 16);
    assert_int_equal(agent_replay_find(rp, "id-3", NULL, NULL), AGENT_REPLAY_NONE);
    agent_replay_close(rp);
    assert_int_equal(agent_replay_open(e->fx.cfg.state_dir, 16, &rp), IOT_OK);
    const uint8_t *res;
    size_t len;
    assert_int_equal(agent_replay_find(rp, "id-19", &res, &len), AGENT_REPLAY_DONE);
    assert_int_equal(len, 3);
    assert_memory_equal(res, "res", 3);
    agent_replay_close(rp);
    /* flip a byte: detected, set aside, empty set */
    char path[600];
    snprintf(path, sizeof path, "%s/%s", e->fx.cfg.state_dir, AGENT_REPLAY_FILE);
    uint8_t *buf;
    assert_int_equal(plat_file_read(path, 1 << 20, &buf, &len), IOT_OK);
    buf[20] ^= 0x40;
    assert_int_equal(plat_file_write_atomic(path, buf, len, false), IOT_OK);
    iot_free(buf);
    assert_int_equal(agent_replay_open(e->fx.cfg.state_dir, 16, &rp), IOT_OK);
    assert_int_equal(agent_replay_count(rp), 0);
    agent_replay_close(rp);
    strcat(path, ".bad");
    assert_true(plat_file_readable(path));
    cenv_free(e);
}

/* More commands than replay_max ran since command #1: its id is forgotten, and a re-delivery
 * (the cloud re-publishes an unanswered command when the device comes back) must not run it. */
static void test_commands_forgotten_id_redelivered_refused_not_run(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    e->fx.cfg.commands.replay_max = 16;
    cenv_start(e);
    uint64_t s0 = samples(e);
    int64_t exp = CENV_NOW_WALL + 3600000;
    uint8_t first[4096], buf[4096];
    size_t n_first = 0;
    for (int i = 1; i <= 20; i++) {
        char id[32];
        snprintf(id, sizeof id, "c-%d", i);
        size_t n = cenv_command_at(e->signer, id, "dev-1", "sample_now", CENV_NOW_WALL - 100 + i,
                                   exp, NULL, buf, sizeof buf);
        if (i == 1) {
            memcpy(first, buf, n);
            n_first = n;
        }
        cenv_send(e, buf, n, NULL);
        cenv_step(e);
        fake_mqtt_ack_all(&e->fx.mq);
        expect_status(e, (size_t)i - 1, id, OK);
    }
    assert_int_equal(samples(e), s0 + 20);

    cenv_send(e, first, n_first, "again"); /* same id, same signed bytes, not expired */
    cenv_step(e);
    assert_int_equal(samples(e), s0 + 20); /* not run again */
    assert_int_equal(cenv_count(e, "responses"), 21);
    Iot__V1__CommandResult *r = cenv_result(e, 20);
    assert_string_equal(r->command_id, "c-1");
    assert_int_equal(r->status, ST(REJECTED));
    assert_non_null(strstr(r->message, "replay_max 16"));
    assert_non_null(strstr(r->message, "not run"));
    iot__v1__command_result__free_unpacked(r, NULL);

    /* also after a restart (the floor is persisted), while a newer command still runs */
    cenv_restart_agent(e);
    uint64_t s1 = samples(e);
    cenv_send(e, first, n_first, NULL);
    cenv_step(e);
    expect_status(e, 0, "c-1", ST(REJECTED));
    size_t n = cenv_command_at(e->signer, "c-new", "dev-1", "sample_now", CENV_NOW_WALL, exp,
                               NULL, buf, sizeof buf);
    cenv_send(e, buf, n, NULL);
    cenv_step(e);
    expect_status(e, 1, "c-new", OK);
    assert_int_equal(samples(e), s1 + 1);
    cenv_free(e);
}

static void test_commands_unknown_command(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    cenv_start(e);
    cenv_run(e, "c-x", "make_coffee", NULL);
    expect_status(e, 0, "c-x", ST(UNKNOWN_COMMAND));
    cenv_free(e);
}

static void test_commands_set_interval_bounds_and_effect(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    cenv_start(e);
    const char *bad[] = {"interval_ms", "5", NULL};
    cenv_run(e, "c-bad", "set_interval", bad);
    Iot__V1__CommandResult *r = cenv_result(e, 0);
    assert_int_equal(r->status, ERROR);
    assert_int_equal(r->code, 22);
    iot__v1__command_result__free_unpacked(r, NULL);
    assert_int_equal(agent__config(e->fx.a)->interval_ms, 1000);
    const char *good[] = {"interval_ms", "5000", NULL};
    cenv_run(e, "c-good", "set_interval", good);
    expect_status(e, 1, "c-good", OK);
    assert_int_equal(agent__config(e->fx.a)->interval_ms, 5000);
    uint64_t s0 = samples(e);
    for (int i = 0; i < 20; i++)
        cenv_advance(e, 1000);
    assert_int_equal(samples(e) - s0, 4); /* 20 s at 5 s */
    cenv_free(e);
}

static void test_commands_smart_home_and_get_state(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    cenv_start(e);
    const char *sp[] = {"celsius", "26.5", NULL};
    cenv_run(e, "c-sp", "set_setpoint", sp);
    expect_status(e, 0, "c-sp", OK);
    assert_true(agent_sim_setpoint(agent__sim(e->fx.a)) > 26.4);
    const char *spbad[] = {"celsius", "hot", NULL};
    cenv_run(e, "c-sp2", "set_setpoint", spbad);
    expect_status(e, 1, "c-sp2", ERROR);
    cenv_run(e, "c-off", "plug_off", NULL);
    assert_false(agent_sim_plug(agent__sim(e->fx.a)));
    const char *on[] = {"state", "on", NULL};
    cenv_run(e, "c-on", "plug", on);
    assert_true(agent_sim_plug(agent__sim(e->fx.a)));
    cenv_run(e, "c-gs", "get_state", NULL);
    Iot__V1__CommandResult *r = cenv_result(e, 4);
    assert_int_equal(r->status, OK);
    assert_string_equal(cenv_output(r, "setpoint_c"), "26.5");
    assert_string_equal(cenv_output(r, "plug"), "on");
    assert_string_equal(cenv_output(r, "interval_ms"), "1000");
    assert_string_equal(cenv_output(r, "device_id"), "dev-1");
    assert_non_null(cenv_output(r, "backlog"));
    iot__v1__command_result__free_unpacked(r, NULL);
    cenv_free(e);
}

static void test_commands_setpoint_moves_temperature(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    e->fx.cfg.sim_sensors = AGENT_SIM_TEMPERATURE;
    cenv_start(e);
    const char *sp[] = {"celsius", "30", NULL};
    cenv_run(e, "c-sp", "set_setpoint", sp);
    expect_status(e, 0, "c-sp", OK);
    for (int i = 0; i < 3600; i++) { /* an hour: ~6 time constants */
        fake_clock_advance(&e->fx.clk, 1000);
        cenv_step(e);
        fake_mqtt_ack_all(&e->fx.mq);
    }
    /* the newest sample published (re-sends of older ones may come later) */
    uint64_t best_seq = 0;
    double temp = 0;
    for (size_t i = 0; i < e->fx.mq.n_pubs; i++) {
        const struct fake_pub *p = &e->fx.mq.pubs[i];
        if (strcmp(p->topic, "devices/dev-1/telemetry") != 0)
            continue;
        Iot__V1__TelemetryBatch *b = iot__v1__telemetry_batch__unpack(NULL, p->len, p->payload);
        assert_non_null(b);
        for (size_t k = 0; k < b->n_samples; k++) {
            Iot__V1__Sample *s = b->samples[k];
            if (s->seq > best_seq && s->n_metrics == 1) {
                assert_string_equal(s->metrics[0]->name, "temperature");
                best_seq = s->seq;
                temp = s->metrics[0]->value;
            }
        }
        iot__v1__telemetry_batch__free_unpacked(b, NULL);
    }
    assert_true(best_seq > 3000);
    assert_true(temp > 29.0 && temp < 31.0);
    cenv_free(e);
}

static void test_commands_restart_after_answer_acked(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    cenv_start(e);
    cenv_run(e, "c-rs", "restart", NULL);
    expect_status(e, 0, "c-rs", OK);
    cenv_step(e);
    assert_int_equal(e->fx.last, IOT_OK); /* waits for the answer's PUBACK */
    const struct fake_pub *p = cenv_pub(e, "responses", 0);
    fake_mqtt_complete(&e->fx.mq, p->token, 0);
    cenv_step(e);
    fake_mqtt_ack_all(&e->fx.mq); /* offline presence */
    for (int i = 0; i < 10 && e->fx.last == IOT_OK; i++)
        cenv_advance(e, 100);
    assert_int_equal(e->fx.last, IOT_ERR_CLOSED);
    assert_int_equal(agent_exit_status(e->fx.a), AGENT_EXIT_RESTART);
    /* the restart is remembered: delivered again after the re-exec, it is answered, not re-run */
    cenv_restart_agent(e);
    cenv_run(e, "c-rs", "restart", NULL);
    expect_status(e, 0, "c-rs", OK);
    for (int i = 0; i < 40; i++)
        cenv_advance(e, 100);
    assert_int_equal(e->fx.last, IOT_OK);
    cenv_free(e);
}

static void test_commands_restart_without_ack_after_timeout(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    cenv_start(e);
    cenv_run(e, "c-rs", "restart", NULL);
    cenv_advance(e, 1000);
    assert_int_equal(e->fx.last, IOT_OK);
    cenv_advance(e, 2500);
    fake_mqtt_ack_all(&e->fx.mq);
    for (int i = 0; i < 10 && e->fx.last == IOT_OK; i++)
        cenv_advance(e, 100);
    assert_int_equal(agent_exit_status(e->fx.a), AGENT_EXIT_RESTART);
    cenv_free(e);
}

static void test_commands_answer_resent_after_reconnect(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    cenv_start(e);
    cenv_run(e, "c-ping", "ping", NULL);
    assert_int_equal(cenv_count(e, "responses"), 1);
    fake_mqtt_lose(&e->fx.mq, "test");
    cenv_step(e);
    cenv_advance(e, 2000);
    fake_mqtt_connack(&e->fx.mq, true, 0);
    cenv_step(e);
    assert_int_equal(cenv_count(e, "responses"), 2);
    expect_status(e, 1, "c-ping", OK);
    cenv_free(e);
}

static void test_commands_config_sections(void **state)
{
    (void)state;
    struct agent_config cfg;
    char err[300];
    const char *base = "[device]\nid = d\n[mqtt]\nca_file = a\ncert_file = b\nkey_file = c\n";
    char text[1024];
    snprintf(text, sizeof text,
             "%s[commands]\nenabled = true\npublic_key_file = /k.pub\nreplay_max = 50\n"
             "[command.reboot]\nexec = /sbin/reboot\ntimeout_ms = 500\nmax_output = 10\n"
             "[state]\ndesired = false\n",
             base);
    assert_int_equal(agent_config_parse("t.conf", text, &cfg, err, sizeof err), IOT_OK);
    assert_true(cfg.commands.enabled);
    assert_string_equal(cfg.commands.public_key_file, "/k.pub");
    assert_int_equal(cfg.commands.replay_max, 50);
    assert_false(cfg.commands.desired);
    const struct agent_cmd_handler_config *h =
        agent_commands_config_handler(&cfg.commands, "reboot");
    assert_non_null(h);
    assert_string_equal(h->exec, "/sbin/reboot");
    assert_int_equal(h->timeout_ms, 500);
    assert_int_equal(h->max_output, 10);

    snprintf(text, sizeof text, "%s[commands]\nenabled = true\n", base);
    assert_int_equal(agent_config_parse("t.conf", text, &cfg, err, sizeof err), IOT_ERR_INVAL);
    assert_non_null(strstr(err, "public_key_file"));
    snprintf(text, sizeof text, "%s[command.ping]\nexec = /bin/true\n", base);
    assert_int_equal(agent_config_parse("t.conf", text, &cfg, err, sizeof err), IOT_ERR_INVAL);
    assert_non_null(strstr(err, "built-in"));
    snprintf(text, sizeof text, "%s[command.x]\nexec = bin/true\n", base);
    assert_int_equal(agent_config_parse("t.conf", text, &cfg, err, sizeof err), IOT_ERR_INVAL);
    assert_non_null(strstr(err, "absolute"));
    snprintf(text, sizeof text, "%s[command.x]\ntimeout_ms = 5\n", base);
    assert_int_equal(agent_config_parse("t.conf", text, &cfg, err, sizeof err), IOT_ERR_INVAL);
    assert_non_null(strstr(err, "[command.x] exec"));
}

static void test_commands_missing_public_key_fails_start(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    struct agent_config *cfg = &e->fx.cfg;
    snprintf(cfg->commands.public_key_file, sizeof cfg->commands.public_key_file, "%s/none",
             e->fx.dir);
    struct agent_deps deps = {.clock = &e->fx.clk.clock, .mqtt = fake_mqtt_iface(&e->fx.mq)};
    assert_int_equal(agent_create(&e->fx.cfg, &deps, &e->fx.a), IOT_ERR_NOT_FOUND);
    e->fx.a = NULL;
    cenv_free(e);
}

int main(void)
{
    iot_log_set_level(IOT_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands_subscribed_qos1_on_every_connect),
        cmocka_unit_test(test_commands_disabled_no_subscription),
        cmocka_unit_test(test_commands_valid_ping_ok_with_correlation),
        cmocka_unit_test(test_commands_forged_signature_rejected_not_run),
        cmocka_unit_test(test_commands_expired_rejected_not_run),
        cmocka_unit_test(test_commands_other_device_rejected_not_run),
        cmocka_unit_test(test_commands_duplicate_answered_from_store_run_once),
        cmocka_unit_test(test_commands_interrupted_command_not_rerun_after_restart),
        cmocka_unit_test(test_commands_replay_set_bounded_and_damage_detected),
        cmocka_unit_test(test_commands_forgotten_id_redelivered_refused_not_run),
        cmocka_unit_test(test_commands_unknown_command),
        cmocka_unit_test(test_commands_set_interval_bounds_and_effect),
        cmocka_unit_test(test_commands_smart_home_and_get_state),
        cmocka_unit_test(test_commands_setpoint_moves_temperature),
        cmocka_unit_test(test_commands_restart_after_answer_acked),
        cmocka_unit_test(test_commands_restart_without_ack_after_timeout),
        cmocka_unit_test(test_commands_answer_resent_after_reconnect),
        cmocka_unit_test(test_commands_config_sections),
        cmocka_unit_test(test_commands_missing_public_key_fails_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
