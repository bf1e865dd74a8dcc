/* SPDX-License-Identifier: Apache-2.0 */
/* Receipt aggregation and publishing (see receipts.h). A device that sends 50 samples/s gets one
 * Receipt per interval covering all of them, not 50. Entries idle for long are evicted. */
#define IOT_LOG_TAG "cloud.receipts"
#include "receipts.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "devkey.h"
#include "iot/codec.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "iot/topic.h"

#define EVICT_IDLE_MS (10u * 60u * 1000u)

struct entry {
    struct devkey key; /* first: indexed by devkey.h */
    struct ingest_seq_range *ranges; /* sorted, disjoint, non-adjacent */
    size_t n, cap;
    uint64_t last_sent_ms;
    uint64_t last_used_ms;
};

struct receipts {
    pthread_mutex_t lock;
    uint32_t interval_ms;
    struct entry *v;
    size_t n, cap;
    struct devkey_index index; /* positions in v; rebuilt after evictions move entries */
    bool index_stale;          /* a rebuild failed (out of memory): scan v instead */
    uint64_t now_hint_ms; /* last flush time, for eviction bookkeeping in add */
};

enum iot_err receipts_create(uint32_t interval_ms, struct receipts **out)
{
    struct receipts *r = iot_calloc(1, sizeof *r);
    if (!r)
        return IOT_ERR_NOMEM;
    pthread_mutex_init(&r->lock, NULL);
    r->interval_ms = interval_ms;
    *out = r;
    return IOT_OK;
}

void receipts_destroy(struct receipts *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        iot_free(r->v[i].ranges);
    iot_free(r->v);
    devkey_index_free(&r->index);
    pthread_mutex_destroy(&r->lock);
    iot_free(r);
}

static struct entry *find_or_add(struct receipts *r, const char *dev, uint64_t epoch)
{
    size_t pos = r->n, slot = 0;
    bool indexed = !r->index_stale ||
                   devkey_index_rebuild(&r->index, r->v, sizeof *r->v, r->n) == IOT_OK;
    r->index_stale = !indexed;
    if (indexed &&
        devkey_index_find(&r->index, r->v, sizeof *r->v, r->n, dev, epoch, &pos, &slot) != IOT_OK)
        return NULL;
    if (!indexed) {
        for (pos = 0; pos < r->n; pos++)
            if (r->v[pos].key.epoch == epoch && strcmp(r->v[pos].key.device_id, dev) == 0)
                break;
    }
    if (pos < r->n)
        return &r->v[pos];
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct entry *nv = iot_realloc(r->v, cap * sizeof *nv);
        if (!nv)
            return NULL;
        r->v = nv;
        r->cap = cap;
    }
    struct entry *e = &r->v[r->n];
    memset(e, 0, sizeof *e);
    devkey_set(&e->key, dev, epoch);
    if (indexed)
        devkey_index_insert(&r->index, slot, r->n);
    r->n++;
    return e;
}

/* Merge [first, last] into the sorted range list. */
static enum iot_err merge(struct entry *e, uint64_t first, uint64_t last)
{
    size_t i = 0;
    while (i < e->n && e->ranges[i].last + 1 < first && e->ranges[i].last != UINT64_MAX)
        i++;
    if (i < e->n && e->ranges[i].first <= (last == UINT64_MAX ? last : last + 1)) {
        /* overlaps or touches range i: grow it, then swallow the ranges it now reaches */
        if (first < e->ranges[i].first)
            e->ranges[i].first = first;
        if (last > e->ranges[i].last)
            e->ranges[i].last = last;
        size_t j = i + 1;
        while (j < e->n && e->ranges[j].first <= e->ranges[i].last + 1) {
            if (e->ranges[j].last > e->ranges[i].last)
                e->ranges[i].last = e->ranges[j].last;
            j++;
        }
        memmove(&e->ranges[i + 1], &e->ranges[j], (e->n - j) * sizeof *e->ranges);
        e->n -= j - (i + 1);
        return IOT_OK;
    }
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 4;
        struct ingest_seq_range *nr = iot_realloc(e->ranges, cap * sizeof *nr);
        if (!nr)
            return IOT_ERR_NOMEM;
        e->ranges = nr;
        e->cap = cap;
    }
    memmove(&e->ranges[i + 1], &e->ranges[i], (e->n - i) * sizeof *e->ranges);
    e->ranges[i] = (struct ingest_seq_range){first, last};
    e->n++;
    return IOT_OK;
}

void receipts_add(struct receipts *r, const struct ingest_receipt *rc, size_t n)
{
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < n; i++) {
        struct entry *e = find_or_add(r, rc[i].device_id, rc[i].epoch);
        if (!e) {
            IOT_LOG(IOT_LOG_WARN, "out of memory: receipt for %s not recorded (the device re-sends)",
                    rc[i].device_id);
            continue;
        }
        for (size_t k = 0; k < rc[i].n_ranges; k++) {
            if (merge(e, rc[i].ranges[k].first, rc[i].ranges[k].last) != IOT_OK)
                IOT_LOG(IOT_LOG_WARN, "out of memory: receipt range of %s dropped", e->key.device_id);
        }
        e->last_used_ms = r->now_hint_ms;
    }
    pthread_mutex_unlock(&r->lock);
}

