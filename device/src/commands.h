/* SPDX-License-Identifier: Apache-2.0 */
/* Private: signed commands and desired state of the agent ("control"). commands.c runs the
 * pipeline (verify, decode, reject, de-duplicate, dispatch, answer); cmd_builtin.c, cmd_exec.c,
 * cmd_replay.c and desired.c do one part each. agent.c reaches it only through agent_ctl_*, and it
 * reaches the agent only through the agent__* functions below (implemented in agent.c). */
#ifndef AGENT_COMMANDS_H
#define AGENT_COMMANDS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/mqtt.h"
#include "iot/codec.h"
#include "iot/err.h"
#include "iot/plat_clock.h"
#include "iot/topic.h"

/** Bounds of the telemetry interval that set_interval and desired state accept. */
#define AGENT_INTERVAL_MIN_MS 10u
#define AGENT_INTERVAL_MAX_MS 86400000u
/** Longest command id accepted (printable ASCII, no spaces). */
#define AGENT_CMD_ID_MAX 128
/** Longest MQTT 5 correlation data echoed. */
#define AGENT_CORRELATION_MAX 256

/* ---------------------------------------------------------------- the agent's side (agent.c) */

struct agent_sim;
/** @brief The agent's live configuration (interval_ms, sim_sensors reflect changes). */
const struct agent_config *agent__config(const struct agent *a);
/** @brief Change the sampling interval now (the grid restarts at now). Caller checks the bounds. */
void agent__set_interval(struct agent *a, uint32_t interval_ms);
/** @brief Take one sample immediately (it joins the store and is published as usual). */
void agent__sample_now(struct agent *a);
/** @brief The simulated smart-home model, or NULL when no simulated sensor was ever enabled. */
struct agent_sim *agent__sim(struct agent *a);
/** @brief Enable exactly the simulated sensors in @p which (enum agent_sim_sensor bits).
 *  @return IOT_OK, IOT_ERR_NOMEM, IOT_ERR_FULL (no room for more sensors) */
enum iot_err agent__set_sim_sensors(struct agent *a, unsigned which);
/** @brief Names of the active sensors, comma-separated, into @p buf. */
void agent__sensor_names(const struct agent *a, char *buf, size_t cap);
/** @brief Stop cleanly and make agent_run() return AGENT_EXIT_RESTART (main re-executes). */
void agent__restart(struct agent *a);

/* ---------------------------------------------------------------- results */

#define AGENT_CMD_OUTPUTS_MAX 24

struct agent_cmd_output {
    char *key, *value; /* iot_malloc'd */
};

/** What a command produced; becomes a CommandResult. */
struct agent_cmd_result {
    int status; /**< Iot__V1__CommandResult__Status */
    int32_t code;
    char message[256];
    struct agent_cmd_output outputs[AGENT_CMD_OUTPUTS_MAX];
    size_t n_outputs;
};

