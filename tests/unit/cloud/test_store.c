/* SPDX-License-Identifier: Apache-2.0 */
/* Ingest storage and batch processing, the same tests on each backend (store_fx_*.c picks SQLite or
 * PostgreSQL): duplicates stored once and counted, metrics only for new rows, dead letters,
 * presence ordering, committed ranges reported to the hook, seq summaries and gap totals, a sample
 * twice in one transaction, many devices in one batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "ingest/store.h"
#include "ingest_internal.h"
#include "iot/log.h"
#include "store_fx.h"

struct fx {
    struct cloud_config cfg;
    struct ingest_store store;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    cloud_config_defaults(&f->cfg);
    iot_log_set_level(IOT_LOG_WARN);
    store_fx_setup("store", &f->cfg, &f->store);
    iot_log_set_level(IOT_LOG_INFO);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_fx_teardown(&f->store);
    free(f);
    return 0;
}

static void put_batch(struct fx *f, const Iot__V1__TelemetryBatch *b, uint32_t want_stored,
                      uint32_t want_dup)
{
    struct ingest_telemetry_result r;
    assert_int_equal(ingest_store_begin(&f->store), IOT_OK);
    assert_int_equal(ingest_store_put_telemetry(&f->store, b, FX_NOW_MS, &r), IOT_OK);
    assert_int_equal(ingest_store_commit(&f->store), IOT_OK);
    assert_int_equal(r.stored, want_stored);
    assert_int_equal(r.duplicate, want_dup);
}

static void test_store_duplicates_stored_once_metrics_only_for_new(void **state)
{
    struct fx *f = *state;
    struct fx_batch b;
    fx_batch_init(&b, "dev-1", 0xfedcba9876543210ULL, 1, 4); /* epoch above INT64_MAX */
    fx_batch_dropped(&b, 100, 120);
    put_batch(f, &b.b, 4, 0);
    assert_int_equal(store_fx_q("SELECT count(*) FROM samples"), 4);
    assert_int_equal(store_fx_q("SELECT count(*) FROM metrics"), 8);
    /* seq 3..6: 3 and 4 again, 5 and 6 new */
    fx_batch_init(&b, "dev-1", 0xfedcba9876543210ULL, 3, 4);
    fx_batch_dropped(&b, 100, 120);
    put_batch(f, &b.b, 2, 2);
    assert_int_equal(store_fx_q("SELECT count(*) FROM samples"), 6);
    assert_int_equal(store_fx_q("SELECT count(*) FROM metrics"), 12);
    assert_int_equal(store_fx_q("SELECT count(*) FROM metrics WHERE seq = 3"), 2);
    assert_int_equal(store_fx_q("SELECT count(*) FROM dropped_ranges"), 1);
    /* the same seqs in another epoch are other samples */
    fx_batch_init(&b, "dev-1", 7, 1, 2);
    put_batch(f, &b.b, 2, 0);
    assert_int_equal(store_fx_q("SELECT samples FROM devices WHERE device_id = 'dev-1'"), 8);
    assert_int_equal(store_fx_q("SELECT last_seen_ms FROM devices WHERE device_id = 'dev-1'"),
                     FX_NOW_MS);
    assert_int_equal(store_fx_q("SELECT online FROM devices WHERE device_id = 'dev-1'"), 0);
    /* u64 epoch stored as its int64 cast */
    assert_int_equal(store_fx_q("SELECT count(DISTINCT epoch) FROM samples"), 2);
    assert_true(store_fx_q("SELECT min(epoch) FROM samples") == (long long)0xfedcba9876543210ULL);
}

/* The metrics view gives back each stored metric with its exact value and unit, in both backends
 * (a sample's metrics are one JSON column: SQLite schema 4, PostgreSQL schema 2). */
static void test_store_metrics_view_reads_back_values(void **state)
{
    struct fx *f = *state;
    struct fx_batch b;
    fx_batch_init(&b, "dev-v", 5, 1, 3);
    b.m[2][1].value = 0.1; /* not exact in binary: must come back as the same double */
    b.m[1][0].unit = "";   /* no unit: NULL in the view */
    put_batch(f, &b.b, 3, 0);
    assert_int_equal(store_fx_q("SELECT count(*) FROM metrics WHERE device_id = 'dev-v'"), 6);
    assert_int_equal(store_fx_q("SELECT count(*) FROM metrics WHERE device_id = 'dev-v' AND seq = 3"
                                " AND name = 'humidity' AND value = 0.1 AND unit = '%'"),
                     1);
    assert_int_equal(store_fx_q("SELECT count(*) FROM metrics WHERE device_id = 'dev-v' AND seq = 2"
                                " AND name = 'temperature' AND value = 21 AND unit IS NULL"),
                     1);
    assert_int_equal(store_fx_q("SELECT count(*) FROM metrics WHERE device_id = 'dev-v' AND seq = 1"
                                " AND name = 'temperature' AND value = 20 AND unit = 'C'"),
                     1);
}

