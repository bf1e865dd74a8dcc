/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of ingest.c shared with unit tests: queued messages and batch processing. */
#ifndef INGEST_INTERNAL_H
#define INGEST_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/ingest.h"
#include "ingest/store.h"
#include "metrics.h"
#include "validate.h"

/** One received message, copied off Paho's buffers in one allocation. */
struct ingest_msg {
    int64_t received_ms; /**< wall clock at receipt */
    size_t wire_len;     /**< payload size as received */
    size_t len;          /**< bytes kept in payload (at most IOT_MAX_PAYLOAD + 1) */
    bool telemetry;      /**< topic ends in /telemetry: may wait for a fuller batch */
    char *topic;         /**< points into the same allocation */
    uint8_t payload[];
};

/** @brief Copy a message. Oversize payloads keep only a prefix. @return NULL on NOMEM. */
struct ingest_msg *ingest__msg_new(const char *topic, const void *payload, size_t len,
                                   int64_t received_ms);

/**
 * @brief Validate and store @p n messages in ONE transaction, writing rejects to dead_letters.
 * Counters in @p m change only when the transaction commits. @p hook (may be NULL) then receives
 * the committed ranges.
 * @return IOT_OK, IOT_ERR_IO (rolled back: nothing of the batch is stored), IOT_ERR_NOMEM
 */
enum iot_err ingest__process_batch(struct ingest_store *store, struct ingest_metrics *m,
                                   struct ingest_msg *const *msgs, size_t n, ingest_commit_fn hook,
                                   void *hook_ctx);

/** One thing a committed batch did, for the API (commands, events). Valid during the call only. */
struct ingest_event {
    enum iot_topic_kind kind; /**< TELEMETRY, STATUS, RESPONSES or REPORTED */
    const char *device_id;
    const Iot__V1__TelemetryBatch *telemetry;
    uint32_t stored;                   /**< telemetry: samples new in this batch */
    const Iot__V1__Presence *presence;
    bool applied;                      /**< presence: not stale */
    const Iot__V1__CommandResult *result;
    const Iot__V1__ReportedState *reported;
};

/** Called on the worker thread after a commit with what it did, in message order. */
typedef void (*ingest_events_fn)(void *ctx, const struct ingest_event *ev, size_t n);

/**
 * @brief ingest__process_batch, then @p ev_fn (may be NULL) with the batch's events after the
 * commit. CommandResults are not stored here: they only go to @p ev_fn.
 * @return as ingest__process_batch
 */
enum iot_err ingest__process_batch_ev(struct ingest_store *store, struct ingest_metrics *m,
                                      struct ingest_msg *const *msgs, size_t n,
                                      ingest_commit_fn hook, void *hook_ctx,
                                      ingest_events_fn ev_fn, void *ev_ctx);

struct commands;
struct api;
/**
 * @brief Route a committed batch's events (ingest_events.c): CommandResults and presence to
 * @p commands, event-stream JSON to @p api (either may be NULL).
 */
void ingest__route_events(struct commands *commands, struct api *api,
                          const struct ingest_event *ev, size_t n);

/**
 * @brief Tests of the schema upgrades: create or upgrade the SQLite database at @p path only up to
 * schema @p version (1..current), then close it.
 * @return as ingest_store_sqlite_open
 */
enum iot_err ingest__sqlite_migrate_to(const char *path, int version);

#endif
