/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of the log store shared by store_log.c (the agent_store ops) and store_log_disk.c (record
 * format, segment files, read windows, recovery, the metadata file). Not for other files. */
#ifndef AGENT_STORE_LOG_INT_H
#define AGENT_STORE_LOG_INT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"
#include "iot/plat_logfile.h"
#include "store_log.h"

/* Record: u16 magic, u16 len, u32 crc32c(len, seq, payload), u64 seq, payload (little endian).
 * seq 0 marks padding written over a bad region at recovery (crc over len and seq only). */
#define SL_MAGIC 0xA51Du
#define SL_HDR 16u
#define SL_REC_MAX 65535u
#define SL_MAX_ACK_RANGES 64
#define SL_PEEK_MAX 1024
#define SL_WIN_BACKLOG (64u * 1024u)
#define SL_WIN_LIVE (16u * 1024u)
#define SL_META_SLOT 4096u
#define SL_META_NAME "meta"

/** Seqs first .. first + n - 1 are stored, in this order, in one segment. */
struct sl_run {
    uint64_t first, n;
};

struct sl_seg {
    uint64_t no;   /* file seg-<no as 16 hex>.log */
    uint64_t end;  /* bytes of records and padding: appends go here */
    uint64_t cap;  /* bytes the segment may hold */
    struct sl_run *runs;
    uint32_t n_runs, cap_runs;
};

struct sl_dropped {
    uint64_t first, last;
    uint64_t marker; /* the seq appended when the range last grew (see store.h ack) */
};

/** Where a lane sends next: records at or after (seg_no, off) with seq >= from_seq. */
struct sl_cursor {
    uint64_t seg_no, off, from_seq;
};

/** A cached piece of one segment. */
struct sl_win {
    uint8_t *buf;
    size_t cap, len;
    uint64_t seg_no, off;
    bool valid;
};

struct sl_peeked {
    uint64_t seq, end;
};

struct sl_lane {
    struct sl_cursor c;
    struct sl_win w;
    struct sl_peeked *pk; /* what the last peek returned (all in segment pk_seg) */
    size_t n_pk;
    uint64_t pk_seg;
};

struct sl_rec {
    uint64_t seq;
    const uint8_t *data;
    uint32_t len;
    uint64_t size; /* header + payload */
};

enum sl_read { SL_R_OK, SL_R_END, SL_R_BAD, SL_R_AGAIN, SL_R_IO };

struct store_log {
    char dir[AGENT_STORE_PATH_MAX];
    uint64_t seg_bytes;
    uint32_t max_segs;
    enum agent_store_fsync fsync;
    uint32_t interval_ms;

    struct sl_seg *segs; /* oldest first; the last is the tail */
    uint32_t n_segs, cap_segs;
    uint64_t next_no;
    struct plat_lfile *tail_f; /* the last segment, open for appends (NULL: roll first) */
    struct plat_lfile *rd_f;   /* one sealed segment open for reading */
    uint64_t rd_no;
    uint64_t last_seq;

    uint64_t acked_upto; /* every seq <= it is acknowledged or not held */
    struct agent_seq_range ack[SL_MAX_ACK_RANGES]; /* sorted, disjoint, above acked_upto + 1 */
    size_t n_ack;
    struct sl_dropped dropped[AGENT_STORE_MAX_DROPPED_RANGES];
    size_t n_dropped;
    uint64_t dropped_total, corrupt_total;

    struct plat_lfile *meta_f;
    uint64_t meta_gen;
    bool data_dirty, meta_dirty, meta_unsynced;
    uint64_t last_sync_ms, last_meta_ms;

    struct sl_lane backlog, live;
    uint64_t live_from; /* 0: one lane */
    uint8_t *wbuf;      /* SL_HDR + SL_REC_MAX: one record being appended */
};

/* store_log_disk.c */
void sl__seg_path(const struct store_log *s, uint64_t no, char *out, size_t cap);
uint64_t sl__seg_last(const struct sl_seg *sg);
void sl__encode_header(uint8_t *hdr, uint64_t seq, const uint8_t *payload, uint32_t len);
enum sl_read sl__read(struct store_log *s, struct sl_win *w, const struct sl_seg *sg, uint64_t pos,
                      uint64_t limit, bool may_load, struct sl_rec *r);
uint64_t sl__resync(struct store_log *s, struct sl_win *w, const struct sl_seg *sg, uint64_t from,
                    uint64_t limit);
enum iot_err sl__run_add(struct sl_seg *sg, uint64_t seq);
enum iot_err sl__recover(struct store_log *s);
enum iot_err sl__meta_open(struct store_log *s);
enum iot_err sl__meta_save(struct store_log *s, bool sync);
void sl__note_dropped(struct store_log *s, uint64_t first, uint64_t last, uint64_t marker);

#endif
