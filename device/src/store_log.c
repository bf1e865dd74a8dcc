/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's on-disk store (see store_log.h): the agent_store ops over a segmented append-only log.
 *
 * Why not Paho's offline buffering and persistence (MQTTAsync_createOptions.sendWhileDisconnected,
 * maxBufferedMessages, MQTTCLIENT_PERSISTENCE_DEFAULT or a user persistence store)? Measured here
 * (../shared/FIELD-NOTES.md, "Device store"): it holds at most 65,535 QoS 1 messages, keeps every one
 * of them in RAM as well (~0.75 KB each), never fsyncs (a power cut can lose the lot), writes a file
 * per message (4 KiB of flash each, 0.7-0.8 s to restore 10k), is keyed by client id + broker host +
 * port (a changed broker address restores nothing), drains restored messages at ~40 msg/s under a
 * 20-message window, and frees a message on PUBACK, while our promise ends at the cloud's Receipt.
 * So the agent owns its store, feeds Paho one window at a time and runs Paho without persistence.
 *
 * Layout: <dir>/seg-<16 hex>.log segments (preallocated, records appended, never rewritten except
 * padding over bad bytes at recovery) and <dir>/meta (two 4 KiB slots: acknowledged ranges, dropped
 * ranges, counters). RAM: per segment a few runs of seqs; two read windows; no record is held.
 * Acknowledged records stay on disk until their whole segment is acknowledged, then the file is
 * removed. When a new segment would pass max_bytes, the oldest segment is dropped: its unacknowledged
 * samples are counted and their seqs kept as dropped ranges (persisted) until reported. */
#define IOT_LOG_TAG "agent.store"
#include "store_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_file.h"
#include "store_log_int.h"

uint64_t agent_store_log_segment_bytes(uint64_t max_bytes)
{
    uint64_t b = max_bytes / 16;
    if (b < 16u * 1024u)
        b = 16u * 1024u;
    if (b > 16u * 1024u * 1024u)
        b = 16u * 1024u * 1024u;
    return b & ~(uint64_t)4095u;
}

/* ------------------------------------------------------------------ index helpers */

/* First segment with no >= @p no. */
static uint32_t seg_index(const struct store_log *s, uint64_t no)
{
    uint32_t lo = 0, hi = s->n_segs;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->segs[mid].no < no)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First segment whose last seq is >= @p seq (n_segs when none). */
static uint32_t seg_holding(const struct store_log *s, uint64_t seq)
{
    for (uint32_t i = 0; i < s->n_segs; i++) {
        if (s->segs[i].n_runs && sl__seg_last(&s->segs[i]) >= seq)
            return i;
    }
    return s->n_segs;
}

static bool is_acked(const struct store_log *s, uint64_t seq)
{
    if (seq <= s->acked_upto)
        return true;
    for (size_t i = 0; i < s->n_ack && s->ack[i].first <= seq; i++) {
        if (seq <= s->ack[i].last)
            return true;
    }
    return false;
}

/* Lowest stored seq >= @p x, or 0 when none. */
static uint64_t first_stored_ge(const struct store_log *s, uint64_t x)
{
    for (uint32_t i = seg_holding(s, x); i < s->n_segs; i++) {
        const struct sl_seg *sg = &s->segs[i];
        for (uint32_t k = 0; k < sg->n_runs; k++) {
            const struct sl_run *r = &sg->runs[k];
            if (r->first + r->n - 1 >= x)
                return r->first > x ? r->first : x;
        }
    }
    return 0;
}

static uint64_t overlap(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    uint64_t lo = a > c ? a : c, hi = b < d ? b : d;
    return lo <= hi ? hi - lo + 1 : 0;
}

/* Stored, unacknowledged records with seq in [lo, hi]. */
static uint64_t count_unacked(const struct store_log *s, uint64_t lo, uint64_t hi)
{
    if (lo <= s->acked_upto)
        lo = s->acked_upto + 1;
    if (hi < lo)
        return 0;
    uint64_t n = 0;
    for (uint32_t i = 0; i < s->n_segs; i++) {
        const struct sl_seg *sg = &s->segs[i];
        for (uint32_t k = 0; k < sg->n_runs; k++) {
            uint64_t a = sg->runs[k].first, b = a + sg->runs[k].n - 1;
            if (overlap(a, b, lo, hi) == 0)
                continue;
            a = a > lo ? a : lo;
            b = b < hi ? b : hi;
            n += b - a + 1;
            for (size_t j = 0; j < s->n_ack; j++)
                n -= overlap(a, b, s->ack[j].first, s->ack[j].last);
        }
    }
    return n;
}

