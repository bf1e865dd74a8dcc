/* SPDX-License-Identifier: Apache-2.0 */
/* agent.state: the epoch is stable, seqs are never reused (even after a crash), the connection
 * counter survives restarts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iot/log.h"
#include "state.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/iot-agent-state-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_state_open_new_makes_epoch_and_starts_at_one(void **state)
{
    (void)state;
    char sub[128];
    snprintf(sub, sizeof sub, "%s/a/b", dir); /* created if missing */
    struct agent_state st;
    assert_int_equal(agent_state_open(&st, sub, 0), IOT_OK);
    assert_true(st.epoch != 0);
    uint64_t seq;
    assert_int_equal(agent_state_next_seq(&st, &seq), IOT_OK);
    assert_int_equal(seq, 1);
}

static void test_state_clean_reload_keeps_epoch_and_continues(void **state)
{
    (void)state;
    struct agent_state st;
    assert_int_equal(agent_state_open(&st, dir, 0), IOT_OK);
    uint64_t epoch = st.epoch, seq = 0;
    for (int i = 0; i < 5; i++)
        assert_int_equal(agent_state_next_seq(&st, &seq), IOT_OK);
    assert_int_equal(seq, 5);
    assert_int_equal(agent_state_close(&st), IOT_OK);

    struct agent_state again;
    assert_int_equal(agent_state_open(&again, dir, 0), IOT_OK);
    assert_true(again.epoch == epoch);
    assert_int_equal(agent_state_next_seq(&again, &seq), IOT_OK);
    assert_int_equal(seq, 6); /* a clean stop leaves no gap */
}

static void test_state_crash_never_reuses_seq(void **state)
{
    (void)state;
    uint64_t epoch = 0, highest = 0;
    for (int run = 0; run < 20; run++) {
        struct agent_state st;
        assert_int_equal(agent_state_open(&st, dir, 7), IOT_OK);
        if (run == 0)
            epoch = st.epoch;
        assert_true(st.epoch == epoch);
        int n = (run * 5) % 17; /* sometimes inside a block, sometimes across blocks */
        for (int i = 0; i < n; i++) {
            uint64_t seq;
            assert_int_equal(agent_state_next_seq(&st, &seq), IOT_OK);
            assert_true(seq > highest);
            highest = seq;
        }
        /* crash: no agent_state_close */
    }
    assert_true(highest > 0);
}

static void test_state_connection_counter_persists(void **state)
{
    (void)state;
    struct agent_state st;
    uint64_t c;
    assert_int_equal(agent_state_open(&st, dir, 0), IOT_OK);
    assert_int_equal(agent_state_next_connection(&st, &c), IOT_OK);
    assert_int_equal(c, 1);
    assert_int_equal(agent_state_next_connection(&st, &c), IOT_OK);
    assert_int_equal(c, 2);
    struct agent_state again; /* crash, then restart */
    assert_int_equal(agent_state_open(&again, dir, 0), IOT_OK);
    assert_int_equal(agent_state_next_connection(&again, &c), IOT_OK);
    assert_int_equal(c, 3);
}

static void test_state_damaged_file_is_refused(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, AGENT_STATE_FILE);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("epoch=zz\n", f);
    fclose(f);
    struct agent_state st;
    assert_int_equal(agent_state_open(&st, dir, 0), IOT_ERR_MALFORMED);
}

int main(void)
{
    iot_log_set_level(IOT_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_state_open_new_makes_epoch_and_starts_at_one, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_state_clean_reload_keeps_epoch_and_continues, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_state_crash_never_reuses_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_connection_counter_persists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_damaged_file_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
