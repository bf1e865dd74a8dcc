/* SPDX-License-Identifier: Apache-2.0 */
/* The on-disk store (store_log.c): order, acknowledgement and its persistence, crash recovery
 * (a copy of the directory taken while the store is open = what a kill -9 leaves), torn and
 * corrupted segments, the byte bound with dropped ranges, the live lane, 100,000 records. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/config.h"
#include "iot/log.h"
#include "iot/plat_file.h"
#include "store.h"
#include "store_log.h"

struct env {
    char dir[64];
    char store[96];
    struct agent_store s;
};

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

static void open_at(struct env *e, const char *dir, uint64_t max_bytes)
{
    struct agent_store_log_opts o = {.dir = dir, .max_bytes = max_bytes,
                                     .fsync = AGENT_FSYNC_NEVER, .fsync_interval_ms = 1000};
    assert_int_equal(agent_store_log_create(&o, &e->s), IOT_OK);
}

static struct env *env_new(uint64_t max_bytes)
{
    struct env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    snprintf(e->dir, sizeof e->dir, "/tmp/iot-store-test-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->store, sizeof e->store, "%s/store", e->dir);
    open_at(e, e->store, max_bytes);
    return e;
}

static void reopen(struct env *e, uint64_t max_bytes)
{
    agent_store_destroy(&e->s);
    open_at(e, e->store, max_bytes);
}

/* What a kill -9 leaves: the files as they are now (every write() is in them), no clean close. */
static void crash_reopen(struct env *e, uint64_t max_bytes)
{
    char copy[128];
    snprintf(copy, sizeof copy, "%s/crashed", e->dir);
    sh("rm -rf '%s' && cp -a '%s' '%s'", copy, e->store, copy);
    agent_store_destroy(&e->s);
    sh("rm -rf '%s' && mv '%s' '%s'", e->store, copy, e->store);
    open_at(e, e->store, max_bytes);
}

static void env_free(struct env *e)
{
    agent_store_destroy(&e->s);
    sh("rm -rf '%s'", e->dir);
    free(e);
}

/* A sample payload of 100..163 bytes that encodes its seq, so content can be checked. */
static size_t payload(uint64_t seq, uint8_t *buf)
{
    size_t len = 100 + seq % 64;
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seq * 31 + i);
    return len;
}

static void append_range(struct env *e, uint64_t first, uint64_t last)
{
    uint8_t buf[256];
    for (uint64_t q = first; q <= last; q++) {
        size_t len = payload(q, buf);
        assert_int_equal(agent_store_append(&e->s, q, buf, len), IOT_OK);
    }
}

static struct agent_store_stats stats(struct env *e)
{
    struct agent_store_stats st;
    agent_store_stats(&e->s, &st);
    return st;
}

/* Peek and mark everything unsent (backlog lane), checking payloads; the seqs go to @p out. */
static size_t send_all(struct env *e, uint64_t *out, size_t cap)
{
    size_t total = 0;
    struct agent_store_rec recs[64];
    uint8_t want[256];
    for (int guard = 0; guard < 1000000; guard++) {
        size_t n = 0;
        assert_int_equal(agent_store_peek(&e->s, recs, 64, &n), IOT_OK);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            size_t len = payload(recs[i].seq, want);
            assert_int_equal(recs[i].len, len);
            assert_memory_equal(recs[i].data, want, len);
            if (total < cap)
                out[total] = recs[i].seq;
            total++;
        }
        for (size_t i = 0; i < n; i++)
            assert_int_equal(agent_store_mark_inflight(&e->s, recs[i].seq), IOT_OK);
    }
    return total;
}

static void expect_seqs(const uint64_t *got, size_t n, uint64_t first, uint64_t last)
{
    assert_int_equal(n, last - first + 1);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(got[i], first + i);
}

static char *tail_segment(struct env *e)
{
    char **names = NULL;
    size_t n = 0;
    assert_int_equal(plat_dir_list(e->store, &names, &n), IOT_OK);
    static char path[256];
    path[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(names[i], "seg-", 4) == 0)
            snprintf(path, sizeof path, "%s/%s", e->store, names[i]);
        free(names[i]);
    }
    free(names);
    assert_true(path[0]);
    return path;
}

