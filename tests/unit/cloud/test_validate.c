/* SPDX-License-Identifier: Apache-2.0 */
/* ingest_message_decode / ingest_validate_*: every rejection reason from a crafted message, and
 * valid messages pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "validate.h"

#define TOPIC_T "devices/dev-1/telemetry"
#define TOPIC_S "devices/dev-1/status"

static enum ingest_reason telemetry_reason(const Iot__V1__TelemetryBatch *b)
{
    struct ingest_reject rej;
    memset(&rej, 0, sizeof rej);
    assert_int_equal(ingest_validate_telemetry(b, "dev-1", FX_NOW_MS, &rej), IOT_ERR_MALFORMED);
    assert_true(rej.detail[0] != 0);
    return rej.reason;
}

static void test_validate_telemetry_valid_batch_passes(void **state)
{
    (void)state;
    struct fx_batch f;
    struct ingest_reject rej;
    fx_batch_init(&f, "dev-1", 42, 1, FX_SAMPLES);
    fx_batch_dropped(&f, 3, 3);
    assert_int_equal(ingest_validate_telemetry(&f.b, "dev-1", FX_NOW_MS, &rej), IOT_OK);
}

static void test_validate_telemetry_each_reason(void **state)
{
    (void)state;
    struct fx_batch f;

    fx_batch_init(&f, "dev-2", 42, 1, 2);
    assert_int_equal(telemetry_reason(&f.b), INGEST_REASON_ID_MISMATCH);

    fx_batch_init(&f, "dev-1", 0, 1, 2);
    assert_int_equal(telemetry_reason(&f.b), INGEST_REASON_BAD_EPOCH);

    fx_batch_init(&f, "dev-1", 42, 1, 0);
    assert_int_equal(telemetry_reason(&f.b), INGEST_REASON_NO_SAMPLES);

    fx_batch_init(&f, "dev-1", 42, 1, 2);
    f.b.n_samples = INGEST_MAX_SAMPLES + 1; /* checked before the samples are looked at */
    assert_int_equal(telemetry_reason(&f.b), INGEST_REASON_TOO_MANY_SAMPLES);

    fx_batch_init(&f, "dev-1", 42, 0, 2);
    assert_int_equal(telemetry_reason(&f.b), INGEST_REASON_BAD_SEQ);

    fx_batch_init(&f, "dev-1", 42, 1, 2);
    f.s[1].time_ms = 946684799999LL; /* 1999-12-31T23:59:59.999Z */
    assert_int_equal(telemetry_reason(&f.b), INGEST_REASON_BAD_TIME);
    f.s[1].time_ms = FX_NOW_MS + INGEST_MAX_FUTURE_MS + 1;
    assert_int_equal(telemetry_reason(&f.b), INGEST_REASON_BAD_TIME);
    f.s[1].time_ms = FX_NOW_MS + INGEST_MAX_FUTURE_MS; /* the edge is allowed */
    struct ingest_reject rej;
    assert_int_equal(ingest_validate_telemetry(&f.b, "dev-1", FX_NOW_MS, &rej), IOT_OK);

    fx_batch_init(&f, "dev-1", 42, 1, 2);
    f.s[0].n_metrics = INGEST_MAX_METRICS + 1;
    assert_int_equal(telemetry_reason(&f.b), INGEST_REASON_TOO_MANY_METRICS);

    static const char *const bad_names[] = {"", "has space", "slash/no", "\xc3\xa9t\xc3\xa9",
                                            "x2345678901234567890123456789012345678901234567890"
                                            "123456789012345"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        fx_batch_init(&f, "dev-1", 42, 1, 2);
        f.m[1][1].name = (char *)bad_names[i];
        assert_int_equal(telemetry_reason(&f.b), INGEST_REASON_BAD_METRIC_NAME);
    }
    fx_batch_init(&f, "dev-1", 42, 1, 2);
    f.m[1][1].name = "ok.name:with-all_chars9";
    assert_int_equal(ingest_validate_telemetry(&f.b, "dev-1", FX_NOW_MS, &rej), IOT_OK);
    f.m[1][1].name = "x234567890123456789012345678901234567890123456789012345678901234"; /* 64 */
    assert_int_equal(ingest_validate_telemetry(&f.b, "dev-1", FX_NOW_MS, &rej), IOT_OK);

    fx_batch_init(&f, "dev-1", 42, 1, 2);
    f.m[0][0].unit = "a unit that is much too long to be a unit";
    assert_int_equal(telemetry_reason(&f.b), INGEST_REASON_BAD_UNIT);

    fx_batch_init(&f, "dev-1", 42, 1, 2);
    f.m[0][1].value = NAN;
    assert_int_equal(telemetry_reason(&f.b), INGEST_REASON_NON_FINITE_VALUE);
    f.m[0][1].value = -INFINITY;
    assert_int_equal(telemetry_reason(&f.b), INGEST_REASON_NON_FINITE_VALUE);

    fx_batch_init(&f, "dev-1", 42, 1, 2);
    fx_batch_dropped(&f, 9, 8);
    assert_int_equal(telemetry_reason(&f.b), INGEST_REASON_BAD_DROPPED_RANGE);
    fx_batch_dropped(&f, 0, 8);
    assert_int_equal(telemetry_reason(&f.b), INGEST_REASON_BAD_DROPPED_RANGE);
}