/* PostgreSQL schema 1 kept one metrics row per metric: upgrading moves them into the samples'
 * JSON column (SQLite's upgrade is tested in test_store_sqlite.c). The database is put back into
 * schema 1's shape for these two tables, then opened again. */
static void test_store_pg_upgrade_from_v1_moves_metrics(void **state)
{
    if (strcmp(store_fx_backend(), "postgresql") != 0)
        skip();
    struct fx *f = *state;
    ingest_store_close(&f->store);
    store_fx_exec("DROP VIEW metrics; ALTER TABLE samples DROP COLUMN metrics;"
                  "CREATE TABLE metrics(device_id TEXT NOT NULL, epoch BIGINT NOT NULL,"
                  " seq BIGINT NOT NULL, name TEXT NOT NULL, value DOUBLE PRECISION NOT NULL,"
                  " unit TEXT);"
                  "DELETE FROM schema_version WHERE version = 2;"
                  "INSERT INTO samples VALUES('d', 1, 1, 10, 11), ('d', 1, 2, 20, 21);"
                  "INSERT INTO metrics VALUES('d', 1, 1, 'temp', 21.5, 'C'),"
                  " ('d', 1, 1, 'hum', 0.1, NULL)");
    assert_int_equal(ingest_store_pg_open(f->cfg.storage, &f->store), IOT_OK);
    assert_int_equal(store_fx_q("SELECT max(version) FROM schema_version"), 2);
    assert_int_equal(store_fx_q("SELECT count(*) FROM metrics"), 2);
    assert_int_equal(store_fx_q("SELECT count(*) FROM samples WHERE seq = 1 AND metrics::text ="
                                " '[[\"temp\", 21.5, \"C\"], [\"hum\", 0.1]]'"),
                     1);
    assert_int_equal(store_fx_q("SELECT metrics::text = '[]' FROM samples WHERE seq = 2"), 1);
    assert_int_equal(store_fx_q("SELECT count(*) FROM metrics WHERE name = 'hum' AND value = 0.1"
                                " AND unit IS NULL"),
                     1);
}

static void test_store_rollback_discards(void **state)
{
    struct fx *f = *state;
    struct fx_batch b;
    struct ingest_telemetry_result r;
    fx_batch_init(&b, "dev-1", 42, 1, 3);
    assert_int_equal(ingest_store_begin(&f->store), IOT_OK);
    assert_int_equal(ingest_store_put_telemetry(&f->store, &b.b, FX_NOW_MS, &r), IOT_OK);
    ingest_store_rollback(&f->store);
    assert_int_equal(store_fx_q("SELECT count(*) FROM samples"), 0);
    put_batch(f, &b.b, 3, 0);
}

static void test_store_dead_letter_row(void **state)
{
    struct fx *f = *state;
    static const uint8_t payload[] = {1, 2, 3, 0, 5};
    struct ingest_dead_letter dl = {FX_NOW_MS, "devices/x/telemetry", "bad_seq", "seq 0",
                                    payload, sizeof payload};
    assert_int_equal(ingest_store_begin(&f->store), IOT_OK);
    assert_int_equal(ingest_store_put_dead_letter(&f->store, &dl), IOT_OK);
    assert_int_equal(ingest_store_commit(&f->store), IOT_OK);
    assert_int_equal(store_fx_q("SELECT count(*) FROM dead_letters WHERE reason = 'bad_seq' AND"
                          " topic = 'devices/x/telemetry' AND detail = 'seq 0'"),
                     1);
    assert_int_equal(store_fx_q("SELECT length(payload) FROM dead_letters"), 5);
    assert_int_equal(store_fx_q("SELECT received_ms FROM dead_letters"), FX_NOW_MS);
}

