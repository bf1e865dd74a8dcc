/* SPDX-License-Identifier: Apache-2.0 */
/* Sensors: the simulated model (ranges, determinism, setters) and the Linux text parsers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/config.h"
#include "iot/log.h"
#include "sensors.h"

static const struct agent_metric *find(const struct agent_metrics *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->v[i].name, name) == 0)
            return &m->v[i];
    }
    return NULL;
}

/* The metric's value; fails the test when it is missing (no NULL dereference at -O2). */
static double val(const struct agent_metrics *m, const char *name)
{
    const struct agent_metric *x = find(m, name);
    if (!x) {
        fail_msg("metric %s missing", name);
        return -1e300;
    }
    return x->value;
}

static const char *unit_of(const struct agent_metrics *m, const char *name)
{
    const struct agent_metric *x = find(m, name);
    if (!x) {
        fail_msg("metric %s missing", name);
        return "";
    }
    return x->unit;
}

static void read_all(struct agent_sensor *s, size_t n, uint64_t now, struct agent_metrics *m)
{
    m->n = 0;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(s[i].read(s[i].ctx, now, m), IOT_OK);
}

static void test_sim_values_stay_in_range(void **state)
{
    (void)state;
    struct agent_sim *sim;
    struct agent_sensor s[8];
    size_t n;
    assert_int_equal(agent_sim_create(7, AGENT_SIM_ALL, &sim, s, 8, &n), IOT_OK);
    assert_int_equal(n, 5);
    struct agent_metrics m;
    double last_energy = 0;
    int motions = 0, opens = 0;
    for (int i = 0; i < 20000; i++) {
        read_all(s, n, 1000 + (uint64_t)i * 1000, &m);
        assert_int_equal(m.n, 6);
        double t = val(&m, "temperature"), h = val(&m, "humidity");
        double mo = val(&m, "motion"), d = val(&m, "door_open");
        double p = val(&m, "power_w"), e = val(&m, "energy_wh");
        assert_true(t > 10.0 && t < 32.0);
        assert_true(h >= 15.0 && h <= 95.0);
        assert_true(mo == 0.0 || mo == 1.0);
        assert_true(d == 0.0 || d == 1.0);
        assert_true(p >= 0.0 && p <= 3600.0);
        assert_true(e >= last_energy);
        last_energy = e;
        motions += mo == 1.0;
        opens += d == 1.0;
    }
    assert_string_equal(unit_of(&m, "temperature"), "C");
    assert_string_equal(unit_of(&m, "power_w"), "W");
    assert_true(motions > 100 && motions < 5000); /* events happen, but not always */
    assert_true(opens > 100 && opens < 15000);
    assert_true(last_energy > 20000 * 40.0 / 3600.0 * 0.9); /* ~40 W for 20000 s at least */
    agent_sim_destroy(sim);
}

static void test_sim_same_seed_is_deterministic(void **state)
{
    (void)state;
    struct agent_sim *a, *b, *c;
    struct agent_sensor sa[8], sb[8], sc[8];
    size_t na, nb, nc;
    assert_int_equal(agent_sim_create(42, AGENT_SIM_ALL, &a, sa, 8, &na), IOT_OK);
    assert_int_equal(agent_sim_create(42, AGENT_SIM_ALL, &b, sb, 8, &nb), IOT_OK);
    assert_int_equal(agent_sim_create(43, AGENT_SIM_ALL, &c, sc, 8, &nc), IOT_OK);
    bool differs = false;
    for (int i = 0; i < 500; i++) {
        struct agent_metrics ma, mb, mc;
        read_all(sa, na, (uint64_t)i * 500, &ma);
        read_all(sb, nb, (uint64_t)i * 500, &mb);
        read_all(sc, nc, (uint64_t)i * 500, &mc);
        assert_int_equal(ma.n, mb.n);
        for (size_t k = 0; k < ma.n; k++) {
            assert_string_equal(ma.v[k].name, mb.v[k].name);
            assert_true(ma.v[k].value == mb.v[k].value);
            differs |= ma.v[k].value != mc.v[k].value;
        }
    }
    assert_true(differs);
    agent_sim_destroy(a);
    agent_sim_destroy(b);
    agent_sim_destroy(c);
}

