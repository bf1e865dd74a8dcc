/* SPDX-License-Identifier: Apache-2.0 */
/* Desired / reported state with a fake MQTT and clock: a newer version applies (interval, sensors)
 * and is reported, unknown keys and bad values are reported as not applied, older and equal versions
 * are ignored, and the applied state survives a restart. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "iot/log.h"
#include "sensors.h"
#include "test_commands_env.h"
#include "test_msg.h"

static void send_desired(struct cenv *e, uint64_t version, const char *const *kv)
{
    uint8_t buf[1024];
    size_t len;
    assert_int_equal(test_msg_desired(version, kv, buf, sizeof buf, &len), IOT_OK);
    fake_mqtt_deliver(&e->fx.mq, "devices/dev-1/state/desired", buf, len, NULL, NULL, 0);
    cenv_step(e);
}

static Iot__V1__ReportedState *reported(const struct cenv *e, size_t nth)
{
    const struct fake_pub *p = cenv_pub(e, "state/reported", nth);
    assert_non_null(p);
    assert_int_equal(p->qos, 1);
    Iot__V1__ReportedState *r = iot__v1__reported_state__unpack(NULL, p->len, p->payload);
    assert_non_null(r);
    assert_string_equal(r->device_id, "dev-1");
    return r;
}

/* Send DesiredState @p version (@p kv); expect @p n_reports ReportedStates so far, the newest of
 * @p version, and return it decoded (free with ..._free_unpacked). */
static Iot__V1__ReportedState *apply_desired(struct cenv *e, uint64_t version,
                                             const char *const *kv, size_t n_reports)
{
    send_desired(e, version, kv);
    assert_int_equal(cenv_count(e, "state/reported"), n_reports);
    Iot__V1__ReportedState *r = reported(e, n_reports - 1);
    assert_int_equal(r->version, version);
    return r;
}

static const char *setting(const Iot__V1__ReportedState *r, const char *key)
{
    for (size_t i = 0; i < r->n_settings; i++) {
        if (strcmp(r->settings[i]->key, key) == 0)
            return r->settings[i]->value;
    }
    return NULL;
}

/* Metric names of the newest telemetry sample, comma-separated. */
static void last_metrics(struct cenv *e, char *out, size_t cap)
{
    const struct fake_pub *last = NULL;
    for (size_t i = 0; i < e->fx.mq.n_pubs; i++) {
        if (strcmp(e->fx.mq.pubs[i].topic, "devices/dev-1/telemetry") == 0)
            last = &e->fx.mq.pubs[i];
    }
    if (!last) {
        fail_msg("no telemetry published");
        return;
    }
    Iot__V1__TelemetryBatch *b = iot__v1__telemetry_batch__unpack(NULL, last->len, last->payload);
    if (!b) {
        fail_msg("telemetry does not decode");
        return;
    }
    Iot__V1__Sample *s = b->samples[b->n_samples - 1];
    out[0] = 0;
    for (size_t i = 0; i < s->n_metrics; i++) {
        strncat(out, i ? "," : "", cap - strlen(out) - 1);
        strncat(out, s->metrics[i]->name, cap - strlen(out) - 1);
    }
    iot__v1__telemetry_batch__free_unpacked(b, NULL);
}

static uint64_t samples_in(struct cenv *e, uint32_t ms)
{
    struct agent_stats s0, s1;
    agent_get_stats(e->fx.a, &s0);
    for (uint32_t t = 0; t < ms; t += 500) {
        cenv_advance(e, 500);
        fake_mqtt_ack_all(&e->fx.mq);
    }
    agent_get_stats(e->fx.a, &s1);
    return s1.samples - s0.samples;
}

