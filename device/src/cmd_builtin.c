/* SPDX-License-Identifier: Apache-2.0 */
/* Built-in commands: ping, get_state, set_interval, sample_now, restart, and the simulated
 * smart-home devices (set_setpoint, plug_on, plug_off, plug, light_on, light_off, set_brightness). They run on the agent's loop and return
 * at once; they reach the agent only through the agent__* seam. Bad params: ERROR, code 22. */
#define IOT_LOG_TAG "agent.builtin"
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "sensors.h"

#define BAD_PARAM 22 /* EINVAL, as a result code */

typedef void (*builtin_fn)(struct agent_cmd_ctx *x, struct agent_cmd_result *r);

static void bad_param(struct agent_cmd_result *r, const char *name, const char *want)
{
    agent_cmd_result_set(r, IOT__V1__COMMAND_RESULT__STATUS__ERROR, BAD_PARAM,
                         "param %s: %s", name, want);
}

static void ok(struct agent_cmd_result *r, const char *msg)
{
    agent_cmd_result_set(r, IOT__V1__COMMAND_RESULT__STATUS__OK, 0, "%s", msg);
}

static void do_ping(struct agent_cmd_ctx *x, struct agent_cmd_result *r)
{
    ok(r, "pong");
    agent_cmd_result_put(r, "reply", "pong");
    agent_cmd_result_put(r, "time_ms", "%" PRId64, plat_clock_wall_ms(x->clock));
    agent_cmd_result_put(r, "agent_version", "%s", AGENT_VERSION);
}

static void do_get_state(struct agent_cmd_ctx *x, struct agent_cmd_result *r)
{
    const struct agent_config *cfg = agent__config(x->agent);
    struct agent_stats s;
    agent_get_stats(x->agent, &s);
    char names[512];
    agent__sensor_names(x->agent, names, sizeof names);
    ok(r, "state");
    agent_cmd_result_put(r, "device_id", "%s", cfg->device_id);
    agent_cmd_result_put(r, "agent_version", "%s", AGENT_VERSION);
    agent_cmd_result_put(r, "epoch", "%016" PRIx64, agent_epoch(x->agent));
    agent_cmd_result_put(r, "interval_ms", "%u", cfg->interval_ms);
    agent_cmd_result_put(r, "sensors", "%s", names);
    agent_cmd_result_put(r, "samples", "%" PRIu64, s.samples);
    agent_cmd_result_put(r, "samples_acked", "%" PRIu64, s.samples_acked);
    agent_cmd_result_put(r, "backlog", "%" PRIu64, s.backlog);
    agent_cmd_result_put(r, "dropped", "%" PRIu64, s.dropped);
    agent_cmd_result_put(r, "outstanding", "%u", s.outstanding);
    agent_cmd_result_put(r, "connects", "%" PRIu64, s.connects);
    agent_cmd_result_put(r, "desired_version", "%" PRIu64, x->desired_version);
    struct agent_sim *sim = agent__sim(x->agent);
    if (sim) {
        agent_cmd_result_put(r, "setpoint_c", "%.1f", agent_sim_setpoint(sim));
        agent_cmd_result_put(r, "plug", "%s", agent_sim_plug(sim) ? "on" : "off");
        double b;
        bool on = agent_sim_light(sim, &b);
        agent_cmd_result_put(r, "light", "%s", on ? "on" : "off");
        agent_cmd_result_put(r, "brightness", "%.0f", b);
    }
    agent_cmd_result_put(r, "time_ms", "%" PRId64, plat_clock_wall_ms(x->clock));
}

static void do_set_interval(struct agent_cmd_ctx *x, struct agent_cmd_result *r)
{
    const char *v = agent_cmd_param(x->cmd, "interval_ms");
    char *end = NULL;
    errno = 0;
    unsigned long long ms = v && *v >= '0' && *v <= '9' ? strtoull(v, &end, 10) : 0;
    if (!v || !end || *end || errno || ms < AGENT_INTERVAL_MIN_MS || ms > AGENT_INTERVAL_MAX_MS) {
        char want[96];
        snprintf(want, sizeof want, "required, a whole number of ms in %u..%u", AGENT_INTERVAL_MIN_MS,
                 AGENT_INTERVAL_MAX_MS);
        bad_param(r, "interval_ms", want);
        return;
    }
    uint32_t old = agent__config(x->agent)->interval_ms;
    agent__set_interval(x->agent, (uint32_t)ms);
    ok(r, "interval set");
    agent_cmd_result_put(r, "interval_ms", "%llu", ms);
    agent_cmd_result_put(r, "previous_ms", "%u", old);
}

static void do_sample_now(struct agent_cmd_ctx *x, struct agent_cmd_result *r)
{
    struct agent_stats before, after;
    agent_get_stats(x->agent, &before);
    agent__sample_now(x->agent);
    agent_get_stats(x->agent, &after);
    if (after.samples == before.samples) {
        agent_cmd_result_set(r, IOT__V1__COMMAND_RESULT__STATUS__ERROR, 5, "sample not taken");
        return;
    }
    ok(r, "sample taken");
    agent_cmd_result_put(r, "samples", "%" PRIu64, after.samples);
}

static void do_restart(struct agent_cmd_ctx *x, struct agent_cmd_result *r)
{
    x->restart = true;
    ok(r, "restarting once this answer is delivered");
}