static void test_sim_setpoint_and_plug_setters_change_behaviour(void **state)
{
    (void)state;
    struct agent_sim *sim;
    struct agent_sensor s[8];
    size_t n;
    assert_int_equal(
        agent_sim_create(9, AGENT_SIM_TEMPERATURE | AGENT_SIM_ENERGY, &sim, s, 8, &n), IOT_OK);
    assert_int_equal(n, 2);
    agent_sim_set_setpoint(sim, 26.0);
    assert_true(agent_sim_setpoint(sim) == 26.0);
    struct agent_metrics m;
    for (int i = 0; i < 720; i++) /* two hours at 10 s */
        read_all(s, n, (uint64_t)i * 10000, &m);
    double t = val(&m, "temperature");
    assert_true(t > 25.0 && t < 27.0);
    agent_sim_set_plug(sim, false);
    assert_false(agent_sim_plug(sim));
    read_all(s, n, 720u * 10000u, &m);
    double e0 = val(&m, "energy_wh");
    read_all(s, n, 730u * 10000u, &m);
    assert_true(val(&m, "power_w") == 0.0);
    double e1 = val(&m, "energy_wh");
    assert_true(e1 >= e0);
    read_all(s, n, 740u * 10000u, &m);
    assert_true(val(&m, "energy_wh") == e1); /* no power, no energy */
    agent_sim_destroy(sim);
}

static void test_sim_subset_makes_only_those(void **state)
{
    (void)state;
    struct agent_sim *sim;
    struct agent_sensor s[8];
    size_t n;
    assert_int_equal(agent_sim_create(1, AGENT_SIM_DOOR, &sim, s, 8, &n), IOT_OK);
    assert_int_equal(n, 1);
    assert_string_equal(s[0].name, "door");
    agent_sim_destroy(sim);
}

static void test_linux_parse_loadavg(void **state)
{
    (void)state;
    double l[3];
    assert_int_equal(agent_linux_parse_loadavg("0.52 0.58 1.59 1/389 12345\n", l), IOT_OK);
    assert_true(l[0] == 0.52 && l[1] == 0.58 && l[2] == 1.59);
    assert_int_equal(agent_linux_parse_loadavg("0.52 abc", l), IOT_ERR_MALFORMED);
    assert_int_equal(agent_linux_parse_loadavg("", l), IOT_ERR_MALFORMED);
}

static void test_linux_parse_meminfo(void **state)
{
    (void)state;
    const char *text = "MemTotal:        2048000 kB\nMemFree:          100000 kB\n"
                       "MemAvailable:    1024000 kB\nBuffers:           1000 kB\n";
    uint64_t avail, total;
    assert_int_equal(agent_linux_parse_meminfo(text, &avail, &total), IOT_OK);
    assert_int_equal(total, 2048000ull * 1024);
    assert_int_equal(avail, 1024000ull * 1024);
    assert_int_equal(agent_linux_parse_meminfo("MemTotal: 5 kB\n", &avail, &total),
                     IOT_ERR_MALFORMED);
}

static void test_linux_parse_uptime_and_thermal(void **state)
{
    (void)state;
    double up, c;
    assert_int_equal(agent_linux_parse_uptime("35216.83 68861.90\n", &up), IOT_OK);
    assert_true(up == 35216.83);
    assert_int_equal(agent_linux_parse_uptime("x", &up), IOT_ERR_MALFORMED);
    assert_int_equal(agent_linux_parse_thermal("45123\n", &c), IOT_OK);
    assert_true(c > 45.122 && c < 45.124);
    assert_int_equal(agent_linux_parse_thermal("-2000\n", &c), IOT_OK);
    assert_true(c == -2.0);
    assert_int_equal(agent_linux_parse_thermal("hot\n", &c), IOT_ERR_MALFORMED);
}

