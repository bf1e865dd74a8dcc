/* SPDX-License-Identifier: Apache-2.0 */
/* The in-memory store: seq order, in-flight marking, acks, requeue, drop-oldest with ranges. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "store.h"

static void append_n(struct agent_store *s, uint64_t first, uint64_t last)
{
    for (uint64_t q = first; q <= last; q++) {
        uint8_t rec[4] = {(uint8_t)q, 1, 2, 3};
        assert_int_equal(agent_store_append(s, q, rec, sizeof rec), IOT_OK);
    }
}

static size_t peek_seqs(struct agent_store *s, uint64_t *seqs, size_t max)
{
    struct agent_store_rec recs[64];
    size_t n;
    assert_int_equal(agent_store_peek(s, recs, max, &n), IOT_OK);
    for (size_t i = 0; i < n; i++) {
        seqs[i] = recs[i].seq;
        assert_int_equal(recs[i].len, 4);
        assert_int_equal(recs[i].data[0], (uint8_t)recs[i].seq);
    }
    return n;
}

static struct agent_store_stats stats(struct agent_store *s)
{
    struct agent_store_stats st;
    agent_store_stats(s, &st);
    return st;
}

static void test_store_peek_returns_unsent_in_seq_order(void **state)
{
    (void)state;
    struct agent_store s;
    assert_int_equal(agent_store_mem_create(10, &s), IOT_OK);
    append_n(&s, 1, 5);
    uint64_t q[8];
    assert_int_equal(peek_seqs(&s, q, 3), 3);
    assert_int_equal(q[0], 1);
    assert_int_equal(q[2], 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(agent_store_mark_inflight(&s, q[i]), IOT_OK);
    assert_int_equal(agent_store_mark_inflight(&s, 1), IOT_ERR_NOT_FOUND);
    assert_int_equal(peek_seqs(&s, q, 8), 2);
    assert_int_equal(q[0], 4);
    assert_int_equal(q[1], 5);
    assert_int_equal(stats(&s).count, 5);
    assert_int_equal(stats(&s).inflight, 3);
    assert_int_equal(stats(&s).bytes, 20);
    uint8_t rec[1] = {0};
    assert_int_equal(agent_store_append(&s, 5, rec, 1), IOT_ERR_INVAL); /* not increasing */
    agent_store_destroy(&s);
}

static void test_store_ack_removes_and_out_of_order_is_fine(void **state)
{
    (void)state;
    struct agent_store s;
    assert_int_equal(agent_store_mem_create(10, &s), IOT_OK);
    append_n(&s, 1, 6);
    for (uint64_t q = 1; q <= 6; q++)
        agent_store_mark_inflight(&s, q);
    assert_int_equal(agent_store_ack(&s, 3, 4), IOT_OK); /* a hole in the middle */
    assert_int_equal(stats(&s).count, 4);
    assert_int_equal(agent_store_ack(&s, 1, 1), IOT_OK);
    assert_int_equal(agent_store_ack(&s, 1, 1), IOT_OK); /* duplicate ack: ignored */
    assert_int_equal(agent_store_ack(&s, 100, 200), IOT_OK); /* unknown: ignored */
    assert_int_equal(stats(&s).count, 3);
    assert_int_equal(stats(&s).inflight, 3);
    agent_store_requeue_all(&s);
    uint64_t q[8];
    assert_int_equal(peek_seqs(&s, q, 8), 3);
    assert_int_equal(q[0], 2);
    assert_int_equal(q[1], 5);
    assert_int_equal(q[2], 6);
    assert_int_equal(agent_store_ack(&s, 1, 6), IOT_OK);
    assert_int_equal(stats(&s).count, 0);
    assert_int_equal(stats(&s).bytes, 0);
    assert_int_equal(peek_seqs(&s, q, 8), 0);
    agent_store_destroy(&s);
}

