/* SPDX-License-Identifier: Apache-2.0 */
/* Shared set-up of the agent unit tests (test_agent.c, test_agent_receipts.c, test_commands_env.c):
 * a scratch state dir, the test agent_config (device dev-1, simulated sensors only, small windows),
 * an agent on a fake clock and a fake MQTT, and the loop drivers. Uses cmocka assertions. */
#ifndef AGENT_FX_H
#define AGENT_FX_H
#include <stdbool.h>
#include <stdint.h>

#include "agent/agent.h"
#include "fake_clock.h"
#include "fake_mqtt.h"

/** The fake wall clock's start (2023-11-14), and the agent's boot time. */
#define AGENT_FX_WALL_MS 1700000000000LL

struct agent_fx {
    char dir[64];             /**< scratch dir, removed by agent_fx_deinit */
    struct agent_config cfg;  /**< adjust between agent_fx_init and agent_fx_start */
    struct fake_clock clk;
    struct fake_mqtt mq;
    struct agent *a;          /**< NULL until agent_fx_start */
    enum iot_err last;        /**< agent_step's last result */
    bool strict;              /**< agent_fx_step asserts every agent_step returns IOT_OK */
};

/**
 * @brief Make /tmp/iot-@p tag-XXXXXX and the test config with state_dir = that dir: device and
 * client id dev-1, no TLS files, no Linux sensors, seed 7, inflight 5, batch_max 3, interval 1 s,
 * reconnect 100..1000 ms; the fake clock at 5000 ms / AGENT_FX_WALL_MS, a fresh fake MQTT.
 */
void agent_fx_init(struct agent_fx *fx, const char *tag);
/** @brief Destroy the agent (if any) and the fake MQTT; remove the scratch dir. */
void agent_fx_deinit(struct agent_fx *fx);
/** @brief agent_fx_init on the heap (asserts the allocation). Free with agent_fx_free. */
struct agent_fx *agent_fx_new(const char *tag);
/** @brief agent_fx_deinit, then free @p fx. */
void agent_fx_free(struct agent_fx *fx);
/** @brief Create the agent on @p fx->cfg, the fake clock and the fake MQTT (asserts IOT_OK). */
void agent_fx_start(struct agent_fx *fx);
/** @brief Destroy the agent (clean), reset the fake MQTT; the state dir stays for a new start. */
void agent_fx_stop_agent(struct agent_fx *fx);
/** @brief Run the loop at the current time (4 rounds, until a result other than IOT_OK). */
void agent_fx_step(struct agent_fx *fx);
/** @brief Advance the fake clock by @p ms, then agent_fx_step. */
void agent_fx_advance(struct agent_fx *fx, uint64_t ms);
/** @brief Connect: step (connect starts, asserted), CONNACK accepted, step (birth, subscribe). */
void agent_fx_connect(struct agent_fx *fx);

#endif