/* Byte offset of record @p seq in a fresh store written by append_range from 1. */
static long offset_of(uint64_t seq)
{
    long off = 0;
    for (uint64_t q = 1; q < seq; q++)
        off += 16 + (long)(100 + q % 64);
    return off;
}

static void test_store_log_peek_in_order_without_consuming(void **state)
{
    (void)state;
    struct env *e = env_new(1u << 20);
    append_range(e, 1, 20);
    struct agent_store_rec r[8];
    size_t n;
    assert_int_equal(agent_store_peek(&e->s, r, 8, &n), IOT_OK);
    assert_int_equal(n, 8);
    assert_int_equal(r[0].seq, 1);
    assert_int_equal(r[7].seq, 8);
    assert_int_equal(agent_store_peek(&e->s, r, 8, &n), IOT_OK); /* peek again: the same */
    assert_int_equal(r[0].seq, 1);
    assert_int_equal(agent_store_mark_inflight(&e->s, 1), IOT_OK);
    assert_int_equal(agent_store_mark_inflight(&e->s, 2), IOT_OK);
    assert_int_equal(agent_store_mark_inflight(&e->s, 99), IOT_ERR_NOT_FOUND);
    assert_int_equal(agent_store_peek(&e->s, r, 8, &n), IOT_OK);
    assert_int_equal(r[0].seq, 3);
    assert_int_equal(stats(e).count, 20);
    assert_int_equal(stats(e).inflight, 2);
    uint8_t b[4] = {1, 2, 3, 4};
    assert_int_equal(agent_store_append(&e->s, 20, b, 4), IOT_ERR_INVAL); /* seq not increasing */
    assert_int_equal(agent_store_append(&e->s, 21, b, 0), IOT_ERR_INVAL);
    env_free(e);
}

static void test_store_log_ack_removes_and_survives_reopen(void **state)
{
    (void)state;
    struct env *e = env_new(1u << 20);
    append_range(e, 1, 30);
    uint64_t seqs[64];
    assert_int_equal(send_all(e, seqs, 64), 30);
    assert_int_equal(agent_store_ack(&e->s, 1, 10), IOT_OK);
    assert_int_equal(agent_store_ack(&e->s, 21, 25), IOT_OK); /* out of order: a gap at 11..20 */
    assert_int_equal(stats(e).count, 15);
    reopen(e, 1u << 20); /* clean close saves the acknowledged state */
    assert_int_equal(stats(e).count, 15);
    size_t n = send_all(e, seqs, 64);
    assert_int_equal(n, 15);
    expect_seqs(seqs, 10, 11, 20);
    expect_seqs(seqs + 10, 5, 26, 30);
    assert_int_equal(agent_store_ack(&e->s, 11, 20), IOT_OK); /* the gap closes */
    assert_int_equal(agent_store_ack(&e->s, 26, 30), IOT_OK);
    assert_int_equal(stats(e).count, 0);
    assert_int_equal(agent_store_ack(&e->s, 5, 7), IOT_OK); /* duplicates: ignored */
    assert_int_equal(stats(e).count, 0);
    env_free(e);
}

static void test_store_log_crash_redelivers_unacked_and_keeps_seqs(void **state)
{
    (void)state;
    struct env *e = env_new(1u << 20);
    append_range(e, 1, 50);
    uint64_t seqs[64];
    send_all(e, seqs, 64);
    assert_int_equal(agent_store_ack(&e->s, 1, 20), IOT_OK);
    uint64_t next;
    assert_int_equal(agent_store_tick(&e->s, 10000, &next), IOT_OK); /* acks 1..20 saved */
    assert_int_equal(agent_store_ack(&e->s, 21, 30), IOT_OK);        /* not saved: crash */
    crash_reopen(e, 1u << 20);
    /* Everything not durably acknowledged comes again, in order; nothing is lost. */
    assert_int_equal(stats(e).count, 30);
    assert_int_equal(send_all(e, seqs, 64), 30);
    expect_seqs(seqs, 30, 21, 50);
    uint8_t b[8] = {0};
    assert_int_equal(agent_store_append(&e->s, 50, b, 8), IOT_ERR_INVAL); /* seqs never reused */
    assert_int_equal(agent_store_append(&e->s, 51, b, 8), IOT_OK);
    assert_int_equal(stats(e).corrupt_total, 0);
    env_free(e);
}

