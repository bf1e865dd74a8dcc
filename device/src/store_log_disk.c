/* SPDX-License-Identifier: Apache-2.0 */
/* The log store's disk side: record format and checksums, segment files, read windows, recovery of
 * torn and corrupted segments on open, and the two-slot metadata file. See store_log.h. */
#define IOT_LOG_TAG "agent.store"
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "iot/crc32c.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_file.h"
#include "store_log_int.h"

/* Metadata slot layout (little endian): magic, version, gen, acked_upto, dropped_total,
 * corrupt_total, n_ack, n_dropped, ack ranges (16 B each), dropped ranges (24 B each); crc32c of
 * bytes [0, 4092) in the last 4 bytes. Two slots, written alternately in place: a torn write
 * damages only the slot being written, and the other one still holds the previous state. */
#define META_MAGIC 0x544D4C53u
#define META_VERSION 1u
#define META_RANGES_OFF 48u
#define META_DROPPED_OFF (META_RANGES_OFF + SL_MAX_ACK_RANGES * 16u)
#define META_CRC_OFF (SL_META_SLOT - 4u)

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

void sl__seg_path(const struct store_log *s, uint64_t no, char *out, size_t cap)
{
    snprintf(out, cap, "%s/seg-%016" PRIx64 ".log", s->dir, no);
}

uint64_t sl__seg_last(const struct sl_seg *sg)
{
    if (sg->n_runs == 0)
        return 0;
    const struct sl_run *r = &sg->runs[sg->n_runs - 1];
    return r->first + r->n - 1;
}

static uint32_t rec_crc(const uint8_t *hdr, const uint8_t *payload, uint32_t len)
{
    uint32_t c = iot_crc32c(0, hdr + 2, 2);
    c = iot_crc32c(c, hdr + 8, 8);
    return payload ? iot_crc32c(c, payload, len) : c;
}

void sl__encode_header(uint8_t *hdr, uint64_t seq, const uint8_t *payload, uint32_t len)
{
    put16(hdr, SL_MAGIC);
    put16(hdr + 2, (uint16_t)len);
    put64(hdr + 8, seq);
    put32(hdr + 4, rec_crc(hdr, seq ? payload : NULL, len));
}

enum parse { P_OK, P_SHORT, P_BAD, P_ZERO };

static enum parse parse(const uint8_t *p, size_t avail, struct sl_rec *r)
{
    if (avail < SL_HDR)
        return P_SHORT;
    if (get16(p) != SL_MAGIC) {
        static const uint8_t zero[SL_HDR];
        return memcmp(p, zero, SL_HDR) == 0 ? P_ZERO : P_BAD;
    }
    uint32_t len = get16(p + 2);
    uint64_t seq = get64(p + 8);
    if (seq == 0) { /* padding: the payload is not checked */
        if (rec_crc(p, NULL, len) != get32(p + 4))
            return P_BAD;
        *r = (struct sl_rec){0, NULL, len, SL_HDR + (uint64_t)len};
        return P_OK;
    }
    if (len == 0)
        return P_BAD;
    if (avail < SL_HDR + (size_t)len)
        return P_SHORT;
    if (rec_crc(p, p + SL_HDR, len) != get32(p + 4))
        return P_BAD;
    *r = (struct sl_rec){seq, p + SL_HDR, len, SL_HDR + (uint64_t)len};
    return P_OK;
}

static struct plat_lfile *seg_file(struct store_log *s, const struct sl_seg *sg)
{
    if (s->tail_f && s->n_segs > 0 && sg == &s->segs[s->n_segs - 1])
        return s->tail_f;
    if (s->rd_f && s->rd_no == sg->no)
        return s->rd_f;
    plat_lfile_close(s->rd_f);
    s->rd_f = NULL;
    char path[AGENT_STORE_PATH_MAX + 40];
    sl__seg_path(s, sg->no, path, sizeof path);
    if (plat_lfile_open(path, false, &s->rd_f) != IOT_OK)
        return NULL;
    s->rd_no = sg->no;
    return s->rd_f;
}

