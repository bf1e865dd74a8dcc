/* SPDX-License-Identifier: Apache-2.0 */
/* The fixture of test_commands_env.h. */
#include "test_commands_env.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iot/plat_file.h"

static void write_keypair(const char *priv, const char *pub)
{
    mbedtls_pk_context pk;
    mbedtls_entropy_context ent;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_pk_init(&pk);
    mbedtls_entropy_init(&ent);
    mbedtls_ctr_drbg_init(&drbg);
    assert_int_equal(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, NULL, 0), 0);
    assert_int_equal(mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
    assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk),
                                         mbedtls_ctr_drbg_random, &drbg),
                     0);
    unsigned char buf[1024];
    assert_int_equal(mbedtls_pk_write_key_pem(&pk, buf, sizeof buf), 0);
    assert_int_equal(plat_file_write_atomic(priv, buf, strlen((char *)buf), false), IOT_OK);
    assert_int_equal(mbedtls_pk_write_pubkey_pem(&pk, buf, sizeof buf), 0);
    assert_int_equal(plat_file_write_atomic(pub, buf, strlen((char *)buf), false), IOT_OK);
    mbedtls_pk_free(&pk);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&ent);
}

struct cenv *cenv_new(bool commands)
{
    struct cenv *e = calloc(1, sizeof *e);
    assert_non_null(e);
    snprintf(e->dir, sizeof e->dir, "/tmp/iot-cmd-test-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->priv, sizeof e->priv, "%s/cmd.key", e->dir);
    snprintf(e->pub, sizeof e->pub, "%s/cmd.pub", e->dir);
    snprintf(e->priv2, sizeof e->priv2, "%s/other.key", e->dir);
    snprintf(e->pub2, sizeof e->pub2, "%s/other.pub", e->dir);
    write_keypair(e->priv, e->pub);
    write_keypair(e->priv2, e->pub2);
    assert_int_equal(plat_signer_load(e->priv, &e->signer), IOT_OK);
    assert_int_equal(plat_signer_load(e->priv2, &e->foreign), IOT_OK);

    agent_config_defaults(&e->cfg);
    snprintf(e->cfg.device_id, sizeof e->cfg.device_id, "dev-1");
    snprintf(e->cfg.client_id, sizeof e->cfg.client_id, "dev-1");
    snprintf(e->cfg.state_dir, sizeof e->cfg.state_dir, "%s/state", e->dir);
    snprintf(e->cfg.ca_file, sizeof e->cfg.ca_file, "unused");
    snprintf(e->cfg.cert_file, sizeof e->cfg.cert_file, "unused");
    snprintf(e->cfg.key_file, sizeof e->cfg.key_file, "unused");
    e->cfg.linux_sensors = false;
    e->cfg.seed = 7;
    e->cfg.inflight = 5;
    e->cfg.batch_max = 3;
    e->cfg.interval_ms = 1000;
    e->cfg.reconnect_min_ms = 100;
    e->cfg.reconnect_max_ms = 1000;
    e->cfg.commands.enabled = commands;
    snprintf(e->cfg.commands.public_key_file, sizeof e->cfg.commands.public_key_file, "%s", e->pub);
    fake_clock_init(&e->clk, 5000, CENV_NOW_WALL);
    fake_mqtt_init(&e->mq);
    return e;
}

void cenv_step(struct cenv *e)
{
    uint32_t wait;
    for (int i = 0; i < 4; i++) {
        e->last = agent_step(e->a, &wait);
        if (e->last != IOT_OK)
            return;
    }
}

void cenv_advance(struct cenv *e, uint64_t ms)
{
    fake_clock_advance(&e->clk, ms);
    cenv_step(e);
}

void cenv_start(struct cenv *e)
{
    struct agent_deps deps = {.clock = &e->clk.clock, .mqtt = fake_mqtt_iface(&e->mq)};
    assert_int_equal(agent_create(&e->cfg, &deps, &e->a), IOT_OK);
    cenv_step(e);
    assert_true(e->mq.connecting);
    fake_mqtt_connack(&e->mq, true, 0);
    cenv_step(e);
}

void cenv_restart_agent(struct cenv *e)
{
    agent_destroy(e->a);
    e->a = NULL;
    fake_mqtt_free(&e->mq);
    fake_mqtt_init(&e->mq);
    cenv_start(e);
}

void cenv_free(struct cenv *e)
{
    agent_destroy(e->a);
    fake_mqtt_free(&e->mq);
    plat_signer_destroy(e->signer);
    plat_signer_destroy(e->foreign);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    assert_int_equal(system(cmd), 0);
    free(e);
}

size_t cenv_command(struct plat_signer *s, const char *id, const char *device, const char *name,
                    int64_t expires_ms, const char *const *params, uint8_t *out, size_t cap)
{
    Iot__V1__Command c = IOT__V1__COMMAND__INIT;
    Iot__V1__Command__ParamsEntry ent[16], *ptr[16];
    size_t n = 0;
    for (; params && params[2 * n] && n < 16; n++) {
        iot__v1__command__params_entry__init(&ent[n]);
        ent[n].key = (char *)params[2 * n];
        ent[n].value = (char *)params[2 * n + 1];
        ptr[n] = &ent[n];
    }
    c.id = (char *)id;
    c.device_id = (char *)device;
    c.name = (char *)name;
    c.n_params = n;
    c.params = ptr;
    c.issued_ms = CENV_NOW_WALL;
    c.expires_ms = expires_ms;
    uint8_t body[4096];
    size_t blen = iot__v1__command__get_packed_size(&c);
    assert_true(blen <= sizeof body);
    iot__v1__command__pack(&c, body);
    uint8_t sig[80];
    size_t slen;
    assert_int_equal(plat_signer_sign(s, body, blen, sig, sizeof sig, &slen), IOT_OK);
    Iot__V1__SignedCommand sc = IOT__V1__SIGNED_COMMAND__INIT;
    sc.body.data = body;
    sc.body.len = blen;
    sc.signature.data = sig;
    sc.signature.len = slen;
    sc.key_id = "test";
    size_t len = iot__v1__signed_command__get_packed_size(&sc);
    assert_true(len <= cap);
    iot__v1__signed_command__pack(&sc, out);
    return len;
}

void cenv_send(struct cenv *e, const uint8_t *buf, size_t len, const char *corr)
{
    fake_mqtt_deliver(&e->mq, "devices/dev-1/commands", buf, len,
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
    for (size_t i = 0; i < e->mq.n_pubs; i++)
        n += on_topic(&e->mq.pubs[i], suffix);
    return n;
}

const struct fake_pub *cenv_pub(const struct cenv *e, const char *suffix, size_t nth)
{
    for (size_t i = 0; i < e->mq.n_pubs; i++) {
        if (on_topic(&e->mq.pubs[i], suffix) && nth-- == 0)
            return &e->mq.pubs[i];
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
    snprintf(path, cap, "%s/%s", e->dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
}