/* ------------------------------------------------------------------ segments */

static void seg_remove(struct store_log *s, uint32_t i)
{
    struct sl_seg *sg = &s->segs[i];
    char path[AGENT_STORE_PATH_MAX + 40];
    sl__seg_path(s, sg->no, path, sizeof path);
    if (s->rd_f && s->rd_no == sg->no) {
        plat_lfile_close(s->rd_f);
        s->rd_f = NULL;
    }
    if (i == s->n_segs - 1 && s->tail_f) {
        plat_lfile_close(s->tail_f);
        s->tail_f = NULL;
    }
    plat_file_remove(path);
    iot_free(sg->runs);
    memmove(s->segs + i, s->segs + i + 1, (s->n_segs - i - 1) * sizeof *sg);
    s->n_segs--;
}

/* Move acked_upto over acknowledged ranges and seqs not stored; remove fully acked old segments. */
static void advance_head(struct store_log *s)
{
    uint64_t next = s->acked_upto + 1;
    for (int guard = 0; guard < 1000000; guard++) {
        while (s->n_ack > 0 && s->ack[0].first <= next) {
            if (s->ack[0].last >= next)
                next = s->ack[0].last + 1;
            memmove(s->ack, s->ack + 1, (s->n_ack - 1) * sizeof s->ack[0]);
            s->n_ack--;
        }
        uint64_t e = first_stored_ge(s, next);
        if (e == 0 || e == next)
            break;
        next = e;
    }
    if (next - 1 != s->acked_upto) {
        s->acked_upto = next - 1;
        s->meta_dirty = true;
    }
    while (s->n_segs > 1 && (s->segs[0].n_runs == 0 || sl__seg_last(&s->segs[0]) <= s->acked_upto))
        seg_remove(s, 0);
}

/* The oldest segment goes: count its unacknowledged samples as dropped (persisted first). */
static void drop_oldest(struct store_log *s, uint64_t appending)
{
    struct sl_seg *sg = &s->segs[0];
    uint64_t before = s->dropped_total, first = 0, last = 0;
    for (uint32_t k = 0; k < sg->n_runs; k++) {
        uint64_t a = sg->runs[k].first, b = a + sg->runs[k].n - 1;
        for (uint64_t q = a; q <= b;) {
            if (is_acked(s, q)) {
                q++;
                continue;
            }
            uint64_t e = q;
            while (e < b && !is_acked(s, e + 1))
                e++;
            sl__note_dropped(s, q, e, appending);
            if (!first)
                first = q;
            last = e;
            q = e + 1;
        }
    }
    if (s->dropped_total > before)
        IOT_LOG(IOT_LOG_WARN, "store full (%" PRIu64 " bytes): dropped the oldest %" PRIu64
                " samples (seq %" PRIu64 "..%" PRIu64 "), %" PRIu64 " dropped so far",
                (uint64_t)s->max_segs * s->seg_bytes, s->dropped_total - before, first, last,
                s->dropped_total);
    if (sl__meta_save(s, s->fsync != AGENT_FSYNC_NEVER) != IOT_OK)
        IOT_LOG(IOT_LOG_ERROR, "cannot save the dropped ranges");
    seg_remove(s, 0);
    advance_head(s);
}

static enum iot_err open_tail(struct store_log *s, struct sl_seg *sg, bool create)
{
    char path[AGENT_STORE_PATH_MAX + 40];
    sl__seg_path(s, sg->no, path, sizeof path);
    enum iot_err rc = plat_lfile_open(path, create, &s->tail_f);
    if (rc != IOT_OK)
        return rc;
    rc = plat_lfile_preallocate(s->tail_f, sg->cap);
    if (rc == IOT_OK && create && s->fsync != AGENT_FSYNC_NEVER)
        rc = plat_dir_sync(s->dir);
    if (rc != IOT_OK) {
        plat_lfile_close(s->tail_f);
        s->tail_f = NULL;
        if (create)
            plat_file_remove(path);
    }
    return rc;
}

