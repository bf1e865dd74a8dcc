/* SPDX-License-Identifier: Apache-2.0 */
/* Per-transaction (device, epoch) totals (see store_acc.h): an insertion-ordered array indexed by
 * devkey.h, so a batch of 500 messages from 500 devices costs no quadratic scan. */
#include "store_acc.h"

#include <string.h>

#include "iot/mem.h"

enum iot_err store_acc_add(struct store_acc *a, const char *device_id, uint64_t epoch,
                           int64_t received_ms, uint64_t stored, uint64_t min_seq, uint64_t max_seq)
{
    size_t pos, slot;
    enum iot_err rc =
        devkey_index_find(&a->index, a->v, sizeof *a->v, a->n, device_id, epoch, &pos, &slot);
    if (rc != IOT_OK)
        return rc;
    if (pos < a->n) {
        struct store_acc_entry *e = &a->v[pos];
        if (received_ms > e->last_seen_ms)
            e->last_seen_ms = received_ms;
        e->stored += stored;
        if (min_seq < e->min_seq)
            e->min_seq = min_seq;
        if (max_seq > e->max_seq)
            e->max_seq = max_seq;
        return IOT_OK;
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
    devkey_set(&e->key, device_id, epoch);
    e->last_seen_ms = received_ms;
    e->stored = stored;
    e->min_seq = min_seq;
    e->max_seq = max_seq;
    devkey_index_insert(&a->index, slot, a->n++);
    return IOT_OK;
}

void store_acc_clear(struct store_acc *a)
{
    if (a->n)
        devkey_index_clear(&a->index);
    a->n = 0;
}

void store_acc_free(struct store_acc *a)
{
    iot_free(a->v);
    devkey_index_free(&a->index);
    memset(a, 0, sizeof *a);
}
