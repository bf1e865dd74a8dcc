/* SPDX-License-Identifier: Apache-2.0 */
/* agent/embed.h over the agent's private control seam (commands.h): what a host of many agents
 * (iot-sim) needs. No state of its own. */
#define IOT_LOG_TAG "agent.embed"
#include "agent/embed.h"

#include "commands.h"
#include "sensors.h"

enum iot_err agent_sample_now(struct agent *a)
{
    struct agent_stats before, after;
    agent_get_stats(a, &before);
    agent__sample_now(a);
    agent_get_stats(a, &after);
    return after.samples > before.samples ? IOT_OK : IOT_ERR_CLOSED;
}

enum iot_err agent_set_interval(struct agent *a, uint32_t interval_ms)
{
    if (interval_ms < AGENT_INTERVAL_MIN_MS || interval_ms > AGENT_INTERVAL_MAX_MS)
        return IOT_ERR_INVAL;
    agent__set_interval(a, interval_ms);
    return IOT_OK;
}

enum iot_err agent_set_sim_time_constant(struct agent *a, double seconds)
{
    if (!(seconds >= 1.0 && seconds <= 86400.0))
        return IOT_ERR_INVAL;
    struct agent_sim *sim = agent__sim(a);
    if (!sim)
        return IOT_ERR_NOT_FOUND;
    agent_sim_set_time_constant(sim, seconds);
    return IOT_OK;
}
