/* SPDX-License-Identifier: Apache-2.0 */
/* The ingestion service: MQTT (shared subscriptions, persistent session) -> bounded queue -> one
 * worker thread -> storage, one transaction per batch; plus the HTTP endpoint (health, metrics). */
#ifndef INGEST_INGEST_H
#define INGEST_INGEST_H
#include <stddef.h>
#include <stdint.h>

#include "ingest/config.h"
#include "iot/err.h"
#include "iot/plat_event.h"

struct ingest_service;

struct ingest_seq_range {
    uint64_t first, last; /**< inclusive */
};

/** The seq ranges of one (device, epoch) that are durably stored (new or duplicate) by a commit. */
struct ingest_receipt {
    const char *device_id;
    uint64_t epoch;
    const struct ingest_seq_range *ranges;
    size_t n_ranges;
};

/**
 * Called on the worker thread right after a batch commits, with what that batch made durable.
 * Seam for publishing Receipts (later issue). The arrays are valid during the call only.
 */
typedef void (*ingest_commit_fn)(void *ctx, const struct ingest_receipt *receipts, size_t n);

/**
 * @brief Open the storage, start the worker and the HTTP server, prepare the MQTT client (no
 * network yet). @p cfg is copied. Failures are logged with the file, path or address concerned.
 * @return IOT_OK, IOT_ERR_INVAL, IOT_ERR_IO (storage or HTTP), IOT_ERR_NOMEM, IOT_ERR_INTERNAL
 */
enum iot_err ingest_service_create(const struct cloud_config *cfg, struct ingest_service **out);

/** @brief Set the commit hook (before ingest_service_run; NULL clears it). */
void ingest_service_set_commit_hook(struct ingest_service *s, ingest_commit_fn fn, void *ctx);

/**
 * @brief Connect and ingest until *@p stop_flag becomes non-zero (set it, then signal @p wake, e.g.
 * through plat_signals_install). Reconnects with backoff. Blocks the calling thread.
 * Then stops taking messages, disconnects, and drains the queue into storage.
 * @return IOT_OK (stopped on request)
 */
enum iot_err ingest_service_run(struct ingest_service *s, struct plat_event *wake,
                                volatile int *stop_flag);

/** @brief Stop everything still running, drain, close the storage and free (NULL-safe). */
void ingest_service_destroy(struct ingest_service *s);

#endif
