/* SPDX-License-Identifier: Apache-2.0 */
/* The fixture of test_commands_env.h. */
#include "test_commands_env.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_keys.h"
#include "test_msg.h"

struct cenv *cenv_new(bool commands)
{
    struct cenv *e = calloc(1, sizeof *e);
    assert_non_null(e);
    agent_fx_init(&e->fx, "cmd-test");
    snprintf(e->priv, sizeof e->priv, "%s/cmd.key", e->fx.dir);
    snprintf(e->pub, sizeof e->pub, "%s/cmd.pub", e->fx.dir);
    snprintf(e->priv2, sizeof e->priv2, "%s/other.key", e->fx.dir);
    snprintf(e->pub2, sizeof e->pub2, "%s/other.pub", e->fx.dir);
    test_keys_write_pair(e->priv, e->pub);
    test_keys_write_pair(e->priv2, e->pub2);
    assert_int_equal(plat_signer_load(e->priv, &e->signer), IOT_OK);
    assert_int_equal(plat_signer_load(e->priv2, &e->foreign), IOT_OK);

    struct agent_config *cfg = &e->fx.cfg;
    snprintf(cfg->state_dir, sizeof cfg->state_dir, "%s/state", e->fx.dir);
    cfg->commands.enabled = commands;
    snprintf(cfg->commands.public_key_file, sizeof cfg->commands.public_key_file, "%s", e->pub);
    return e;
}

void cenv_step(struct cenv *e)
{
    agent_fx_step(&e->fx);
}

void cenv_advance(struct cenv *e, uint64_t ms)
{
    agent_fx_advance(&e->fx, ms);
}

void cenv_start(struct cenv *e)
{
    agent_fx_start(&e->fx);
    agent_fx_connect(&e->fx);
}

void cenv_restart_agent(struct cenv *e)
{
    agent_fx_stop_agent(&e->fx);
    cenv_start(e);
}

void cenv_free(struct cenv *e)
{
    agent_fx_deinit(&e->fx);
    plat_signer_destroy(e->signer);
    plat_signer_destroy(e->foreign);
    free(e);
}

size_t cenv_command(struct plat_signer *s, const char *id, const char *device, const char *name,
                    int64_t expires_ms, const char *const *params, uint8_t *out, size_t cap)
{
    return cenv_command_at(s, id, device, name, CENV_NOW_WALL, expires_ms, params, out, cap);
}

size_t cenv_command_at(struct plat_signer *s, const char *id, const char *device,
                       const char *name, int64_t issued_ms, int64_t expires_ms,
                       const char *const *params, uint8_t *out, size_t cap)
{
    const struct test_msg_command c = {.id = id, .device_id = device, .name = name,
                                       .params = params, .issued_ms = issued_ms,
                                       .expires_ms = expires_ms, .key_id = "test"};
    uint8_t *buf;
    size_t len;
    assert_int_equal(test_msg_signed_command(s, &c, &buf, &len), IOT_OK);
    assert_true(len <= cap);
    memcpy(out, buf, len);
    free(buf);
    return len;
}

void cenv_send(struct cenv *e, const uint8_t *buf, size_t len, const char *corr)
{
    fake_mqtt_deliver(&e->fx.mq, "devices/dev-1/commands", buf, len,
                      corr ? "devices/dev-1/responses" : NULL, (const uint8_t *)corr,
                      corr ? strlen(corr) : 0);
}

void cenv_run(struct cenv *e, const char *id, const char *name, const char *const *params)
{
    uint8_t buf[8192];
    size_t n = cenv_command(e->signer, id, "dev-1", name, CENV_NOW_WALL + 3600000, params, buf,
                            sizeof buf);
    cenv_send(e, buf, n, NULL);
    cenv_step(e);
}

static bool on_topic(const struct fake_pub *p, const char *suffix)
{
    char t[128];
    snprintf(t, sizeof t, "devices/dev-1/%s", suffix);
    return strcmp(p->topic, t) == 0;
}

size_t cenv_count(const struct cenv *e, const char *suffix)
{
    size_t n = 0;
    for (size_t i = 0; i < e->fx.mq.n_pubs; i++)
        n += on_topic(&e->fx.mq.pubs[i], suffix);
    return n;
}

const struct fake_pub *cenv_pub(const struct cenv *e, const char *suffix, size_t nth)
{
    for (size_t i = 0; i < e->fx.mq.n_pubs; i++) {
        if (on_topic(&e->fx.mq.pubs[i], suffix) && nth-- == 0)
            return &e->fx.mq.pubs[i];
    }
    return NULL;
}

Iot__V1__CommandResult *cenv_result(const struct cenv *e, size_t nth)
{
    const struct fake_pub *p = cenv_pub(e, "responses", nth);
    assert_non_null(p);
    assert_int_equal(p->qos, 1);
    assert_false(p->retained);
    Iot__V1__CommandResult *r = iot__v1__command_result__unpack(NULL, p->len, p->payload);
    assert_non_null(r);
    assert_string_equal(r->device_id, "dev-1");
    return r;
}

const char *cenv_output(const Iot__V1__CommandResult *r, const char *key)
{
    for (size_t i = 0; i < r->n_outputs; i++) {
        if (strcmp(r->outputs[i]->key, key) == 0)
            return r->outputs[i]->value;
    }
    return NULL;
}

bool cenv_wait_responses(struct cenv *e, size_t n, uint32_t ms)
{
    for (uint32_t t = 0; t <= ms; t += 10) {
        cenv_step(e);
        if (cenv_count(e, "responses") >= n)
            return true;
        usleep(10000);
    }
    return false;
}

void cenv_script(struct cenv *e, const char *name, const char *body, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", e->fx.dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
}