static void test_store_log_torn_tail_keeps_intact_records(void **state)
{
    (void)state;
    struct env *e = env_new(1u << 20);
    append_range(e, 1, 40);
    char path[256];
    snprintf(path, sizeof path, "%s", tail_segment(e));
    agent_store_destroy(&e->s);
    /* Cut record 40 in the middle (a power cut during its write). */
    assert_int_equal(truncate(path, offset_of(40) + 30), 0);
    open_at(e, e->store, 1u << 20);
    assert_int_equal(stats(e).count, 39);
    assert_int_equal(stats(e).corrupt_total, 1);
    uint64_t seqs[64];
    expect_seqs(seqs, send_all(e, seqs, 64), 1, 39);
    append_range(e, 41, 45); /* appends go on after the last intact record */
    reopen(e, 1u << 20);
    assert_int_equal(stats(e).corrupt_total, 1); /* counted once, not at every open */
    agent_store_requeue_all(&e->s);
    size_t n = send_all(e, seqs, 64);
    assert_int_equal(n, 44);
    assert_int_equal(seqs[38], 39);
    assert_int_equal(seqs[39], 41);
    env_free(e);
}

static void test_store_log_corrupt_byte_loses_one_record(void **state)
{
    (void)state;
    struct env *e = env_new(1u << 20);
    append_range(e, 1, 100);
    char path[256];
    snprintf(path, sizeof path, "%s", tail_segment(e));
    agent_store_destroy(&e->s);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t byte;
    assert_int_equal(pread(fd, &byte, 1, offset_of(50) + 40), 1);
    byte ^= 0x40;
    assert_int_equal(pwrite(fd, &byte, 1, offset_of(50) + 40), 1);
    close(fd);
    open_at(e, e->store, 1u << 20);
    assert_int_equal(stats(e).count, 99);
    assert_int_equal(stats(e).corrupt_total, 1);
    /* the lost seq is reported to the cloud as dropped: lost, not late */
    struct agent_seq_range r[4];
    assert_int_equal(agent_store_dropped(&e->s, r, 4), 1);
    assert_int_equal(r[0].first, 50);
    assert_int_equal(r[0].last, 50);
    uint64_t seqs[128];
    size_t n = send_all(e, seqs, 128);
    assert_int_equal(n, 99);
    expect_seqs(seqs, 49, 1, 49);
    expect_seqs(seqs + 49, 50, 51, 100);
    reopen(e, 1u << 20);
    assert_int_equal(stats(e).corrupt_total, 1);
    assert_int_equal(stats(e).count, 99);
    env_free(e);
}

static void test_store_log_full_drops_oldest_and_reports(void **state)
{
    (void)state;
    const uint64_t max = 64u * 1024u; /* 4 segments of 16 KiB: ~560 records of ~145 B */
    struct env *e = env_new(max);
    append_range(e, 1, 2000);
    struct agent_store_stats st = stats(e);
    assert_true(st.dropped_total > 0);
    assert_int_equal(st.dropped_total + st.count, 2000); /* each sample held or counted dropped */
    assert_true(st.disk_bytes <= max + 8192);
    struct agent_seq_range r[AGENT_STORE_MAX_DROPPED_RANGES];
    assert_int_equal(agent_store_dropped(&e->s, r, AGENT_STORE_MAX_DROPPED_RANGES), 1);
    assert_int_equal(r[0].first, 1);
    assert_int_equal(r[0].last, st.dropped_total);
    uint64_t seqs[2000];
    size_t n = send_all(e, seqs, 2000);
    assert_int_equal(n, st.count);
    expect_seqs(seqs, n, st.dropped_total + 1, 2000); /* the newest are all kept, in order */

    reopen(e, max); /* the dropped ranges are persisted */
    assert_int_equal(agent_store_dropped(&e->s, r, AGENT_STORE_MAX_DROPPED_RANGES), 1);
    assert_int_equal(r[0].last, st.dropped_total);
    assert_int_equal(stats(e).dropped_total, st.dropped_total);
    /* A receipt of a seq appended before the last drop proves nothing; one after it does. */
    assert_int_equal(agent_store_ack(&e->s, st.dropped_total + 1, st.dropped_total + 1), IOT_OK);
    assert_int_equal(agent_store_dropped(&e->s, r, AGENT_STORE_MAX_DROPPED_RANGES), 1);
    assert_int_equal(agent_store_ack(&e->s, 2000, 2000), IOT_OK);
    assert_int_equal(agent_store_dropped(&e->s, r, AGENT_STORE_MAX_DROPPED_RANGES), 0);
    reopen(e, max);
    assert_int_equal(agent_store_dropped(&e->s, r, AGENT_STORE_MAX_DROPPED_RANGES), 0);
    env_free(e);
}

