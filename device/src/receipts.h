/* SPDX-License-Identifier: Apache-2.0 */
/* The cloud's Receipts (devices/{id}/receipts): decoding, applying them to the store, and the
 * re-send timer for samples sent but not receipted. Runs on the agent's loop thread; no I/O of its
 * own except through the store. */
#ifndef AGENT_RECEIPTS_H
#define AGENT_RECEIPTS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"
#include "store.h"

/** Most ranges accepted in one Receipt (more: rejected as malformed). */
#define AGENT_RECEIPT_MAX_RANGES 4096
/** The re-send timeout doubles while no receipt arrives, up to this many times the configured one. */
#define AGENT_RESEND_BACKOFF_MAX 8u

struct agent_receipts {
    uint32_t resend_after_ms; /**< configured timeout */
    uint64_t timeout_ms;      /**< current timeout (backs off without progress) */
    uint64_t resend_at;       /**< 0: timer off */
    uint64_t applied;         /**< receipts applied */
    uint64_t ignored;         /**< for another epoch or device */
    uint64_t malformed;       /**< undecodable, or bad ranges */
    uint64_t resends;         /**< times the unreceipted samples were sent again */
    uint64_t acked;           /**< samples removed from the store by receipts */
};

/** Sent-but-unreceipted samples allowed, in full windows (inflight x batch_max). */
#define AGENT_UNRECEIPTED_WINDOWS 40

/**
 * @brief May another backlog batch go? Not while AGENT_UNRECEIPTED_WINDOWS windows of samples
 * are sent and not receipted: a replay runs only as far ahead of the cloud's commits as that, so
 * the broker's queue to the cloud stays short, live samples (never held back) are not queued
 * behind a whole backlog, and a re-send after a timeout repeats a bounded amount.
 */
bool agent_receipts_backlog_open(struct agent_store *st, uint32_t inflight, uint32_t batch_max);

/** @brief Initialise with [store] resend_after_ms. */
void agent_receipts_init(struct agent_receipts *r, uint32_t resend_after_ms);

/** @brief A telemetry batch was published at @p now: start the timer if it is off. */
void agent_receipts_on_sent(struct agent_receipts *r, uint64_t now);

/** @brief The connection is gone (the store re-queued everything): timer off. */
void agent_receipts_on_lost(struct agent_receipts *r);

/**
 * @brief Decode a Receipt and acknowledge its ranges in @p st. Receipts for another epoch or device
 * are ignored (counted). Any progress restarts the timer at the configured timeout.
 * @return IOT_OK, IOT_ERR_NOT_FOUND (other epoch or device: ignored), IOT_ERR_MALFORMED (logged),
 *         IOT_ERR_IO (the store could not save)
 */
enum iot_err agent_receipts_apply(struct agent_receipts *r, struct agent_store *st,
                                  const char *device_id, uint64_t epoch, const uint8_t *buf,
                                  size_t len, uint64_t now);

/**
 * @brief When the timer is due and samples are still sent but unreceipted, put them back in line
 * (in seq order, from the oldest) and back the timeout off.
 * @param[out] next_ms when to call again (UINT64_MAX: timer off)
 * @return true when samples were re-queued
 */
bool agent_receipts_poll(struct agent_receipts *r, struct agent_store *st, uint64_t now,
                         uint64_t *next_ms);

#endif
