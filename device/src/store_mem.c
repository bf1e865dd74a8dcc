/* SPDX-License-Identifier: Apache-2.0 */
/* In-memory backlog: a ring of records in seq order. Positions are absolute counters (slot =
 * pos % cap) so a "first maybe-unsent" hint survives pops. Acked records in the middle stay as holes
 * until they reach the head. Lost on restart: for tests and memory-only devices; the default is the
 * disk log (store_log.c). */
#define IOT_LOG_TAG "agent.store"
#include <inttypes.h>
#include <string.h>

#include "iot/log.h"
#include "iot/mem.h"
#include "store.h"

enum rec_state { REC_UNSENT, REC_INFLIGHT, REC_ACKED };

struct slot {
    uint64_t seq;
    uint8_t *data;
    uint32_t len;
    uint8_t state;
};

struct store_mem {
    struct slot *slots;
    uint64_t cap;
    uint64_t head, tail; /* absolute positions: [head, tail) are occupied */
    uint64_t hint;       /* no unsent record below this position */
    uint64_t n_acked;    /* acked holes in [head, tail) */
    uint64_t n_inflight;
    uint64_t bytes;
    uint64_t last_seq;
    uint64_t dropped_total;
    struct agent_seq_range dropped[AGENT_STORE_MAX_DROPPED_RANGES];
    uint64_t marker[AGENT_STORE_MAX_DROPPED_RANGES]; /* seq appended when the range last grew */
    size_t n_dropped;
    uint64_t live_from; /* 0: no live lane; else records with seq >= it are live */
};

static struct slot *at(struct store_mem *s, uint64_t pos) { return &s->slots[pos % s->cap]; }

static void release(struct store_mem *s, struct slot *sl)
{
    if (sl->state == REC_INFLIGHT)
        s->n_inflight--;
    if (sl->state != REC_ACKED)
        s->bytes -= sl->len;
    iot_free(sl->data);
    sl->data = NULL;
    sl->len = 0;
}

static void pop_acked(struct store_mem *s)
{
    while (s->head < s->tail && at(s, s->head)->state == REC_ACKED) {
        s->n_acked--;
        s->head++;
    }
    if (s->hint < s->head)
        s->hint = s->head;
}

/* @p appending: the seq whose append caused the drop (the range's marker, see store.h ack). */
static void note_dropped(struct store_mem *s, uint64_t seq, uint64_t appending)
{
    s->dropped_total++;
    if (s->n_dropped > 0 && s->dropped[s->n_dropped - 1].last + 1 == seq) {
        s->dropped[s->n_dropped - 1].last = seq;
        s->marker[s->n_dropped - 1] = appending;
        return;
    }
    if (s->n_dropped == AGENT_STORE_MAX_DROPPED_RANGES) {
        /* Out of range slots: widen the newest range. Seqs inside it that were acked are thereby
         * also reported dropped; the cloud keeps what it stored, so this only loses precision. */
        s->dropped[s->n_dropped - 1].last = seq;
        s->marker[s->n_dropped - 1] = appending;
        return;
    }
    s->marker[s->n_dropped] = appending;
    s->dropped[s->n_dropped++] = (struct agent_seq_range){seq, seq};
}

static void drop_oldest(struct store_mem *s, uint64_t appending)
{
    struct slot *sl = at(s, s->head);
    if (sl->state == REC_ACKED) {
        s->n_acked--;
    } else {
        note_dropped(s, sl->seq, appending);
        release(s, sl);
    }
    s->head++;
    pop_acked(s);
}

static enum iot_err mem_append(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    struct store_mem *s = ctx;
    if (!rec || len == 0 || len > UINT32_MAX || seq <= s->last_seq)
        return IOT_ERR_INVAL;
    uint8_t *copy = iot_malloc(len);
    if (!copy)
        return IOT_ERR_NOMEM;
    memcpy(copy, rec, len);
    if (s->tail - s->head == s->cap)
        drop_oldest(s, seq);
    struct slot *sl = at(s, s->tail++);
    *sl = (struct slot){.seq = seq, .data = copy, .len = (uint32_t)len, .state = REC_UNSENT};
    s->bytes += len;
    s->last_seq = seq;
    return IOT_OK;
}

