/* SPDX-License-Identifier: Apache-2.0 */
/* A sample's metrics as one compact JSON text, the way SQLite stores them (schema version 4):
 * [["temperature",21.5,"C"],["humidity",40.2]] (the unit left out when empty). */
#ifndef INGEST_SAMPLE_JSON_H
#define INGEST_SAMPLE_JSON_H
#include <stddef.h>

#include "iot.pb-c.h"
#include "iot/err.h"

/** A growable text buffer, reused from sample to sample (no allocation once it is big enough). */
struct sample_json {
    char *buf;
    size_t len, cap;
};

/**
 * @brief Encode @p smp's metrics into @p out (NUL-terminated, length in out->len). Values print
 * with the fewest digits that read back to the same double; a non-finite value becomes null.
 * Names and units are escaped as JSON strings.
 * @return IOT_OK, IOT_ERR_NOMEM
 */
enum iot_err sample_json_encode(struct sample_json *out, const Iot__V1__Sample *smp);

/** @brief Free the buffer. */
void sample_json_free(struct sample_json *out);

#endif