static struct agent_sim *need_sim(struct agent_cmd_ctx *x, struct agent_cmd_result *r)
{
    struct agent_sim *sim = agent__sim(x->agent);
    if (!sim)
        agent_cmd_result_set(r, IOT__V1__COMMAND_RESULT__STATUS__ERROR, 19,
                             "no simulated smart-home devices on this agent");
    return sim;
}

static void do_set_setpoint(struct agent_cmd_ctx *x, struct agent_cmd_result *r)
{
    struct agent_sim *sim = need_sim(x, r);
    if (!sim)
        return;
    const char *v = agent_cmd_param(x->cmd, "celsius");
    char *end = NULL;
    double c = v ? strtod(v, &end) : NAN;
    if (!v || !*v || !end || *end || !isfinite(c) || c < 5.0 || c > 35.0) {
        bad_param(r, "celsius", "required, a number of degrees in 5..35");
        return;
    }
    double old = agent_sim_setpoint(sim);
    agent_sim_set_setpoint(sim, c);
    ok(r, "setpoint set");
    agent_cmd_result_put(r, "setpoint_c", "%.1f", agent_sim_setpoint(sim));
    agent_cmd_result_put(r, "previous_c", "%.1f", old);
}

static void set_plug(struct agent_cmd_ctx *x, struct agent_cmd_result *r, bool on)
{
    struct agent_sim *sim = need_sim(x, r);
    if (!sim)
        return;
    bool was = agent_sim_plug(sim);
    agent_sim_set_plug(sim, on);
    ok(r, on ? "plug on" : "plug off");
    agent_cmd_result_put(r, "plug", "%s", on ? "on" : "off");
    agent_cmd_result_put(r, "previous", "%s", was ? "on" : "off");
}

static void do_plug_on(struct agent_cmd_ctx *x, struct agent_cmd_result *r) { set_plug(x, r, true); }

static void do_plug_off(struct agent_cmd_ctx *x, struct agent_cmd_result *r)
{
    set_plug(x, r, false);
}

static void do_plug(struct agent_cmd_ctx *x, struct agent_cmd_result *r)
{
    const char *v = agent_cmd_param(x->cmd, "state");
    if (v && strcmp(v, "on") == 0)
        set_plug(x, r, true);
    else if (v && strcmp(v, "off") == 0)
        set_plug(x, r, false);
    else
        bad_param(r, "state", "required, on or off");
}

/* light_on [brightness=0..100], light_off, set_brightness percent=0..100 (0 switches off). */
static bool parse_percent(const char *v, double *out)
{
    char *end = NULL;
    double p = v ? strtod(v, &end) : NAN;
    if (!v || !*v || !end || *end || !isfinite(p) || p < 0.0 || p > 100.0)
        return false;
    *out = p;
    return true;
}

static void set_light(struct agent_cmd_ctx *x, struct agent_cmd_result *r, bool on, double pct)
{
    struct agent_sim *sim = need_sim(x, r);
    if (!sim)
        return;
    double was_b;
    bool was = agent_sim_light(sim, &was_b);
    agent_sim_set_light(sim, on, pct);
    double b;
    agent_sim_light(sim, &b);
    ok(r, on ? "light on" : "light off");
    agent_cmd_result_put(r, "light", "%s", on ? "on" : "off");
    agent_cmd_result_put(r, "brightness", "%.0f", b);
    agent_cmd_result_put(r, "previous", "%s", was ? "on" : "off");
}

static void do_light_on(struct agent_cmd_ctx *x, struct agent_cmd_result *r)
{
    double pct = -1;
    const char *v = agent_cmd_param(x->cmd, "brightness");
    if (v && !parse_percent(v, &pct)) {
        bad_param(r, "brightness", "a number of percent in 0..100");
        return;
    }
    set_light(x, r, true, pct);
}

static void do_light_off(struct agent_cmd_ctx *x, struct agent_cmd_result *r)
{
    set_light(x, r, false, -1);
}

static void do_set_brightness(struct agent_cmd_ctx *x, struct agent_cmd_result *r)
{
    double pct;
    if (!parse_percent(agent_cmd_param(x->cmd, "percent"), &pct)) {
        bad_param(r, "percent", "required, a number of percent in 0..100");
        return;
    }
    set_light(x, r, pct > 0, pct > 0 ? pct : -1);
}

static const struct {
    const char *name;
    builtin_fn fn;
} builtins[] = {
    {"ping", do_ping},
    {"get_state", do_get_state},
    {"set_interval", do_set_interval},
    {"sample_now", do_sample_now},
    {"restart", do_restart},
    {"set_setpoint", do_set_setpoint},
    {"plug_on", do_plug_on},
    {"plug_off", do_plug_off},
    {"plug", do_plug},
    {"light_on", do_light_on},
    {"light_off", do_light_off},
    {"set_brightness", do_set_brightness},
};

bool agent__cmd_builtin_exists(const char *name)
{
    for (size_t i = 0; name && i < sizeof builtins / sizeof builtins[0]; i++) {
        if (strcmp(builtins[i].name, name) == 0)
            return true;
    }
    return false;
}

bool agent__cmd_builtin_run(struct agent_cmd_ctx *x, struct agent_cmd_result *r)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        if (strcmp(builtins[i].name, x->cmd->name) == 0) {
            builtins[i].fn(x, r);
            return true;
        }
    }
    return false;
}
