/* SPDX-License-Identifier: Apache-2.0 */
/* agent.conf: defaults, and errors that name file, line, section, key and why. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/config.h"

#define REQUIRED                                                                                   \
    "[device]\nid = dev-1\n[mqtt]\nca_file = ca.pem\ncert_file = c.pem\nkey_file = k.pem\n"

static char err[512];
static struct agent_config cfg;

static enum iot_err parse(const char *text)
{
    return agent_config_parse("t.conf", text, &cfg, err, sizeof err);
}

static void expect_error(const char *text, const char *needle1, const char *needle2,
                         const char *needle3)
{
    assert_int_equal(parse(text), IOT_ERR_INVAL);
    if (!strstr(err, needle1) || (needle2 && !strstr(err, needle2)) ||
        (needle3 && !strstr(err, needle3)))
        fail_msg("error '%s' lacks '%s' / '%s' / '%s'", err, needle1, needle2 ? needle2 : "",
                 needle3 ? needle3 : "");
}

/* The [telemetry], [sensors] and [log] values (and the in-flight window) a parse should give. */
struct want_telemetry {
    uint32_t inflight, interval_ms, batch_max;
    uint64_t max_samples;
    uint32_t buffer_max_samples;
    bool linux_sensors;
    unsigned sim_sensors;
    uint64_t seed;
    enum iot_log_level log_level;
};

static void expect_telemetry(const struct want_telemetry *w)
{
    assert_int_equal(cfg.inflight, w->inflight);
    assert_int_equal(cfg.interval_ms, w->interval_ms);
    assert_int_equal(cfg.batch_max, w->batch_max);
    assert_int_equal(cfg.max_samples, w->max_samples);
    assert_int_equal(cfg.buffer_max_samples, w->buffer_max_samples);
    assert_int_equal(cfg.linux_sensors, w->linux_sensors);
    assert_int_equal(cfg.sim_sensors, w->sim_sensors);
    assert_int_equal(cfg.seed, w->seed);
    assert_int_equal(cfg.log_level, w->log_level);
}

static void test_config_parse_minimal_gets_defaults(void **state)
{
    (void)state;
    assert_int_equal(parse(REQUIRED), IOT_OK);
    assert_string_equal(cfg.device_id, "dev-1");
    assert_string_equal(cfg.state_dir, "./iot-agent-state");
    assert_string_equal(cfg.host, "127.0.0.1");
    assert_int_equal(cfg.port, 8883);
    assert_string_equal(cfg.client_id, "dev-1");
    assert_int_equal(cfg.keepalive_s, 30);
    assert_int_equal(cfg.reconnect_min_ms, 500);
    assert_int_equal(cfg.reconnect_max_ms, 30000);
    const struct want_telemetry w = {.inflight = 50, .interval_ms = 1000, .batch_max = 10,
                                     .max_samples = 0, .buffer_max_samples = 100000,
                                     .linux_sensors = true, .sim_sensors = AGENT_SIM_ALL,
                                     .seed = 0, .log_level = IOT_LOG_INFO};
    expect_telemetry(&w);
}

static void test_config_parse_all_options_set(void **state)
{
    (void)state;
    assert_int_equal(parse(REQUIRED "client_id = other\nhost = broker.local\nport = 1883\n"
                                    "keepalive_s = 5\nreconnect_min_ms = 100\n"
                                    "reconnect_max_ms = 200\ninflight = 20\n"
                                    "[telemetry]\ninterval_ms = 50\nbatch_max = 5\n"
                                    "max_samples = 7\nbuffer_max_samples = 9\n"
                                    "[sensors]\nlinux = false\nsimulated = door, energy\n"
                                    "seed = 42\n[log]\nlevel = debug\n"),
                     IOT_OK);
    assert_string_equal(cfg.client_id, "other");
    assert_string_equal(cfg.host, "broker.local");
    assert_int_equal(cfg.port, 1883);
    const struct want_telemetry w = {.inflight = 20, .interval_ms = 50, .batch_max = 5,
                                     .max_samples = 7, .buffer_max_samples = 9,
                                     .linux_sensors = false,
                                     .sim_sensors = AGENT_SIM_DOOR | AGENT_SIM_ENERGY, .seed = 42,
                                     .log_level = IOT_LOG_DEBUG};
    expect_telemetry(&w);
}

static void test_config_parse_empty_simulated_means_none(void **state)
{
    (void)state;
    assert_int_equal(parse(REQUIRED "[sensors]\nsimulated =\n"), IOT_OK);
    assert_int_equal(cfg.sim_sensors, 0);
}