static enum ingest_presence_result presence(struct fx *f, int online, uint64_t conn)
{
    Iot__V1__Presence p;
    enum ingest_presence_result r;
    fx_presence_init(&p, "dev-1", online, conn);
    assert_int_equal(ingest_store_begin(&f->store), IOT_OK);
    assert_int_equal(ingest_store_put_presence(&f->store, &p, FX_NOW_MS, &r), IOT_OK);
    assert_int_equal(ingest_store_commit(&f->store), IOT_OK);
    return r;
}

static void test_store_presence_ordering(void **state)
{
    struct fx *f = *state;
    /* telemetry first: creates the row without presence; any presence applies */
    struct fx_batch b;
    fx_batch_init(&b, "dev-1", 42, 1, 1);
    put_batch(f, &b.b, 1, 0);
    assert_int_equal(presence(f, 1, 5), INGEST_PRESENCE_APPLIED);
    assert_int_equal(store_fx_q("SELECT online FROM devices"), 1);
    assert_int_equal(store_fx_q("SELECT connection FROM devices"), 5);
    assert_int_equal(store_fx_q("SELECT samples FROM devices"), 1);
    assert_int_equal(store_fx_q("SELECT count(*) FROM devices WHERE agent_version = '1.2.3' AND"
                          " presence_reason = 'connected'"),
                     1);
    /* older connection ignored */
    assert_int_equal(presence(f, 0, 4), INGEST_PRESENCE_STALE);
    assert_int_equal(store_fx_q("SELECT online FROM devices"), 1);
    /* equal counter: OFFLINE (the LWT of connection 5) wins over ONLINE */
    assert_int_equal(presence(f, 0, 5), INGEST_PRESENCE_APPLIED);
    assert_int_equal(store_fx_q("SELECT online FROM devices"), 0);
    assert_int_equal(store_fx_q("SELECT count(*) FROM devices"
                                " WHERE presence_reason = 'lost_connection'"),
                     1);
    assert_int_equal(presence(f, 1, 5), INGEST_PRESENCE_STALE); /* late birth of connection 5 */
    assert_int_equal(store_fx_q("SELECT online FROM devices"), 0);
    /* newer wins */
    assert_int_equal(presence(f, 1, 6), INGEST_PRESENCE_APPLIED);
    assert_int_equal(store_fx_q("SELECT online FROM devices"), 1);
    assert_int_equal(store_fx_q("SELECT connection FROM devices"), 6);
    assert_int_equal(store_fx_q("SELECT count(*) FROM devices"), 1);
}

struct hook_log {
    int calls;
    size_t n;
    char dev[8];
    uint64_t epoch;
    size_t n_ranges;
    struct ingest_seq_range ranges[4];
};

static void on_commit(void *ctx, const struct ingest_receipt *r, size_t n)
{
    struct hook_log *h = ctx;
    h->calls++;
    h->n = n;
    snprintf(h->dev, sizeof h->dev, "%s", r[0].device_id);
    h->epoch = r[0].epoch;
    h->n_ranges = r[0].n_ranges;
    for (size_t i = 0; i < r[0].n_ranges && i < 4; i++)
        h->ranges[i] = r[0].ranges[i];
}

static struct ingest_msg *msg_of_batch(const Iot__V1__TelemetryBatch *b, const char *topic)
{
    size_t len;
    uint8_t *buf = fx_pack_batch(b, &len);
    struct ingest_msg *m = ingest__msg_new(topic, buf, len, FX_NOW_MS);
    free(buf);
    assert_non_null(m);
    return m;
}

