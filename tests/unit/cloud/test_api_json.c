/* SPDX-License-Identifier: Apache-2.0 */
/* api_json: request bodies of the /v1 API, accepted and refused (each refusal names the field). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api_json.h"
#include "iot/mem.h"

static const struct cloud_commands_config cfg = {
    .key_id = "k", .default_timeout_s = 60, .max_timeout_s = 3600};

static enum iot_err parse(const char *body, const char *hdr, struct cmd_request *rq, char *detail)
{
    return api_parse_command(body, strlen(body), "dev-1", hdr, &cfg, rq, detail, 256);
}

static void test_api_parse_command_valid_body_fills_request(void **state)
{
    (void)state;
    struct cmd_request *rq = iot_malloc(sizeof *rq);
    char detail[256];
    assert_int_equal(parse("{\"name\":\"set_interval\",\"params\":{\"ms\":500,\"on\":true,"
                           "\"label\":\"x y\",\"f\":1.5},\"timeout_s\":30,"
                           "\"callback_url\":\"https://example.test/h\"}",
                           NULL, rq, detail),
                     IOT_OK);
    assert_string_equal(rq->device_id, "dev-1");
    assert_string_equal(rq->name, "set_interval");
    assert_int_equal(rq->n_params, 4);
    assert_string_equal(rq->params[0].key, "ms");
    assert_string_equal(rq->params[0].value, "500");
    assert_string_equal(rq->params[1].value, "true");
    assert_string_equal(rq->params[2].value, "x y");
    assert_string_equal(rq->params[3].value, "1.5");
    assert_int_equal(rq->timeout_s, 30);
    assert_string_equal(rq->callback_url, "https://example.test/h");
    assert_string_equal(rq->idem_key, "");
    /* Defaults, and the header wins over the body's key. */
    assert_int_equal(parse("{\"name\":\"ping\",\"idempotency_key\":\"body\"}", "hdr-1", rq, detail),
                     IOT_OK);
    assert_int_equal(rq->timeout_s, 60);
    assert_int_equal(rq->n_params, 0);
    assert_string_equal(rq->idem_key, "hdr-1");
    assert_int_equal(parse(" {\"name\":\"ping\"} \n", NULL, rq, detail), IOT_OK);
    iot_free(rq);
}

static void test_api_parse_command_bad_bodies_refused_with_detail(void **state)
{
    (void)state;
    static const struct {
        const char *body, *hdr, *needle;
    } bad[] = {
        {"", NULL, "empty"},
        {"{", NULL, "not valid JSON"},
        {"[1]", NULL, "object"},
        {"\"ping\"", NULL, "object"},
        {"{\"name\":\"ping\"} {}", NULL, "trailing"},
        {"{}", NULL, "name is required"},
        {"{\"name\":5}", NULL, "name"},
        {"{\"name\":\"\"}", NULL, "name"},
        {"{\"name\":\"has space\"}", NULL, "name"},
        {"{\"name\":\"ping\",\"timeout_s\":0}", NULL, "timeout_s"},
        {"{\"name\":\"ping\",\"timeout_s\":3601}", NULL, "timeout_s"},
        {"{\"name\":\"ping\",\"timeout_s\":2.5}", NULL, "timeout_s"},
        {"{\"name\":\"ping\",\"timeout_s\":\"9\"}", NULL, "timeout_s"},
        {"{\"name\":\"ping\",\"params\":[]}", NULL, "params"},
        {"{\"name\":\"ping\",\"params\":{\"a\":{}}}", NULL, "params.a"},
        {"{\"name\":\"ping\",\"params\":{\"a\":null}}", NULL, "params.a"},
        {"{\"name\":\"ping\",\"params\":{\"bad key\":\"1\"}}", NULL, "key"},
        {"{\"name\":\"ping\",\"params\":{\"a\":\"1\",\"a\":\"2\"}}", NULL, "duplicate"},
        {"{\"name\":\"ping\",\"params\":{\"a\":\"line\\nbreak\"}}", NULL, "params.a"},
        {"{\"name\":\"ping\",\"callback_url\":\"ftp://h/x\"}", NULL, "callback_url"},
        {"{\"name\":\"ping\",\"callback_url\":\"http://\"}", NULL, "callback_url"},
        {"{\"name\":\"ping\",\"callback_url\":\"http://a b/\"}", NULL, "callback_url"},
        {"{\"name\":\"ping\",\"idempotency_key\":\"\"}", NULL, "idempotency_key"},
        {"{\"name\":\"ping\",\"idempotency_key\":7}", NULL, "idempotency_key"},
        {"{\"name\":\"ping\"}", "has space", "Idempotency-Key"},
        {"{\"name\":\"ping\",\"nme\":1}", NULL, "unknown field 'nme'"},
    };
    struct cmd_request *rq = iot_malloc(sizeof *rq);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char detail[256] = "";
        enum iot_err rc = parse(bad[i].body, bad[i].hdr, rq, detail);
        if (rc != IOT_ERR_MALFORMED || !strstr(detail, bad[i].needle))
            fail_msg("body %s: rc %d, detail '%s' (want '%s')", bad[i].body, rc, detail,
                     bad[i].needle);
    }
    /* Bounds: 32 params pass, 33 do not; a 1024-byte value passes, 1025 does not. */
    char body[40000];
    size_t n = (size_t)snprintf(body, sizeof body, "{\"name\":\"p\",\"params\":{");
    for (int i = 0; i < CMD_PARAMS_MAX + 1; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "%s\"k%d\":\"v\"", i ? "," : "", i);
    snprintf(body + n, sizeof body - n, "}}");
    char detail[256];
    assert_int_equal(parse(body, NULL, rq, detail), IOT_ERR_MALFORMED);
    char value[CMD_VALUE_MAX + 2];
    memset(value, 'x', sizeof value);
    value[CMD_VALUE_MAX] = 0;
    snprintf(body, sizeof body, "{\"name\":\"p\",\"params\":{\"k\":\"%s\"}}", value);
    assert_int_equal(parse(body, NULL, rq, detail), IOT_OK);
    value[CMD_VALUE_MAX] = 'x';
    value[CMD_VALUE_MAX + 1] = 0;
    snprintf(body, sizeof body, "{\"name\":\"p\",\"params\":{\"k\":\"%s\"}}", value);
    assert_int_equal(parse(body, NULL, rq, detail), IOT_ERR_MALFORMED);
    iot_free(rq);
}

static void test_api_parse_desired_valid_and_invalid(void **state)
{
    (void)state;
    struct desired_request *d = iot_malloc(sizeof *d);
    char detail[256];
    const char *ok = "{\"settings\":{\"interval_ms\":\"1000\",\"led\":false}}";
    assert_int_equal(api_parse_desired(ok, strlen(ok), d, detail, sizeof detail), IOT_OK);
    assert_int_equal(d->n, 2);
    assert_string_equal(d->settings[1].key, "led");
    assert_string_equal(d->settings[1].value, "false");
    const char *bad[] = {"{}", "{\"settings\":{}}", "{\"settings\":[]}", "{\"settings\":{\"a\":[]}}",
                         "{\"settings\":{\"a\":\"1\"},\"x\":1}", "nope"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(api_parse_desired(bad[i], strlen(bad[i]), d, detail, sizeof detail),
                         IOT_ERR_MALFORMED);
    iot_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_parse_command_valid_body_fills_request),
        cmocka_unit_test(test_api_parse_command_bad_bodies_refused_with_detail),
        cmocka_unit_test(test_api_parse_desired_valid_and_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
