/* SPDX-License-Identifier: Apache-2.0 */
/* The backlog seam: samples wait here, in seq order, from sampling until acknowledged by the cloud's
 * Receipt (or, with [store] ack = puback, by the broker's PUBACK). Two implementations: the on-disk
 * log (store_log.c, the default) and a memory ring (store_mem.c, for tests).
 * Two send lanes: after agent_store_live_mark() the records appended from then on are "live" and are
 * peeked with peek_live(); peek() returns the older backlog in seq order, so a replay after an outage
 * does not hold back the newest samples. When the backlog is sent the lanes merge again. */
#ifndef AGENT_STORE_H
#define AGENT_STORE_H
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"

/** One stored sample: its seq and its encoded iot.v1.Sample. */
struct agent_store_rec {
    uint64_t seq;
    const uint8_t *data; /**< valid until the next mutating call on the store */
    size_t len;
};

struct agent_seq_range {
    uint64_t first, last; /**< inclusive */
};

struct agent_store_stats {
    uint64_t count;         /**< records held, not acknowledged (unsent + sent) */
    uint64_t bytes;         /**< bytes they occupy (disk: the written part of the segments) */
    uint64_t inflight;      /**< records sent (marked in flight) and not acknowledged yet */
    uint64_t dropped_total; /**< records dropped for lack of space since creation */
    uint64_t dropped_ranges;/**< dropped ranges not yet reported */
    uint64_t corrupt_total; /**< records lost to bad checksums (disk), since creation */
    uint64_t disk_bytes;    /**< bytes of files the store occupies (0 for memory) */
};

struct agent_store_ops {
    /** Append a record; @p seq must exceed every earlier seq. When full, the oldest record is dropped
     *  (counted, its seq added to the dropped ranges). Copies @p rec.
     *  @return IOT_OK, IOT_ERR_INVAL (seq not increasing, empty), IOT_ERR_NOMEM, IOT_ERR_IO */
    enum iot_err (*append)(void *ctx, uint64_t seq, const uint8_t *rec, size_t len);
    /** Up to @p max unsent records, lowest seq first, without marking them. *n = 0 when none.
     *  @return IOT_OK */
    enum iot_err (*peek)(void *ctx, struct agent_store_rec *out, size_t max, size_t *n);
    /** Mark an unsent record in flight. @return IOT_OK, IOT_ERR_NOT_FOUND */
    enum iot_err (*mark_inflight)(void *ctx, uint64_t seq);
    /** Acknowledge (remove) every held record with seq in [first, last]. Unknown seqs are ignored.
     *  A dropped range is forgotten (reported) once a seq appended after its drop is acknowledged:
     *  every batch holding such a seq carried the range.
     *  @return IOT_OK, IOT_ERR_IO */
    enum iot_err (*ack)(void *ctx, uint64_t first, uint64_t last);
    /** Put every sent, unacknowledged record back to unsent (connection lost, or no receipt in
     *  time: re-send in seq order). Ends the live lane. */
    void (*requeue_all)(void *ctx);
    /** Put one in-flight record back to unsent (its publish failed). */
    void (*requeue)(void *ctx, uint64_t seq);
    void (*stats)(void *ctx, struct agent_store_stats *out);
    /** The oldest dropped ranges not yet reported, up to @p cap. @return how many */
    size_t (*dropped)(void *ctx, struct agent_seq_range *out, size_t cap);
    /** The ranges with last <= @p upto have reached the cloud: forget them. */
    void (*dropped_reported)(void *ctx, uint64_t upto);
    /** The next append will be @p next_seq (the agent's state after a restart). Seqs between the
     *  highest one this store ever held or saw acknowledged and @p next_seq were reserved by a run
     *  that stopped without saving its state, and never used: when there are at most @p max_gap of
     *  them, they join the dropped ranges (reported like dropped samples, not counted as dropped
     *  records), so the cloud does not wait for them as missing. A store that keeps nothing across
     *  restarts does nothing. @return how many seqs were added */
    uint64_t (*resume_at)(void *ctx, uint64_t next_seq, uint64_t max_gap);
    /** Records appended from now on form the live lane (see the file comment). */
    void (*live_mark)(void *ctx);
    /** Like peek(), over the live lane; *n = 0 when there is no live lane. @return IOT_OK */
    enum iot_err (*peek_live)(void *ctx, struct agent_store_rec *out, size_t max, size_t *n);
    /** Timers (periodic fsync, saving the acknowledged state). @p next_ms gets the monotonic time
     *  of the next due work (UINT64_MAX: none). @return IOT_OK, IOT_ERR_IO (logged) */
    enum iot_err (*tick)(void *ctx, uint64_t now_ms, uint64_t *next_ms);
    /** Flush and free (a clean stop saves everything). */
    void (*destroy)(void *ctx);
};

struct agent_store {
    const struct agent_store_ops *ops;
    void *ctx;
};

static inline enum iot_err agent_store_append(struct agent_store *s, uint64_t seq,
                                              const uint8_t *rec, size_t len)
{
    return s->ops->append(s->ctx, seq, rec, len);
}
static inline enum iot_err agent_store_peek(struct agent_store *s, struct agent_store_rec *out,
                                            size_t max, size_t *n)
{
    return s->ops->peek(s->ctx, out, max, n);
}
static inline enum iot_err agent_store_mark_inflight(struct agent_store *s, uint64_t seq)
{
    return s->ops->mark_inflight(s->ctx, seq);
}
static inline enum iot_err agent_store_ack(struct agent_store *s, uint64_t first, uint64_t last)
{
    return s->ops->ack(s->ctx, first, last);
}
static inline void agent_store_requeue_all(struct agent_store *s) { s->ops->requeue_all(s->ctx); }
static inline void agent_store_requeue(struct agent_store *s, uint64_t seq)
{
    s->ops->requeue(s->ctx, seq);
}
static inline void agent_store_stats(struct agent_store *s, struct agent_store_stats *out)
{
    s->ops->stats(s->ctx, out);
}
static inline size_t agent_store_dropped(struct agent_store *s, struct agent_seq_range *out,
                                         size_t cap)
{
    return s->ops->dropped(s->ctx, out, cap);
}
static inline void agent_store_dropped_reported(struct agent_store *s, uint64_t upto)
{
    s->ops->dropped_reported(s->ctx, upto);
}
static inline uint64_t agent_store_resume_at(struct agent_store *s, uint64_t next_seq,
                                             uint64_t max_gap)
{
    return s->ops->resume_at(s->ctx, next_seq, max_gap);
}
static inline void agent_store_live_mark(struct agent_store *s) { s->ops->live_mark(s->ctx); }
static inline enum iot_err agent_store_peek_live(struct agent_store *s, struct agent_store_rec *out,
                                                 size_t max, size_t *n)
{
    return s->ops->peek_live(s->ctx, out, max, n);
}
static inline enum iot_err agent_store_tick(struct agent_store *s, uint64_t now_ms,
                                            uint64_t *next_ms)
{
    return s->ops->tick(s->ctx, now_ms, next_ms);
}
static inline void agent_store_destroy(struct agent_store *s)
{
    if (s && s->ops)
        s->ops->destroy(s->ctx);
}

/** Dropped ranges kept before the newest ones are merged into the last range. */
#define AGENT_STORE_MAX_DROPPED_RANGES 64

/**
 * @brief The in-memory store: a ring of at most @p max_records records (allocated now).
 * @return IOT_OK, IOT_ERR_INVAL, IOT_ERR_NOMEM
 */
enum iot_err agent_store_mem_create(uint32_t max_records, struct agent_store *out);

#endif
