/* SPDX-License-Identifier: Apache-2.0 */
/* The persisted replay set of command ids (cmd_replay.c) on its own: the floor raised by evictions
 * (and by a smaller max at load), the issued/expiry times kept on disk, and the upgrade of an
 * "IOTRPL01" file. Through the agent (a re-delivered forgotten command refused): test_commands.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_replay.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_crypto.h"
#include "iot/plat_file.h"

struct env {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    snprintf(e->dir, sizeof e->dir, "/tmp/iot-replay-test-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->path, sizeof e->path, "%s/%s", e->dir, AGENT_REPLAY_FILE);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", e->dir);
    free(e);
    return 0;
}

/* Command #i (0-based): id "id-i", issued at 1000 * (i + 1), expiring a minute later. */
static int64_t issued(int i) { return 1000 * (int64_t)(i + 1); }

static void record(struct agent_replay *rp, int i)
{
    char id[32];
    snprintf(id, sizeof id, "id-%d", i);
    assert_int_equal(agent_replay_begin(rp, id, issued(i), issued(i) + 60000), IOT_OK);
    assert_int_equal(agent_replay_finish(rp, id, (const uint8_t *)"res", 3), IOT_OK);
}

static bool known(const struct agent_replay *rp, int i)
{
    char id[32];
    snprintf(id, sizeof id, "id-%d", i);
    return agent_replay_find(rp, id, NULL, NULL) != AGENT_REPLAY_NONE;
}

static void test_replay_eviction_raises_floor_persisted(void **state)
{
    struct env *e = *state;
    struct agent_replay *rp;
    assert_int_equal(agent_replay_open(e->dir, 16, &rp), IOT_OK);
    for (int i = 0; i < 16; i++)
        record(rp, i);
    assert_int_equal(agent_replay_floor_ms(rp), 0); /* full, nothing forgotten yet */
    for (int i = 16; i < 20; i++)
        record(rp, i);
    assert_int_equal(agent_replay_count(rp), 16);
    for (int i = 0; i < 4; i++)
        assert_false(known(rp, i));
    for (int i = 4; i < 20; i++)
        assert_true(known(rp, i));
    assert_int_equal(agent_replay_floor_ms(rp), issued(3)); /* the 4th, the newest evicted */
    agent_replay_close(rp);

    /* Reopened from disk: the floor and each id's times come back. */
    uint8_t *buf;
    size_t len;
    assert_int_equal(plat_file_read(e->path, 1 << 20, &buf, &len), IOT_OK);
    assert_memory_equal(buf, "IOTRPL02", 8);
    iot_free(buf);
    assert_int_equal(agent_replay_open(e->dir, 16, &rp), IOT_OK);
    assert_int_equal(agent_replay_count(rp), 16);
    assert_int_equal(agent_replay_floor_ms(rp), issued(3));
    assert_false(known(rp, 3));
    /* the next eviction drops id-4, loaded from disk: its issued time was kept */
    record(rp, 20);
    assert_false(known(rp, 4));
    assert_int_equal(agent_replay_floor_ms(rp), issued(4));
    /* an evicted id older than the floor (or with no time) never lowers it */
    assert_int_equal(agent_replay_finish(rp, "no-times", (const uint8_t *)"r", 1), IOT_OK);
    for (int i = 21; i < 21 + 15; i++)
        record(rp, i);
    assert_false(known(rp, 20));
    assert_int_equal(agent_replay_find(rp, "no-times", NULL, NULL), AGENT_REPLAY_DONE);
    record(rp, 36); /* evicts "no-times" (issued 0) */
    assert_int_equal(agent_replay_find(rp, "no-times", NULL, NULL), AGENT_REPLAY_NONE);
    assert_int_equal(agent_replay_floor_ms(rp), issued(20));
    agent_replay_close(rp);

    /* A smaller max than the file holds keeps the newest; the ones dropped raise the floor. */
    assert_int_equal(agent_replay_open(e->dir, 4, &rp), IOT_OK);
    assert_int_equal(agent_replay_count(rp), 4);
    assert_false(known(rp, 32));
    for (int i = 33; i <= 36; i++)
        assert_true(known(rp, i));
    assert_int_equal(agent_replay_floor_ms(rp), issued(32));
    agent_replay_close(rp);
}

