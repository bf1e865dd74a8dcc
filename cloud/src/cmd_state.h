/* SPDX-License-Identifier: Apache-2.0 */
/* The command lifecycle (DESIGN.md "Cloud HTTP API"): states, events and the one table of legal
 * transitions. Pure: no I/O, no time. Everything that changes a command's state asks here first. */
#ifndef INGEST_CMD_STATE_H
#define INGEST_CMD_STATE_H
#include <stdbool.h>

#include "iot/err.h"

enum cmd_state {
    CMD_QUEUED,    /**< stored, not yet acknowledged by the broker */
    CMD_SENT,      /**< the broker acknowledged the publish (PUBACK) */
    CMD_SUCCEEDED, /**< the device answered OK */
    CMD_FAILED,    /**< the device answered ERROR or UNKNOWN_COMMAND */
    CMD_REJECTED,  /**< the device refused it (REJECTED, BAD_SIGNATURE) */
    CMD_EXPIRED,   /**< the deadline passed first, or the device answered EXPIRED */
    CMD_CANCELLED, /**< cancelled by DELETE before delivery */
    CMD_STATE_COUNT
};

enum cmd_event {
    CMD_EV_ACKED,           /**< broker PUBACK of the publish */
    CMD_EV_RESULT_OK,       /**< CommandResult OK */
    CMD_EV_RESULT_FAILED,   /**< CommandResult ERROR, UNKNOWN_COMMAND (or unspecified) */
    CMD_EV_RESULT_REJECTED, /**< CommandResult REJECTED, BAD_SIGNATURE */
    CMD_EV_RESULT_EXPIRED,  /**< CommandResult EXPIRED */
    CMD_EV_DEADLINE,        /**< expires_ms passed */
    CMD_EV_CANCEL,          /**< DELETE /v1/commands/{cid} */
    CMD_EVENT_COUNT
};

/** @brief "queued", "sent", ... (static; "unknown" out of range). */
const char *cmd_state_name(enum cmd_state s);
/** @brief Inverse of cmd_state_name. @return false for an unknown name */
bool cmd_state_parse(const char *name, enum cmd_state *out);
/** @brief True for succeeded, failed, rejected, expired, cancelled. */
bool cmd_state_terminal(enum cmd_state s);

/**
 * @brief The state after @p ev in state @p from.
 * queued -(acked)-> sent; queued -(deadline)-> expired; queued -(cancel)-> cancelled;
 * sent -(result)-> succeeded | failed | rejected | expired; sent -(deadline)-> expired.
 * A result in `queued` is refused: the caller first applies CMD_EV_ACKED (a device answered, so the
 * publish was delivered even if its PUBACK is not yet processed).
 * @return IOT_OK (@p to set), IOT_ERR_INVAL (illegal: terminal state, cancel after delivery, ...)
 */
enum iot_err cmd_state_next(enum cmd_state from, enum cmd_event ev, enum cmd_state *to);

/** @brief The event of a CommandResult status (Iot__V1__CommandResult__Status value). */
enum cmd_event cmd_event_of_result(int status);
/** @brief "OK", "ERROR", ... of a CommandResult status ("UNSPECIFIED" when unknown). */
const char *cmd_result_status_name(int status);

#endif