static enum iot_err mem_peek(void *ctx, struct agent_store_rec *out, size_t max, size_t *n)
{
    struct store_mem *s = ctx;
    size_t k = 0;
    bool hint_moves = true;
    for (uint64_t pos = s->hint; pos < s->tail && k < max; pos++) {
        struct slot *sl = at(s, pos);
        if (s->live_from && sl->seq >= s->live_from) {
            if (k > 0)
                break;
            s->live_from = 0; /* the backlog is all sent: the lanes merge */
        }
        if (sl->state != REC_UNSENT) {
            if (hint_moves)
                s->hint = pos + 1; /* nothing unsent below: skip it next time */
            continue;
        }
        hint_moves = false;
        out[k++] = (struct agent_store_rec){sl->seq, sl->data, sl->len};
    }
    *n = k;
    return IOT_OK;
}

/* Position of @p seq, or of the first record with a larger seq. */
static uint64_t lower_bound(struct store_mem *s, uint64_t seq)
{
    uint64_t lo = s->head, hi = s->tail;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (at(s, mid)->seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct slot *find(struct store_mem *s, uint64_t seq)
{
    uint64_t pos = lower_bound(s, seq);
    if (pos < s->tail && at(s, pos)->seq == seq)
        return at(s, pos);
    return NULL;
}

static enum iot_err mem_peek_live(void *ctx, struct agent_store_rec *out, size_t max, size_t *n)
{
    struct store_mem *s = ctx;
    size_t k = 0;
    if (s->live_from) {
        for (uint64_t pos = lower_bound(s, s->live_from); pos < s->tail && k < max; pos++) {
            struct slot *sl = at(s, pos);
            if (sl->state == REC_UNSENT)
                out[k++] = (struct agent_store_rec){sl->seq, sl->data, sl->len};
        }
    }
    *n = k;
    return IOT_OK;
}

static void mem_live_mark(void *ctx)
{
    struct store_mem *s = ctx;
    s->live_from = s->last_seq + 1;
}

static enum iot_err mem_tick(void *ctx, uint64_t now_ms, uint64_t *next_ms)
{
    (void)ctx;
    (void)now_ms;
    *next_ms = UINT64_MAX;
    return IOT_OK;
}

/* Forget the dropped ranges whose marker is acknowledged now (ranges are in marker order). */
static void forget_reported(struct store_mem *s, uint64_t last)
{
    if (last > s->last_seq)
        last = s->last_seq;
    size_t k = 0;
    while (k < s->n_dropped && s->marker[k] <= last)
        k++;
    memmove(s->dropped, s->dropped + k, (s->n_dropped - k) * sizeof s->dropped[0]);
    memmove(s->marker, s->marker + k, (s->n_dropped - k) * sizeof s->marker[0]);
    s->n_dropped -= k;
}

static enum iot_err mem_mark_inflight(void *ctx, uint64_t seq)
{
    struct store_mem *s = ctx;
    struct slot *sl = find(s, seq);
    if (!sl || sl->state != REC_UNSENT)
        return IOT_ERR_NOT_FOUND;
    sl->state = REC_INFLIGHT;
    s->n_inflight++;
    return IOT_OK;
}

static enum iot_err mem_ack(void *ctx, uint64_t first, uint64_t last)
{
    struct store_mem *s = ctx;
    for (uint64_t pos = lower_bound(s, first); pos < s->tail; pos++) {
        struct slot *sl = at(s, pos);
        if (sl->seq > last)
            break;
        if (sl->state == REC_ACKED)
            continue;
        release(s, sl);
        sl->state = REC_ACKED;
        s->n_acked++;
    }
    pop_acked(s);
    forget_reported(s, last);
    return IOT_OK;
}

static void mem_requeue_all(void *ctx)
{
    struct store_mem *s = ctx;
    s->live_from = 0;
    for (uint64_t pos = s->head; pos < s->tail && s->n_inflight > 0; pos++) {
        struct slot *sl = at(s, pos);
        if (sl->state == REC_INFLIGHT) {
            sl->state = REC_UNSENT;
            s->n_inflight--;
        }
    }
    s->hint = s->head;
}

static void mem_requeue(void *ctx, uint64_t seq)
{
    struct store_mem *s = ctx;
    uint64_t pos = lower_bound(s, seq);
    if (pos >= s->tail || at(s, pos)->seq != seq || at(s, pos)->state != REC_INFLIGHT)
        return;
    at(s, pos)->state = REC_UNSENT;
    s->n_inflight--;
    if (pos < s->hint)
        s->hint = pos;
}

static void mem_stats(void *ctx, struct agent_store_stats *out)
{
    struct store_mem *s = ctx;
    out->count = s->tail - s->head - s->n_acked;
    out->bytes = s->bytes;
    out->inflight = s->n_inflight;
    out->dropped_total = s->dropped_total;
    out->dropped_ranges = s->n_dropped;
    out->corrupt_total = 0;
    out->disk_bytes = 0;
}

static size_t mem_dropped(void *ctx, struct agent_seq_range *out, size_t cap)
{
    struct store_mem *s = ctx;
    size_t n = s->n_dropped < cap ? s->n_dropped : cap;
    memcpy(out, s->dropped, n * sizeof *out);
    return n;
}

static void mem_dropped_reported(void *ctx, uint64_t upto)
{
    struct store_mem *s = ctx;
    size_t k = 0;
    while (k < s->n_dropped && s->dropped[k].last <= upto)
        k++;
    memmove(s->dropped, s->dropped + k, (s->n_dropped - k) * sizeof s->dropped[0]);
    memmove(s->marker, s->marker + k, (s->n_dropped - k) * sizeof s->marker[0]);
    s->n_dropped -= k;
}

static void mem_destroy(void *ctx)
{
    struct store_mem *s = ctx;
    if (!s)
        return;
    for (uint64_t pos = s->head; pos < s->tail; pos++)
        iot_free(at(s, pos)->data);
    iot_free(s->slots);
    iot_free(s);
}

/* Nothing survives a restart here: what the last run reserved is unknown, and so is what it sent. */
static uint64_t mem_resume_at(void *ctx, uint64_t next_seq, uint64_t max_gap)
{
    (void)ctx;
    (void)next_seq;
    (void)max_gap;
    return 0;
}

static const struct agent_store_ops mem_ops = {
    .append = mem_append,
    .peek = mem_peek,
    .mark_inflight = mem_mark_inflight,
    .ack = mem_ack,
    .requeue_all = mem_requeue_all,
    .requeue = mem_requeue,
    .stats = mem_stats,
    .dropped = mem_dropped,
    .dropped_reported = mem_dropped_reported,
    .resume_at = mem_resume_at,
    .live_mark = mem_live_mark,
    .peek_live = mem_peek_live,
    .tick = mem_tick,
    .destroy = mem_destroy,
};

enum iot_err agent_store_mem_create(uint32_t max_records, struct agent_store *out)
{
    if (max_records == 0 || !out)
        return IOT_ERR_INVAL;
    struct store_mem *s = iot_calloc(1, sizeof *s);
    if (!s)
        return IOT_ERR_NOMEM;
    s->slots = iot_calloc(max_records, sizeof *s->slots);
    if (!s->slots) {
        iot_free(s);
        return IOT_ERR_NOMEM;
    }
    s->cap = max_records;
    out->ops = &mem_ops;
    out->ctx = s;
    return IOT_OK;
}