/* The previous layout: "IOTRPL01" | u32 count | count x (u8 state | u16 id_len | id | u32 res_len
 * | res) | sha256. */
static size_t v1_entry(uint8_t *p, uint8_t st, const char *id, const char *res)
{
    size_t idl = strlen(id), rl = strlen(res), n = 0;
    p[n++] = st;
    p[n++] = (uint8_t)idl;
    p[n++] = (uint8_t)(idl >> 8);
    memcpy(p + n, id, idl);
    n += idl;
    for (int i = 0; i < 4; i++)
        p[n++] = (uint8_t)(rl >> (8 * i));
    memcpy(p + n, res, rl);
    return n + rl;
}

static void write_v1(const struct env *e, uint32_t count)
{
    uint8_t buf[4096];
    size_t n = 0;
    memcpy(buf, "IOTRPL01", 8);
    n += 8;
    for (int i = 0; i < 4; i++)
        buf[n++] = (uint8_t)(count >> (8 * i));
    n += v1_entry(buf + n, AGENT_REPLAY_RUNNING, "old-run", "");
    for (uint32_t i = 1; i < count; i++) {
        char id[32];
        snprintf(id, sizeof id, "old-%u", (unsigned)i);
        n += v1_entry(buf + n, AGENT_REPLAY_DONE, id, "stored");
    }
    plat_sha256(buf, n, buf + n);
    n += 32;
    assert_int_equal(plat_file_write_atomic(e->path, buf, n, false), IOT_OK);
}

static void test_replay_v1_file_loads_and_upgrades(void **state)
{
    struct env *e = *state;
    write_v1(e, 3);
    struct agent_replay *rp;
    assert_int_equal(agent_replay_open(e->dir, 16, &rp), IOT_OK);
    assert_int_equal(agent_replay_count(rp), 3);
    assert_int_equal(agent_replay_floor_ms(rp), 0);
    assert_int_equal(agent_replay_find(rp, "old-run", NULL, NULL), AGENT_REPLAY_RUNNING);
    const uint8_t *res;
    size_t len;
    assert_int_equal(agent_replay_find(rp, "old-2", &res, &len), AGENT_REPLAY_DONE);
    assert_int_equal(len, 6);
    assert_memory_equal(res, "stored", 6);
    /* the next change writes the current layout, the old ids included */
    assert_int_equal(agent_replay_begin(rp, "new-1", 5000, 65000), IOT_OK);
    agent_replay_close(rp);
    uint8_t *buf;
    assert_int_equal(plat_file_read(e->path, 1 << 20, &buf, &len), IOT_OK);
    assert_memory_equal(buf, "IOTRPL02", 8);
    iot_free(buf);
    assert_int_equal(agent_replay_open(e->dir, 16, &rp), IOT_OK);
    assert_int_equal(agent_replay_count(rp), 4);
    assert_int_equal(agent_replay_find(rp, "old-1", &res, &len), AGENT_REPLAY_DONE);
    assert_memory_equal(res, "stored", 6);
    assert_int_equal(agent_replay_find(rp, "new-1", NULL, NULL), AGENT_REPLAY_RUNNING);
    agent_replay_close(rp);

    /* An old file larger than max: the newest kept; its ids had no times, so no floor. */
    write_v1(e, 20);
    assert_int_equal(agent_replay_open(e->dir, 16, &rp), IOT_OK);
    assert_int_equal(agent_replay_count(rp), 16);
    assert_int_equal(agent_replay_find(rp, "old-3", NULL, NULL), AGENT_REPLAY_NONE);
    assert_int_equal(agent_replay_find(rp, "old-19", NULL, NULL), AGENT_REPLAY_DONE);
    assert_int_equal(agent_replay_floor_ms(rp), 0);
    agent_replay_close(rp);
}

int main(void)
{
    iot_log_set_level(IOT_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replay_eviction_raises_floor_persisted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replay_v1_file_loads_and_upgrades, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
