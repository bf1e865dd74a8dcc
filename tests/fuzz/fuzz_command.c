/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the device's control plane on hostile messages (device/src/commands.c and
 * desired.c through a real agent on a fake MQTT and a fake clock). Each input is delivered three
 * ways: as the raw bytes of a SignedCommand on devices/{id}/commands (signature checks, the
 * unverified-id path); as the body of a Command that the harness signs with the key the agent
 * trusts (decode, id, device, expiry, replay, built-ins); and as a DesiredState on
 * devices/{id}/state/desired. The signing key is a test-only fixture (tests/fixtures/keys/), so
 * runs are reproducible. Invariant: the agent keeps running and answers on its own topics only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "fake_clock.h"
#include "fake_mqtt.h"
#include "fuzz_common.h"
#include "iot.pb-c.h"
#include "iot/plat_crypto.h"

#ifndef IOT_FIXTURES_DIR
#error "IOT_FIXTURES_DIR must name tests/fixtures"
#endif

#define RECREATE_EVERY 512u
#define WALL_NOW 1700000000000LL

static struct agent_config g_cfg;
static struct fake_clock g_clk;
static struct fake_mqtt g_mq;
static struct agent *g_agent;
static struct plat_signer *g_signer;
static char g_state[400];
static unsigned g_runs;

static void harness_stop(void)
{
    if (!g_agent)
        return;
    agent_destroy(g_agent);
    g_agent = NULL;
    fake_mqtt_free(&g_mq);
}

static void step(void)
{
    uint32_t wait;
    for (int i = 0; i < 4 && g_agent; i++) {
        enum iot_err rc = agent_step(g_agent, &wait);
        if (rc == IOT_ERR_CLOSED) { /* a restart or stop command: start afresh */
            harness_stop();
            return;
        }
    }
}

static void harness_start(void)
{
    fuzz_clear_dir(g_state);
    fake_clock_init(&g_clk, 5000, WALL_NOW);
    fake_mqtt_init(&g_mq);
    struct agent_deps deps = {.clock = &g_clk.clock, .mqtt = fake_mqtt_iface(&g_mq)};
    if (agent_create(&g_cfg, &deps, &g_agent) != IOT_OK)
        abort();
    step();
    fake_mqtt_connack(&g_mq, true, 0);
    step();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *base = fuzz_init_scratch(argc, argv, "command");
    snprintf(g_state, sizeof g_state, "%s/state", base);
    agent_config_defaults(&g_cfg);
    snprintf(g_cfg.device_id, sizeof g_cfg.device_id, "fz-1");
    snprintf(g_cfg.client_id, sizeof g_cfg.client_id, "fz-1");
    snprintf(g_cfg.state_dir, sizeof g_cfg.state_dir, "%s", g_state);
    snprintf(g_cfg.ca_file, sizeof g_cfg.ca_file, "unused");
    snprintf(g_cfg.cert_file, sizeof g_cfg.cert_file, "unused");
    snprintf(g_cfg.key_file, sizeof g_cfg.key_file, "unused");
    g_cfg.linux_sensors = false;
    g_cfg.seed = 7;
    g_cfg.interval_ms = 1000;
    g_cfg.store.kind = AGENT_STORE_MEMORY;
    g_cfg.buffer_max_samples = 1000;
    g_cfg.commands.enabled = true;
    g_cfg.commands.desired = true;
    g_cfg.commands.replay_max = 64;
    snprintf(g_cfg.commands.public_key_file, sizeof g_cfg.commands.public_key_file,
             "%s/keys/fuzz-cmd-sign.pub", IOT_FIXTURES_DIR);
    if (plat_signer_load(IOT_FIXTURES_DIR "/keys/fuzz-cmd-sign.key", &g_signer) != IOT_OK)
        abort();
    return 0;
}

static void deliver(const char *topic, const uint8_t *buf, size_t len)
{
    static const uint8_t corr[] = "fuzz-corr";
    fake_mqtt_deliver(&g_mq, topic, buf, len, "devices/fz-1/responses", corr, sizeof corr - 1);
    step();
}

/* The input as a Command body, signed with the trusted key. */
static void deliver_signed(const uint8_t *body, size_t len)
{
    uint8_t sig[80];
    size_t slen = 0;
    if (plat_signer_sign(g_signer, body, len, sig, sizeof sig, &slen) != IOT_OK)
        abort();
    Iot__V1__SignedCommand sc = IOT__V1__SIGNED_COMMAND__INIT;
    sc.body.data = (uint8_t *)body;
    sc.body.len = len;
    sc.signature.data = sig;
    sc.signature.len = slen;
    sc.key_id = "fuzz";
    size_t n = iot__v1__signed_command__get_packed_size(&sc);
    uint8_t *out = malloc(n ? n : 1);
    if (!out)
        return;
    iot__v1__signed_command__pack(&sc, out);
    if (g_agent)
        deliver("devices/fz-1/commands", out, n);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    if (!g_agent || ++g_runs % RECREATE_EVERY == 0 || g_mq.n_pubs > 4096) {
        harness_stop();
        harness_start();
    }
    deliver("devices/fz-1/commands", data, size);
    if (g_agent)
        deliver_signed(data, size);
    if (g_agent)
        deliver("devices/fz-1/state/desired", data, size);
    if (!g_agent)
        return 0;
    fake_mqtt_ack_all(&g_mq);
    fake_clock_advance(&g_clk, 10);
    step();
    /* Answers go only to this device's topics. */
    for (size_t i = 0; g_agent && i < g_mq.n_pubs; i++)
        if (strncmp(g_mq.pubs[i].topic, "devices/fz-1/", 13) != 0)
            abort();
    return 0;
}
