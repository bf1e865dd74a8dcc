/* SPDX-License-Identifier: Apache-2.0 */
/* Private: the persisted set of recent command ids and their results (at-most-once execution).
 * A command id is recorded (RUNNING) before the command acts and gets its result (DONE) after; both
 * steps replace the file atomically and durably, so a duplicate delivery, even after a crash or a
 * restart, is answered from the record and never executed again. Bounded: the oldest ids go, and
 * the set keeps a floor, the highest issued_ms of any id it ever let go; a command issued at or
 * before the floor may have run already and must not be run (the caller refuses it). */
#ifndef AGENT_CMD_REPLAY_H
#define AGENT_CMD_REPLAY_H
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"

#define AGENT_REPLAY_FILE "commands.replay"
/** Stored results larger than this are kept without outputs (the caller re-encodes). */
#define AGENT_REPLAY_RESULT_MAX 4096u

enum agent_replay_state {
    AGENT_REPLAY_NONE = 0, /**< id not seen (or forgotten) */
    AGENT_REPLAY_RUNNING,  /**< recorded, no result yet (in progress, or interrupted by a crash) */
    AGENT_REPLAY_DONE      /**< finished; the result is stored */
};

struct agent_replay;

/**
 * @brief Load @p dir/commands.replay (absent: empty). A damaged file (bad checksum) is renamed to
 * commands.replay.bad and an empty set is used (logged as an error). An older "IOTRPL01" file
 * loads with times 0 and floor 0; the next change writes the current format. A file with more
 * ids than @p max keeps the newest; those dropped raise the floor.
 * @param max ids remembered (>= 1)
 * @return IOT_OK, IOT_ERR_INVAL, IOT_ERR_NOMEM, IOT_ERR_IO
 */
enum iot_err agent_replay_open(const char *dir, uint32_t max, struct agent_replay **out);
void agent_replay_close(struct agent_replay *r);

/** @brief Look up @p id; for DONE, @p res / @p len borrow the stored CommandResult bytes (valid
 *  until the next change). Either out-param may be NULL. */
enum agent_replay_state agent_replay_find(const struct agent_replay *r, const char *id,
                                          const uint8_t **res, size_t *len);

/** @brief Record @p id as RUNNING with its signed Command's times and persist (evicting the
 *  oldest when full; an eviction raises the floor to the evicted id's @p issued_ms if higher).
 *  @param issued_ms  Command.issued_ms (the cloud's wall clock; 0 if unknown)
 *  @param expires_ms Command.expires_ms (0 if unknown)
 *  @return IOT_OK, IOT_ERR_INVAL (id known already), IOT_ERR_NOMEM, IOT_ERR_IO (not recorded) */
enum iot_err agent_replay_begin(struct agent_replay *r, const char *id, int64_t issued_ms,
                                int64_t expires_ms);

/** @brief Store the result of @p id (copied; at most AGENT_REPLAY_RESULT_MAX bytes) and persist.
 *  An id that is not recorded any more (evicted while it ran) is added with times 0: its eviction
 *  already raised the floor to its issued_ms, so nothing is lost. @return IOT_OK, IOT_ERR_INVAL,
 *  IOT_ERR_NOMEM, IOT_ERR_IO */
enum iot_err agent_replay_finish(struct agent_replay *r, const char *id, const uint8_t *res,
                                 size_t len);

/** @brief Ids held. */
size_t agent_replay_count(const struct agent_replay *r);

/** @brief The floor: the highest issued_ms of any id evicted so far (persisted; never lowered;
 *  0 = none evicted with a known time). An unknown id issued at or before it may have run
 *  already. */
int64_t agent_replay_floor_ms(const struct agent_replay *r);

#endif