/* A run that had reserved seqs up to 1000 (the agent's state says: next seq 1001) appended 1..10
 * and was killed. Resuming at 1001 reports 11..1000 as dropped, without counting them as records
 * dropped for space; the range is persisted and forgotten once a later seq is acknowledged. No gap,
 * or one wider than the reservation block, adds nothing. */
static void test_store_log_resume_reports_unused_reserved_seqs(void **state)
{
    (void)state;
    struct env *e = env_new(1u << 20);
    append_range(e, 1, 10);
    assert_int_equal(agent_store_ack(&e->s, 1, 5), IOT_OK);
    crash_reopen(e, 1u << 20);
    assert_int_equal(agent_store_resume_at(&e->s, 11, 1000), 0);   /* a clean stop: no gap */
    assert_int_equal(agent_store_resume_at(&e->s, 5000, 1000), 0); /* more than one block */
    assert_int_equal(agent_store_resume_at(&e->s, 1001, 1000), 990);
    struct agent_seq_range r[AGENT_STORE_MAX_DROPPED_RANGES];
    assert_int_equal(agent_store_dropped(&e->s, r, AGENT_STORE_MAX_DROPPED_RANGES), 1);
    assert_int_equal(r[0].first, 11);
    assert_int_equal(r[0].last, 1000);
    assert_int_equal(stats(e).dropped_total, 0);
    assert_int_equal(stats(e).count, 10); /* the 10 held samples still go */
    uint64_t next;
    assert_int_equal(agent_store_tick(&e->s, 10000, &next), IOT_OK);
    reopen(e, 1u << 20);
    assert_int_equal(agent_store_dropped(&e->s, r, AGENT_STORE_MAX_DROPPED_RANGES), 1);
    assert_int_equal(agent_store_resume_at(&e->s, 1001, 1000), 0); /* already told */
    uint8_t b[8] = {0};
    assert_int_equal(agent_store_append(&e->s, 1001, b, 8), IOT_OK);
    assert_int_equal(agent_store_ack(&e->s, 1001, 1001), IOT_OK);
    assert_int_equal(agent_store_dropped(&e->s, r, AGENT_STORE_MAX_DROPPED_RANGES), 0);
    env_free(e);
}

