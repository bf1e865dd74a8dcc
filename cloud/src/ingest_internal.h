/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of ingest.c shared with unit tests: queued messages and batch processing. */
#ifndef INGEST_INTERNAL_H
#define INGEST_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#include "ingest/ingest.h"
#include "ingest/store.h"
#include "metrics.h"

/** One received message, copied off Paho's buffers in one allocation. */
struct ingest_msg {
    int64_t received_ms; /**< wall clock at receipt */
    size_t wire_len;     /**< payload size as received */
    size_t len;          /**< bytes kept in payload (at most IOT_MAX_PAYLOAD + 1) */
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

#endif
