/* SPDX-License-Identifier: Apache-2.0 */
/* Per-transaction totals per (device, epoch): the device row and the seq summary are written once
 * per batch at commit instead of once per message. Used by the SQLite backend. Not thread-safe. */
#ifndef INGEST_STORE_ACC_H
#define INGEST_STORE_ACC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devkey.h"
#include "iot/err.h"

struct store_acc_entry {
    struct devkey key; /**< first: indexed by devkey.h */
    int64_t last_seen_ms; /**< latest receive time */
    uint64_t stored;      /**< samples new in this transaction */
    uint64_t min_seq, max_seq; /**< over every seq seen (new or already stored) */
};

struct store_acc {
    struct store_acc_entry *v; /* entries in insertion order */
    size_t n, cap;
    struct devkey_index index;
};

/**
 * @brief Add one message's figures to the (device, epoch) entry (created on first use).
 * @return IOT_OK, IOT_ERR_NOMEM
 */
enum iot_err store_acc_add(struct store_acc *a, const char *device_id, uint64_t epoch,
                           int64_t received_ms, uint64_t stored, uint64_t min_seq,
                           uint64_t max_seq);
/** @brief Forget all entries; keeps the memory for the next transaction. */
void store_acc_clear(struct store_acc *a);
/** @brief Free the memory (the struct itself is the caller's). */
void store_acc_free(struct store_acc *a);

#endif
