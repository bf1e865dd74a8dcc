/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration of the offline store: the [store] section of agent.conf. Parsed for config.c; no
 * files are touched here. What each fsync policy costs and survives is in store_log.h. */
#ifndef AGENT_CONFIG_STORE_H
#define AGENT_CONFIG_STORE_H
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"

#define AGENT_STORE_PATH_MAX 512

enum agent_store_kind {
    AGENT_STORE_DISK,   /**< the segmented log in [store] dir (default) */
    AGENT_STORE_MEMORY  /**< a ring of [telemetry] buffer_max_samples; lost on restart (tests) */
};

/** When the store's writes are made durable (see store_log.h for costs). */
enum agent_store_fsync {
    AGENT_FSYNC_NEVER,    /**< the kernel writes back when it likes (~30 s on Linux) */
    AGENT_FSYNC_INTERVAL, /**< fdatasync at most every fsync_interval_ms (default) */
    AGENT_FSYNC_ALWAYS    /**< fdatasync after every sample and every saved receipt */
};

/** What removes a sample from the store. */
enum agent_store_ack {
    AGENT_ACK_RECEIPT, /**< the cloud's Receipt (default: end to end) */
    AGENT_ACK_PUBACK   /**< the broker's PUBACK (a cloud without receipts; at-least-once to the
                            broker only) */
};

struct agent_store_config {
    enum agent_store_kind kind;           /**< disk */
    char dir[AGENT_STORE_PATH_MAX];       /**< "": <state_dir>/store */
    uint64_t max_bytes;                   /**< 64 MiB of disk, segments included */
    enum agent_store_fsync fsync;         /**< interval */
    uint32_t fsync_interval_ms;           /**< 1000 */
    uint32_t resend_after_ms;             /**< 10000: no receipt progress this long: send again
                                               (receipts take ~0.2-1 s; a lost one, e.g. across a
                                               cloud restart, costs at most this delay) */
    enum agent_store_ack ack;             /**< receipt */
    uint32_t stats_interval_ms;           /**< 60000: how often the agent logs its counters */
};

/** @brief Defaults (see the field comments). */
void agent_store_config_defaults(struct agent_store_config *c);

/**
 * @brief One key of section @p section, if the section is ours ("store").
 * @param[out] why on IOT_ERR_INVAL, the reason (without file, line, section or key)
 * @return IOT_OK, IOT_ERR_NOT_FOUND (not our section), IOT_ERR_INVAL (bad key or value)
 */
enum iot_err agent_store_config_key(struct agent_store_config *c, const char *section,
                                    const char *key, const char *value, char *why, size_t why_cap);

/** @brief --help text of the section. */
const char *agent_store_config_help(void);

#endif