/* Seal the tail and start a new segment, dropping the oldest ones while over the bound. */
static enum iot_err roll(struct store_log *s, uint64_t appending)
{
    if (s->tail_f) {
        if (s->data_dirty && s->fsync != AGENT_FSYNC_NEVER && plat_lfile_sync(s->tail_f) == IOT_OK)
            s->data_dirty = false;
        plat_lfile_close(s->tail_f);
        s->tail_f = NULL;
    }
    while (s->n_segs >= s->max_segs)
        drop_oldest(s, appending);
    struct sl_seg *sg = &s->segs[s->n_segs];
    *sg = (struct sl_seg){.no = s->next_no, .cap = s->seg_bytes};
    enum iot_err rc = open_tail(s, sg, true);
    /* The filesystem is full before our bound: the oldest segment makes room, as at the bound
     * (dropped, counted, reported), so the newest samples are kept. */
    while (rc == IOT_ERR_FULL && s->n_segs > 0) {
        IOT_LOG(IOT_LOG_WARN, "no space left in %s for a new %" PRIu64 " KiB segment (%u held)",
                s->dir, s->seg_bytes / 1024, s->n_segs);
        drop_oldest(s, appending);
        sg = &s->segs[s->n_segs];
        *sg = (struct sl_seg){.no = s->next_no, .cap = s->seg_bytes};
        rc = open_tail(s, sg, true);
    }
    if (rc != IOT_OK) {
        IOT_LOG(IOT_LOG_ERROR, "cannot create segment %016" PRIx64 " in %s: %s", sg->no, s->dir,
                iot_err_str(rc));
        return rc;
    }
    s->next_no++;
    s->n_segs++;
    advance_head(s);
    return IOT_OK;
}

/* ------------------------------------------------------------------ ops */

static enum iot_err log_append(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    struct store_log *s = ctx;
    if (!rec || len == 0 || len > SL_REC_MAX || SL_HDR + len > s->seg_bytes || seq <= s->last_seq)
        return IOT_ERR_INVAL;
    uint64_t size = SL_HDR + len;
    struct sl_seg *tail = s->n_segs ? &s->segs[s->n_segs - 1] : NULL;
    if (!tail || !s->tail_f || tail->end + size > tail->cap) {
        enum iot_err rc = roll(s, seq);
        if (rc != IOT_OK)
            return rc;
        tail = &s->segs[s->n_segs - 1];
    }
    sl__encode_header(s->wbuf, seq, rec, (uint32_t)len);
    memcpy(s->wbuf + SL_HDR, rec, len);
    enum iot_err rc = plat_lfile_pwrite(s->tail_f, tail->end, s->wbuf, (size_t)size);
    if (rc != IOT_OK)
        return rc;
    rc = sl__run_add(tail, seq);
    if (rc != IOT_OK)
        return rc; /* written, not indexed: found again on the next open */
    tail->end += size;
    s->last_seq = seq;
    s->data_dirty = true;
    if (s->fsync == AGENT_FSYNC_ALWAYS) {
        if (plat_lfile_sync(s->tail_f) == IOT_OK)
            s->data_dirty = false;
        else
            IOT_LOG(IOT_LOG_WARN, "fdatasync of the store failed: seq %" PRIu64
                    " may not survive a power cut", seq);
    }
    return IOT_OK;
}

/* Up to @p max records of lane @p L; see store.h. The cursor moves over records this lane will
 * never return (padding, acknowledged, below from_seq), not over the returned ones. */