static enum iot_err win_load(struct store_log *s, struct sl_win *w, const struct sl_seg *sg,
                             uint64_t pos, uint64_t limit)
{
    w->valid = false;
    struct plat_lfile *f = seg_file(s, sg);
    if (!f)
        return IOT_ERR_IO;
    size_t want = limit - pos < w->cap ? (size_t)(limit - pos) : w->cap;
    size_t got = 0;
    enum iot_err rc = plat_lfile_pread(f, pos, w->buf, want, &got);
    if (rc != IOT_OK)
        return rc;
    w->seg_no = sg->no;
    w->off = pos;
    w->len = got;
    w->valid = true;
    return IOT_OK;
}

enum sl_read sl__read(struct store_log *s, struct sl_win *w, const struct sl_seg *sg, uint64_t pos,
                      uint64_t limit, bool may_load, struct sl_rec *r)
{
    if (pos >= limit)
        return SL_R_END;
    if (limit - pos < SL_HDR)
        return SL_R_BAD;
    for (int attempt = 0; attempt < 2; attempt++) {
        size_t avail = 0;
        if (w->valid && w->seg_no == sg->no && pos >= w->off && pos < w->off + w->len)
            avail = (size_t)(w->off + w->len - pos);
        enum parse p = avail ? parse(w->buf + (pos - w->off), avail, r) : P_SHORT;
        if (p == P_OK)
            return pos + r->size <= limit ? SL_R_OK : SL_R_BAD;
        if (p == P_BAD || p == P_ZERO)
            return SL_R_BAD;
        if (attempt == 1 || (w->valid && w->seg_no == sg->no && w->off == pos))
            return SL_R_BAD; /* a record longer than what is there: torn */
        if (!may_load)
            return SL_R_AGAIN;
        if (win_load(s, w, sg, pos, limit) != IOT_OK)
            return SL_R_IO;
    }
    return SL_R_BAD;
}

uint64_t sl__resync(struct store_log *s, struct sl_win *w, const struct sl_seg *sg, uint64_t from,
                    uint64_t limit)
{
    uint64_t q = from;
    while (q + SL_HDR <= limit) {
        if (win_load(s, w, sg, q, limit) != IOT_OK || w->len < SL_HDR)
            return limit;
        size_t last = w->len - SL_HDR;
        uint64_t next = q + last + 1;
        for (size_t i = 0; i <= last; i++) {
            if (get16(w->buf + i) != SL_MAGIC)
                continue;
            struct sl_rec r;
            if (sl__read(s, w, sg, q + i, limit, true, &r) == SL_R_OK)
                return q + i;
            if (!(w->valid && w->off == q)) { /* the read moved the window */
                next = q + i + 1;
                break;
            }
        }
        q = next;
    }
    return limit;
}

enum iot_err sl__run_add(struct sl_seg *sg, uint64_t seq)
{
    if (sg->n_runs > 0) {
        struct sl_run *r = &sg->runs[sg->n_runs - 1];
        if (r->first + r->n == seq) {
            r->n++;
            return IOT_OK;
        }
    }
    if (sg->n_runs == sg->cap_runs) {
        uint32_t cap = sg->cap_runs ? sg->cap_runs * 2 : 2;
        struct sl_run *nr = iot_realloc(sg->runs, cap * sizeof *nr);
        if (!nr)
            return IOT_ERR_NOMEM;
        sg->runs = nr;
        sg->cap_runs = cap;
    }
    sg->runs[sg->n_runs++] = (struct sl_run){seq, 1};
    return IOT_OK;
}

void sl__note_dropped(struct store_log *s, uint64_t first, uint64_t last, uint64_t marker)
{
    s->dropped_total += last - first + 1;
    s->meta_dirty = true;
    if (s->n_dropped > 0 && s->dropped[s->n_dropped - 1].last + 1 >= first) {
        s->dropped[s->n_dropped - 1].last = last;
        s->dropped[s->n_dropped - 1].marker = marker;
        return;
    }
    if (s->n_dropped == AGENT_STORE_MAX_DROPPED_RANGES) {
        /* Out of slots: widen the newest range (acked seqs inside are then also reported dropped;
         * the cloud keeps what it stored, so this only loses precision). */
        s->dropped[s->n_dropped - 1].last = last;
        s->dropped[s->n_dropped - 1].marker = marker;
        return;
    }
    s->dropped[s->n_dropped++] = (struct sl_dropped){first, last, marker};
}

