/* SPDX-License-Identifier: Apache-2.0 */
/* Every iot.v1 message round-trips through protoc-c; the topic contract parses and formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "iot/codec.h"
#include "iot/topic.h"

/* Pack @p msg (a generated iot.v1 message; its packed size is asserted), decode the bytes again
 * with the codec's allocator and return the decoded copy (asserted non-NULL). */
static void *roundtrip(const void *msg)
{
    static uint8_t buf[512];
    const ProtobufCMessage *m = msg;
    size_t n = protobuf_c_message_get_packed_size(m);
    assert_true(n < sizeof buf);
    assert_int_equal(protobuf_c_message_pack(m, buf), n);
    void *d = protobuf_c_message_unpack(m->descriptor, iot_pb_allocator(), n, buf);
    assert_non_null(d);
    return d;
}

static void test_telemetry_batch_roundtrip_equal(void **state)
{
    (void)state;
    Iot__V1__Metric m1 = IOT__V1__METRIC__INIT, m2 = IOT__V1__METRIC__INIT;
    m1.name = "temperature";
    m1.value = 21.25;
    m1.unit = "C";
    m2.name = "door";
    m2.value = 1;
    Iot__V1__Metric *ms[] = {&m1, &m2};
    Iot__V1__Sample s1 = IOT__V1__SAMPLE__INIT, s2 = IOT__V1__SAMPLE__INIT;
    s1.seq = 41;
    s1.time_ms = 1790000000000;
    s1.n_metrics = 2;
    s1.metrics = ms;
    s2.seq = 42;
    s2.time_ms = 1790000001000;
    s2.n_metrics = 1;
    s2.metrics = ms;
    Iot__V1__Sample *ss[] = {&s1, &s2};
    Iot__V1__SeqRange r = IOT__V1__SEQ_RANGE__INIT;
    r.first = 3;
    r.last = 9;
    Iot__V1__SeqRange *rs[] = {&r};
    Iot__V1__TelemetryBatch b = IOT__V1__TELEMETRY_BATCH__INIT;
    b.device_id = "kitchen-1";
    b.epoch = UINT64_C(0xfedcba9876543210);
    b.n_samples = 2;
    b.samples = ss;
    b.n_dropped = 1;
    b.dropped = rs;

    Iot__V1__TelemetryBatch *d = roundtrip(&b);
    assert_string_equal(d->device_id, "kitchen-1");
    assert_true(d->epoch == UINT64_C(0xfedcba9876543210));
    assert_int_equal(d->n_samples, 2);
    assert_int_equal(d->samples[0]->seq, 41);
    assert_int_equal(d->samples[1]->seq, 42);
    assert_true(d->samples[0]->time_ms == 1790000000000);
    assert_int_equal(d->samples[0]->n_metrics, 2);
    assert_string_equal(d->samples[0]->metrics[0]->name, "temperature");
    assert_true(d->samples[0]->metrics[0]->value == 21.25);
    assert_string_equal(d->samples[0]->metrics[0]->unit, "C");
    assert_string_equal(d->samples[0]->metrics[1]->unit, "");
    assert_int_equal(d->n_dropped, 1);
    assert_int_equal(d->dropped[0]->first, 3);
    assert_int_equal(d->dropped[0]->last, 9);
    iot__v1__telemetry_batch__free_unpacked(d, iot_pb_allocator());
}

static void test_receipt_roundtrip_equal(void **state)
{
    (void)state;
    Iot__V1__SeqRange r1 = IOT__V1__SEQ_RANGE__INIT, r2 = IOT__V1__SEQ_RANGE__INIT;
    r1.first = 1;
    r1.last = 100;
    r2.first = 102;
    r2.last = 102;
    Iot__V1__SeqRange *rs[] = {&r1, &r2};
    Iot__V1__Receipt r = IOT__V1__RECEIPT__INIT;
    r.epoch = 7;
    r.n_ranges = 2;
    r.ranges = rs;
    r.device_id = "d";
    Iot__V1__Receipt *d = roundtrip(&r);
    assert_int_equal(d->epoch, 7);
    assert_int_equal(d->n_ranges, 2);
    assert_int_equal(d->ranges[1]->first, 102);
    assert_string_equal(d->device_id, "d");
    iot__v1__receipt__free_unpacked(d, iot_pb_allocator());
}

