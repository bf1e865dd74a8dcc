/* SPDX-License-Identifier: Apache-2.0 */
/* Command ids, SignedCommand and DesiredState encoding (see cmd_sign.h). */
#define IOT_LOG_TAG "cloud.cmdsign"
#include "cmd_sign.h"

#include <string.h>

#include "iot.pb-c.h"
#include "iot/log.h"
#include "iot/mem.h"

#define SIG_CAP 80

enum iot_err cmd_id_new(char out[CMD_ID_LEN + 1])
{
    uint8_t rnd[12];
    enum iot_err rc = plat_random(rnd, sizeof rnd);
    if (rc != IOT_OK)
        return rc;
    memcpy(out, "cmd-", 4);
    plat_hex(rnd, sizeof rnd, out + 4);
    out[CMD_ID_LEN] = 0;
    return IOT_OK;
}

bool cmd_id_valid(const char *id)
{
    if (!id || strlen(id) != CMD_ID_LEN || memcmp(id, "cmd-", 4) != 0)
        return false;
    for (size_t i = 4; i < CMD_ID_LEN; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

enum iot_err cmd_sign_encode(struct plat_signer *signer, const char *key_id,
                             const struct cmd_sign_input *in, uint8_t **out, size_t *out_len)
{
    if (!signer || !key_id || !in || !in->id || !in->device_id || !in->name || !out || !out_len ||
        (in->n_params && !in->params))
        return IOT_ERR_INVAL;
    enum iot_err rc = IOT_ERR_NOMEM;
    uint8_t *body = NULL, *buf = NULL;
    Iot__V1__Command__ParamsEntry *ents = NULL;
    Iot__V1__Command__ParamsEntry **ptrs = NULL;
    if (in->n_params) {
        ents = iot_calloc(in->n_params, sizeof *ents);
        ptrs = iot_calloc(in->n_params, sizeof *ptrs);
        if (!ents || !ptrs)
            goto out;
    }
    for (size_t i = 0; i < in->n_params; i++) {
        iot__v1__command__params_entry__init(&ents[i]);
        ents[i].key = (char *)in->params[i].key;
        ents[i].value = (char *)in->params[i].value;
        ptrs[i] = &ents[i];
    }
    Iot__V1__Command c = IOT__V1__COMMAND__INIT;
    c.id = (char *)in->id;
    c.device_id = (char *)in->device_id;
    c.name = (char *)in->name;
    c.n_params = in->n_params;
    c.params = ptrs;
    c.issued_ms = in->issued_ms;
    c.expires_ms = in->expires_ms;
    size_t body_len = iot__v1__command__get_packed_size(&c);
    body = iot_malloc(body_len);
    if (!body)
        goto out;
    iot__v1__command__pack(&c, body);

    uint8_t sig[SIG_CAP];
    size_t sig_len = 0;
    rc = plat_signer_sign(signer, body, body_len, sig, sizeof sig, &sig_len);
    if (rc != IOT_OK) {
        IOT_LOG(IOT_LOG_ERROR, "signing command %s failed: %s", in->id, iot_err_str(rc));
        goto out;
    }
    Iot__V1__SignedCommand sc = IOT__V1__SIGNED_COMMAND__INIT;
    sc.body.data = body;
    sc.body.len = body_len;
    sc.signature.data = sig;
    sc.signature.len = sig_len;
    sc.key_id = (char *)key_id;
    size_t len = iot__v1__signed_command__get_packed_size(&sc);
    rc = IOT_ERR_NOMEM;
    buf = iot_malloc(len);
    if (!buf)
        goto out;
    iot__v1__signed_command__pack(&sc, buf);
    *out = buf;
    *out_len = len;
    buf = NULL;
    rc = IOT_OK;
out:
    iot_free(buf);
    iot_free(body);
    iot_free(ents);
    iot_free(ptrs);
    return rc;
}

enum iot_err cmd_desired_encode(uint64_t version, const struct cmd_kv *settings, size_t n,
                                uint8_t **out, size_t *out_len)
{
    if ((n && !settings) || !out || !out_len)
        return IOT_ERR_INVAL;
    enum iot_err rc = IOT_ERR_NOMEM;
    Iot__V1__DesiredState__SettingsEntry *ents = n ? iot_calloc(n, sizeof *ents) : NULL;
    Iot__V1__DesiredState__SettingsEntry **ptrs = n ? iot_calloc(n, sizeof *ptrs) : NULL;
    uint8_t *buf = NULL;
    if (n && (!ents || !ptrs))
        goto out;
    for (size_t i = 0; i < n; i++) {
        iot__v1__desired_state__settings_entry__init(&ents[i]);
        ents[i].key = (char *)settings[i].key;
        ents[i].value = (char *)settings[i].value;
        ptrs[i] = &ents[i];
    }
    Iot__V1__DesiredState d = IOT__V1__DESIRED_STATE__INIT;
    d.version = version;
    d.n_settings = n;
    d.settings = ptrs;
    size_t len = iot__v1__desired_state__get_packed_size(&d);
    buf = iot_malloc(len);
    if (!buf)
        goto out;
    iot__v1__desired_state__pack(&d, buf);
    *out = buf;
    *out_len = len;
    rc = IOT_OK;
out:
    iot_free(ents);
    iot_free(ptrs);
    return rc;
}