/* ------------------------------------------------------------------ recovery */

static void zero_region(struct plat_lfile *f, uint64_t a, uint64_t b)
{
    static const uint8_t zero[4096];
    while (a < b) {
        size_t n = b - a < sizeof zero ? (size_t)(b - a) : sizeof zero;
        if (plat_lfile_pwrite(f, a, zero, n) != IOT_OK)
            return;
        a += n;
    }
}

/* Overwrite a bad region with padding records (or zeros when too short for a header), so the next
 * open does not count it again. */
static void pad_region(struct plat_lfile *f, uint64_t a, uint64_t b)
{
    uint8_t hdr[SL_HDR];
    while (b - a >= SL_HDR) {
        uint64_t n = b - a - SL_HDR;
        uint32_t len = n > SL_REC_MAX ? SL_REC_MAX : (uint32_t)n;
        if (b - a - SL_HDR - len > 0 && b - a - SL_HDR - len < SL_HDR)
            len -= SL_HDR; /* leave room for one more header */
        sl__encode_header(hdr, 0, NULL, len);
        if (plat_lfile_pwrite(f, a, hdr, SL_HDR) != IOT_OK)
            return;
        a += SL_HDR + len;
    }
    zero_region(f, a, b);
}

/* The last non-zero byte in [a, b) plus one, or a when all are zero. */
static uint64_t nonzero_end(struct store_log *s, struct sl_win *w, const struct sl_seg *sg,
                            uint64_t a, uint64_t b)
{
    static const uint8_t zero[4096];
    uint64_t end = a;
    for (uint64_t q = a; q < b;) {
        if (win_load(s, w, sg, q, b) != IOT_OK || w->len == 0)
            break;
        for (size_t i = 0; i < w->len; i += sizeof zero) {
            size_t n = w->len - i < sizeof zero ? w->len - i : sizeof zero;
            if (memcmp(w->buf + i, zero, n) == 0)
                continue; /* the usual case: the preallocated, unwritten tail */
            while (n > 0 && w->buf[i + n - 1] == 0)
                n--;
            end = q + i + n;
        }
        q += w->len;
    }
    return end;
}

/* Scan one segment: index its records, pad over bad regions, clear a torn tail. */
static enum iot_err scan_segment(struct store_log *s, struct sl_seg *sg, struct plat_lfile *f,
                                 uint64_t size)
{
    struct sl_win *w = &s->backlog.w;
    uint64_t pos = 0;
    bool changed = false;
    while (pos < size) {
        struct sl_rec r;
        enum sl_read rr = sl__read(s, w, sg, pos, size, true, &r);
        if (rr == SL_R_IO)
            return IOT_ERR_IO;
        if (rr == SL_R_OK && r.seq == 0) {
            pos += r.size;
            sg->end = pos;
            continue;
        }
        if (rr == SL_R_OK && r.seq > s->last_seq) {
            if (sl__run_add(sg, r.seq) != IOT_OK)
                return IOT_ERR_NOMEM;
            s->last_seq = r.seq;
            pos += r.size;
            sg->end = pos;
            continue;
        }
        if (rr == SL_R_END)
            break;
        uint64_t nz = nonzero_end(s, w, sg, pos, size);
        if (nz == pos)
            break; /* only zeros from here: the preallocated, unwritten part */
        /* Bad bytes (or a record out of seq order) at pos: find the next intact record. */
        uint64_t q = pos + 1;
        for (;;) {
            q = sl__resync(s, w, sg, q, size);
            if (q >= size || sl__read(s, w, sg, q, size, true, &r) != SL_R_OK || r.seq == 0 ||
                r.seq > s->last_seq)
                break;
            q++; /* an old record: keep looking */
        }
        if (q < size) {
            uint64_t prev = s->last_seq > s->acked_upto ? s->last_seq : s->acked_upto;
            uint64_t gap = r.seq > prev + 1 ? r.seq - prev - 1 : 0;
            uint64_t fit = (q - pos) / (SL_HDR + 1);
            uint64_t lost = gap >= 1 && gap <= fit ? gap : 1;
            s->corrupt_total += lost;
            if (gap >= 1 && gap <= fit)
                sl__note_dropped(s, prev + 1, r.seq - 1, s->last_seq + 1);
            IOT_LOG(IOT_LOG_WARN, "segment %016" PRIx64 ": %" PRIu64 " bad bytes at offset %" PRIu64
                    " (checksum): %" PRIu64 " record(s) lost, the ones around kept", sg->no, q - pos,
                    pos, lost);
            pad_region(f, pos, q);
            changed = true;
            pos = q;
            continue;
        }
        s->corrupt_total++;
        IOT_LOG(IOT_LOG_WARN, "segment %016" PRIx64 ": torn record at offset %" PRIu64 " (%" PRIu64
                " bytes) discarded", sg->no, pos, nz - pos);
        zero_region(f, pos, nz);
        changed = true;
        break;
    }
    w->valid = false; /* it may hold bytes rewritten above */
    if (changed)
        s->meta_dirty = true;
    return IOT_OK;
}

