/* SPDX-License-Identifier: Apache-2.0 */
/* Private: desired / reported state. A retained DesiredState applies when its version is above the
 * last applied one; its settings are a patch over the agent's settings (keys it leaves out keep
 * their value). What was applied is persisted in state_dir/desired.state and re-applied at start. */
#ifndef AGENT_DESIRED_H
#define AGENT_DESIRED_H
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"

#define AGENT_DESIRED_FILE "desired.state"

struct agent;
struct agent_desired;

/**
 * @brief Load @p dir/desired.state (absent: version 0, nothing set).
 * @return IOT_OK, IOT_ERR_MALFORMED (unreadable content: logged), IOT_ERR_IO, IOT_ERR_NOMEM
 */
enum iot_err agent_desired_open(const char *dir, struct agent_desired **out);
void agent_desired_destroy(struct agent_desired *d);

/** @brief The version applied last (0: none). */
uint64_t agent_desired_version(const struct agent_desired *d);

/** @brief Apply the persisted settings to @p a (at start-up; failures are logged and skipped). */
void agent_desired_restore(struct agent_desired *d, struct agent *a);

/**
 * @brief Handle a DesiredState payload: if its version is newer, apply it to @p a, persist, and
 * encode the ReportedState to publish into @p *out (caller frees with iot_free).
 * @return IOT_OK (applied; *out set), IOT_ERR_AGAIN (version not newer: ignored, logged),
 *         IOT_ERR_MALFORMED (not a DesiredState), IOT_ERR_IO (applied but not persisted: logged;
 *         *out still set), IOT_ERR_NOMEM
 */
enum iot_err agent_desired_handle(struct agent_desired *d, struct agent *a, const uint8_t *buf,
                                  size_t len, uint8_t **out, size_t *out_len);

#endif