static void test_validate_presence(void **state)
{
    (void)state;
    Iot__V1__Presence p;
    struct ingest_reject rej;
    fx_presence_init(&p, "dev-1", 1, 3);
    assert_int_equal(ingest_validate_presence(&p, "dev-1", &rej), IOT_OK);
    fx_presence_init(&p, "dev-1", 0, 3);
    assert_int_equal(ingest_validate_presence(&p, "dev-1", &rej), IOT_OK);
    assert_int_equal(ingest_validate_presence(&p, "dev-9", &rej), IOT_ERR_MALFORMED);
    assert_int_equal(rej.reason, INGEST_REASON_ID_MISMATCH);
    p.state = IOT__V1__PRESENCE__STATE__STATE_UNSPECIFIED;
    assert_int_equal(ingest_validate_presence(&p, "dev-1", &rej), IOT_ERR_MALFORMED);
    assert_int_equal(rej.reason, INGEST_REASON_BAD_PRESENCE);
    assert_string_equal(ingest_reason_name(rej.reason), "bad_presence");
}

static void test_decode_valid_messages(void **state)
{
    (void)state;
    struct fx_batch f;
    struct ingest_decoded d;
    struct ingest_reject rej;
    size_t len;
    fx_batch_init(&f, "dev-1", 0xfedcba9876543210ULL, 5, 3);
    uint8_t *buf = fx_pack_batch(&f.b, &len);
    assert_int_equal(ingest_message_decode(TOPIC_T, buf, len, FX_NOW_MS, &d, &rej), IOT_OK);
    assert_int_equal(d.kind, IOT_TOPIC_TELEMETRY);
    assert_string_equal(d.device_id, "dev-1");
    assert_non_null(d.telemetry);
    assert_true(d.telemetry->epoch == 0xfedcba9876543210ULL);
    assert_int_equal(d.telemetry->n_samples, 3);
    ingest_decoded_free(&d);
    free(buf);

    Iot__V1__Presence p;
    fx_presence_init(&p, "dev-1", 1, 7);
    buf = fx_pack_presence(&p, &len);
    assert_int_equal(ingest_message_decode(TOPIC_S, buf, len, FX_NOW_MS, &d, &rej), IOT_OK);
    assert_non_null(d.presence);
    assert_int_equal(d.presence->connection, 7);
    ingest_decoded_free(&d);
    free(buf);
}

static enum ingest_reason decode_reason(const char *topic, const uint8_t *buf, size_t len)
{
    struct ingest_decoded d;
    struct ingest_reject rej;
    assert_int_equal(ingest_message_decode(topic, buf, len, FX_NOW_MS, &d, &rej),
                     IOT_ERR_MALFORMED);
    assert_null(d.telemetry);
    assert_null(d.presence);
    return rej.reason;
}

