/* SPDX-License-Identifier: Apache-2.0 */
/* Command lifecycle table (see cmd_state.h). */
#include "cmd_state.h"

#include <string.h>

#include "iot.pb-c.h"

static const char *const names[CMD_STATE_COUNT] = {
    [CMD_QUEUED] = "queued",       [CMD_SENT] = "sent",         [CMD_SUCCEEDED] = "succeeded",
    [CMD_FAILED] = "failed",       [CMD_REJECTED] = "rejected", [CMD_EXPIRED] = "expired",
    [CMD_CANCELLED] = "cancelled",
};

const char *cmd_state_name(enum cmd_state s)
{
    return (unsigned)s < CMD_STATE_COUNT ? names[s] : "unknown";
}

bool cmd_state_parse(const char *name, enum cmd_state *out)
{
    for (int i = 0; name && i < CMD_STATE_COUNT; i++) {
        if (strcmp(names[i], name) == 0) {
            *out = (enum cmd_state)i;
            return true;
        }
    }
    return false;
}

bool cmd_state_terminal(enum cmd_state s) { return s != CMD_QUEUED && s != CMD_SENT; }

/* -1: illegal. Rows: from-state (only the two live states; terminal ones refuse everything). */
static const signed char table[2][CMD_EVENT_COUNT] = {
    [CMD_QUEUED] = {[CMD_EV_ACKED] = CMD_SENT,
                    [CMD_EV_RESULT_OK] = -1,
                    [CMD_EV_RESULT_FAILED] = -1,
                    [CMD_EV_RESULT_REJECTED] = -1,
                    [CMD_EV_RESULT_EXPIRED] = -1,
                    [CMD_EV_DEADLINE] = CMD_EXPIRED,
                    [CMD_EV_CANCEL] = CMD_CANCELLED},
    [CMD_SENT] = {[CMD_EV_ACKED] = -1,
                  [CMD_EV_RESULT_OK] = CMD_SUCCEEDED,
                  [CMD_EV_RESULT_FAILED] = CMD_FAILED,
                  [CMD_EV_RESULT_REJECTED] = CMD_REJECTED,
                  [CMD_EV_RESULT_EXPIRED] = CMD_EXPIRED,
                  [CMD_EV_DEADLINE] = CMD_EXPIRED,
                  [CMD_EV_CANCEL] = -1},
};

enum iot_err cmd_state_next(enum cmd_state from, enum cmd_event ev, enum cmd_state *to)
{
    if (!to || (unsigned)from >= CMD_STATE_COUNT || (unsigned)ev >= CMD_EVENT_COUNT)
        return IOT_ERR_INVAL;
    if (cmd_state_terminal(from))
        return IOT_ERR_INVAL;
    int next = table[from][ev];
    if (next < 0)
        return IOT_ERR_INVAL;
    *to = (enum cmd_state)next;
    return IOT_OK;
}

enum cmd_event cmd_event_of_result(int status)
{
    switch (status) {
    case IOT__V1__COMMAND_RESULT__STATUS__OK: return CMD_EV_RESULT_OK;
    case IOT__V1__COMMAND_RESULT__STATUS__REJECTED:
    case IOT__V1__COMMAND_RESULT__STATUS__BAD_SIGNATURE: return CMD_EV_RESULT_REJECTED;
    case IOT__V1__COMMAND_RESULT__STATUS__EXPIRED: return CMD_EV_RESULT_EXPIRED;
    default: return CMD_EV_RESULT_FAILED; /* ERROR, UNKNOWN_COMMAND, unspecified */
    }
}

const char *cmd_result_status_name(int status)
{
    switch (status) {
    case IOT__V1__COMMAND_RESULT__STATUS__OK: return "OK";
    case IOT__V1__COMMAND_RESULT__STATUS__ERROR: return "ERROR";
    case IOT__V1__COMMAND_RESULT__STATUS__REJECTED: return "REJECTED";
    case IOT__V1__COMMAND_RESULT__STATUS__UNKNOWN_COMMAND: return "UNKNOWN_COMMAND";
    case IOT__V1__COMMAND_RESULT__STATUS__EXPIRED: return "EXPIRED";
    case IOT__V1__COMMAND_RESULT__STATUS__BAD_SIGNATURE: return "BAD_SIGNATURE";
    default: return "UNSPECIFIED";
    }
}
