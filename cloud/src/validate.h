/* SPDX-License-Identifier: Apache-2.0 */
/* Decoding and validation of incoming messages: pure functions (no I/O, time passed in), so every
 * rejection reason is unit-tested. Decoding is not validation (protobuf-c accepts much garbage). */
#ifndef INGEST_VALIDATE_H
#define INGEST_VALIDATE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iot/codec.h"
#include "iot/err.h"
#include "iot/topic.h"

#define INGEST_MAX_SAMPLES 1000    /**< samples per TelemetryBatch */
#define INGEST_MAX_METRICS 256     /**< metrics per sample */
#define INGEST_MAX_DROPPED 256     /**< dropped ranges per batch */
#define INGEST_METRIC_NAME_MAX 64
#define INGEST_UNIT_MAX 32
#define INGEST_MIN_TIME_MS 946684800000LL /**< 2000-01-01T00:00:00Z */
#define INGEST_MAX_FUTURE_MS 86400000LL   /**< a sample may be at most 1 day ahead of receive time */

/** Why a message was put aside. The names are machine-readable (metrics labels, dead_letters.reason). */
enum ingest_reason {
    INGEST_REASON_UNKNOWN_TOPIC,
    INGEST_REASON_OVERSIZE,
    INGEST_REASON_DECODE_FAILED,
    INGEST_REASON_ID_MISMATCH,
    INGEST_REASON_BAD_EPOCH,
    INGEST_REASON_NO_SAMPLES,
    INGEST_REASON_TOO_MANY_SAMPLES,
    INGEST_REASON_BAD_SEQ,
    INGEST_REASON_BAD_TIME,
    INGEST_REASON_TOO_MANY_METRICS,
    INGEST_REASON_BAD_METRIC_NAME,
    INGEST_REASON_BAD_UNIT,
    INGEST_REASON_NON_FINITE_VALUE,
    INGEST_REASON_BAD_DROPPED_RANGE,
    INGEST_REASON_BAD_PRESENCE,
    INGEST_REASON_BAD_RESULT,   /**< CommandResult without command id, bad status or sizes */
    INGEST_REASON_BAD_REPORTED, /**< ReportedState with bad settings */
    INGEST_REASON_COUNT
};

/** @brief Static machine-readable name, e.g. "bad_seq" (never NULL). */
const char *ingest_reason_name(enum ingest_reason r);

struct ingest_reject {
    enum ingest_reason reason;
    char detail[160]; /**< for humans: which field, which value */
};

#define INGEST_MAX_OUTPUTS 64          /**< CommandResult outputs / ReportedState settings */
#define INGEST_MAX_OUTPUT_VALUE 16384  /**< bytes of one output value */
#define INGEST_MAX_SETTING_VALUE 1024  /**< bytes of one reported setting */
#define INGEST_MAX_RESULT_MESSAGE 1024 /**< bytes of CommandResult.message */

/** A decoded, validated message. Exactly one of telemetry / presence / result / reported is set. */
struct ingest_decoded {
    enum iot_topic_kind kind;
    char device_id[IOT_DEVICE_ID_MAX + 1];
    Iot__V1__TelemetryBatch *telemetry;
    Iot__V1__Presence *presence;
    Iot__V1__CommandResult *result;     /**< devices/{id}/responses */
    Iot__V1__ReportedState *reported;   /**< devices/{id}/state/reported */
    bool in_arena; /**< decoded into an arena: ingest_decoded_free() only forgets it */
};

/**
 * @brief Parse the topic, bound the size, decode (iot_pb_allocator) and validate one message.
 * @param[in] received_ms wall-clock receive time (for the future bound of sample times)
 * @param[out] out set on IOT_OK; release with ingest_decoded_free()
 * @param[out] rej set on IOT_ERR_MALFORMED
 * @return IOT_OK, IOT_ERR_MALFORMED (rejected; see @p rej), IOT_ERR_INVAL (NULL argument)
 * @note IOT_ERR_MALFORMED also covers an allocation failure while decoding ("decode_failed").
 */
enum iot_err ingest_message_decode(const char *topic, const uint8_t *payload, size_t len,
                                   int64_t received_ms, struct ingest_decoded *out,
                                   struct ingest_reject *rej);

/**
 * @brief ingest_message_decode() into @p arena (NULL: the heap). What it decodes lives until the
 * arena is reset; ingest_decoded_free() then only clears @p out.
 */
enum iot_err ingest_message_decode_in(struct iot_pb_arena *arena, const char *topic,
                                      const uint8_t *payload, size_t len, int64_t received_ms,
                                      struct ingest_decoded *out, struct ingest_reject *rej);

/** @brief Free what ingest_message_decode() allocated (safe on a zeroed struct). */
void ingest_decoded_free(struct ingest_decoded *d);

/**
 * @brief Validate a decoded TelemetryBatch against the topic's device id.
 * @return IOT_OK, IOT_ERR_MALFORMED (@p rej says why)
 */
enum iot_err ingest_validate_telemetry(const Iot__V1__TelemetryBatch *b, const char *topic_id,
                                       int64_t received_ms, struct ingest_reject *rej);

/**
 * @brief Validate a decoded Presence against the topic's device id.
 * @return IOT_OK, IOT_ERR_MALFORMED (@p rej says why)
 */
enum iot_err ingest_validate_presence(const Iot__V1__Presence *p, const char *topic_id,
                                      struct ingest_reject *rej);

/**
 * @brief Validate a decoded CommandResult against the topic's device id.
 * @return IOT_OK, IOT_ERR_MALFORMED (@p rej says why)
 */
enum iot_err ingest_validate_result(const Iot__V1__CommandResult *r, const char *topic_id,
                                    struct ingest_reject *rej);

/**
 * @brief Validate a decoded ReportedState against the topic's device id.
 * @return IOT_OK, IOT_ERR_MALFORMED (@p rej says why)
 */
enum iot_err ingest_validate_reported(const Iot__V1__ReportedState *r, const char *topic_id,
                                      struct ingest_reject *rej);

#endif
