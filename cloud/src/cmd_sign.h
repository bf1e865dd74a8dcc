/* SPDX-License-Identifier: Apache-2.0 */
/* What the cloud sends to devices: command ids, SignedCommand (ECDSA P-256 over the serialized
 * Command, DESIGN.md) and DesiredState encodings. No I/O beyond the signer. */
#ifndef INGEST_CMD_SIGN_H
#define INGEST_CMD_SIGN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"
#include "iot/plat_crypto.h"

/** Command ids: "cmd-" + 24 lower-case hex digits (96 random bits). */
#define CMD_ID_LEN 28

/** One string-map entry (params, settings). */
struct cmd_kv {
    const char *key;
    const char *value;
};

struct cmd_sign_input {
    const char *id;
    const char *device_id;
    const char *name;
    const struct cmd_kv *params;
    size_t n_params;
    int64_t issued_ms;
    int64_t expires_ms;
};

/** @brief A new random command id into @p out. @return IOT_OK, IOT_ERR_TLS (no randomness) */
enum iot_err cmd_id_new(char out[CMD_ID_LEN + 1]);
/** @brief True when @p id has the command-id format. */
bool cmd_id_valid(const char *id);

/**
 * @brief Serialize the Command, sign it and serialize the SignedCommand.
 * @param[out] out iot_malloc'd bytes; caller frees with iot_free
 * @return IOT_OK, IOT_ERR_INVAL, IOT_ERR_NOMEM, IOT_ERR_TLS (signing failed)
 */
enum iot_err cmd_sign_encode(struct plat_signer *signer, const char *key_id,
                             const struct cmd_sign_input *in, uint8_t **out, size_t *out_len);

/**
 * @brief Serialize a DesiredState.
 * @param[out] out iot_malloc'd; caller frees with iot_free
 * @return IOT_OK, IOT_ERR_INVAL, IOT_ERR_NOMEM
 */
enum iot_err cmd_desired_encode(uint64_t version, const struct cmd_kv *settings, size_t n,
                                uint8_t **out, size_t *out_len);

#endif
