/* SPDX-License-Identifier: Apache-2.0 */
/* The on-disk store: a segmented append-only log of encoded samples with per-record CRC-32C, and a
 * small two-slot metadata file (acknowledged ranges, dropped ranges, counters).
 *
 * fsync policy ([store] fsync) -- what it costs and what it survives:
 *   never     no fdatasync. Every record is one write() into the page cache, so a kill -9 or a crash
 *             of the agent loses nothing; a power cut or kernel crash loses what the kernel had not
 *             written back yet (Linux: up to ~30 s). Cheapest for flash: ~205 B written per sample.
 *   interval  (default) fdatasync of the log and the metadata at most every fsync_interval_ms when
 *             something changed: a power cut loses at most that window. One flush per interval (a
 *             few KiB of extra writes per flush: ~1.2 GB/day at 10 samples/s with 1 s, measured).
 *   always    fdatasync after every sample and after every saved receipt: a power cut loses nothing
 *             that was stored. Costs a flush per sample: 0.15-0.5 ms on this VM (2,000-6,000
 *             samples/s in tools/bench, against ~390,000 with never or interval), 7-28 ms on an
 *             SD card (a Pi then manages ~50-100 samples/s), and ~4 KiB written per sample.
 * Segments are preallocated (posix_fallocate), so a data-only sync does not flush the inode, and a
 * record never straddles two segments. A torn or corrupted record fails its checksum on open: the
 * intact records around it are kept, the bad ones counted (stats.corrupt_total, a warning) and, where
 * their seqs can be told, reported to the cloud as dropped. */
#ifndef AGENT_STORE_LOG_H
#define AGENT_STORE_LOG_H
#include <stdint.h>

#include "agent/config.h"
#include "iot/err.h"
#include "store.h"

struct agent_store_log_opts {
    const char *dir;                /**< created if missing; holds seg-*.log and meta */
    uint64_t max_bytes;             /**< >= 64 KiB: disk used by the segments (the bound) */
    enum agent_store_fsync fsync;
    uint32_t fsync_interval_ms;     /**< interval policy; also how often acks are saved otherwise */
};

/**
 * @brief Open (recover) or create the log store in @p o->dir. Reads every segment once, checking
 * each record: RAM use is an index of a few runs of seqs per segment plus two read windows
 * (~200 KiB), independent of the number of records.
 * @return IOT_OK, IOT_ERR_INVAL, IOT_ERR_IO, IOT_ERR_NOMEM, IOT_ERR_FULL (cannot preallocate)
 */
enum iot_err agent_store_log_create(const struct agent_store_log_opts *o, struct agent_store *out);

/**
 * @brief The store the config asks for: the disk log in [store] dir (default <state_dir>/store), or
 * the memory ring. @return as agent_store_log_create / agent_store_mem_create
 */
enum iot_err agent_store_open(const struct agent_config *cfg, struct agent_store *out);

/** Segment size for a bound: max_bytes / 16, clamped to [16 KiB, 16 MiB], 4 KiB aligned. */
uint64_t agent_store_log_segment_bytes(uint64_t max_bytes);

#endif