static void test_decode_rejections(void **state)
{
    (void)state;
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x34};
    assert_int_equal(decode_reason("devices/dev-1/commands", garbage, sizeof garbage),
                     INGEST_REASON_UNKNOWN_TOPIC);
    assert_int_equal(decode_reason("devices/bad id/telemetry", garbage, sizeof garbage),
                     INGEST_REASON_UNKNOWN_TOPIC);
    assert_int_equal(decode_reason("other/dev-1/telemetry", garbage, sizeof garbage),
                     INGEST_REASON_UNKNOWN_TOPIC);
    assert_int_equal(decode_reason(TOPIC_T, garbage, sizeof garbage), INGEST_REASON_DECODE_FAILED);
    assert_int_equal(decode_reason(TOPIC_S, garbage, sizeof garbage), INGEST_REASON_DECODE_FAILED);

    uint8_t *big = calloc(1, IOT_MAX_PAYLOAD + 1);
    assert_non_null(big);
    assert_int_equal(decode_reason(TOPIC_T, big, IOT_MAX_PAYLOAD + 1), INGEST_REASON_OVERSIZE);
    free(big);

    /* An empty payload decodes to an empty batch: rejected by validation, not a crash. */
    assert_int_equal(decode_reason(TOPIC_T, NULL, 0), INGEST_REASON_ID_MISMATCH);

    /* Decoded fine, but the payload names another device. */
    struct fx_batch f;
    size_t len;
    fx_batch_init(&f, "dev-2", 42, 1, 1);
    uint8_t *buf = fx_pack_batch(&f.b, &len);
    assert_int_equal(decode_reason(TOPIC_T, buf, len), INGEST_REASON_ID_MISMATCH);
    free(buf);
}

static void test_decode_truncations_never_crash(void **state)
{
    (void)state;
    struct fx_batch f;
    size_t len;
    fx_batch_init(&f, "dev-1", 42, 1, FX_SAMPLES);
    uint8_t *buf = fx_pack_batch(&f.b, &len);
    for (size_t n = 0; n <= len; n++) {
        struct ingest_decoded d;
        struct ingest_reject rej;
        enum iot_err rc = ingest_message_decode(TOPIC_T, buf, n, FX_NOW_MS, &d, &rej);
        assert_true(rc == IOT_OK || rc == IOT_ERR_MALFORMED);
        ingest_decoded_free(&d);
    }
    for (size_t i = 0; i < len; i++) { /* every single-byte flip */
        struct ingest_decoded d;
        struct ingest_reject rej;
        buf[i] ^= 0x5a;
        enum iot_err rc = ingest_message_decode(TOPIC_T, buf, len, FX_NOW_MS, &d, &rej);
        assert_true(rc == IOT_OK || rc == IOT_ERR_MALFORMED);
        ingest_decoded_free(&d);
        buf[i] ^= 0x5a;
    }
    free(buf);
}

static void test_reason_names_are_distinct(void **state)
{
    (void)state;
    for (int i = 0; i < INGEST_REASON_COUNT; i++) {
        const char *a = ingest_reason_name((enum ingest_reason)i);
        assert_non_null(a);
        assert_string_not_equal(a, "unknown");
        for (int j = i + 1; j < INGEST_REASON_COUNT; j++)
            assert_string_not_equal(a, ingest_reason_name((enum ingest_reason)j));
    }
    assert_string_equal(ingest_reason_name(INGEST_REASON_NON_FINITE_VALUE), "non_finite_value");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_telemetry_valid_batch_passes),
        cmocka_unit_test(test_validate_telemetry_each_reason),
        cmocka_unit_test(test_validate_presence),
        cmocka_unit_test(test_decode_valid_messages),
        cmocka_unit_test(test_decode_rejections),
        cmocka_unit_test(test_decode_truncations_never_crash),
        cmocka_unit_test(test_reason_names_are_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
