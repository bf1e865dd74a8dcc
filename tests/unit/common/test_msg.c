/* SPDX-License-Identifier: Apache-2.0 */
/* The message builders of test_msg.h. */
#include "test_msg.h"

#include <stdlib.h>

#include "iot.pb-c.h"

enum iot_err test_msg_receipt(const char *device_id, uint64_t epoch, uint64_t first, uint64_t last,
                              uint8_t *out, size_t cap, size_t *len)
{
    Iot__V1__SeqRange r = IOT__V1__SEQ_RANGE__INIT;
    Iot__V1__SeqRange *rp = &r;
    Iot__V1__Receipt m = IOT__V1__RECEIPT__INIT;
    r.first = first;
    r.last = last;
    m.epoch = epoch;
    m.device_id = (char *)device_id;
    m.n_ranges = 1;
    m.ranges = &rp;
    if (iot__v1__receipt__get_packed_size(&m) > cap)
        return IOT_ERR_FULL;
    *len = iot__v1__receipt__pack(&m, out);
    return IOT_OK;
}

enum iot_err test_msg_desired(uint64_t version, const char *const *kv, uint8_t *out, size_t cap,
                              size_t *len)
{
    Iot__V1__DesiredState ds = IOT__V1__DESIRED_STATE__INIT;
    Iot__V1__DesiredState__SettingsEntry ent[TEST_MSG_MAX_PARAMS], *ptr[TEST_MSG_MAX_PARAMS];
    size_t n = 0;
    for (; kv && kv[2 * n] && n < TEST_MSG_MAX_PARAMS; n++) {
        iot__v1__desired_state__settings_entry__init(&ent[n]);
        ent[n].key = (char *)kv[2 * n];
        ent[n].value = (char *)kv[2 * n + 1];
        ptr[n] = &ent[n];
    }
    ds.version = version;
    ds.n_settings = n;
    ds.settings = ptr;
    if (iot__v1__desired_state__get_packed_size(&ds) > cap)
        return IOT_ERR_FULL;
    *len = iot__v1__desired_state__pack(&ds, out);
    return IOT_OK;
}

enum iot_err test_msg_signed_command(struct plat_signer *s, const struct test_msg_command *c,
                                     uint8_t **out, size_t *len)
{
    Iot__V1__Command cmd = IOT__V1__COMMAND__INIT;
    Iot__V1__Command__ParamsEntry ent[TEST_MSG_MAX_PARAMS], *ptr[TEST_MSG_MAX_PARAMS];
    size_t n = 0;
    for (; c->params && c->params[2 * n] && n < TEST_MSG_MAX_PARAMS; n++) {
        iot__v1__command__params_entry__init(&ent[n]);
        ent[n].key = (char *)c->params[2 * n];
        ent[n].value = (char *)c->params[2 * n + 1];
        ptr[n] = &ent[n];
    }
    cmd.id = (char *)c->id;
    cmd.device_id = (char *)c->device_id;
    cmd.name = (char *)c->name;
    cmd.n_params = n;
    cmd.params = ptr;
    cmd.issued_ms = c->issued_ms;
    cmd.expires_ms = c->expires_ms;

    Iot__V1__SignedCommand sc = IOT__V1__SIGNED_COMMAND__INIT;
    uint8_t sig[80], *buf;
    size_t slen = 0, n_out;
    enum iot_err rc = IOT_ERR_NOMEM;
    size_t blen = iot__v1__command__get_packed_size(&cmd);
    uint8_t *body = malloc(blen ? blen : 1);
    if (!body)
        goto out;
    iot__v1__command__pack(&cmd, body);
    rc = plat_signer_sign(s, body, blen, sig, sizeof sig, &slen);
    if (rc != IOT_OK)
        goto out;
    if (c->forge)
        sig[slen / 2] ^= 0x01;
    sc.body.data = body;
    sc.body.len = blen;
    sc.signature.data = sig;
    sc.signature.len = slen;
    sc.key_id = (char *)c->key_id;
    n_out = iot__v1__signed_command__get_packed_size(&sc);
    rc = IOT_ERR_NOMEM;
    buf = malloc(n_out ? n_out : 1);
    if (!buf)
        goto out;
    iot__v1__signed_command__pack(&sc, buf);
    *out = buf;
    *len = n_out;
    rc = IOT_OK;
out:
    free(body);
    return rc;
}