static void test_presence_roundtrip_equal(void **state)
{
    (void)state;
    Iot__V1__Presence p = IOT__V1__PRESENCE__INIT;
    p.device_id = "dev-9";
    p.state = IOT__V1__PRESENCE__STATE__OFFLINE;
    p.reason = IOT__V1__PRESENCE__REASON__LOST_CONNECTION;
    p.agent_version = "0.1.0";
    p.boot_time_ms = 1790000000000;
    p.connection = 12;
    p.time_ms = 1790000000123;
    Iot__V1__Presence *d = roundtrip(&p);
    assert_int_equal(d->state, IOT__V1__PRESENCE__STATE__OFFLINE);
    assert_int_equal(d->reason, IOT__V1__PRESENCE__REASON__LOST_CONNECTION);
    assert_int_equal(d->connection, 12);
    assert_string_equal(d->agent_version, "0.1.0");
    assert_true(d->time_ms == 1790000000123);
    iot__v1__presence__free_unpacked(d, iot_pb_allocator());
}

static void test_signed_command_roundtrip_equal(void **state)
{
    (void)state;
    Iot__V1__Command__ParamsEntry e = IOT__V1__COMMAND__PARAMS_ENTRY__INIT;
    e.key = "setpoint";
    e.value = "21.5";
    Iot__V1__Command__ParamsEntry *es[] = {&e};
    Iot__V1__Command c = IOT__V1__COMMAND__INIT;
    c.id = "c-1";
    c.device_id = "dev-1";
    c.name = "set_setpoint";
    c.n_params = 1;
    c.params = es;
    c.issued_ms = 1;
    c.expires_ms = 2;
    uint8_t body[256];
    size_t bn = iot__v1__command__pack(&c, body);
    uint8_t sig[3] = {1, 2, 3};
    Iot__V1__SignedCommand sc = IOT__V1__SIGNED_COMMAND__INIT;
    sc.body.data = body;
    sc.body.len = bn;
    sc.signature.data = sig;
    sc.signature.len = sizeof sig;
    sc.key_id = "k1";
    Iot__V1__SignedCommand *d = roundtrip(&sc);
    assert_int_equal(d->signature.len, 3);
    assert_string_equal(d->key_id, "k1");
    Iot__V1__Command *dc = iot__v1__command__unpack(iot_pb_allocator(), d->body.len, d->body.data);
    assert_non_null(dc);
    assert_string_equal(dc->name, "set_setpoint");
    assert_int_equal(dc->n_params, 1);
    assert_string_equal(dc->params[0]->key, "setpoint");
    assert_string_equal(dc->params[0]->value, "21.5");
    assert_int_equal(dc->expires_ms, 2);
    iot__v1__command__free_unpacked(dc, iot_pb_allocator());
    iot__v1__signed_command__free_unpacked(d, iot_pb_allocator());
}

static void test_command_result_roundtrip_equal(void **state)
{
    (void)state;
    Iot__V1__CommandResult__OutputsEntry e = IOT__V1__COMMAND_RESULT__OUTPUTS_ENTRY__INIT;
    e.key = "pong";
    e.value = "1";
    Iot__V1__CommandResult__OutputsEntry *es[] = {&e};
    Iot__V1__CommandResult r = IOT__V1__COMMAND_RESULT__INIT;
    r.command_id = "c-1";
    r.status = IOT__V1__COMMAND_RESULT__STATUS__BAD_SIGNATURE;
    r.code = -3;
    r.message = "signature does not verify";
    r.n_outputs = 1;
    r.outputs = es;
    r.done_ms = 5;
    Iot__V1__CommandResult *d = roundtrip(&r);
    assert_int_equal(d->status, IOT__V1__COMMAND_RESULT__STATUS__BAD_SIGNATURE);
    assert_int_equal(d->code, -3);
    assert_string_equal(d->outputs[0]->key, "pong");
    iot__v1__command_result__free_unpacked(d, iot_pb_allocator());
}