static bool seg_name(const char *name, uint64_t *no)
{
    unsigned long long v;
    char tail[8];
    if (strlen(name) != 24 || strncmp(name, "seg-", 4) != 0 ||
        sscanf(name, "seg-%16llx%7s", &v, tail) != 2 || strcmp(tail, ".log") != 0)
        return false;
    *no = v;
    return true;
}

enum iot_err sl__recover(struct store_log *s)
{
    char **names = NULL;
    size_t n = 0;
    enum iot_err rc = plat_dir_list(s->dir, &names, &n);
    if (rc != IOT_OK)
        return rc;
    char path[AGENT_STORE_PATH_MAX + 40];
    for (size_t i = 0; i < n && rc == IOT_OK; i++) {
        uint64_t no;
        if (!seg_name(names[i], &no))
            continue;
        if (s->n_segs == s->cap_segs) {
            uint32_t cap = s->cap_segs * 2;
            struct sl_seg *ns = iot_realloc(s->segs, cap * sizeof *ns);
            if (!ns) {
                rc = IOT_ERR_NOMEM;
                break;
            }
            s->segs = ns;
            s->cap_segs = cap;
        }
        struct sl_seg *sg = &s->segs[s->n_segs++];
        *sg = (struct sl_seg){.no = no};
        sl__seg_path(s, no, path, sizeof path);
        struct plat_lfile *f = NULL;
        uint64_t size = 0;
        rc = plat_lfile_open(path, false, &f);
        if (rc == IOT_OK)
            rc = plat_lfile_size(f, &size);
        if (rc == IOT_OK) {
            plat_lfile_close(s->rd_f); /* reads during the scan go through rd_f */
            s->rd_f = f;
            s->rd_no = no;
            rc = scan_segment(s, sg, f, size);
        }
        sg->cap = size > s->seg_bytes ? size : s->seg_bytes;
        s->next_no = no + 1;
    }
    for (size_t i = 0; i < n; i++)
        iot_free(names[i]);
    iot_free(names);
    return rc;
}

/* ------------------------------------------------------------------ metadata */

static bool meta_decode(struct store_log *s, const uint8_t *p, uint64_t *gen)
{
    if (get32(p) != META_MAGIC || get32(p + 4) != META_VERSION ||
        iot_crc32c(0, p, META_CRC_OFF) != get32(p + META_CRC_OFF))
        return false;
    uint32_t n_ack = get32(p + 40), n_dropped = get32(p + 44);
    if (n_ack > SL_MAX_ACK_RANGES || n_dropped > AGENT_STORE_MAX_DROPPED_RANGES)
        return false;
    *gen = get64(p + 8);
    s->acked_upto = get64(p + 16);
    s->dropped_total = get64(p + 24);
    s->corrupt_total = get64(p + 32);
    s->n_ack = n_ack;
    for (uint32_t i = 0; i < n_ack; i++)
        s->ack[i] = (struct agent_seq_range){get64(p + META_RANGES_OFF + 16 * i),
                                             get64(p + META_RANGES_OFF + 16 * i + 8)};
    s->n_dropped = n_dropped;
    for (uint32_t i = 0; i < n_dropped; i++) {
        const uint8_t *d = p + META_DROPPED_OFF + 24 * i;
        s->dropped[i] = (struct sl_dropped){get64(d), get64(d + 8), get64(d + 16)};
    }
    return true;
}