/** @brief Set status, code and a printf-style message. */
void agent_cmd_result_set(struct agent_cmd_result *r, int status, int32_t code, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));
/** @brief Add outputs[key] = printf(fmt). @return IOT_OK, IOT_ERR_FULL, IOT_ERR_NOMEM */
enum iot_err agent_cmd_result_put(struct agent_cmd_result *r, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** @brief Add outputs[key] = @p value, taking ownership of it (iot_malloc'd; freed on error). */
enum iot_err agent_cmd_result_put_take(struct agent_cmd_result *r, const char *key, char *value);
void agent_cmd_result_clear(struct agent_cmd_result *r);

/** @brief params[key] of @p cmd, or NULL. */
const char *agent_cmd_param(const Iot__V1__Command *cmd, const char *key);

/* ---------------------------------------------------------------- built-ins (cmd_builtin.c) */

struct agent_cmd_ctx {
    struct agent *agent;
    const Iot__V1__Command *cmd;
    const struct plat_clock *clock;
    uint64_t desired_version; /**< for get_state */
    bool restart;             /**< out: restart once the answer is delivered */
};

/** @brief True when @p name is a built-in command. */
bool agent__cmd_builtin_exists(const char *name);
/** @brief Run built-in x->cmd->name into @p r. @return false when there is no such built-in. */
bool agent__cmd_builtin_run(struct agent_cmd_ctx *x, struct agent_cmd_result *r);

/* ---------------------------------------------------------------- exec handlers (cmd_exec.c) */

struct agent_cmd_handler_config;
struct agent_exec_job;

/**
 * @brief Start handler @p h for @p cmd: its exec with an environment of PATH, LANG, IOT_DEVICE_ID,
 * IOT_COMMAND_ID, IOT_COMMAND_NAME and IOT_PARAM_<KEY> per param. Does not wait.
 * @return IOT_OK, IOT_ERR_NOT_FOUND (cannot execute), IOT_ERR_INVAL (too many or too long params),
 *         IOT_ERR_NOMEM, IOT_ERR_IO
 */
enum iot_err agent_exec_start(const struct agent_cmd_handler_config *h, const Iot__V1__Command *cmd,
                              const char *device_id, struct agent_exec_job **out);
/** @brief Collect output; when finished, fill @p r. @return IOT_ERR_AGAIN (running), IOT_OK */
enum iot_err agent_exec_poll(struct agent_exec_job *j, struct agent_cmd_result *r);
/** @brief Kill (if running) and free. NULL is a no-op. */
void agent_exec_destroy(struct agent_exec_job *j);
/** @brief "IOT_PARAM_" + @p key upper-cased, every character outside [A-Z0-9_] replaced by '_'. */
void agent_exec_env_name(const char *key, char *out, size_t cap);
/** @brief Make @p s (length @p len) valid UTF-8 without NULs, in place ('?' for bad bytes). */
void agent_exec_sanitize_text(char *s, size_t len);

/* ---------------------------------------------------------------- control (commands.c) */

struct agent_ctl;

/** Tokens of control publishes carry this bit, so agent.c can route their completions here. */
#define AGENT_CTL_TOKEN_BIT (1ull << 62)
static inline bool agent_ctl_owns_token(uint64_t token) { return (token & AGENT_CTL_TOKEN_BIT) != 0; }

/**
 * @brief Load the command-signing key, the replay set and the desired state (applying the persisted
 * settings to @p a). @p mqtt and @p clk must outlive the control.
 * @return IOT_OK, IOT_ERR_NOT_FOUND (public key or a handler's exec missing: logged), IOT_ERR_TLS
 *         (bad key), IOT_ERR_IO, IOT_ERR_MALFORMED (state files), IOT_ERR_NOMEM
 */
enum iot_err agent_ctl_create(struct agent *a, const struct plat_clock *clk,
                              struct agent_mqtt *mqtt, struct agent_ctl **out);
/** @brief Kill running handlers and free. NULL is a no-op. */
void agent_ctl_destroy(struct agent_ctl *c);
/** @brief Subscribe (commands, state/desired) and re-send answers not yet acknowledged. */
void agent_ctl_on_connected(struct agent_ctl *c);
/** @brief The connection is gone: unacknowledged answers wait for the next one. */
void agent_ctl_on_lost(struct agent_ctl *c);
/** @brief Completion of a publish whose token agent_ctl_owns_token(). */
void agent_ctl_on_published(struct agent_ctl *c, const struct agent_mqtt_event *ev);
/** @brief A message on devices/{id}/commands or devices/{id}/state/desired. */
void agent_ctl_on_message(struct agent_ctl *c, enum iot_topic_kind kind,
                          const struct agent_mqtt_event *ev);
/**
 * @brief Timers and running handlers. @return how long (ms) the loop may sleep before calling again
 * (UINT32_MAX: nothing pending). While a handler runs this is short: its pipes are polled.
 */
uint32_t agent_ctl_poll(struct agent_ctl *c, uint64_t now);

#endif
