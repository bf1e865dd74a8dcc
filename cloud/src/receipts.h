/* SPDX-License-Identifier: Apache-2.0 */
/* End-to-end receipts: the seq ranges that commits made durable, merged per (device, epoch) and
 * published as iot.v1.Receipt on devices/{id}/receipts, at most once per flush interval per device.
 * Only what a commit reported is ever receipted: never before the commit (DESIGN.md). */
#ifndef INGEST_RECEIPTS_H
#define INGEST_RECEIPTS_H
#include <stddef.h>
#include <stdint.h>

#include "ingest/ingest.h"
#include "iot/err.h"

struct receipts;

/** Sends one encoded Receipt. @return IOT_OK when queued for sending; anything else keeps it pending. */
typedef enum iot_err (*receipts_send_fn)(void *ctx, const char *topic, const uint8_t *buf, size_t len);

/** Most ranges in one Receipt message; a device with more gaps than that gets several. */
#define RECEIPTS_MAX_RANGES 64

/** @brief @p interval_ms: least time between two receipts of one device. */
enum iot_err receipts_create(uint32_t interval_ms, struct receipts **out);
void receipts_destroy(struct receipts *r);

/** @brief Record what a commit made durable (the ingest commit hook; any thread). */
void receipts_add(struct receipts *r, const struct ingest_receipt *rc, size_t n);

/**
 * @brief Publish what is due (one thread: the main loop). Entries whose send fails stay pending.
 * @return the number of Receipt messages sent
 */
size_t receipts_flush(struct receipts *r, uint64_t now_ms, receipts_send_fn send, void *ctx);

/** @brief Ranges waiting to be sent (for metrics and tests). */
size_t receipts_pending(struct receipts *r);

#endif
