/* SPDX-License-Identifier: Apache-2.0 */
/* Hosting many agents in one process (iot-sim): controls a host needs beyond agent.h. Each agent
 * still runs on the host's one loop thread; nothing here is thread-safe.
 * How to host N agents on one loop: give each its own Paho adapter over its own plat_event
 * (agent_mqtt_paho_create(ev, &m), passed as agent_deps.mqtt), poll every plat_event_fd(ev) in one
 * poll/epoll, and call agent_step() for an agent when its event fired (clear it first with
 * plat_event_wait(ev, 0)) or when the wait_ms it returned has passed. Paho runs all clients of a
 * process on its own shared threads. */
#ifndef AGENT_EMBED_H
#define AGENT_EMBED_H
#include <stdint.h>

#include "agent/agent.h"
#include "iot/err.h"

/**
 * @brief Take one sample now, beside the regular ones (bursts).
 * @return IOT_OK, IOT_ERR_CLOSED (the agent is stopping: no sample)
 */
enum iot_err agent_sample_now(struct agent *a);

/**
 * @brief Change the sampling interval now; the grid restarts at now.
 * @return IOT_OK, IOT_ERR_INVAL (outside 10 ms .. 1 day)
 */
enum iot_err agent_set_interval(struct agent *a, uint32_t interval_ms);

/**
 * @brief Time constant of the simulated room's approach to the thermostat setpoint (default 600 s).
 * @return IOT_OK, IOT_ERR_NOT_FOUND (no simulated sensors on this agent), IOT_ERR_INVAL (not in
 * 1..86400)
 */
enum iot_err agent_set_sim_time_constant(struct agent *a, double seconds);

#endif
