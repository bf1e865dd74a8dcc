/* SPDX-License-Identifier: Apache-2.0 */
/* Test helper: iot.v1 messages as the cloud sends them (a Receipt, a signed Command), shared by
 * the unit tests and iot-test-payload (tests/support). Plain C, no cmocka; never in products. */
#ifndef IOT_TEST_MSG_H
#define IOT_TEST_MSG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"
#include "iot/plat_crypto.h"

/** Command parameters test_msg_signed_command() takes at the most (more are left out). */
#define TEST_MSG_MAX_PARAMS 32

/** @brief What a signed command says; strings are borrowed for the call. */
struct test_msg_command {
    const char *id, *device_id, *name;
    const char *const *params; /**< "k", "v", ..., NULL (or NULL: no parameters) */
    int64_t issued_ms, expires_ms;
    const char *key_id;
    bool forge; /**< flip one signature byte: still DER, no longer a signature of the body */
};

/**
 * @brief Pack a Receipt of @p device_id for seqs [@p first, @p last] of @p epoch into @p out.
 * @param len out: bytes written (set on success)
 * @return IOT_OK; IOT_ERR_FULL when @p cap is too small
 */
enum iot_err test_msg_receipt(const char *device_id, uint64_t epoch, uint64_t first, uint64_t last,
                              uint8_t *out, size_t cap, size_t *len);

/**
 * @brief Pack a DesiredState of @p version with settings @p kv ("k", "v", ..., NULL, or NULL; at
 * most TEST_MSG_MAX_PARAMS pairs) into @p out.
 * @param len out: bytes written (set on success)
 * @return IOT_OK; IOT_ERR_FULL when @p cap is too small
 */
enum iot_err test_msg_desired(uint64_t version, const char *const *kv, uint8_t *out, size_t cap,
                              size_t *len);

/**
 * @brief A SignedCommand: the Command @p c packed, signed with @p s, wrapped with @p c->key_id.
 * @param out out: the packed SignedCommand; caller frees with free() (set on success)
 * @param len out: its length (set on success)
 * @return IOT_OK; IOT_ERR_NOMEM; the error of plat_signer_sign
 */
enum iot_err test_msg_signed_command(struct plat_signer *s, const struct test_msg_command *c,
                                     uint8_t **out, size_t *len);

#endif