static enum iot_err lane_peek(struct store_log *s, struct sl_lane *L, bool backlog,
                              struct agent_store_rec *out, size_t max, size_t *n)
{
    size_t k = 0;
    L->n_pk = 0;
    if (max > SL_PEEK_MAX)
        max = SL_PEEK_MAX;
    uint32_t i = seg_index(s, L->c.seg_no);
    uint64_t pos = L->c.off;
    bool moved = false;
    for (int guard = 0; k < max && i < s->n_segs && guard < 1000000; guard++) {
        struct sl_seg *sg = &s->segs[i];
        if (sg->no != L->c.seg_no) {
            if (k > 0)
                break;
            L->c.seg_no = sg->no;
            L->c.off = pos = 0;
        }
        bool last = i + 1 == s->n_segs;
        if (pos >= sg->end || sg->n_runs == 0 || sl__seg_last(sg) < L->c.from_seq ||
            sl__seg_last(sg) <= s->acked_upto) {
            if (last || k > 0) {
                if (k == 0)
                    L->c.off = sg->end; /* nothing here for us: wait at the end */
                break;
            }
            i++;
            continue;
        }
        struct sl_rec r;
        enum sl_read rr = sl__read(s, &L->w, sg, pos, sg->end, k == 0, &r);
        if (rr == SL_R_AGAIN)
            break;
        if (rr == SL_R_IO) {
            if (k == 0) {
                *n = 0;
                return IOT_ERR_IO;
            }
            break;
        }
        if (rr != SL_R_OK) {
            if (k > 0)
                break;
            uint64_t q = sl__resync(s, &L->w, sg, pos + 1, sg->end);
            s->corrupt_total++;
            s->meta_dirty = true;
            IOT_LOG(IOT_LOG_WARN, "segment %016" PRIx64 ": record at %" PRIu64
                    " no longer passes its checksum: skipped", sg->no, pos);
            L->c.off = pos = q;
            continue;
        }
        uint64_t next = pos + r.size;
        if (r.seq == 0 || r.seq < L->c.from_seq || is_acked(s, r.seq)) {
            pos = next;
            if (k == 0)
                L->c.off = pos;
            continue;
        }
        if (backlog && s->live_from && r.seq >= s->live_from) {
            if (k > 0 || moved)
                break;
            L->c = s->live.c; /* the backlog is sent: the lanes merge */
            s->live_from = 0;
            s->live.n_pk = 0;
            moved = true;
            i = seg_index(s, L->c.seg_no);
            pos = L->c.off;
            continue;
        }
        out[k] = (struct agent_store_rec){r.seq, r.data, r.len};
        L->pk[k] = (struct sl_peeked){r.seq, next};
        L->pk_seg = sg->no;
        k++;
        pos = next;
    }
    L->n_pk = k;
    *n = k;
    return IOT_OK;
}

static enum iot_err log_peek(void *ctx, struct agent_store_rec *out, size_t max, size_t *n)
{
    struct store_log *s = ctx;
    return lane_peek(s, &s->backlog, true, out, max, n);
}

static enum iot_err log_peek_live(void *ctx, struct agent_store_rec *out, size_t max, size_t *n)
{
    struct store_log *s = ctx;
    if (!s->live_from) {
        *n = 0;
        return IOT_OK;
    }
    return lane_peek(s, &s->live, false, out, max, n);
}

static bool lane_mark(struct sl_lane *L, uint64_t seq)
{
    for (size_t j = 0; j < L->n_pk; j++) {
        if (L->pk[j].seq == seq) {
            L->c = (struct sl_cursor){L->pk_seg, L->pk[j].end, seq + 1};
            return true;
        }
    }
    return false;
}

static enum iot_err log_mark_inflight(void *ctx, uint64_t seq)
{
    struct store_log *s = ctx;
    if (lane_mark(&s->backlog, seq) || lane_mark(&s->live, seq))
        return IOT_OK;
    return IOT_ERR_NOT_FOUND;
}

static void lane_rewind(struct store_log *s, struct sl_lane *L, uint64_t seq)
{
    L->n_pk = 0;
    if (seq >= L->c.from_seq)
        return;
    uint32_t i = seg_holding(s, seq);
    L->c = (struct sl_cursor){i < s->n_segs ? s->segs[i].no : s->next_no, 0, seq};
}

static void log_requeue(void *ctx, uint64_t seq)
{
    struct store_log *s = ctx;
    lane_rewind(s, s->live_from && seq >= s->live_from ? &s->live : &s->backlog, seq);
}

static void log_requeue_all(void *ctx)
{
    struct store_log *s = ctx;
    s->live_from = 0;
    s->live.n_pk = 0;
    s->backlog.c.from_seq = UINT64_MAX;
    lane_rewind(s, &s->backlog, s->acked_upto + 1);
}