static void test_config_parse_unknown_key_names_line_and_key(void **state)
{
    (void)state;
    expect_error(REQUIRED "bogus = 1\n", "t.conf:7:", "[mqtt] bogus", "unknown key");
}

static void test_config_parse_bad_number_names_line_and_key(void **state)
{
    (void)state;
    expect_error(REQUIRED "port = abc\n", "t.conf:7:", "[mqtt] port", "bad number 'abc'");
    expect_error(REQUIRED "[telemetry]\ninterval_ms = -5\n", "t.conf:8:", "interval_ms",
                 "bad number");
    expect_error(REQUIRED "[telemetry]\nbatch_max = 10x\n", "t.conf:8:", "batch_max", NULL);
}

static void test_config_parse_out_of_range_names_range(void **state)
{
    (void)state;
    expect_error(REQUIRED "port = 70000\n", "t.conf:7:", "[mqtt] port", "out of range 1..65535");
    expect_error(REQUIRED "inflight = 0\n", "t.conf:7:", "inflight", "out of range");
    expect_error(REQUIRED "reconnect_min_ms = 1000\nreconnect_max_ms = 100\n", "reconnect_max_ms",
                 "below reconnect_min_ms", NULL);
}

static void test_config_parse_bad_sensor_name_is_named(void **state)
{
    (void)state;
    expect_error(REQUIRED "[sensors]\nsimulated = temperature, toaster\n", "t.conf:8:",
                 "[sensors] simulated", "unknown sensor name 'toaster'");
    expect_error(REQUIRED "[sensors]\nlinux = maybe\n", "t.conf:8:", "linux", "bad boolean");
}

static void test_config_parse_missing_id_is_reported(void **state)
{
    (void)state;
    expect_error("[mqtt]\nca_file = a\ncert_file = b\nkey_file = c\n", "t.conf:", "[device] id",
                 "required");
    expect_error("[device]\nid = d\n[mqtt]\ncert_file = b\nkey_file = c\n", "[mqtt] ca_file",
                 "required", NULL);
}

static void test_config_parse_invalid_id_is_reported(void **state)
{
    (void)state;
    expect_error("[device]\nid = bad id!\n", "t.conf:2:", "[device] id", "invalid device id");
    expect_error("[device]\nid = "
                 "a123456789a123456789a123456789a123456789a123456789a123456789abcde\n",
                 "t.conf:2:", "invalid device id", NULL);
}

static void test_config_parse_unknown_section_and_syntax(void **state)
{
    (void)state;
    expect_error(REQUIRED "[mqqt]\nhost = x\n", "t.conf:8:", "[mqqt] host", "unknown section");
    expect_error(REQUIRED "[log]\nlevel = loud\n", "t.conf:8:", "[log] level", "bad level");
    expect_error("[device]\nid = d\nno equals sign here\n", "t.conf:3:", "syntax error", NULL);
}

static void test_config_load_missing_file_is_not_found(void **state)
{
    (void)state;
    assert_int_equal(agent_config_load("/nonexistent/agent.conf", &cfg, err, sizeof err),
                     IOT_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "/nonexistent/agent.conf"));
}

static void test_config_load_file_reports_its_name(void **state)
{
    (void)state;
    char path[] = "/tmp/iot-agent-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = REQUIRED "[telemetry]\nbatch_max = lots\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(agent_config_load(path, &cfg, err, sizeof err), IOT_ERR_INVAL);
    char want[64];
    snprintf(want, sizeof want, "%s:8:", path);
    assert_non_null(strstr(err, want));
    unlink(path);
}

static void test_config_check_files_names_missing_file(void **state)
{
    (void)state;
    assert_int_equal(parse(REQUIRED), IOT_OK);
    snprintf(cfg.ca_file, sizeof cfg.ca_file, "/nonexistent/ca.pem");
    assert_int_equal(agent_config_check_files(&cfg, NULL, err, sizeof err), IOT_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "ca_file /nonexistent/ca.pem"));
}

/* What agent_config_log_cert_dates logged: the lines and their levels. */
static struct {
    int n;
    enum iot_log_level lvl[4];
    char line[4][512];
} logged;

static void capture_sink(void *ctx, enum iot_log_level lvl, const char *tag, const char *line)
{
    (void)ctx;
    (void)tag;
    if (logged.n < 4) {
        logged.lvl[logged.n] = lvl;
        snprintf(logged.line[logged.n], sizeof logged.line[0], "%s", line);
    }
    logged.n++;
}

