/* SPDX-License-Identifier: Apache-2.0 */
/* A (device id, epoch) key and an open-addressing index over an array of entries that start with
 * one: the per-transaction totals (store_acc.c) and the pending receipts (receipts.c) look an entry
 * up for every message, and a linear scan over thousands of devices (a smart-home simulation) was
 * quadratic. The entries stay in the caller's array; the index holds positions. Not thread-safe. */
#ifndef CLOUD_DEVKEY_H
#define CLOUD_DEVKEY_H
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"
#include "iot/topic.h"

/** The first member of every indexed entry. */
struct devkey {
    char device_id[IOT_DEVICE_ID_MAX + 1];
    uint64_t epoch;
};

struct devkey_index {
    uint32_t *slots; /* position + 1 in the entry array, 0 = free */
    size_t n_slots;  /* a power of two, at least twice the entries */
};

/**
 * @brief Find (@p dev, @p epoch) among the @p n entries at @p base (each @p stride bytes, each
 * starting with a struct devkey), growing the index first if one more entry would fill it.
 * @param[out] pos the entry's position, or @p n when absent: then add the entry at position n
 *             and call devkey_index_insert() with *slot
 * @param[out] slot where an absent key goes
 * @return IOT_OK, IOT_ERR_NOMEM (growing the index failed)
 */
enum iot_err devkey_index_find(struct devkey_index *x, const void *base, size_t stride, size_t n,
                               const char *dev, uint64_t epoch, size_t *pos, size_t *slot);

/** @brief Record that the entry at position @p pos sits in @p slot (from devkey_index_find). */
void devkey_index_insert(struct devkey_index *x, size_t slot, size_t pos);

/**
 * @brief Rebuild the index for @p n entries at @p base, after entries moved or went away.
 * @return IOT_OK, IOT_ERR_NOMEM (the old index stays and is wrong: the caller must not use it)
 */
enum iot_err devkey_index_rebuild(struct devkey_index *x, const void *base, size_t stride,
                                  size_t n);

/** @brief Forget every entry (keeps the memory). */
void devkey_index_clear(struct devkey_index *x);

/** @brief Free the index's memory. */
void devkey_index_free(struct devkey_index *x);

/** @brief Set @p k to (@p dev, @p epoch); the id is cut to IOT_DEVICE_ID_MAX bytes. */
void devkey_set(struct devkey *k, const char *dev, uint64_t epoch);

#endif
