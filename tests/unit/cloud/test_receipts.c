/* SPDX-License-Identifier: Apache-2.0 */
/* Receipt aggregation: ranges merge per (device, epoch), one message per interval per device, a
 * failed send stays pending, the encoded Receipt names exactly the committed ranges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "iot/codec.h"
#include "receipts.h"

struct sent {
    char topic[128];
    Iot__V1__Receipt *r[16];
    size_t n;
    enum iot_err answer;
};

static enum iot_err capture(void *ctx, const char *topic, const uint8_t *buf, size_t len)
{
    struct sent *s = ctx;
    if (s->answer != IOT_OK)
        return s->answer;
    assert_true(s->n < 16);
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    s->r[s->n] = iot__v1__receipt__unpack(iot_pb_allocator(), len, buf);
    assert_non_null(s->r[s->n]);
    s->n++;
    return IOT_OK;
}

static void sent_free(struct sent *s)
{
    for (size_t i = 0; i < s->n; i++)
        iot__v1__receipt__free_unpacked(s->r[i], iot_pb_allocator());
    s->n = 0;
}

static void add(struct receipts *r, const char *dev, uint64_t epoch, uint64_t first, uint64_t last)
{
    struct ingest_seq_range range = {first, last};
    struct ingest_receipt rc = {dev, epoch, &range, 1};
    receipts_add(r, &rc, 1);
}

static void test_ranges_merge_out_of_order_into_one(void **state)
{
    (void)state;
    struct receipts *r;
    assert_int_equal(receipts_create(200, &r), IOT_OK);
    add(r, "d1", 7, 5, 9);
    add(r, "d1", 7, 1, 2);
    add(r, "d1", 7, 3, 4);   /* bridges 1-2 and 5-9 */
    add(r, "d1", 7, 20, 20);
    add(r, "d1", 7, 8, 12);  /* overlaps */
    add(r, "d1", 7, 2, 3);   /* duplicate re-send */
    struct sent s = {.answer = IOT_OK};
    assert_int_equal(receipts_flush(r, 1000, capture, &s), 1);
    assert_string_equal(s.topic, "devices/d1/receipts");
    assert_int_equal(s.r[0]->epoch, 7);
    assert_string_equal(s.r[0]->device_id, "d1");
    assert_int_equal(s.r[0]->n_ranges, 2);
    assert_int_equal(s.r[0]->ranges[0]->first, 1);
    assert_int_equal(s.r[0]->ranges[0]->last, 12);
    assert_int_equal(s.r[0]->ranges[1]->first, 20);
    assert_int_equal(s.r[0]->ranges[1]->last, 20);
    sent_free(&s);
    assert_int_equal(receipts_pending(r), 0);
    receipts_destroy(r);
}

static void test_interval_limits_rate_per_device(void **state)
{
    (void)state;
    struct receipts *r;
    assert_int_equal(receipts_create(200, &r), IOT_OK);
    struct sent s = {.answer = IOT_OK};
    add(r, "a", 1, 1, 1);
    add(r, "b", 1, 1, 1);
    assert_int_equal(receipts_flush(r, 1000, capture, &s), 2);
    sent_free(&s);
    add(r, "a", 1, 2, 2);
    assert_int_equal(receipts_flush(r, 1100, capture, &s), 0); /* too soon for a */
    add(r, "a", 1, 3, 3);
    assert_int_equal(receipts_flush(r, 1200, capture, &s), 1);
    assert_int_equal(s.r[0]->n_ranges, 1);
    assert_int_equal(s.r[0]->ranges[0]->first, 2);
    assert_int_equal(s.r[0]->ranges[0]->last, 3);
    sent_free(&s);
    receipts_destroy(r);
}

static void test_epochs_are_separate_and_failed_send_stays_pending(void **state)
{
    (void)state;
    struct receipts *r;
    assert_int_equal(receipts_create(0, &r), IOT_OK);
    add(r, "a", 1, 1, 5);
    add(r, "a", 2, 1, 5);
    struct sent s = {.answer = IOT_ERR_CLOSED};
    assert_int_equal(receipts_flush(r, 10, capture, &s), 0);
    assert_int_equal(receipts_pending(r), 2);
    s.answer = IOT_OK;
    assert_int_equal(receipts_flush(r, 20, capture, &s), 2);
    assert_true((s.r[0]->epoch == 1 && s.r[1]->epoch == 2) || (s.r[0]->epoch == 2 && s.r[1]->epoch == 1));
    sent_free(&s);
    assert_int_equal(receipts_pending(r), 0);
    receipts_destroy(r);
}

