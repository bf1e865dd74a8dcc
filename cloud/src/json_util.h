/* SPDX-License-Identifier: Apache-2.0 */
/* Small cJSON helpers shared by the store, the commands and the HTTP API: protobuf string maps to
 * JSON objects, bounded text checks, and cJSON allocating through iot_malloc. */
#ifndef INGEST_JSON_UTIL_H
#define INGEST_JSON_UTIL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "iot/err.h"

/** Add every entry (->key, ->value) of a protobuf-c string map to the cJSON object @p obj. */
#define JSON_ADD_PB_MAP(obj, entries, n)                                                          \
    do {                                                                                          \
        for (size_t i_ = 0; i_ < (n); i_++)                                                       \
            if ((entries)[i_] && (entries)[i_]->key)                                              \
                cJSON_AddStringToObject((obj), (entries)[i_]->key,                                \
                                        (entries)[i_]->value ? (entries)[i_]->value : "");        \
    } while (0)

/** @brief Make cJSON allocate through iot_malloc/iot_free (call once at start-up). */
void json_util_init(void);

/** @brief True when @p s is 1..@p max characters of [A-Za-z0-9_.:-]. */
bool json_name_ok(const char *s, size_t max);

/** @brief True when @p s is at most @p max bytes without control characters (< 0x20, 0x7f). */
bool json_text_ok(const char *s, size_t max);

/**
 * @brief Parse @p text (from storage) and attach it to @p obj under @p key; JSON null when
 * @p text is NULL or does not parse.
 */
void json_add_raw(cJSON *obj, const char *key, const char *text);

/** @brief Add a uint64 as a decimal string (JSON numbers lose precision above 2^53). */
void json_add_u64_str(cJSON *obj, const char *key, uint64_t v);

/**
 * @brief Print @p obj unformatted into an iot_malloc'd string.
 * @return NULL when out of memory
 */
char *json_print(const cJSON *obj);

#endif
