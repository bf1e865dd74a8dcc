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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_values_are_short),
        cmocka_unit_test(test_round_trip_exact_and_escaped),
        cmocka_unit_test(test_non_finite_is_null_and_buffer_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
