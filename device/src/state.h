/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's small persistent state: the epoch of its sequence stream, the seq high-water mark
 * (reserved in blocks so a seq is never reused, even after a crash) and the presence connection
 * counter. One text file, replaced atomically and durably. */
#ifndef AGENT_STATE_H
#define AGENT_STATE_H
#include <stdint.h>

#include "iot/err.h"

#define AGENT_STATE_FILE "agent.state"
/** Seq numbers reserved per durable write. */
#define AGENT_SEQ_BLOCK 1000

struct agent_state {
    char path[600];
    uint64_t epoch;        /**< random, non-zero, made once */
    uint64_t next_seq;     /**< next seq to hand out (starts at 1) */
    uint64_t seq_reserved; /**< persisted high-water: every seq below it may have been used */
    uint64_t connection;   /**< last connection number handed out */
    uint32_t block;
};

/**
 * @brief Create @p dir if missing, load its state or make a new epoch. On a reload the next seq is the
 * persisted high-water mark (seqs reserved but unused before a crash are skipped, never reused).
 * @param block seq numbers reserved per write (0 = AGENT_SEQ_BLOCK)
 * @return IOT_OK, IOT_ERR_IO, IOT_ERR_MALFORMED (a state file we cannot read: logged; refuse rather
 *         than risk reusing seqs), IOT_ERR_TLS (no randomness)
 */
enum iot_err agent_state_open(struct agent_state *st, const char *dir, uint32_t block);

/** @brief Hand out the next seq, persisting a new reservation first when needed.
 *  @return IOT_OK, IOT_ERR_IO (nothing handed out) */
enum iot_err agent_state_next_seq(struct agent_state *st, uint64_t *seq);

/** @brief Increment and persist the connection counter (before each connect).
 *  @return IOT_OK, IOT_ERR_IO */
enum iot_err agent_state_next_connection(struct agent_state *st, uint64_t *connection);

/** @brief Clean shutdown: lower the reservation to next_seq so a clean restart leaves no gap.
 *  @return IOT_OK, IOT_ERR_IO */
enum iot_err agent_state_close(struct agent_state *st);

#endif
