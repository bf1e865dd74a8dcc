/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration of signed commands, command handlers and desired state: the [commands],
 * [command.NAME] and [state] sections of agent.conf. Parsed for config.c; no files are touched. */
#ifndef AGENT_CONFIG_COMMANDS_H
#define AGENT_CONFIG_COMMANDS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"

#define AGENT_CMD_PATH_MAX 512
/** Longest command name: [A-Za-z0-9_.-]{1,32}. */
#define AGENT_CMD_NAME_MAX 32
/** Most [command.NAME] handlers. */
#define AGENT_CMD_HANDLERS_MAX 16

/** One [command.NAME] section: an allow-listed executable. */
struct agent_cmd_handler_config {
    char name[AGENT_CMD_NAME_MAX + 1];
    char exec[AGENT_CMD_PATH_MAX]; /**< required, absolute */
    uint32_t timeout_ms;           /**< 10000; the process group is killed after it */
    uint32_t max_output;           /**< 4096 bytes kept per stream (stdout, stderr) */
};

struct agent_commands_config {
    /* [commands] */
    bool enabled;                              /**< false: no subscription to commands */
    char public_key_file[AGENT_CMD_PATH_MAX];  /**< the cloud's P-256 key (PEM); required if enabled */
    uint32_t replay_max;                       /**< 1000 command ids (and results) remembered */
    /* [state] */
    bool desired;                              /**< true: apply devices/{id}/state/desired */
    /* [command.NAME] */
    struct agent_cmd_handler_config handlers[AGENT_CMD_HANDLERS_MAX];
    size_t n_handlers;
};

/** @brief Defaults: commands off, desired state on, no handlers. */
void agent_commands_config_defaults(struct agent_commands_config *c);

/**
 * @brief One key of section @p section, if the section is ours.
 * @param[out] why on IOT_ERR_INVAL, the reason (without file, line, section or key)
 * @return IOT_OK, IOT_ERR_NOT_FOUND (not one of our sections), IOT_ERR_INVAL (bad key or value)
 */
enum iot_err agent_commands_config_key(struct agent_commands_config *c, const char *section,
                                       const char *key, const char *value, char *why,
                                       size_t why_cap);

/**
 * @brief Cross-checks once the whole file is read (public key required when enabled, every handler
 * has an exec). On failure @p where gets "section] key" style text: "[commands] public_key_file".
 * @return IOT_OK, IOT_ERR_INVAL
 */
enum iot_err agent_commands_config_finish(const struct agent_commands_config *c, char *where,
                                          size_t where_cap, char *why, size_t why_cap);

/** @brief The handler configured for @p name, or NULL. */
const struct agent_cmd_handler_config *
agent_commands_config_handler(const struct agent_commands_config *c, const char *name);

/** @brief True when @p name is a valid command name ([A-Za-z0-9_.-]{1,32}). */
bool agent_cmd_name_valid(const char *name);

/** @brief --help text of these sections. */
const char *agent_commands_config_help(void);

#endif
