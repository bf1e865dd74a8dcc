/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the device's offline store opened on damaged files (device/src/store_log*.c:
 * recovery of segments and the metadata file), then used (peek, send, ack, append, requeue) and
 * reopened. Byte 0 picks the mode:
 *   bit 0 set   raw: the rest is one segment file, byte for byte (seeds: real segment files);
 *   bit 0 clear structured: the rest is a little program that writes segments of records with
 *               correct checksums, raw bytes, zero runs, seq jumps (also backwards) and metadata
 *               slots, so the fuzzer reaches recovery logic past the checksum checks.
 *   bit 1       store bound 256 KiB instead of 64 KiB (segment size 16 KiB either way).
 * Invariants: opening never crashes; a clean close then reopen keeps the same count of records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"
#include "iot/crc32c.h"
#include "store_log.h"
#include "store_log_int.h"

#define FZ_MAX_SEGS 8u
#define FZ_SEG_MAX (96u * 1024u)
#define META_MAGIC_V 0x544D4C53u /* layout of store_log_disk.c, re-stated: this file writes it */
#define META_RANGES_AT 48u
#define META_DROPPED_AT (META_RANGES_AT + SL_MAX_ACK_RANGES * 16u)

struct cursor {
    const uint8_t *p;
    size_t n;
};

static unsigned next(struct cursor *c)
{
    if (!c->n)
        return 0;
    c->n--;
    return *c->p++;
}

static unsigned next16(struct cursor *c) { return next(c) | next(c) << 8; }

struct seg_img {
    uint64_t no;
    uint8_t *buf;
    size_t len;
};

static struct seg_img g_segs[FZ_MAX_SEGS];
static size_t g_n_segs;
static uint8_t g_meta[2 * SL_META_SLOT];
static bool g_meta_set;
static char g_dir[400];

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t *tail_room(size_t want)
{
    struct seg_img *s = &g_segs[g_n_segs - 1];
    if (s->len + want > FZ_SEG_MAX)
        return NULL;
    uint8_t *p = s->buf + s->len;
    s->len += want;
    return p;
}

static void new_seg(uint64_t no)
{
    if (g_n_segs == FZ_MAX_SEGS)
        return;
    g_segs[g_n_segs].no = no;
    g_segs[g_n_segs].len = 0;
    g_n_segs++;
}

static void meta_slot(struct cursor *c)
{
    unsigned flags = next(c);
    uint8_t *p = g_meta + (flags & 1u) * SL_META_SLOT;
    memset(p, 0, SL_META_SLOT);
    put_le(p, META_MAGIC_V, 4);
    put_le(p + 4, (flags & 2u) ? next(c) : 1u, 4); /* version, sometimes wrong */
    put_le(p + 8, next(c), 8);                      /* gen */
    put_le(p + 16, next16(c), 8);                   /* acked_upto */
    put_le(p + 24, next(c), 8);                     /* dropped_total */
    put_le(p + 32, next(c), 8);                     /* corrupt_total */
    unsigned n_ack = next(c) % 70u, n_dropped = next(c) % 70u; /* a few above the limits */
    put_le(p + 40, n_ack, 4);
    put_le(p + 44, n_dropped, 4);
    for (unsigned i = 0; i < n_ack && i < SL_MAX_ACK_RANGES; i++) {
        put_le(p + META_RANGES_AT + 16 * i, next16(c), 8);
        put_le(p + META_RANGES_AT + 16 * i + 8, next16(c), 8);
    }
    for (unsigned i = 0; i < n_dropped && i < AGENT_STORE_MAX_DROPPED_RANGES; i++) {
        put_le(p + META_DROPPED_AT + 24 * i, next16(c), 8);
        put_le(p + META_DROPPED_AT + 24 * i + 8, next16(c), 8);
        put_le(p + META_DROPPED_AT + 24 * i + 16, next16(c), 8);
    }
    uint32_t crc = iot_crc32c(0, p, SL_META_SLOT - 4u);
    put_le(p + SL_META_SLOT - 4u, (flags & 4u) ? crc ^ 1u : crc, 4);
    g_meta_set = true;
}

