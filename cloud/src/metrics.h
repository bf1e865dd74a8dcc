/* SPDX-License-Identifier: Apache-2.0 */
/* Ingestion counters (atomics: written by the worker and Paho's thread, read by the HTTP thread)
 * and their Prometheus text exposition. */
#ifndef INGEST_METRICS_H
#define INGEST_METRICS_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cmd_state.h"
#include "iot/err.h"
#include "validate.h"

/** Statuses counted one by one in iot_cloud_http_responses_total; any other is "other". */
#define INGEST_HTTP_CODES 12
extern const unsigned ingest_metrics_http_codes[INGEST_HTTP_CODES];

struct ingest_metrics {
    atomic_uint_fast64_t messages_received;  /**< handed over by MQTT */
    atomic_uint_fast64_t telemetry_messages; /**< valid TelemetryBatch messages committed */
    atomic_uint_fast64_t presence_messages;  /**< valid Presence messages committed */
    atomic_uint_fast64_t samples_stored;
    atomic_uint_fast64_t samples_duplicate;
    atomic_uint_fast64_t dead_letters;
    atomic_uint_fast64_t dead_letters_by_reason[INGEST_REASON_COUNT];
    atomic_uint_fast64_t presence_applied;
    atomic_uint_fast64_t presence_stale;
    atomic_uint_fast64_t receipts_sent;
    atomic_uint_fast64_t batches_committed;
    atomic_uint_fast64_t store_errors;        /**< failed transactions (retried) */
    atomic_uint_fast64_t store_conflicts;     /**< transactions that lost a deadlock (retried) */
    atomic_uint_fast64_t queue_full_waits;    /**< times the MQTT thread waited for queue space */
    atomic_uint_fast64_t queue_depth;         /**< gauge */
    atomic_uint_fast64_t queue_capacity;      /**< gauge */
    atomic_int mqtt_connected;                /**< gauge 0/1 */
    atomic_int storage_open;                  /**< gauge 0/1 */
    atomic_uint_fast64_t reported_states;     /**< valid ReportedState messages committed */
    atomic_uint_fast64_t command_results;     /**< valid CommandResult messages received */
    /* The HTTP API (issue 4) */
    atomic_uint_fast64_t commands_by_state[CMD_STATE_COUNT]; /**< transitions into each state */
    atomic_uint_fast64_t command_results_unmatched; /**< unknown command or another device's */
    atomic_uint_fast64_t command_results_late;      /**< the command was already terminal */
    atomic_uint_fast64_t commands_resent; /**< sent, unanswered, re-published on reconnect */
    atomic_uint_fast64_t command_updates_deferred; /**< device updates kept for a retry */
    atomic_uint_fast64_t command_updates_pending;  /**< gauge: device updates waiting to retry */
    atomic_uint_fast64_t command_updates_dropped;  /**< retry list full, or failing too long */
    atomic_uint_fast64_t webhooks_tried;       /**< tries started */
    atomic_uint_fast64_t webhooks_delivered;   /**< webhooks answered 2xx */
    atomic_uint_fast64_t webhooks_failed_tries; /**< tries that failed */
    atomic_uint_fast64_t webhooks_gave_up;     /**< webhooks abandoned after max_tries */
    atomic_uint_fast64_t sse_clients;          /**< gauge */
    atomic_uint_fast64_t sse_dropped;          /**< slow clients dropped */
    atomic_uint_fast64_t longpolls_waiting;    /**< gauge */
    atomic_uint_fast64_t sse_resumed;          /**< streams resumed with Last-Event-ID */
    atomic_uint_fast64_t sse_resets;           /**< resumptions answered with event: reset */
    /** HTTP responses by status: one slot per ingest_metrics_http_codes[] entry, then "other" */
    atomic_uint_fast64_t http_responses[INGEST_HTTP_CODES + 1];
    /* Sequence gaps (issue 5): gauges refreshed by the worker from the seq summaries */
    atomic_uint_fast64_t seq_missing;    /**< samples missing inside stored seq spans */
    atomic_uint_fast64_t seq_gap_epochs; /**< device epochs with missing samples */
    atomic_uint_fast64_t seq_dropped;    /**< samples the devices reported dropped */
};

/** @brief Zero all counters. */
void ingest_metrics_init(struct ingest_metrics *m);

/** @brief Count one HTTP response with @p status (any thread). */
void ingest_metrics_http_response(struct ingest_metrics *m, unsigned status);

/**
 * @brief Render the Prometheus text exposition (version 0.0.4).
 * @param[out] out NUL-terminated text; caller frees with iot_free
 * @return IOT_OK, IOT_ERR_NOMEM
 */
enum iot_err ingest_metrics_render(const struct ingest_metrics *m, char **out, size_t *out_len);

#endif
