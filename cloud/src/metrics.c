/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus text exposition of the ingestion counters. Reads atomics only: safe from any thread. */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "iot/mem.h"

const unsigned ingest_metrics_http_codes[INGEST_HTTP_CODES] = {200, 202, 400, 401, 404, 405,
                                                                409, 413, 415, 500, 503, 504};

void ingest_metrics_http_response(struct ingest_metrics *m, unsigned status)
{
    size_t i = 0;
    while (i < INGEST_HTTP_CODES && ingest_metrics_http_codes[i] != status)
        i++;
    atomic_fetch_add(&m->http_responses[i], 1);
}

void ingest_metrics_init(struct ingest_metrics *m)
{
    atomic_init(&m->messages_received, 0);
    atomic_init(&m->telemetry_messages, 0);
    atomic_init(&m->presence_messages, 0);
    atomic_init(&m->samples_stored, 0);
    atomic_init(&m->samples_duplicate, 0);
    atomic_init(&m->dead_letters, 0);
    for (int i = 0; i < INGEST_REASON_COUNT; i++)
        atomic_init(&m->dead_letters_by_reason[i], 0);
    atomic_init(&m->presence_applied, 0);
    atomic_init(&m->presence_stale, 0);
    atomic_init(&m->receipts_sent, 0);
    atomic_init(&m->batches_committed, 0);
    atomic_init(&m->store_errors, 0);
    atomic_init(&m->store_conflicts, 0);
    atomic_init(&m->queue_full_waits, 0);
    atomic_init(&m->queue_depth, 0);
    atomic_init(&m->queue_capacity, 0);
    atomic_init(&m->mqtt_connected, 0);
    atomic_init(&m->storage_open, 0);
    atomic_init(&m->reported_states, 0);
    atomic_init(&m->command_results, 0);
    for (int i = 0; i < CMD_STATE_COUNT; i++)
        atomic_init(&m->commands_by_state[i], 0);
    atomic_init(&m->command_results_unmatched, 0);
    atomic_init(&m->command_results_late, 0);
    atomic_init(&m->commands_resent, 0);
    atomic_init(&m->command_updates_deferred, 0);
    atomic_init(&m->command_updates_pending, 0);
    atomic_init(&m->command_updates_dropped, 0);
    atomic_init(&m->webhooks_tried, 0);
    atomic_init(&m->webhooks_delivered, 0);
    atomic_init(&m->webhooks_failed_tries, 0);
    atomic_init(&m->webhooks_gave_up, 0);
    atomic_init(&m->sse_clients, 0);
    atomic_init(&m->sse_dropped, 0);
    atomic_init(&m->longpolls_waiting, 0);
    atomic_init(&m->sse_resumed, 0);
    atomic_init(&m->sse_resets, 0);
    for (int i = 0; i <= INGEST_HTTP_CODES; i++)
        atomic_init(&m->http_responses[i], 0);
    atomic_init(&m->seq_missing, 0);
    atomic_init(&m->seq_gap_epochs, 0);
    atomic_init(&m->seq_dropped, 0);
}

struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2 && !b->failed; attempt++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *p = iot_realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static void metric(struct sbuf *b, const char *name, const char *type, const char *help,
                   uint64_t value)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
              (unsigned long long)value);
}