static void test_desired_newer_applies_and_is_reported(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(false);
    cenv_start(e);
    assert_true(fake_mqtt_subscribed(&e->fx.mq, "devices/dev-1/state/desired"));
    assert_int_equal(samples_in(e, 10000), 10);
    const char *kv[] = {"interval_ms", "2000", "sensors.simulated", "temperature, door",
                        "colour", "blue", NULL};
    Iot__V1__ReportedState *r = apply_desired(e, 2, kv, 1);
    assert_string_equal(setting(r, "interval_ms"), "2000");
    assert_string_equal(setting(r, "sensors.simulated"), "temperature,door");
    assert_string_equal(setting(r, "_not_applied"), "colour");
    assert_non_null(setting(r, "thermostat.setpoint_c"));
    iot__v1__reported_state__free_unpacked(r, NULL);
    assert_int_equal(samples_in(e, 10000), 5);
    char names[256];
    last_metrics(e, names, sizeof names);
    assert_string_equal(names, "temperature,door_open");
    cenv_free(e);
}

static void test_desired_older_and_equal_ignored(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(false);
    cenv_start(e);
    const char *v2[] = {"interval_ms", "2000", NULL};
    send_desired(e, 2, v2);
    assert_int_equal(cenv_count(e, "state/reported"), 1);
    const char *v1[] = {"interval_ms", "500", NULL};
    send_desired(e, 1, v1);
    send_desired(e, 2, v1);
    assert_int_equal(cenv_count(e, "state/reported"), 1);
    assert_int_equal(agent__config(e->fx.a)->interval_ms, 2000);
    const char *v3[] = {"interval_ms", "abc", "plug", "off", NULL};
    Iot__V1__ReportedState *r = apply_desired(e, 3, v3, 2);
    assert_string_equal(setting(r, "interval_ms"), "2000");
    assert_string_equal(setting(r, "plug"), "off");
    assert_string_equal(setting(r, "_not_applied"), "interval_ms");
    iot__v1__reported_state__free_unpacked(r, NULL);
    /* not a DesiredState: ignored, no harm */
    fake_mqtt_deliver(&e->fx.mq, "devices/dev-1/state/desired", (const uint8_t *)"\xff\x01", 2,
                      NULL, NULL, 0);
    cenv_step(e);
    assert_int_equal(e->fx.last, IOT_OK);
    assert_int_equal(cenv_count(e, "state/reported"), 2);
    cenv_free(e);
}

static void test_desired_persisted_across_restart(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(false);
    cenv_start(e);
    const char *kv[] = {"interval_ms", "4000", "sensors.simulated", "humidity",
                        "thermostat.setpoint_c", "24", NULL};
    send_desired(e, 7, kv);
    assert_int_equal(cenv_count(e, "state/reported"), 1);
    cenv_restart_agent(e);
    assert_int_equal(agent__config(e->fx.a)->interval_ms, 4000);
    assert_int_equal(agent__config(e->fx.a)->sim_sensors, AGENT_SIM_HUMIDITY);
    assert_true(agent_sim_setpoint(agent__sim(e->fx.a)) > 23.9);
    assert_int_equal(samples_in(e, 8000), 2);
    /* the retained message comes again after the restart: same version, ignored */
    send_desired(e, 7, kv);
    assert_int_equal(cenv_count(e, "state/reported"), 0);
    const char *kv8[] = {"interval_ms", "1000", NULL};
    send_desired(e, 8, kv8);
    Iot__V1__ReportedState *r = reported(e, 0);
    assert_int_equal(r->version, 8);
    assert_string_equal(setting(r, "interval_ms"), "1000");
    assert_string_equal(setting(r, "sensors.simulated"), "humidity");
    iot__v1__reported_state__free_unpacked(r, NULL);
    cenv_free(e);
}

static void test_desired_disabled_not_subscribed(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(false);
    e->fx.cfg.commands.desired = false;
    cenv_start(e);
    assert_false(fake_mqtt_subscribed(&e->fx.mq, "devices/dev-1/state/desired"));
    const char *kv[] = {"interval_ms", "2000", NULL};
    send_desired(e, 2, kv);
    assert_int_equal(cenv_count(e, "state/reported"), 0);
    assert_int_equal(agent__config(e->fx.a)->interval_ms, 1000);
    cenv_free(e);
}

int main(void)
{
    iot_log_set_level(IOT_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_desired_newer_applies_and_is_reported),
        cmocka_unit_test(test_desired_older_and_equal_ignored),
        cmocka_unit_test(test_desired_persisted_across_restart),
        cmocka_unit_test(test_desired_disabled_not_subscribed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
