/* SPDX-License-Identifier: Apache-2.0 */
/* The agent test fixture of agent_fx.h. */
#include "agent_fx.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

void agent_fx_init(struct agent_fx *fx, const char *tag)
{
    snprintf(fx->dir, sizeof fx->dir, "/tmp/iot-%s-XXXXXX", tag);
    assert_non_null(mkdtemp(fx->dir));
    agent_config_defaults(&fx->cfg);
    snprintf(fx->cfg.device_id, sizeof fx->cfg.device_id, "dev-1");
    snprintf(fx->cfg.client_id, sizeof fx->cfg.client_id, "dev-1");
    snprintf(fx->cfg.state_dir, sizeof fx->cfg.state_dir, "%s", fx->dir);
    snprintf(fx->cfg.ca_file, sizeof fx->cfg.ca_file, "unused");
    snprintf(fx->cfg.cert_file, sizeof fx->cfg.cert_file, "unused");
    snprintf(fx->cfg.key_file, sizeof fx->cfg.key_file, "unused");
    fx->cfg.linux_sensors = false;
    fx->cfg.seed = 7;
    fx->cfg.inflight = 5;
    fx->cfg.batch_max = 3;
    fx->cfg.interval_ms = 1000;
    fx->cfg.reconnect_min_ms = 100;
    fx->cfg.reconnect_max_ms = 1000;
    fake_clock_init(&fx->clk, 5000, AGENT_FX_WALL_MS);
    fake_mqtt_init(&fx->mq);
    fx->a = NULL;
    fx->last = IOT_OK;
    fx->strict = false;
}

void agent_fx_deinit(struct agent_fx *fx)
{
    agent_destroy(fx->a);
    fx->a = NULL;
    fake_mqtt_free(&fx->mq);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
}

struct agent_fx *agent_fx_new(const char *tag)
{
    struct agent_fx *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    agent_fx_init(fx, tag);
    return fx;
}

void agent_fx_free(struct agent_fx *fx)
{
    agent_fx_deinit(fx);
    free(fx);
}

void agent_fx_start(struct agent_fx *fx)
{
    struct agent_deps deps = {.clock = &fx->clk.clock, .mqtt = fake_mqtt_iface(&fx->mq)};
    assert_int_equal(agent_create(&fx->cfg, &deps, &fx->a), IOT_OK);
}

void agent_fx_stop_agent(struct agent_fx *fx)
{
    agent_destroy(fx->a);
    fx->a = NULL;
    fake_mqtt_free(&fx->mq);
    fake_mqtt_init(&fx->mq);
}

void agent_fx_step(struct agent_fx *fx)
{
    uint32_t wait;
    for (int i = 0; i < 4; i++) {
        fx->last = agent_step(fx->a, &wait);
        if (fx->strict)
            assert_int_equal(fx->last, IOT_OK);
        if (fx->last != IOT_OK)
            return;
    }
}

void agent_fx_advance(struct agent_fx *fx, uint64_t ms)
{
    fake_clock_advance(&fx->clk, ms);
    agent_fx_step(fx);
}

void agent_fx_connect(struct agent_fx *fx)
{
    agent_fx_step(fx);
    assert_true(fx->mq.connecting);
    fake_mqtt_connack(&fx->mq, true, 0);
    agent_fx_step(fx);
}