static void test_desired_reported_roundtrip_equal(void **state)
{
    (void)state;
    Iot__V1__DesiredState__SettingsEntry e = IOT__V1__DESIRED_STATE__SETTINGS_ENTRY__INIT;
    e.key = "interval_ms";
    e.value = "5000";
    Iot__V1__DesiredState__SettingsEntry *es[] = {&e};
    Iot__V1__DesiredState ds = IOT__V1__DESIRED_STATE__INIT;
    ds.version = 9;
    ds.n_settings = 1;
    ds.settings = es;
    Iot__V1__DesiredState *d = roundtrip(&ds);
    assert_int_equal(d->version, 9);
    assert_string_equal(d->settings[0]->value, "5000");
    iot__v1__desired_state__free_unpacked(d, iot_pb_allocator());

    Iot__V1__ReportedState__SettingsEntry re = IOT__V1__REPORTED_STATE__SETTINGS_ENTRY__INIT;
    re.key = "interval_ms";
    re.value = "5000";
    Iot__V1__ReportedState__SettingsEntry *res[] = {&re};
    Iot__V1__ReportedState rs = IOT__V1__REPORTED_STATE__INIT;
    rs.version = 9;
    rs.device_id = "x";
    rs.n_settings = 1;
    rs.settings = res;
    Iot__V1__ReportedState *dr = roundtrip(&rs);
    assert_int_equal(dr->version, 9);
    assert_string_equal(dr->device_id, "x");
    iot__v1__reported_state__free_unpacked(dr, iot_pb_allocator());
}

static void test_unpack_bad_wire_type_returns_null(void **state)
{
    (void)state;
    /* field 1 (device_id, a string) sent with a length running past the end */
    const uint8_t bad[] = {0x0a, 0x40, 'a', 'b'};
    assert_null(iot__v1__telemetry_batch__unpack(iot_pb_allocator(), sizeof bad, bad));
}

static void test_device_id_valid_rules(void **state)
{
    (void)state;
    assert_true(iot_device_id_valid("a"));
    assert_true(iot_device_id_valid("Kitchen_Thermostat-01"));
    char id64[65];
    memset(id64, 'x', 64);
    id64[64] = 0;
    assert_true(iot_device_id_valid(id64));
    char id65[66];
    memset(id65, 'x', 65);
    id65[65] = 0;
    assert_false(iot_device_id_valid(id65));
    assert_false(iot_device_id_valid(""));
    assert_false(iot_device_id_valid(NULL));
    assert_false(iot_device_id_valid("a/b"));
    assert_false(iot_device_id_valid("+"));
    assert_false(iot_device_id_valid("#"));
    assert_false(iot_device_id_valid("../x"));
    assert_false(iot_device_id_valid("a b"));
}

static void test_topic_format_parse_roundtrip(void **state)
{
    (void)state;
    for (int k = 0; k < IOT_TOPIC_KIND_COUNT; k++) {
        char t[IOT_TOPIC_MAX], id[IOT_DEVICE_ID_MAX + 1];
        enum iot_topic_kind kind;
        assert_int_equal(iot_topic_format(t, sizeof t, (enum iot_topic_kind)k, "dev-1"), IOT_OK);
        assert_int_equal(iot_topic_parse(t, id, &kind), IOT_OK);
        assert_string_equal(id, "dev-1");
        assert_int_equal(kind, k);
    }
    char t[IOT_TOPIC_MAX];
    assert_int_equal(iot_topic_format(t, sizeof t, IOT_TOPIC_DESIRED, "x"), IOT_OK);
    assert_string_equal(t, "devices/x/state/desired");
    assert_int_equal(iot_topic_format(t, 10, IOT_TOPIC_TELEMETRY, "dev-1"), IOT_ERR_INVAL);
    assert_int_equal(iot_topic_format(t, sizeof t, IOT_TOPIC_TELEMETRY, "a/b"), IOT_ERR_INVAL);
}