static void log_live_mark(void *ctx)
{
    struct store_log *s = ctx;
    if (s->live_from)
        return; /* keep the lane we have */
    s->live_from = s->last_seq + 1;
    const struct sl_seg *tail = s->n_segs ? &s->segs[s->n_segs - 1] : NULL;
    s->live.c = tail ? (struct sl_cursor){tail->no, tail->end, s->live_from}
                     : (struct sl_cursor){s->next_no, 0, s->live_from};
    s->live.n_pk = 0;
}

static enum iot_err log_ack(void *ctx, uint64_t first, uint64_t last)
{
    struct store_log *s = ctx;
    if (first > last)
        return IOT_ERR_INVAL;
    if (first <= s->acked_upto)
        first = s->acked_upto + 1;
    if (first <= last) {
        /* Insert [first, last] into the sorted list, merging what it touches. */
        size_t i = 0;
        while (i < s->n_ack && s->ack[i].last + 1 < first)
            i++;
        size_t j = i;
        while (j < s->n_ack && s->ack[j].first <= last + 1) {
            if (s->ack[j].first < first)
                first = s->ack[j].first;
            if (s->ack[j].last > last)
                last = s->ack[j].last;
            j++;
        }
        if (j == i && s->n_ack == SL_MAX_ACK_RANGES) {
            /* Full: forget the highest range (its samples are sent again, never lost). */
            if (i == s->n_ack)
                goto done;
            s->n_ack--;
        }
        memmove(s->ack + i + 1, s->ack + j, (s->n_ack - j) * sizeof s->ack[0]);
        s->ack[i] = (struct agent_seq_range){first, last};
        s->n_ack = s->n_ack - (j - i) + 1;
        s->meta_dirty = true;
        advance_head(s);
    }
done:;
    /* Dropped ranges whose marker is now acknowledged reached the cloud. */
    uint64_t top = last < s->last_seq ? last : s->last_seq;
    size_t k = 0;
    while (k < s->n_dropped && s->dropped[k].marker <= top)
        k++;
    if (k) {
        memmove(s->dropped, s->dropped + k, (s->n_dropped - k) * sizeof s->dropped[0]);
        s->n_dropped -= k;
        s->meta_dirty = true;
    }
    return IOT_OK;
}

static void log_stats(void *ctx, struct agent_store_stats *out)
{
    struct store_log *s = ctx;
    memset(out, 0, sizeof *out);
    out->count = count_unacked(s, 0, UINT64_MAX);
    if (s->backlog.c.from_seq > 0)
        out->inflight = count_unacked(s, 0, s->backlog.c.from_seq - 1);
    if (s->live_from && s->live.c.from_seq > s->live_from)
        out->inflight += count_unacked(s, s->live_from, s->live.c.from_seq - 1);
    for (uint32_t i = 0; i < s->n_segs; i++)
        out->bytes += s->segs[i].end;
    out->disk_bytes = (uint64_t)s->n_segs * s->seg_bytes + 2u * SL_META_SLOT;
    out->dropped_total = s->dropped_total;
    out->dropped_ranges = s->n_dropped;
    out->corrupt_total = s->corrupt_total;
}

static size_t log_dropped(void *ctx, struct agent_seq_range *out, size_t cap)
{
    struct store_log *s = ctx;
    size_t n = s->n_dropped < cap ? s->n_dropped : cap;
    for (size_t i = 0; i < n; i++)
        out[i] = (struct agent_seq_range){s->dropped[i].first, s->dropped[i].last};
    return n;
}

static void log_dropped_reported(void *ctx, uint64_t upto)
{
    struct store_log *s = ctx;
    size_t k = 0;
    while (k < s->n_dropped && s->dropped[k].last <= upto)
        k++;
    if (k) {
        memmove(s->dropped, s->dropped + k, (s->n_dropped - k) * sizeof s->dropped[0]);
        s->n_dropped -= k;
        s->meta_dirty = true;
    }
}

static uint64_t log_resume_at(void *ctx, uint64_t next_seq, uint64_t max_gap)
{
    struct store_log *s = ctx;
    uint64_t high = s->last_seq > s->acked_upto ? s->last_seq : s->acked_upto;
    if (s->n_ack && s->ack[s->n_ack - 1].last > high)
        high = s->ack[s->n_ack - 1].last;
    if (s->n_dropped && s->dropped[s->n_dropped - 1].last > high)
        high = s->dropped[s->n_dropped - 1].last; /* told already (an earlier start) */
    if (next_seq <= high + 1 || next_seq - (high + 1) > max_gap)
        return 0;
    uint64_t counted = s->dropped_total;
    sl__note_dropped(s, high + 1, next_seq - 1, next_seq);
    s->dropped_total = counted; /* never appended: not records lost for space */
    return next_seq - 1 - high;
}

