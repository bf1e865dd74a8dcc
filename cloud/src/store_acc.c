/* SPDX-License-Identifier: Apache-2.0 */
/* Per-transaction (device, epoch) totals (see store_acc.h): a small open-addressing hash over an
 * insertion-ordered array, so a batch of 500 messages from 500 devices costs no quadratic scan. */
#include "store_acc.h"

#include <stdio.h>
#include <string.h>

#include "iot/mem.h"

static uint64_t hash(const char *dev, uint64_t epoch)
{
    uint64_t h = 1469598103934665603ULL ^ epoch; /* FNV-1a over the id, seeded with the epoch */
    for (const unsigned char *p = (const unsigned char *)dev; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static enum iot_err rehash(struct store_acc *a, size_t n_slots)
{
    uint32_t *slots = iot_calloc(n_slots, sizeof *slots);
    if (!slots)
        return IOT_ERR_NOMEM;
    for (size_t i = 0; i < a->n; i++) {
        size_t k = (size_t)hash(a->v[i].device_id, a->v[i].epoch) & (n_slots - 1);
        while (slots[k])
            k = (k + 1) & (n_slots - 1);
        slots[k] = (uint32_t)(i + 1);
    }
    iot_free(a->slots);
    a->slots = slots;
    a->n_slots = n_slots;
    return IOT_OK;
}

enum iot_err store_acc_add(struct store_acc *a, const char *device_id, uint64_t epoch,
                           int64_t received_ms, uint64_t stored, uint64_t min_seq, uint64_t max_seq)
{
    if ((a->n + 1) * 2 > a->n_slots) {
        enum iot_err rc = rehash(a, a->n_slots ? a->n_slots * 2 : 64);
        if (rc != IOT_OK)
            return rc;
    }
    size_t k = (size_t)hash(device_id, epoch) & (a->n_slots - 1);
    while (a->slots[k]) {
        struct store_acc_entry *e = &a->v[a->slots[k] - 1];
        if (e->epoch == epoch && strcmp(e->device_id, device_id) == 0) {
            if (received_ms > e->last_seen_ms)
                e->last_seen_ms = received_ms;
            e->stored += stored;
            if (min_seq < e->min_seq)
                e->min_seq = min_seq;
            if (max_seq > e->max_seq)
                e->max_seq = max_seq;
            return IOT_OK;
        }
        k = (k + 1) & (a->n_slots - 1);
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        struct store_acc_entry *v = iot_realloc(a->v, cap * sizeof *v);
        if (!v)
            return IOT_ERR_NOMEM;
        a->v = v;
        a->cap = cap;
    }
    struct store_acc_entry *e = &a->v[a->n];
    snprintf(e->device_id, sizeof e->device_id, "%s", device_id);
    e->epoch = epoch;
    e->last_seen_ms = received_ms;
    e->stored = stored;
    e->min_seq = min_seq;
    e->max_seq = max_seq;
    a->slots[k] = (uint32_t)(++a->n);
    return IOT_OK;
}

void store_acc_clear(struct store_acc *a)
{
    if (a->n && a->slots)
        memset(a->slots, 0, a->n_slots * sizeof *a->slots);
    a->n = 0;
}

void store_acc_free(struct store_acc *a)
{
    iot_free(a->v);
    iot_free(a->slots);
    memset(a, 0, sizeof *a);
}