enum iot_err sl__meta_open(struct store_log *s)
{
    char path[AGENT_STORE_PATH_MAX + 40];
    snprintf(path, sizeof path, "%s/%s", s->dir, SL_META_NAME);
    enum iot_err rc = plat_lfile_open(path, true, &s->meta_f);
    if (rc != IOT_OK)
        return rc;
    uint8_t *buf = iot_malloc(2 * SL_META_SLOT);
    if (!buf)
        return IOT_ERR_NOMEM;
    size_t got = 0;
    rc = plat_lfile_pread(s->meta_f, 0, buf, 2 * SL_META_SLOT, &got);
    if (rc == IOT_OK && got < 2 * SL_META_SLOT) {
        memset(buf + got, 0, 2 * SL_META_SLOT - got);
        if (got == 0) {
            rc = plat_lfile_preallocate(s->meta_f, 2 * SL_META_SLOT);
            s->meta_dirty = true; /* written once below, so both slots exist */
        }
    }
    if (rc == IOT_OK) {
        /* Decode the older valid slot first, then the newer over it. */
        uint64_t g0 = 0, g1 = 0;
        struct store_log tmp0 = {0}, tmp1 = {0};
        bool v0 = meta_decode(&tmp0, buf, &g0), v1 = meta_decode(&tmp1, buf + SL_META_SLOT, &g1);
        bool use1 = v1 && (!v0 || g1 > g0);
        if (v0 || v1) {
            const uint8_t *p = use1 ? buf + SL_META_SLOT : buf;
            meta_decode(s, p, &s->meta_gen);
        } else if (got > 0) {
            IOT_LOG(IOT_LOG_WARN, "%s: no valid slot; acknowledged state lost (samples are sent "
                    "again; the cloud drops the duplicates)", path);
        }
    }
    iot_free(buf);
    return rc;
}

enum iot_err sl__meta_save(struct store_log *s, bool sync)
{
    uint8_t *p = iot_calloc(1, SL_META_SLOT);
    if (!p)
        return IOT_ERR_NOMEM;
    uint64_t gen = s->meta_gen + 1;
    put32(p, META_MAGIC);
    put32(p + 4, META_VERSION);
    put64(p + 8, gen);
    put64(p + 16, s->acked_upto);
    put64(p + 24, s->dropped_total);
    put64(p + 32, s->corrupt_total);
    put32(p + 40, (uint32_t)s->n_ack);
    put32(p + 44, (uint32_t)s->n_dropped);
    for (size_t i = 0; i < s->n_ack; i++) {
        put64(p + META_RANGES_OFF + 16 * i, s->ack[i].first);
        put64(p + META_RANGES_OFF + 16 * i + 8, s->ack[i].last);
    }
    for (size_t i = 0; i < s->n_dropped; i++) {
        uint8_t *d = p + META_DROPPED_OFF + 24 * i;
        put64(d, s->dropped[i].first);
        put64(d + 8, s->dropped[i].last);
        put64(d + 16, s->dropped[i].marker);
    }
    put32(p + META_CRC_OFF, iot_crc32c(0, p, META_CRC_OFF));
    enum iot_err rc = plat_lfile_pwrite(s->meta_f, (gen & 1u) * SL_META_SLOT, p, SL_META_SLOT);
    iot_free(p);
    if (rc != IOT_OK)
        return rc;
    s->meta_gen = gen;
    s->meta_dirty = false;
    s->meta_unsynced = true;
    if (sync) {
        rc = plat_lfile_sync(s->meta_f);
        if (rc == IOT_OK)
            s->meta_unsynced = false;
    }
    return rc;
}
