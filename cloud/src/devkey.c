/* SPDX-License-Identifier: Apache-2.0 */
/* (device, epoch) index: open addressing with linear probing over positions (see devkey.h). */
#include "devkey.h"

#include <string.h>

#include "iot/mem.h"

#define MIN_SLOTS 64u

static uint64_t hash(const char *dev, uint64_t epoch)
{
    uint64_t h = 1469598103934665603ULL ^ epoch; /* FNV-1a over the id, seeded with the epoch */
    for (const unsigned char *p = (const unsigned char *)dev; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

/* Entries are elements of an array of structs that start with a struct devkey: aligned for it. */
static const struct devkey *key_at(const void *base, size_t stride, size_t i)
{
    return (const struct devkey *)(const void *)((const unsigned char *)base + i * stride);
}

static enum iot_err fill(struct devkey_index *x, const void *base, size_t stride, size_t n,
                         size_t n_slots)
{
    uint32_t *slots = iot_calloc(n_slots, sizeof *slots);
    if (!slots)
        return IOT_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct devkey *k = key_at(base, stride, i);
        size_t s = (size_t)hash(k->device_id, k->epoch) & (n_slots - 1);
        while (slots[s])
            s = (s + 1) & (n_slots - 1);
        slots[s] = (uint32_t)(i + 1);
    }
    iot_free(x->slots);
    x->slots = slots;
    x->n_slots = n_slots;
    return IOT_OK;
}

enum iot_err devkey_index_find(struct devkey_index *x, const void *base, size_t stride, size_t n,
                               const char *dev, uint64_t epoch, size_t *pos, size_t *slot)
{
    if ((n + 1) * 2 > x->n_slots) {
        size_t want = x->n_slots ? x->n_slots : MIN_SLOTS;
        while ((n + 1) * 2 > want)
            want *= 2;
        enum iot_err rc = fill(x, base, stride, n, want);
        if (rc != IOT_OK)
            return rc;
    }
    size_t s = (size_t)hash(dev, epoch) & (x->n_slots - 1);
    while (x->slots[s]) {
        size_t i = x->slots[s] - 1;
        const struct devkey *k = key_at(base, stride, i);
        if (k->epoch == epoch && strcmp(k->device_id, dev) == 0) {
            *pos = i;
            *slot = s;
            return IOT_OK;
        }
        s = (s + 1) & (x->n_slots - 1);
    }
    *pos = n;
    *slot = s;
    return IOT_OK;
}

void devkey_index_insert(struct devkey_index *x, size_t slot, size_t pos)
{
    x->slots[slot] = (uint32_t)(pos + 1);
}

enum iot_err devkey_index_rebuild(struct devkey_index *x, const void *base, size_t stride,
                                  size_t n)
{
    size_t want = MIN_SLOTS;
    while ((n + 1) * 2 > want)
        want *= 2;
    return fill(x, base, stride, n, want);
}

void devkey_index_clear(struct devkey_index *x)
{
    if (x->slots)
        memset(x->slots, 0, x->n_slots * sizeof *x->slots);
}

void devkey_index_free(struct devkey_index *x)
{
    iot_free(x->slots);
    memset(x, 0, sizeof *x);
}

void devkey_set(struct devkey *k, const char *dev, uint64_t epoch)
{
    size_t n = strnlen(dev, IOT_DEVICE_ID_MAX);
    memcpy(k->device_id, dev, n);
    k->device_id[n] = '\0';
    k->epoch = epoch;
}