static void test_process_batch_counts_dead_letters_and_reports_ranges(void **state)
{
    struct fx *f = *state;
    struct ingest_metrics m;
    struct hook_log h;
    memset(&h, 0, sizeof h);
    ingest_metrics_init(&m);
    iot_log_set_level(IOT_LOG_ERROR); /* the dead letters below log warnings */

    struct fx_batch b;
    struct ingest_msg *msgs[4];
    fx_batch_init(&b, "dev-1", 42, 1, 5);
    b.s[2].seq = 9; /* seqs 1,2,9,4,5 -> ranges [1,2] [4,5] [9,9] */
    msgs[0] = msg_of_batch(&b.b, "devices/dev-1/telemetry");
    fx_batch_init(&b, "dev-1", 42, 0, 1);
    msgs[1] = msg_of_batch(&b.b, "devices/dev-1/telemetry"); /* bad_seq */
    static const uint8_t junk[] = {0xff, 0xff, 0xff};
    msgs[2] = ingest__msg_new("devices/dev-1/status", junk, sizeof junk, FX_NOW_MS);
    Iot__V1__Presence p;
    fx_presence_init(&p, "dev-1", 1, 1);
    size_t len;
    uint8_t *buf = fx_pack_presence(&p, &len);
    msgs[3] = ingest__msg_new("devices/dev-1/status", buf, len, FX_NOW_MS);
    free(buf);

    assert_int_equal(ingest__process_batch(&f->store, &m, msgs, 4, on_commit, &h), IOT_OK);
    assert_int_equal(atomic_load(&m.samples_stored), 5);
    assert_int_equal(atomic_load(&m.dead_letters), 2);
    assert_int_equal(atomic_load(&m.dead_letters_by_reason[INGEST_REASON_BAD_SEQ]), 1);
    assert_int_equal(atomic_load(&m.dead_letters_by_reason[INGEST_REASON_DECODE_FAILED]), 1);
    assert_int_equal(atomic_load(&m.presence_applied), 1);
    assert_int_equal(atomic_load(&m.batches_committed), 1);
    assert_int_equal(store_fx_q("SELECT count(*) FROM dead_letters"), 2);
    assert_int_equal(store_fx_q("SELECT online FROM devices"), 1);
    assert_int_equal(h.calls, 1);
    assert_int_equal(h.n, 1);
    assert_string_equal(h.dev, "dev-1");
    assert_int_equal(h.epoch, 42);
    assert_int_equal(h.n_ranges, 3);
    assert_int_equal(h.ranges[0].first, 1);
    assert_int_equal(h.ranges[0].last, 2);
    assert_int_equal(h.ranges[1].first, 4);
    assert_int_equal(h.ranges[1].last, 5);
    assert_int_equal(h.ranges[2].first, 9);

    /* the same batch again: all duplicates, no new metrics; the hook still reports them durable */
    assert_int_equal(ingest__process_batch(&f->store, &m, msgs, 1, on_commit, &h), IOT_OK);
    assert_int_equal(atomic_load(&m.samples_stored), 5);
    assert_int_equal(atomic_load(&m.samples_duplicate), 5);
    assert_int_equal(store_fx_q("SELECT count(*) FROM metrics"), 10);
    assert_int_equal(h.calls, 2);
    for (size_t i = 0; i < 4; i++)
        free(msgs[i]);
    iot_log_set_level(IOT_LOG_INFO);
}

static void test_process_batch_oversize_keeps_prefix(void **state)
{
    struct fx *f = *state;
    struct ingest_metrics m;
    ingest_metrics_init(&m);
    iot_log_set_level(IOT_LOG_ERROR);
    size_t big = IOT_MAX_PAYLOAD + 100;
    uint8_t *buf = calloc(1, big);
    assert_non_null(buf);
    struct ingest_msg *msg = ingest__msg_new("devices/dev-1/telemetry", buf, big, FX_NOW_MS);
    free(buf);
    assert_non_null(msg);
    assert_int_equal(msg->len, IOT_MAX_PAYLOAD + 1);
    assert_int_equal(ingest__process_batch(&f->store, &m, &msg, 1, NULL, NULL), IOT_OK);
    assert_int_equal(atomic_load(&m.dead_letters_by_reason[INGEST_REASON_OVERSIZE]), 1);
    assert_int_equal(store_fx_q("SELECT length(payload) FROM dead_letters"
                                " WHERE reason = 'oversize'"),
                     4096);
    free(msg);
    iot_log_set_level(IOT_LOG_INFO);
}