static void test_many_gaps_split_into_several_messages(void **state)
{
    (void)state;
    struct receipts *r;
    assert_int_equal(receipts_create(0, &r), IOT_OK);
    for (uint64_t i = 0; i < RECEIPTS_MAX_RANGES + 10; i++)
        add(r, "g", 3, i * 2 + 1, i * 2 + 1); /* odd seqs only: every one its own range */
    struct sent s = {.answer = IOT_OK};
    assert_int_equal(receipts_flush(r, 10, capture, &s), 1);
    assert_int_equal(s.r[0]->n_ranges, RECEIPTS_MAX_RANGES);
    assert_int_equal(s.r[0]->ranges[0]->first, 1);
    sent_free(&s);
    assert_int_equal(receipts_pending(r), 10);
    assert_int_equal(receipts_flush(r, 20, capture, &s), 1);
    assert_int_equal(s.r[0]->n_ranges, 10);
    assert_int_equal(s.r[0]->ranges[0]->first, RECEIPTS_MAX_RANGES * 2 + 1);
    sent_free(&s);
    receipts_destroy(r);
}

/* Thousands of devices (a smart-home simulation): each device's ranges stay its own, through an
 * eviction of idle entries that moves the others in the table. */
enum { MANY = 3000 };
struct per_device {
    unsigned receipts[MANY];
    uint64_t first[MANY], last[MANY];
    unsigned bad;
};

static enum iot_err count_per_device(void *ctx, const char *topic, const uint8_t *buf, size_t len)
{
    struct per_device *p = ctx;
    unsigned d;
    Iot__V1__Receipt *r = iot__v1__receipt__unpack(iot_pb_allocator(), len, buf);
    assert_non_null(r);
    char want[64];
    if (sscanf(r->device_id, "dev-%u", &d) != 1 || d >= MANY || r->n_ranges != 1)
        p->bad++;
    else if (snprintf(want, sizeof want, "devices/%s/receipts", r->device_id) > 0 &&
             strcmp(want, topic) != 0)
        p->bad++;
    else {
        p->receipts[d]++;
        p->first[d] = r->ranges[0]->first;
        p->last[d] = r->ranges[0]->last;
    }
    iot__v1__receipt__free_unpacked(r, iot_pb_allocator());
    return IOT_OK;
}

static void test_thousands_of_devices_and_eviction(void **state)
{
    (void)state;
    static struct per_device p;
    struct receipts *r;
    const uint64_t hour = 3600 * 1000;
    assert_int_equal(receipts_create(hour, &r), IOT_OK);
    char id[32];
    for (unsigned round = 0; round < 2; round++)
        for (unsigned d = 0; d < MANY; d++) {
            snprintf(id, sizeof id, "dev-%u", d);
            add(r, id, 1, round + 1, round + 1); /* 1, then 2: merge into [1, 2] */
        }
    memset(&p, 0, sizeof p);
    assert_int_equal(receipts_flush(r, 10, count_per_device, &p), MANY);
    for (unsigned d = 0; d < MANY; d++) {
        assert_int_equal(p.receipts[d], 1);
        assert_int_equal(p.first[d], 1);
        assert_int_equal(p.last[d], 2);
    }
    /* the odd devices send again (pending: the interval has not passed); the even ones stay idle
     * past the eviction age, and evicting them moves the odd ones in the table */
    for (unsigned d = 1; d < MANY; d += 2) {
        snprintf(id, sizeof id, "dev-%u", d);
        add(r, id, 1, 3, 3);
    }
    uint64_t later = 10 + 11 * 60 * 1000;
    assert_int_equal(receipts_flush(r, later, count_per_device, &p), 0);
    /* every device again: an odd one's range joins its pending [3, 3]; the even ones come back */
    for (unsigned d = 0; d < MANY; d++) {
        snprintf(id, sizeof id, "dev-%u", d);
        add(r, id, 1, d % 2 ? 4 : 10 + d, d % 2 ? 4 : 10 + d);
    }
    memset(&p, 0, sizeof p);
    assert_int_equal(receipts_flush(r, later + 2 * hour, count_per_device, &p), MANY);
    assert_int_equal(p.bad, 0);
    for (unsigned d = 0; d < MANY; d++) {
        assert_int_equal(p.receipts[d], 1);
        assert_int_equal(p.first[d], d % 2 ? 3 : 10 + d);
        assert_int_equal(p.last[d], d % 2 ? 4 : 10 + d);
    }
    assert_int_equal(receipts_pending(r), 0);
    receipts_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges_merge_out_of_order_into_one),
        cmocka_unit_test(test_interval_limits_rate_per_device),
        cmocka_unit_test(test_epochs_are_separate_and_failed_send_stays_pending),
        cmocka_unit_test(test_many_gaps_split_into_several_messages),
        cmocka_unit_test(test_thousands_of_devices_and_eviction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