static void test_store_requeue_puts_failed_back_in_order(void **state)
{
    (void)state;
    struct agent_store s;
    assert_int_equal(agent_store_mem_create(10, &s), IOT_OK);
    append_n(&s, 10, 14);
    for (uint64_t q = 10; q <= 14; q++)
        agent_store_mark_inflight(&s, q);
    agent_store_requeue(&s, 12);
    uint64_t q[8];
    assert_int_equal(peek_seqs(&s, q, 8), 1);
    assert_int_equal(q[0], 12);
    agent_store_requeue_all(&s);
    assert_int_equal(peek_seqs(&s, q, 8), 5);
    assert_int_equal(q[0], 10);
    assert_int_equal(stats(&s).inflight, 0);
    agent_store_destroy(&s);
}

static void test_store_full_drops_oldest_with_ranges(void **state)
{
    (void)state;
    struct agent_store s;
    assert_int_equal(agent_store_mem_create(3, &s), IOT_OK);
    append_n(&s, 1, 5); /* 1 and 2 dropped */
    assert_int_equal(stats(&s).count, 3);
    assert_int_equal(stats(&s).dropped_total, 2);
    struct agent_seq_range r[4];
    assert_int_equal(agent_store_dropped(&s, r, 4), 1);
    assert_int_equal(r[0].first, 1);
    assert_int_equal(r[0].last, 2);
    uint64_t q[8];
    assert_int_equal(peek_seqs(&s, q, 8), 3);
    assert_int_equal(q[0], 3);

    /* 3 delivered, 4 in flight and then dropped: a second range starts after the acked one */
    agent_store_mark_inflight(&s, 3);
    agent_store_mark_inflight(&s, 4);
    agent_store_ack(&s, 3, 3);
    append_n(&s, 6, 7); /* holds 4,5,6 then drops 4 for 7 */
    assert_int_equal(stats(&s).dropped_total, 3);
    assert_int_equal(agent_store_dropped(&s, r, 4), 2);
    assert_int_equal(r[1].first, 4);
    assert_int_equal(r[1].last, 4);
    assert_int_equal(stats(&s).inflight, 0);
    assert_int_equal(agent_store_ack(&s, 4, 4), IOT_OK); /* late ack of a dropped one: ignored */

    agent_store_dropped_reported(&s, 2);
    assert_int_equal(agent_store_dropped(&s, r, 4), 1);
    assert_int_equal(r[0].first, 4);
    agent_store_dropped_reported(&s, 4);
    assert_int_equal(agent_store_dropped(&s, r, 4), 0);
    assert_int_equal(stats(&s).dropped_total, 3);
    agent_store_destroy(&s);
}

static void test_store_many_ranges_merge_into_the_last(void **state)
{
    (void)state;
    struct agent_store s;
    assert_int_equal(agent_store_mem_create(1, &s), IOT_OK);
    uint8_t rec[4] = {0};
    /* seqs 2,4,6,...: each append drops the previous one, never adjacent */
    for (uint64_t q = 2; q <= 2 * (AGENT_STORE_MAX_DROPPED_RANGES + 10); q += 2) {
        rec[0] = (uint8_t)q;
        assert_int_equal(agent_store_append(&s, q, rec, sizeof rec), IOT_OK);
    }
    struct agent_seq_range r[AGENT_STORE_MAX_DROPPED_RANGES + 1];
    size_t n = agent_store_dropped(&s, r, AGENT_STORE_MAX_DROPPED_RANGES + 1);
    assert_int_equal(n, AGENT_STORE_MAX_DROPPED_RANGES);
    assert_int_equal(r[n - 1].last, 2 * (AGENT_STORE_MAX_DROPPED_RANGES + 9));
    agent_store_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_peek_returns_unsent_in_seq_order),
        cmocka_unit_test(test_store_ack_removes_and_out_of_order_is_fine),
        cmocka_unit_test(test_store_requeue_puts_failed_back_in_order),
        cmocka_unit_test(test_store_full_drops_oldest_with_ranges),
        cmocka_unit_test(test_store_many_ranges_merge_into_the_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