/* Encode up to RECEIPTS_MAX_RANGES of @p e's ranges. @return bytes, 0 on failure */
static size_t encode(const struct entry *e, size_t n, uint8_t *buf, size_t cap)
{
    Iot__V1__SeqRange rs[RECEIPTS_MAX_RANGES];
    Iot__V1__SeqRange *rp[RECEIPTS_MAX_RANGES];
    for (size_t i = 0; i < n; i++) {
        iot__v1__seq_range__init(&rs[i]);
        rs[i].first = e->ranges[i].first;
        rs[i].last = e->ranges[i].last;
        rp[i] = &rs[i];
    }
    Iot__V1__Receipt msg = IOT__V1__RECEIPT__INIT;
    msg.epoch = e->key.epoch;
    msg.device_id = (char *)e->key.device_id;
    msg.n_ranges = n;
    msg.ranges = rp;
    size_t len = iot__v1__receipt__get_packed_size(&msg);
    if (len > cap)
        return 0;
    return iot__v1__receipt__pack(&msg, buf);
}

/* One Receipt taken out of its entry under the lock, sent after unlocking. */
struct outgoing {
    struct entry e; /* device_id, epoch, n; ranges points into rs */
    struct ingest_seq_range rs[RECEIPTS_MAX_RANGES];
    uint64_t prev_sent_ms;
};

#define FLUSH_BATCH 64

/* Put @p o's ranges back into its entry: its send failed, so they stay pending. */
static void put_back(struct receipts *r, const struct outgoing *o)
{
    pthread_mutex_lock(&r->lock);
    struct entry *e = find_or_add(r, o->e.key.device_id, o->e.key.epoch);
    for (size_t k = 0; e && k < o->e.n; k++) {
        if (merge(e, o->rs[k].first, o->rs[k].last) != IOT_OK)
            IOT_LOG(IOT_LOG_WARN, "out of memory: receipt range of %s dropped", e->key.device_id);
    }
    if (e)
        e->last_sent_ms = o->prev_sent_ms;
    pthread_mutex_unlock(&r->lock);
}

size_t receipts_flush(struct receipts *r, uint64_t now_ms, receipts_send_fn send, void *ctx)
{
    /* send() may block: Paho's receive thread holds Paho's lock while it waits for ingest queue
     * space, which only the worker can make, and the worker calls receipts_add after each commit.
     * So send() is never called with r->lock held (that deadlocked: worker -> r->lock -> main loop
     * -> Paho -> receive thread -> worker). Ranges are taken out under the lock, sent unlocked,
     * and put back if the send fails. */
    /* 64 ranges * 22 B + id and epoch fit easily */
    uint8_t buf[RECEIPTS_MAX_RANGES * 24 + IOT_DEVICE_ID_MAX + 32];
    char topic[IOT_TOPIC_MAX];
    size_t sent = 0, i = 0;
    struct outgoing *out = iot_malloc(FLUSH_BATCH * sizeof *out);
    if (!out)
        return 0;
    for (bool more = true; more;) {
        size_t n_out = 0;
        more = false;
        pthread_mutex_lock(&r->lock);
        r->now_hint_ms = now_ms;
        size_t evicted = 0;
        while (i < r->n) {
            struct entry *e = &r->v[i];
            if (e->n == 0) {
                if (now_ms - e->last_used_ms > EVICT_IDLE_MS &&
                    now_ms - e->last_sent_ms > EVICT_IDLE_MS) {
                    iot_free(e->ranges);
                    r->v[i] = r->v[--r->n];
                    evicted++;
                    continue;
                }
                i++;
                continue;
            }
            if (e->last_sent_ms && now_ms - e->last_sent_ms < r->interval_ms) {
                i++;
                continue;
            }
            if (n_out == FLUSH_BATCH) {
                more = true;
                break;
            }
            struct outgoing *o = &out[n_out++];
            size_t k = e->n < RECEIPTS_MAX_RANGES ? e->n : RECEIPTS_MAX_RANGES;
            o->e.key = e->key;
            o->e.n = k;
            memcpy(o->rs, e->ranges, k * sizeof *o->rs);
            o->prev_sent_ms = e->last_sent_ms;
            memmove(e->ranges, e->ranges + k, (e->n - k) * sizeof *e->ranges);
            e->n -= k;
            e->last_sent_ms = now_ms ? now_ms : 1;
            e->last_used_ms = now_ms;
            i++;
        }
        if (evicted) /* entries moved: positions changed */
            r->index_stale =
                devkey_index_rebuild(&r->index, r->v, sizeof *r->v, r->n) != IOT_OK;
        pthread_mutex_unlock(&r->lock);
        for (size_t j = 0; j < n_out; j++) {
            struct outgoing *o = &out[j];
            o->e.ranges = o->rs;
            size_t len = encode(&o->e, o->e.n, buf, sizeof buf);
            if (len == 0 ||
                iot_topic_format(topic, sizeof topic, IOT_TOPIC_RECEIPTS, o->e.key.device_id) != IOT_OK ||
                send(ctx, topic, buf, len) != IOT_OK) {
                put_back(r, o); /* stays pending; the next flush tries again */
                continue;
            }
            sent++;
        }
    }
    iot_free(out);
    return sent;
}

size_t receipts_pending(struct receipts *r)
{
    size_t n = 0;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n; i++)
        n += r->v[i].n;
    pthread_mutex_unlock(&r->lock);
    return n;
}