static void test_store_log_live_lane_beside_backlog(void **state)
{
    (void)state;
    struct env *e = env_new(1u << 20);
    append_range(e, 1, 100); /* an outage's backlog */
    agent_store_live_mark(&e->s);
    append_range(e, 101, 103); /* live samples */
    struct agent_store_rec r[16];
    size_t n;
    assert_int_equal(agent_store_peek_live(&e->s, r, 16, &n), IOT_OK);
    assert_int_equal(n, 3);
    assert_int_equal(r[0].seq, 101);
    for (size_t i = 0; i < n; i++)
        agent_store_mark_inflight(&e->s, r[i].seq);
    assert_int_equal(agent_store_peek(&e->s, r, 16, &n), IOT_OK);
    assert_int_equal(r[0].seq, 1); /* the backlog, in seq order, stops before the live lane */
    uint64_t seqs[128];
    size_t k = send_all(e, seqs, 128);
    expect_seqs(seqs, k, 1, 100);
    append_range(e, 104, 105);
    /* backlog sent: the lanes merge; 101..103 are not sent twice */
    assert_int_equal(agent_store_peek(&e->s, r, 16, &n), IOT_OK);
    assert_int_equal(n, 2);
    assert_int_equal(r[0].seq, 104);
    assert_int_equal(agent_store_peek_live(&e->s, r, 16, &n), IOT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(stats(e).inflight, 103);
    env_free(e);
}

static void test_store_log_requeue_resends_in_order(void **state)
{
    (void)state;
    struct env *e = env_new(1u << 20);
    append_range(e, 1, 30);
    uint64_t seqs[64];
    send_all(e, seqs, 64);
    agent_store_ack(&e->s, 1, 5);
    agent_store_ack(&e->s, 11, 12);
    agent_store_requeue_all(&e->s); /* no receipt in time: all unacknowledged go again */
    assert_int_equal(stats(e).inflight, 0);
    size_t n = send_all(e, seqs, 64);
    assert_int_equal(n, 23);
    expect_seqs(seqs, 5, 6, 10);
    expect_seqs(seqs + 5, 18, 13, 30);
    agent_store_requeue(&e->s, 20); /* one failed publish */
    n = send_all(e, seqs, 64);
    expect_seqs(seqs, n, 20, 30);
    env_free(e);
}

static void test_store_log_100k_round_trip(void **state)
{
    (void)state;
    const uint64_t N = 100000;
    struct env *e = env_new(64u * 1024u * 1024u);
    append_range(e, 1, N);
    reopen(e, 64u * 1024u * 1024u);
    assert_int_equal(stats(e).count, N);
    assert_true(stats(e).disk_bytes < 32u * 1024u * 1024u);
    uint64_t *seqs = malloc(N * sizeof *seqs);
    assert_non_null(seqs);
    size_t n = send_all(e, seqs, N);
    expect_seqs(seqs, n, 1, N);
    for (uint64_t q = 1; q <= N; q += 1000)
        assert_int_equal(agent_store_ack(&e->s, q, q + 999), IOT_OK);
    assert_int_equal(stats(e).count, 0);
    assert_true(stats(e).disk_bytes <= 4u * 1024u * 1024u + 8192); /* only the tail is left */
    free(seqs);
    env_free(e);
}

static void test_store_config_section_parses_and_rejects(void **state)
{
    (void)state;
    static const char base[] = "[device]\nid = d1\n[mqtt]\nca_file = a\ncert_file = b\nkey_file = c\n";
    char text[512], err[300];
    struct agent_config cfg;
    snprintf(text, sizeof text, "%s[store]\nkind = disk\nmax_bytes = 8M\nfsync = always\n"
             "fsync_interval_ms = 250\nresend_after_ms = 2000\nack = receipt\n", base);
    assert_int_equal(agent_config_parse("a.conf", text, &cfg, err, sizeof err), IOT_OK);
    assert_int_equal(cfg.store.max_bytes, 8u << 20);
    assert_int_equal(cfg.store.fsync, AGENT_FSYNC_ALWAYS);
    assert_int_equal(cfg.store.fsync_interval_ms, 250);
    assert_int_equal(cfg.store.resend_after_ms, 2000);
    agent_config_defaults(&cfg);
    assert_int_equal(cfg.store.kind, AGENT_STORE_DISK);
    assert_int_equal(cfg.store.fsync, AGENT_FSYNC_INTERVAL);
    assert_int_equal(cfg.store.ack, AGENT_ACK_RECEIPT);
    snprintf(text, sizeof text, "%s[store]\nfsync = sometimes\n", base);
    assert_int_equal(agent_config_parse("a.conf", text, &cfg, err, sizeof err), IOT_ERR_INVAL);
    assert_non_null(strstr(err, "a.conf:8: [store] fsync: bad policy 'sometimes'"));
    snprintf(text, sizeof text, "%s[store]\nmax_bytes = 1K\n", base);
    assert_int_equal(agent_config_parse("a.conf", text, &cfg, err, sizeof err), IOT_ERR_INVAL);
    assert_non_null(strstr(err, "out of range"));
}

int main(void)
{
    iot_log_set_level(IOT_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_log_peek_in_order_without_consuming),
        cmocka_unit_test(test_store_log_ack_removes_and_survives_reopen),
        cmocka_unit_test(test_store_log_crash_redelivers_unacked_and_keeps_seqs),
        cmocka_unit_test(test_store_log_torn_tail_keeps_intact_records),
        cmocka_unit_test(test_store_log_corrupt_byte_loses_one_record),
        cmocka_unit_test(test_store_log_full_drops_oldest_and_reports),
        cmocka_unit_test(test_store_log_resume_reports_unused_reserved_seqs),
        cmocka_unit_test(test_store_log_live_lane_beside_backlog),
        cmocka_unit_test(test_store_log_requeue_resends_in_order),
        cmocka_unit_test(test_store_log_100k_round_trip),
        cmocka_unit_test(test_store_config_section_parses_and_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