static enum iot_err log_tick(void *ctx, uint64_t now, uint64_t *next_ms)
{
    struct store_log *s = ctx;
    enum iot_err rc = IOT_OK;
    uint64_t iv = s->interval_ms;
    *next_ms = UINT64_MAX;
    /* The acknowledged state is saved at most every interval (at once with fsync = always): losing
     * the last save only makes some samples go again, never loses one. */
    if (s->meta_dirty) {
        uint64_t due = s->fsync == AGENT_FSYNC_ALWAYS ? 0 : iv;
        if (now - s->last_meta_ms >= due || now < s->last_meta_ms) {
            rc = sl__meta_save(s, s->fsync == AGENT_FSYNC_ALWAYS);
            s->last_meta_ms = now;
        } else {
            *next_ms = s->last_meta_ms + due;
        }
    }
    if (s->fsync == AGENT_FSYNC_INTERVAL && (s->data_dirty || s->meta_unsynced) &&
        (now - s->last_sync_ms >= iv || now < s->last_sync_ms)) {
        enum iot_err src = IOT_OK;
        if (s->data_dirty && s->tail_f && (src = plat_lfile_sync(s->tail_f)) == IOT_OK)
            s->data_dirty = false;
        if (s->meta_unsynced && plat_lfile_sync(s->meta_f) == IOT_OK)
            s->meta_unsynced = false;
        s->last_sync_ms = now;
        if (src != IOT_OK)
            rc = src;
    }
    if (s->fsync == AGENT_FSYNC_INTERVAL && (s->data_dirty || s->meta_unsynced) &&
        s->last_sync_ms + iv < *next_ms)
        *next_ms = s->last_sync_ms + iv;
    return rc;
}

static void log_destroy(void *ctx)
{
    struct store_log *s = ctx;
    if (!s)
        return;
    bool sync = s->fsync != AGENT_FSYNC_NEVER;
    if (s->tail_f && s->data_dirty && sync)
        plat_lfile_sync(s->tail_f);
    if (s->meta_f && s->meta_dirty && sl__meta_save(s, sync) != IOT_OK)
        IOT_LOG(IOT_LOG_WARN, "store state not saved: acknowledged samples may be sent again");
    else if (s->meta_f && s->meta_unsynced && sync)
        plat_lfile_sync(s->meta_f);
    plat_lfile_close(s->tail_f);
    plat_lfile_close(s->rd_f);
    plat_lfile_close(s->meta_f);
    for (uint32_t i = 0; i < s->n_segs; i++)
        iot_free(s->segs[i].runs);
    iot_free(s->segs);
    iot_free(s->backlog.w.buf);
    iot_free(s->backlog.pk);
    iot_free(s->live.w.buf);
    iot_free(s->live.pk);
    iot_free(s->wbuf);
    iot_free(s);
}

static const struct agent_store_ops log_ops = {
    .append = log_append,
    .peek = log_peek,
    .mark_inflight = log_mark_inflight,
    .ack = log_ack,
    .requeue_all = log_requeue_all,
    .requeue = log_requeue,
    .stats = log_stats,
    .dropped = log_dropped,
    .dropped_reported = log_dropped_reported,
    .resume_at = log_resume_at,
    .live_mark = log_live_mark,
    .peek_live = log_peek_live,
    .tick = log_tick,
    .destroy = log_destroy,
};

/* ------------------------------------------------------------------ create */