static void build(struct cursor *c)
{
    uint64_t seq = 0, no = 1;
    new_seg(no);
    while (c->n) {
        unsigned op = next(c);
        switch (op % 6u) {
        case 0: { /* a record with a valid checksum */
            unsigned d = next(c);
            unsigned len = next(c);
            if (len == 255)
                len = next16(c) % 20000u;
            uint64_t s = d ? seq + d : 0; /* 0: a padding record */
            uint8_t *h = tail_room(SL_HDR + len);
            if (!h)
                break;
            for (unsigned i = 0; i < len; i++)
                h[SL_HDR + i] = (uint8_t)(c->n ? next(c) : i);
            sl__encode_header(h, s, h + SL_HDR, len ? len : 0);
            if (s)
                seq = s;
            break;
        }
        case 1: { /* raw bytes */
            unsigned n = next(c);
            uint8_t *h = tail_room(n);
            for (unsigned i = 0; h && i < n; i++)
                h[i] = (uint8_t)next(c);
            break;
        }
        case 2: { /* zeros: the preallocated, unwritten part */
            uint8_t *h = tail_room(16u * next(c));
            (void)h; /* buffers start zeroed */
            break;
        }
        case 3:
            no += 1 + next(c) % 4u;
            new_seg(no);
            break;
        case 4:
            meta_slot(c);
            break;
        default: /* seq jumps, backwards too */
            seq = (op & 0x80u) ? next(c) : seq + (uint64_t)next16(c) * 16u;
            break;
        }
    }
}

static void write_files(void)
{
    char path[512];
    for (size_t i = 0; i < g_n_segs; i++) {
        snprintf(path, sizeof path, "%s/seg-%016llx.log", g_dir, (unsigned long long)g_segs[i].no);
        fuzz_write_file(path, g_segs[i].buf, g_segs[i].len);
    }
    if (g_meta_set) {
        snprintf(path, sizeof path, "%s/" SL_META_NAME, g_dir);
        fuzz_write_file(path, g_meta, sizeof g_meta);
    }
}

static void exercise(struct agent_store *st)
{
    struct agent_store_rec recs[64];
    size_t n = 0;
    struct agent_store_stats s0;
    agent_store_stats(st, &s0);
    agent_store_peek(st, recs, 64, &n);
    uint64_t lo = n ? recs[0].seq : 0, hi = n ? recs[n - 1].seq : 0;
    for (size_t i = 0; i < n; i++) {
        if (!recs[i].len || (i && recs[i].seq <= recs[i - 1].seq))
            abort(); /* peek returns records in seq order, never empty */
        if (i % 2 == 0)
            agent_store_mark_inflight(st, recs[i].seq);
    }
    if (n)
        agent_store_ack(st, lo, lo + (hi - lo) / 2);
    struct agent_seq_range dr[8];
    size_t nd = agent_store_dropped(st, dr, 8);
    if (nd)
        agent_store_dropped_reported(st, dr[0].last);
    /* New samples after whatever was recovered. */
    uint8_t rec[40];
    memset(rec, 0x5a, sizeof rec);
    struct agent_store_stats s1;
    agent_store_stats(st, &s1);
    (void)s1;
    uint64_t base = hi > s0.count ? hi : s0.count;
    for (uint64_t k = 1; k <= 5; k++)
        (void)agent_store_append(st, base + 1000000u + k, rec, sizeof rec);
    agent_store_live_mark(st);
    (void)agent_store_append(st, base + 1000006u, rec, sizeof rec);
    agent_store_peek_live(st, recs, 64, &n);
    agent_store_requeue_all(st);
    agent_store_peek(st, recs, 64, &n);
    uint64_t next_ms;
    (void)agent_store_tick(st, 1000000, &next_ms);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *base = fuzz_init_scratch(argc, argv, "store");
    snprintf(g_dir, sizeof g_dir, "%s/store", base);
    if (mkdir(g_dir, 0700) != 0)
        abort();
    for (size_t i = 0; i < FZ_MAX_SEGS; i++) {
        g_segs[i].buf = calloc(1, FZ_SEG_MAX);
        if (!g_segs[i].buf)
            abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > FZ_SEG_MAX)
        return 0;
    fuzz_clear_dir(g_dir);
    for (size_t i = 0; i < g_n_segs; i++)
        memset(g_segs[i].buf, 0, g_segs[i].len);
    g_n_segs = 0;
    g_meta_set = false;
    memset(g_meta, 0, sizeof g_meta);

    unsigned mode = data[0];
    struct cursor c = {data + 1, size - 1};
    if (mode & 1u) {
        new_seg(1);
        memcpy(g_segs[0].buf, c.p, c.n);
        g_segs[0].len = c.n;
    } else {
        build(&c);
    }
    write_files();

    struct agent_store_log_opts o = {
        .dir = g_dir,
        .max_bytes = (mode & 2u) ? 256u * 1024u : 64u * 1024u,
        .fsync = AGENT_FSYNC_NEVER,
        .fsync_interval_ms = 1000,
    };
    struct agent_store st = {0};
    if (agent_store_log_create(&o, &st) != IOT_OK)
        return 0;
    exercise(&st);
    struct agent_store_stats before, after;
    agent_store_stats(&st, &before);
    agent_store_destroy(&st);

    if (agent_store_log_create(&o, &st) != IOT_OK)
        abort(); /* it opened a moment ago and was closed cleanly */
    agent_store_stats(&st, &after);
    if (after.count != before.count)
        abort();
    exercise(&st);
    agent_store_destroy(&st);
    return 0;
}
