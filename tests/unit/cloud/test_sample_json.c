/* SPDX-License-Identifier: Apache-2.0 */
/* The metrics column's encoder (sample_json.c): valid JSON that reads back (cJSON) to the same
 * names, exact doubles and units; escaping of quotes, backslashes and control bytes; the unit left
 * out when empty; non-finite values as null; one buffer reused across samples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sample_json.h"

static Iot__V1__Sample sample_of(Iot__V1__Metric *ms, Iot__V1__Metric **ptrs, size_t n)
{
    Iot__V1__Sample s = IOT__V1__SAMPLE__INIT;
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &ms[i];
    s.metrics = ptrs;
    s.n_metrics = n;
    return s;
}

static Iot__V1__Metric metric(const char *name, double v, const char *unit)
{
    Iot__V1__Metric m = IOT__V1__METRIC__INIT;
    m.name = (char *)name;
    m.value = v;
    m.unit = (char *)unit;
    return m;
}

static void test_plain_values_are_short(void **state)
{
    (void)state;
    Iot__V1__Metric ms[3] = {metric("temperature", 21.5, "C"), metric("humidity", 0.1, ""),
                             metric("count", 7, NULL)};
    Iot__V1__Metric *p[3];
    Iot__V1__Sample s = sample_of(ms, p, 3);
    struct sample_json j = {0};
    assert_int_equal(sample_json_encode(&j, &s), IOT_OK);
    assert_string_equal(j.buf, "[[\"temperature\",21.5,\"C\"],[\"humidity\",0.1],[\"count\",7]]");
    assert_int_equal(j.len, strlen(j.buf));
    Iot__V1__Sample empty = IOT__V1__SAMPLE__INIT;
    assert_int_equal(sample_json_encode(&j, &empty), IOT_OK);
    assert_string_equal(j.buf, "[]");
    sample_json_free(&j);
    assert_null(j.buf);
}

static void test_round_trip_exact_and_escaped(void **state)
{
    (void)state;
    const double vals[] = {1.0 / 3.0, -0.0, DBL_MAX, DBL_MIN, 5e-324, 123456789.123456789, -2.5e-7};
    const char *name = "we\"ird\\name";
    const char *unit = "\x01tab\there\x7f";
    struct sample_json j = {0};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        Iot__V1__Metric ms[1] = {metric(name, vals[i], unit)};
        Iot__V1__Metric *p[1];
        Iot__V1__Sample s = sample_of(ms, p, 1);
        assert_int_equal(sample_json_encode(&j, &s), IOT_OK);
        cJSON *root = cJSON_Parse(j.buf);
        assert_non_null(root);
        cJSON *m = cJSON_GetArrayItem(root, 0);
        assert_int_equal(cJSON_GetArraySize(m), 3);
        assert_string_equal(cJSON_GetArrayItem(m, 0)->valuestring, name);
        assert_true(cJSON_GetArrayItem(m, 1)->valuedouble == vals[i]);
        assert_string_equal(cJSON_GetArrayItem(m, 2)->valuestring, unit);
        cJSON_Delete(root);
    }
    sample_json_free(&j);
}

static void test_non_finite_is_null_and_buffer_grows(void **state)
{
    (void)state;
    enum { N = 200 };
    Iot__V1__Metric ms[N];
    Iot__V1__Metric *p[N];
    for (size_t i = 0; i < N; i++)
        ms[i] = metric("a_long_metric_name_to_make_the_buffer_grow", i % 2 ? NAN : INFINITY, "u");
    Iot__V1__Sample s = sample_of(ms, p, N);
    struct sample_json j = {0};
    assert_int_equal(sample_json_encode(&j, &s), IOT_OK);
    assert_true(j.cap > 256);
    cJSON *root = cJSON_Parse(j.buf);
    assert_non_null(root);
    assert_int_equal(cJSON_GetArraySize(root), N);
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(cJSON_GetArrayItem(root, N - 1), 1)));
    cJSON_Delete(root);
    sample_json_free(&j);
}

/* The text of a one-metric sample's value: [["a",TEXT]] */
static const char *value_text(struct sample_json *j, double v, char *out, size_t cap)
{
    Iot__V1__Metric ms[1] = {metric("a", v, NULL)};
    Iot__V1__Metric *p[1];
    Iot__V1__Sample s = sample_of(ms, p, 1);
    assert_int_equal(sample_json_encode(j, &s), IOT_OK);
    assert_true(strncmp(j->buf, "[[\"a\",", 6) == 0);
    size_t n = j->len - 6 - 2;
    assert_true(n < cap && strcmp(j->buf + 6 + n, "]]") == 0);
    memcpy(out, j->buf + 6, n);
    out[n] = '\0';
    return out;
}

/* The fixed-point fast path prints the fewest decimals, and it and the printf fallback both read
 * back bit for bit (strtod, as JSON readers do), sign of zero included. */
static void test_decimal_text_reads_back_exactly(void **state)
{
    (void)state;
    struct sample_json j = {0};
    char t[64];
    static const struct {
        double v;
        const char *text;
    } cases[] = {{21.5, "21.5"},  {0.05, "0.05"},   {-3.25, "-3.25"},         {1013.25, "1013.25"},
                 {100, "100"},    {0, "0"},         {-0.0, "-0"},             {20.7, "20.7"},
                 {1e-9, "0.000000001"}, {123456.789, "123456.789"}, {-7, "-7"}, {1e16, "1e+16"},
                 {1.0 / 3.0, "0.33333333333333331"}, {9007199254740993.0, "9007199254740992"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(value_text(&j, cases[i].v, t, sizeof t), cases[i].text);

    uint64_t x = 0x9e3779b97f4a7c15u; /* xorshift: reproducible */
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        if (i % 2) { /* any finite bit pattern */
            memcpy(&v, &x, sizeof v);
            if (!isfinite(v))
                continue;
        } else { /* decimal-looking values, as sensors report them */
            static const double scale[] = {1, 10, 100, 1000, 1e4, 1e6, 1e9, 1e12};
            v = (double)(int64_t)(x % 2000000001u - 1000000000) / scale[(x >> 40) % 8];
        }
        const char *txt = value_text(&j, v, t, sizeof t);
        double back = strtod(txt, NULL);
        if (memcmp(&back, &v, sizeof v) != 0)
            fail_msg("%.17g printed as %s reads back as %.17g", v, txt, back);
    }
    sample_json_free(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_values_are_short),
        cmocka_unit_test(test_round_trip_exact_and_escaped),
        cmocka_unit_test(test_non_finite_is_null_and_buffer_grows),
        cmocka_unit_test(test_decimal_text_reads_back_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