static enum iot_err open_store(struct store_log *s)
{
    enum iot_err rc = plat_dir_ensure(s->dir, 0700);
    if (rc != IOT_OK)
        return rc;
    if ((rc = sl__meta_open(s)) != IOT_OK)
        return rc;
    if ((rc = sl__recover(s)) != IOT_OK)
        return rc;
    plat_lfile_close(s->rd_f);
    s->rd_f = NULL;
    /* Segments with nothing in them (all bad) go, except the newest. */
    for (uint32_t i = 0; i + 1 < s->n_segs;) {
        if (s->segs[i].n_runs == 0)
            seg_remove(s, i);
        else
            i++;
    }
    if (s->n_segs > 0) {
        struct sl_seg *tail = &s->segs[s->n_segs - 1];
        if ((rc = open_tail(s, tail, false)) != IOT_OK)
            return rc;
    }
    if (s->next_no == 0)
        s->next_no = 1;
    advance_head(s);
    s->backlog.c = (struct sl_cursor){s->n_segs ? s->segs[0].no : s->next_no, 0,
                                      s->acked_upto + 1};
    if (s->meta_dirty)
        rc = sl__meta_save(s, s->fsync != AGENT_FSYNC_NEVER);
    return rc;
}

enum iot_err agent_store_log_create(const struct agent_store_log_opts *o, struct agent_store *out)
{
    if (!o || !out || !o->dir || !*o->dir || strlen(o->dir) >= AGENT_STORE_PATH_MAX ||
        o->max_bytes < 64u * 1024u)
        return IOT_ERR_INVAL;
    struct store_log *s = iot_calloc(1, sizeof *s);
    if (!s)
        return IOT_ERR_NOMEM;
    memcpy(s->dir, o->dir, strlen(o->dir) + 1);
    s->seg_bytes = agent_store_log_segment_bytes(o->max_bytes);
    s->max_segs = (uint32_t)(o->max_bytes / s->seg_bytes);
    s->fsync = o->fsync;
    s->interval_ms = o->fsync_interval_ms ? o->fsync_interval_ms : 1000;
    s->cap_segs = s->max_segs + 1;
    s->segs = iot_calloc(s->cap_segs, sizeof *s->segs);
    s->backlog.w = (struct sl_win){.buf = iot_malloc(SL_WIN_BACKLOG), .cap = SL_WIN_BACKLOG};
    s->live.w = (struct sl_win){.buf = iot_malloc(SL_WIN_LIVE), .cap = SL_WIN_LIVE};
    s->backlog.pk = iot_calloc(SL_PEEK_MAX, sizeof *s->backlog.pk);
    s->live.pk = iot_calloc(SL_PEEK_MAX, sizeof *s->live.pk);
    s->wbuf = iot_malloc(SL_HDR + SL_REC_MAX);
    enum iot_err rc = IOT_ERR_NOMEM;
    if (s->segs && s->backlog.w.buf && s->live.w.buf && s->backlog.pk && s->live.pk && s->wbuf)
        rc = open_store(s);
    if (rc != IOT_OK) {
        IOT_LOG(IOT_LOG_ERROR, "store %s: cannot open (%s)", o->dir, iot_err_str(rc));
        s->meta_dirty = false;
        log_destroy(s);
        return rc;
    }
    struct agent_store_stats st;
    log_stats(s, &st);
    IOT_LOG(IOT_LOG_INFO, "store %s: %" PRIu64 " samples waiting (seq %" PRIu64 "..%" PRIu64
            "), %u segment(s) of %" PRIu64 " KiB, bound %" PRIu64 " KiB, %" PRIu64
            " dropped and %" PRIu64 " corrupt so far", s->dir, st.count, s->acked_upto + 1,
            s->last_seq, s->n_segs, s->seg_bytes / 1024, (uint64_t)s->max_segs * s->seg_bytes / 1024,
            s->dropped_total, s->corrupt_total);
    out->ops = &log_ops;
    out->ctx = s;
    return IOT_OK;
}

enum iot_err agent_store_open(const struct agent_config *cfg, struct agent_store *out)
{
    if (cfg->store.kind == AGENT_STORE_MEMORY)
        return agent_store_mem_create(cfg->buffer_max_samples, out);
    char dir[AGENT_STORE_PATH_MAX];
    if (cfg->store.dir[0])
        snprintf(dir, sizeof dir, "%s", cfg->store.dir);
    else if (snprintf(dir, sizeof dir, "%s/store", cfg->state_dir) >= (int)sizeof dir)
        return IOT_ERR_INVAL;
    struct agent_store_log_opts o = {
        .dir = dir,
        .max_bytes = cfg->store.max_bytes,
        .fsync = cfg->store.fsync,
        .fsync_interval_ms = cfg->store.fsync_interval_ms,
    };
    return agent_store_log_create(&o, out);
}
