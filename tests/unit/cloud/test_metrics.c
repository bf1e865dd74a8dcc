/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus rendering: every required name present, values and labels right. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "iot/mem.h"
#include "metrics.h"

static void test_metrics_render_contains_names_and_values(void **state)
{
    (void)state;
    struct ingest_metrics m;
    ingest_metrics_init(&m);
    atomic_store(&m.messages_received, 12);
    atomic_store(&m.samples_stored, 34);
    atomic_store(&m.samples_duplicate, 5);
    atomic_store(&m.dead_letters, 2);
    atomic_store(&m.dead_letters_by_reason[INGEST_REASON_BAD_SEQ], 2);
    atomic_store(&m.presence_stale, 1);
    atomic_store(&m.queue_depth, 7);
    atomic_store(&m.mqtt_connected, 1);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(ingest_metrics_render(&m, &text, &len), IOT_OK);
    assert_int_equal(strlen(text), len);
    static const char *const want[] = {
        "\niot_cloud_messages_received_total 12\n",
        "\niot_cloud_samples_stored_total 34\n",
        "\niot_cloud_samples_duplicate_total 5\n",
        "\niot_cloud_dead_letters_total 2\n",
        "\niot_cloud_dead_letters_by_reason_total{reason=\"bad_seq\"} 2\n",
        "\niot_cloud_dead_letters_by_reason_total{reason=\"decode_failed\"} 0\n",
        "\niot_cloud_presence_stale_total 1\n",
        "\niot_cloud_ingest_queue_depth 7\n",
        "\niot_cloud_mqtt_connected 1\n",
        "# TYPE iot_cloud_ingest_queue_depth gauge\n",
        "# TYPE iot_cloud_samples_stored_total counter\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(text, want[i]))
            fail_msg("missing: %s", want[i]);
    }
    assert_true(len > 0 && text[len - 1] == '\n');
    iot_free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_render_contains_names_and_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