enum iot_err ingest_metrics_render(const struct ingest_metrics *m, char **out, size_t *out_len)
{
    if (!m || !out)
        return IOT_ERR_INVAL;
    struct sbuf b = {iot_malloc(2048), 0, 2048, 0};
    if (!b.p)
        return IOT_ERR_NOMEM;
    b.p[0] = 0;
    metric(&b, "iot_cloud_messages_received_total", "counter", "MQTT messages received",
           atomic_load(&m->messages_received));
    metric(&b, "iot_cloud_telemetry_messages_total", "counter", "Valid telemetry batches committed",
           atomic_load(&m->telemetry_messages));
    metric(&b, "iot_cloud_presence_messages_total", "counter", "Valid presence messages committed",
           atomic_load(&m->presence_messages));
    metric(&b, "iot_cloud_samples_stored_total", "counter", "Samples stored for the first time",
           atomic_load(&m->samples_stored));
    metric(&b, "iot_cloud_samples_duplicate_total", "counter",
           "Samples already stored (re-sent or redelivered)", atomic_load(&m->samples_duplicate));
    metric(&b, "iot_cloud_dead_letters_total", "counter", "Messages rejected into dead_letters",
           atomic_load(&m->dead_letters));
    sb_printf(&b,
              "# HELP iot_cloud_dead_letters_by_reason_total Rejected messages by reason\n"
              "# TYPE iot_cloud_dead_letters_by_reason_total counter\n");
    for (int i = 0; i < INGEST_REASON_COUNT; i++)
        sb_printf(&b, "iot_cloud_dead_letters_by_reason_total{reason=\"%s\"} %llu\n",
                  ingest_reason_name((enum ingest_reason)i),
                  (unsigned long long)atomic_load(&m->dead_letters_by_reason[i]));
    metric(&b, "iot_cloud_presence_applied_total", "counter", "Presence messages applied",
           atomic_load(&m->presence_applied));
    metric(&b, "iot_cloud_presence_stale_total", "counter",
           "Presence messages ignored as older than the stored state",
           atomic_load(&m->presence_stale));
    metric(&b, "iot_cloud_receipts_sent_total", "counter",
           "Receipt messages published to devices after commits", atomic_load(&m->receipts_sent));
    metric(&b, "iot_cloud_batches_committed_total", "counter", "Storage transactions committed",
           atomic_load(&m->batches_committed));
    metric(&b, "iot_cloud_store_errors_total", "counter", "Storage transactions that failed",
           atomic_load(&m->store_errors));
    metric(&b, "iot_cloud_store_conflicts_total", "counter",
           "Transactions that lost a lock conflict with another instance (retried at once)",
           atomic_load(&m->store_conflicts));
    metric(&b, "iot_cloud_ingest_queue_full_waits_total", "counter",
           "Times the MQTT thread waited for ingest queue space", atomic_load(&m->queue_full_waits));
    metric(&b, "iot_cloud_ingest_queue_depth", "gauge", "Messages waiting in the ingest queue",
           atomic_load(&m->queue_depth));
    metric(&b, "iot_cloud_ingest_queue_capacity", "gauge", "Capacity of the ingest queue",
           atomic_load(&m->queue_capacity));
    metric(&b, "iot_cloud_mqtt_connected", "gauge", "1 when connected to the broker",
           (uint64_t)atomic_load(&m->mqtt_connected));
    metric(&b, "iot_cloud_storage_open", "gauge", "1 when the storage is open",
           (uint64_t)atomic_load(&m->storage_open));
    metric(&b, "iot_cloud_reported_states_total", "counter", "Valid ReportedState messages committed",
           atomic_load(&m->reported_states));
    metric(&b, "iot_cloud_command_results_total", "counter", "Valid CommandResult messages received",
           atomic_load(&m->command_results));
    sb_printf(&b, "# HELP iot_cloud_commands_total Command state transitions, by the state entered\n"
                  "# TYPE iot_cloud_commands_total counter\n");
    for (int i = 0; i < CMD_STATE_COUNT; i++)
        sb_printf(&b, "iot_cloud_commands_total{state=\"%s\"} %llu\n",
                  cmd_state_name((enum cmd_state)i),
                  (unsigned long long)atomic_load(&m->commands_by_state[i]));
    metric(&b, "iot_cloud_command_results_unmatched_total", "counter",
           "Command results for an unknown command or another device's",
           atomic_load(&m->command_results_unmatched));
    metric(&b, "iot_cloud_command_results_late_total", "counter",
           "Command results that arrived after the command ended",
           atomic_load(&m->command_results_late));
    metric(&b, "iot_cloud_commands_resent_total", "counter",
           "Sent, unanswered commands published again when their device came back online",
           atomic_load(&m->commands_resent));
    metric(&b, "iot_cloud_command_updates_deferred_total", "counter",
           "Command results and acknowledgements not stored at once (database busy), kept to retry",
           atomic_load(&m->command_updates_deferred));
    metric(&b, "iot_cloud_command_updates_pending", "gauge",
           "Command results and acknowledgements waiting for a retry",
           atomic_load(&m->command_updates_pending));
    metric(&b, "iot_cloud_command_updates_dropped_total", "counter",
           "Command results and acknowledgements lost: retry list full, or failing for 10 min",
           atomic_load(&m->command_updates_dropped));
    metric(&b, "iot_cloud_webhooks_tried_total", "counter", "Webhook tries started",
           atomic_load(&m->webhooks_tried));
    metric(&b, "iot_cloud_webhooks_delivered_total", "counter", "Webhooks answered with 2xx",
           atomic_load(&m->webhooks_delivered));
    metric(&b, "iot_cloud_webhooks_failed_total", "counter",
           "Webhook tries that failed (non-2xx or transport error)",
           atomic_load(&m->webhooks_failed_tries));
    metric(&b, "iot_cloud_webhooks_gave_up_total", "counter",
           "Webhooks abandoned after the last try", atomic_load(&m->webhooks_gave_up));
    metric(&b, "iot_cloud_sse_clients", "gauge", "Open event streams",
           atomic_load(&m->sse_clients));
    metric(&b, "iot_cloud_sse_dropped_total", "counter", "Event streams dropped as too slow",
           atomic_load(&m->sse_dropped));
    metric(&b, "iot_cloud_sse_resumed_total", "counter",
           "Event streams opened with Last-Event-ID", atomic_load(&m->sse_resumed));
    metric(&b, "iot_cloud_sse_resets_total", "counter",
           "Resumed event streams told with event: reset that events were missed",
           atomic_load(&m->sse_resets));
    metric(&b, "iot_cloud_longpolls_waiting", "gauge", "Long-polls waiting for a command",
           atomic_load(&m->longpolls_waiting));
    sb_printf(&b, "# HELP iot_cloud_http_responses_total HTTP responses sent, by status code\n"
                  "# TYPE iot_cloud_http_responses_total counter\n");
    for (int i = 0; i < INGEST_HTTP_CODES; i++)
        sb_printf(&b, "iot_cloud_http_responses_total{code=\"%u\"} %llu\n",
                  ingest_metrics_http_codes[i],
                  (unsigned long long)atomic_load(&m->http_responses[i]));
    sb_printf(&b, "iot_cloud_http_responses_total{code=\"other\"} %llu\n",
              (unsigned long long)atomic_load(&m->http_responses[INGEST_HTTP_CODES]));
    metric(&b, "iot_cloud_seq_missing", "gauge",
           "Samples missing between the lowest and highest stored seq of each device epoch, not "
           "reported dropped (the devices re-send them unless lost)",
           atomic_load(&m->seq_missing));
    metric(&b, "iot_cloud_seq_gaps", "gauge", "Device epochs with at least one missing sample",
           atomic_load(&m->seq_gap_epochs));
    metric(&b, "iot_cloud_seq_dropped", "gauge",
           "Samples the devices reported dropped (their store was full)",
           atomic_load(&m->seq_dropped));
    if (b.failed) {
        iot_free(b.p);
        return IOT_ERR_NOMEM;
    }
    *out = b.p;
    if (out_len)
        *out_len = b.len;
    return IOT_OK;
}