static void test_topic_parse_rejects_foreign(void **state)
{
    (void)state;
    char id[IOT_DEVICE_ID_MAX + 1];
    enum iot_topic_kind k;
    const char *bad[] = {"devices//telemetry", "devices/a/b/telemetry", "device/a/telemetry",
                         "devices/a/telemetry/", "devices/a", "devices/a+/telemetry",
                         "devices/a/state", "x", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(iot_topic_parse(bad[i], id, &k), IOT_ERR_MALFORMED);
}

/* The decode arena: many messages decoded into it read back equal, a field larger than a block
 * gets its own, every pointer is aligned, freeing is a no-op, release returns everything. */
static void test_arena_decodes_many_then_releases(void **state)
{
    (void)state;
    static char big_name[40000];
    memset(big_name, 'n', sizeof big_name - 1);
    Iot__V1__Metric m1 = IOT__V1__METRIC__INIT, m2 = IOT__V1__METRIC__INIT;
    m1.name = "temperature";
    m1.unit = "C";
    m2.name = big_name;
    Iot__V1__Metric *ms[] = {&m1, &m2};
    Iot__V1__Sample smp = IOT__V1__SAMPLE__INIT;
    smp.metrics = ms;
    Iot__V1__Sample *ss[] = {&smp};
    Iot__V1__TelemetryBatch b = IOT__V1__TELEMETRY_BATCH__INIT;
    b.device_id = "arena-1";
    b.samples = ss;
    b.n_samples = 1;
    static uint8_t buf[50000];
    enum { N = 600 };
    static Iot__V1__TelemetryBatch *d[N];
    struct iot_pb_arena arena;
    iot_pb_arena_init(&arena);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < N; i++) {
            smp.seq = i;
            m1.value = (double)i / 4;
            smp.n_metrics = i % 100 == 7 ? 2 : 1; /* now and then a field bigger than a block */
            size_t n = iot__v1__telemetry_batch__get_packed_size(&b);
            assert_true(n <= sizeof buf);
            iot__v1__telemetry_batch__pack(&b, buf);
            memset(buf + n, 0xee, 64); /* the decoded copy must not point into the input */
            d[i] = iot__v1__telemetry_batch__unpack(&arena.alloc, n, buf);
            assert_non_null(d[i]);
            assert_true((uintptr_t)d[i] % _Alignof(max_align_t) == 0);
            assert_true((uintptr_t)d[i]->samples[0]->metrics[0] % _Alignof(max_align_t) == 0);
            iot__v1__telemetry_batch__free_unpacked(d[i], &arena.alloc); /* a no-op */
        }
        for (size_t i = 0; i < N; i++) { /* all still intact */
            assert_string_equal(d[i]->device_id, "arena-1");
            assert_int_equal(d[i]->samples[0]->seq, i);
            assert_true(d[i]->samples[0]->metrics[0]->value == (double)i / 4);
            assert_string_equal(d[i]->samples[0]->metrics[0]->unit, "C");
            assert_int_equal(d[i]->samples[0]->n_metrics, i % 100 == 7 ? 2 : 1);
            if (i % 100 == 7)
                assert_int_equal(strlen(d[i]->samples[0]->metrics[1]->name), sizeof big_name - 1);
        }
        assert_int_equal(arena.failed, 0);
        assert_true(arena.bytes > 6 * sizeof big_name);  /* six big blocks ... */
        assert_true(arena.bytes < 6 * sizeof big_name + 64 * 65536); /* ... and a few standard */
        iot_pb_arena_release(&arena);
        assert_int_equal(arena.bytes, 0);
        assert_null(arena.blocks);
    }
    void *p = arena.alloc.alloc(arena.alloc.allocator_data, 0); /* zero bytes: still a pointer */
    assert_non_null(p);
    iot_pb_arena_release(&arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_telemetry_batch_roundtrip_equal),
        cmocka_unit_test(test_arena_decodes_many_then_releases),
        cmocka_unit_test(test_receipt_roundtrip_equal),
        cmocka_unit_test(test_presence_roundtrip_equal),
        cmocka_unit_test(test_signed_command_roundtrip_equal),
        cmocka_unit_test(test_command_result_roundtrip_equal),
        cmocka_unit_test(test_desired_reported_roundtrip_equal),
        cmocka_unit_test(test_unpack_bad_wire_type_returns_null),
        cmocka_unit_test(test_device_id_valid_rules),
        cmocka_unit_test(test_topic_format_parse_roundtrip),
        cmocka_unit_test(test_topic_parse_rejects_foreign),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