static void test_linux_parse_netdev_skips_loopback(void **state)
{
    (void)state;
    const char *text =
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
        "drop fifo colls carrier compressed\n"
        "    lo: 9999999    1000    0    0    0     0          0         0  9999999    1000    0 "
        "   0    0     0       0          0\n"
        "  eth0: 1000       10    0    0    0     0          0         0     200       2    0    0 "
        "   0     0       0          0\n"
        " wlan0:500 5 0 0 0 0 0 0 30 1 0 0 0 0 0 0\n";
    uint64_t rx, tx;
    assert_int_equal(agent_linux_parse_netdev(text, &rx, &tx), IOT_OK);
    assert_int_equal(rx, 1500);
    assert_int_equal(tx, 230);
    assert_int_equal(agent_linux_parse_netdev("no interfaces\n", &rx, &tx), IOT_ERR_MALFORMED);
    assert_int_equal(agent_linux_parse_netdev("eth0: 1 2 3\n", &rx, &tx), IOT_ERR_MALFORMED);
}

static void write_file(const char *root, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s%s", root, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_linux_create_reads_a_fake_root(void **state)
{
    (void)state;
    char root[] = "/tmp/iot-agent-root-XXXXXX";
    assert_non_null(mkdtemp(root));
    char p[512];
    const char *dirs[] = {"/proc", "/proc/net", "/sys", "/sys/class", "/sys/class/thermal",
                          "/sys/class/thermal/thermal_zone0", "/sys/class/thermal/thermal_zone2"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(p, sizeof p, "%s%s", root, dirs[i]);
        assert_int_equal(mkdir(p, 0700), 0);
    }
    write_file(root, "/sys/class/thermal/thermal_zone0/temp", "41000\n");
    write_file(root, "/sys/class/thermal/thermal_zone2/temp", "52500\n");
    write_file(root, "/proc/loadavg", "1.00 2.00 3.00 1/1 1\n");
    write_file(root, "/proc/uptime", "12.5 1.0\n");
    /* no meminfo, no net/dev: those are skipped */
    struct agent_linux *lx;
    struct agent_sensor s[8];
    size_t n;
    assert_int_equal(agent_linux_create(root, &lx, s, 8, &n), IOT_OK);
    assert_int_equal(n, 3); /* thermal, load, uptime */
    struct agent_metrics m;
    read_all(s, n, 0, &m);
    assert_true(val(&m, "cpu_temp_c") == 41.0);
    assert_true(val(&m, "cpu_temp_c.2") == 52.5);
    assert_true(val(&m, "load15") == 3.0);
    assert_true(val(&m, "uptime_s") == 12.5);
    assert_null(find(&m, "mem_total_bytes"));
    agent_linux_destroy(lx);

    char empty[] = "/tmp/iot-agent-root-XXXXXX";
    assert_non_null(mkdtemp(empty));
    assert_int_equal(agent_linux_create(empty, &lx, s, 8, &n), IOT_OK);
    assert_int_equal(n, 0);
    agent_linux_destroy(lx);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", root, empty);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    iot_log_set_level(IOT_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_values_stay_in_range),
        cmocka_unit_test(test_sim_same_seed_is_deterministic),
        cmocka_unit_test(test_sim_setpoint_and_plug_setters_change_behaviour),
        cmocka_unit_test(test_sim_subset_makes_only_those),
        cmocka_unit_test(test_linux_parse_loadavg),
        cmocka_unit_test(test_linux_parse_meminfo),
        cmocka_unit_test(test_linux_parse_uptime_and_thermal),
        cmocka_unit_test(test_linux_parse_netdev_skips_loopback),
        cmocka_unit_test(test_linux_create_reads_a_fake_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