/* A certificate valid from 2024-01-01 00:00 UTC to 2025-01-01 00:00 UTC, looked at at @p now_ms.
 * The file named in cfg does not exist: the dates come from the info alone. */
static void log_dates_at(int64_t now_ms)
{
    const struct plat_cert_info ci = {.cn = "dev-1", .not_before_ms = 1704067200000LL,
                                      .not_after_ms = 1735689600000LL};
    assert_int_equal(parse(REQUIRED), IOT_OK);
    snprintf(cfg.cert_file, sizeof cfg.cert_file, "/nonexistent/dev-1.crt");
    memset(&logged, 0, sizeof logged);
    iot_log_set_level(IOT_LOG_DEBUG);
    iot_log_set_sink(capture_sink, NULL);
    agent_config_log_cert_dates(&cfg, &ci, now_ms);
    iot_log_set_sink(NULL, NULL);
    iot_log_set_level(IOT_LOG_ERROR);
}

static void expect_one_line(enum iot_log_level lvl, const char *needle1, const char *needle2)
{
    assert_int_equal(logged.n, 1);
    assert_int_equal(logged.lvl[0], lvl);
    if (!strstr(logged.line[0], needle1) || (needle2 && !strstr(logged.line[0], needle2)))
        fail_msg("line '%s' lacks '%s' / '%s'", logged.line[0], needle1, needle2 ? needle2 : "");
}

static void test_config_cert_dates_expired_is_an_error(void **state)
{
    (void)state;
    log_dates_at(1748736000000LL); /* 2025-06-01 */
    expect_one_line(IOT_LOG_ERROR,
                    "certificate /nonexistent/dev-1.crt expired on 2025-01-01 00:00 UTC",
                    "(clock: 2025-06-01 00:00 UTC): the broker will refuse it; renew it "
                    "(iot-pki device DIR dev-1)");
}

static void test_config_cert_dates_not_yet_valid_warns(void **state)
{
    (void)state;
    log_dates_at(1685577600000LL); /* 2023-06-01 */
    expect_one_line(IOT_LOG_WARN,
                    "certificate /nonexistent/dev-1.crt is not valid before 2024-01-01 00:00 UTC",
                    "but the clock says 2023-06-01 00:00 UTC: is the clock synchronised");
    log_dates_at(1704067200000LL - 1); /* 1 ms before not_before */
    expect_one_line(IOT_LOG_WARN, "is not valid before 2024-01-01 00:00 UTC", NULL);
}

static void test_config_cert_dates_expiring_soon_warns(void **state)
{
    (void)state;
    log_dates_at(1734652800000LL); /* 2024-12-20: 12 days left */
    expect_one_line(IOT_LOG_WARN,
                    "certificate /nonexistent/dev-1.crt expires on 2025-01-01 00:00 UTC",
                    ": renew it soon");
    log_dates_at(1735689600000LL); /* the last valid instant: not yet expired */
    expect_one_line(IOT_LOG_WARN, "expires on 2025-01-01 00:00 UTC: renew it soon", NULL);
}

static void test_config_cert_dates_valid_logs_nothing(void **state)
{
    (void)state;
    log_dates_at(1717200000000LL); /* 2024-06-01: 7 months left */
    assert_int_equal(logged.n, 0);
    log_dates_at(1704067200000LL); /* the first valid instant */
    assert_int_equal(logged.n, 0);
}

int main(void)
{
    iot_log_set_level(IOT_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_parse_minimal_gets_defaults),
        cmocka_unit_test(test_config_parse_all_options_set),
        cmocka_unit_test(test_config_parse_empty_simulated_means_none),
        cmocka_unit_test(test_config_parse_unknown_key_names_line_and_key),
        cmocka_unit_test(test_config_parse_bad_number_names_line_and_key),
        cmocka_unit_test(test_config_parse_out_of_range_names_range),
        cmocka_unit_test(test_config_parse_bad_sensor_name_is_named),
        cmocka_unit_test(test_config_parse_missing_id_is_reported),
        cmocka_unit_test(test_config_parse_invalid_id_is_reported),
        cmocka_unit_test(test_config_parse_unknown_section_and_syntax),
        cmocka_unit_test(test_config_load_missing_file_is_not_found),
        cmocka_unit_test(test_config_load_file_reports_its_name),
        cmocka_unit_test(test_config_check_files_names_missing_file),
        cmocka_unit_test(test_config_cert_dates_expired_is_an_error),
        cmocka_unit_test(test_config_cert_dates_not_yet_valid_warns),
        cmocka_unit_test(test_config_cert_dates_expiring_soon_warns),
        cmocka_unit_test(test_config_cert_dates_valid_logs_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