static void test_store_seq_summary_and_gap_totals(void **state)
{
    struct fx *f = *state;
    struct fx_batch b;
    fx_batch_init(&b, "dev-g", 5, 1, 4); /* 1..4 */
    put_batch(f, &b.b, 4, 0);
    fx_batch_init(&b, "dev-g", 5, 10, 2); /* 10..11: 5..9 missing */
    fx_batch_dropped(&b, 5, 6);           /* ... of which 5..6 reported dropped */
    put_batch(f, &b.b, 2, 0);
    fx_batch_init(&b, "dev-g", 5, 3, 2); /* duplicates do not count twice */
    put_batch(f, &b.b, 0, 2);
    assert_int_equal(store_fx_q("SELECT min_seq FROM seq_stats WHERE device_id = 'dev-g'"), 1);
    assert_int_equal(store_fx_q("SELECT max_seq FROM seq_stats WHERE device_id = 'dev-g'"), 11);
    assert_int_equal(store_fx_q("SELECT stored FROM seq_stats WHERE device_id = 'dev-g'"), 6);
    fx_batch_init(&b, "dev-h", 9, 1, 3); /* complete epoch of another device */
    put_batch(f, &b.b, 3, 0);
    struct ingest_seq_totals t;
    assert_int_equal(ingest_store_seq_totals(&f->store, &t), IOT_OK);
    assert_int_equal(t.missing, 3); /* 7, 8, 9 */
    assert_int_equal(t.gap_epochs, 1);
    assert_int_equal(t.dropped, 2);
    /* the late samples arrive: no gap left */
    fx_batch_init(&b, "dev-g", 5, 7, 3);
    put_batch(f, &b.b, 3, 0);
    assert_int_equal(ingest_store_seq_totals(&f->store, &t), IOT_OK);
    assert_int_equal(t.missing, 0);
    assert_int_equal(t.gap_epochs, 0);
}

static void test_store_same_sample_twice_in_one_transaction(void **state)
{
    struct fx *f = *state;
    struct fx_batch b1, b2;
    struct ingest_telemetry_result r1, r2;
    fx_batch_init(&b1, "dev-d", 3, 1, 3); /* 1..3 */
    fx_batch_init(&b2, "dev-d", 3, 3, 2); /* 3..4: 3 again (a QoS 1 redelivery) */
    assert_int_equal(ingest_store_begin(&f->store), IOT_OK);
    assert_int_equal(ingest_store_put_telemetry(&f->store, &b1.b, FX_NOW_MS, &r1), IOT_OK);
    assert_int_equal(ingest_store_put_telemetry(&f->store, &b2.b, FX_NOW_MS, &r2), IOT_OK);
    assert_int_equal(ingest_store_commit(&f->store), IOT_OK);
    assert_int_equal(r1.stored + r2.stored, 4);
    assert_int_equal(r1.duplicate + r2.duplicate, 1);
    assert_int_equal(store_fx_q("SELECT count(*) FROM samples"), 4);
    assert_int_equal(store_fx_q("SELECT count(*) FROM metrics"), 8);
    assert_int_equal(store_fx_q("SELECT samples FROM devices WHERE device_id = 'dev-d'"), 4);
    assert_int_equal(store_fx_q("SELECT stored FROM seq_stats WHERE device_id = 'dev-d'"), 4);
}

static void test_store_many_devices_in_one_batch(void **state)
{
    struct fx *f = *state;
    enum { N = 300 };
    struct fx_batch *b = calloc(N, sizeof *b);
    struct ingest_telemetry_result *r = calloc(N, sizeof *r);
    char (*ids)[16] = calloc(N, sizeof *ids);
    assert_non_null(b);
    assert_non_null(r);
    assert_non_null(ids);
    assert_int_equal(ingest_store_begin(&f->store), IOT_OK);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "dev-%03d", i);
        fx_batch_init(&b[i], ids[i], (uint64_t)i + 1, 1, 2);
        assert_int_equal(ingest_store_put_telemetry(&f->store, &b[i].b, FX_NOW_MS + i, &r[i]),
                         IOT_OK);
    }
    assert_int_equal(ingest_store_commit(&f->store), IOT_OK);
    for (int i = 0; i < N; i++)
        assert_int_equal(r[i].stored, 2);
    assert_int_equal(store_fx_q("SELECT count(*) FROM devices"), N);
    assert_int_equal(store_fx_q("SELECT sum(samples) FROM devices"), 2 * N);
    assert_int_equal(store_fx_q("SELECT count(*) FROM seq_stats WHERE stored = 2"), N);
    assert_int_equal(store_fx_q("SELECT last_seen_ms FROM devices WHERE device_id = 'dev-299'"),
                     FX_NOW_MS + 299);
    free(b);
    free(r);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_duplicates_stored_once_metrics_only_for_new,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_metrics_view_reads_back_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_pg_upgrade_from_v1_moves_metrics, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_rollback_discards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_dead_letter_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_presence_ordering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_process_batch_counts_dead_letters_and_reports_ranges,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_process_batch_oversize_keeps_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_seq_summary_and_gap_totals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_same_sample_twice_in_one_transaction, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_many_devices_in_one_batch, setup, teardown),
    };
    printf("backend: %s\n", store_fx_backend());
    return cmocka_run_group_tests(tests, NULL, NULL);
}
