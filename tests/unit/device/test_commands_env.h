/* SPDX-License-Identifier: Apache-2.0 */
/* Shared fixture of the commands and desired-state tests: a state dir, a fresh P-256 command-signing
 * key pair (and a second, foreign one), an agent on a fake clock and a fake MQTT, and helpers to
 * sign, deliver and decode. */
#ifndef TEST_COMMANDS_ENV_H
#define TEST_COMMANDS_ENV_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_fx.h"
#include "iot.pb-c.h"
#include "iot/plat_crypto.h"

#define CENV_NOW_WALL AGENT_FX_WALL_MS

struct cenv {
    struct agent_fx fx; /**< the agent, its fakes and config; state dir: fx.dir/state */
    char priv[128], pub[128], priv2[128], pub2[128];
    struct plat_signer *signer, *foreign;
};

/** @brief New fixture; @p commands enables [commands] with the generated public key. */
struct cenv *cenv_new(bool commands);
/** @brief Create the agent and connect it (CONNACK, subscriptions). */
void cenv_start(struct cenv *e);
/** @brief Destroy the agent (clean) and start a new one on the same state dir. */
void cenv_restart_agent(struct cenv *e);
void cenv_free(struct cenv *e);
void cenv_step(struct cenv *e);
void cenv_advance(struct cenv *e, uint64_t ms);

/** @brief A SignedCommand signed by @p s; @p params is "k", "v", ..., NULL (or NULL). Issued at
 *  CENV_NOW_WALL. */
size_t cenv_command(struct plat_signer *s, const char *id, const char *device, const char *name,
                    int64_t expires_ms, const char *const *params, uint8_t *out, size_t cap);
/** @brief cenv_command() issued at @p issued_ms. */
size_t cenv_command_at(struct plat_signer *s, const char *id, const char *device,
                       const char *name, int64_t issued_ms, int64_t expires_ms,
                       const char *const *params, uint8_t *out, size_t cap);
/** @brief Deliver @p buf on devices/dev-1/commands with correlation data @p corr (NULL: none). */
void cenv_send(struct cenv *e, const uint8_t *buf, size_t len, const char *corr);
/** @brief Sign with the fixture's key, deliver, step. Expires an hour from now. */
void cenv_run(struct cenv *e, const char *id, const char *name, const char *const *params);

/** @brief Publishes on devices/dev-1/@p suffix so far. */
size_t cenv_count(const struct cenv *e, const char *suffix);
/** @brief The @p nth (0-based) publish on devices/dev-1/@p suffix, or NULL. */
const struct fake_pub *cenv_pub(const struct cenv *e, const char *suffix, size_t nth);
/** @brief Decode the @p nth CommandResult (asserts there is one). Free with ..._free_unpacked. */
Iot__V1__CommandResult *cenv_result(const struct cenv *e, size_t nth);
/** @brief outputs[@p key] of @p r, or NULL. */
const char *cenv_output(const Iot__V1__CommandResult *r, const char *key);
/** @brief Step (real time passes, 10 ms per round) until @p n responses exist or @p ms elapse. */
bool cenv_wait_responses(struct cenv *e, size_t n, uint32_t ms);
/** @brief Write an executable shell script @p name in the fixture's dir; its path into @p path. */
void cenv_script(struct cenv *e, const char *name, const char *body, char *path, size_t cap);

#endif
