/* SPDX-License-Identifier: Apache-2.0 */
/* Request bodies of the /v1 API: strict JSON parsing and validation into fixed-size structs.
 * Pure (no I/O), so every refusal is unit-tested; @p detail says what is wrong, for the 400. */
#ifndef INGEST_API_JSON_H
#define INGEST_API_JSON_H
#include <stddef.h>

#include "commands.h"
#include "ingest/config.h"
#include "iot/err.h"

#define DESIRED_MAX 64

/** PUT /v1/devices/{id}/state/desired. Large: allocate it. */
struct desired_request {
    struct cmd_param settings[DESIRED_MAX];
    size_t n;
};

/**
 * @brief Parse {name, params?, timeout_s?, callback_url?, idempotency_key?} for @p device_id.
 * @p idem_header (Idempotency-Key header, may be NULL) wins over the body field. Params values
 * may be strings, numbers or booleans (kept as text). Unknown fields are refused.
 * @return IOT_OK, IOT_ERR_MALFORMED (@p detail says why), IOT_ERR_INVAL (NULL argument)
 */
enum iot_err api_parse_command(const char *body, size_t len, const char *device_id,
                               const char *idem_header, const struct cloud_commands_config *cfg,
                               struct cmd_request *out, char *detail, size_t cap);

/**
 * @brief Parse {settings: {key: value, ...}} (1..DESIRED_MAX entries; values as for params).
 * @return IOT_OK, IOT_ERR_MALFORMED (@p detail says why), IOT_ERR_INVAL
 */
enum iot_err api_parse_desired(const char *body, size_t len, struct desired_request *out,
                               char *detail, size_t cap);

#endif
