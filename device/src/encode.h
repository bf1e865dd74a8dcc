/* SPDX-License-Identifier: Apache-2.0 */
/* Protobuf encoding of what the agent sends: Sample (stored as is), TelemetryBatch (built by
 * appending stored samples to an encoded header), Presence. */
#ifndef AGENT_ENCODE_H
#define AGENT_ENCODE_H
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"
#include "sensors.h"
#include "store.h"

/** Largest encoded sample we store. */
#define AGENT_SAMPLE_MAX 8192

/** @brief Encode an iot.v1.Sample. @return IOT_OK, IOT_ERR_FULL (does not fit @p cap) */
enum iot_err agent_encode_sample(uint64_t seq, int64_t time_ms, const struct agent_metrics *m,
                                 uint8_t *buf, size_t cap, size_t *len);

/** @brief Encode a TelemetryBatch without samples (device id, epoch, dropped ranges).
 *  @return IOT_OK, IOT_ERR_FULL */
enum iot_err agent_encode_batch_header(const char *device_id, uint64_t epoch,
                                       const struct agent_seq_range *dropped, size_t n_dropped,
                                       uint8_t *buf, size_t cap, size_t *len);

/** @brief Append one encoded Sample as field 3 (samples) of the batch in @p buf.
 *  @return IOT_OK, IOT_ERR_FULL (nothing appended) */
enum iot_err agent_encode_batch_add(uint8_t *buf, size_t cap, size_t *len, const uint8_t *sample,
                                    size_t sample_len);

enum agent_presence_kind {
    AGENT_PRESENCE_BIRTH,    /**< ONLINE, CONNECTED */
    AGENT_PRESENCE_WILL,     /**< OFFLINE, LOST_CONNECTION (the LWT) */
    AGENT_PRESENCE_SHUTDOWN  /**< OFFLINE, CLEAN_SHUTDOWN */
};

/** @brief Encode an iot.v1.Presence. @return IOT_OK, IOT_ERR_FULL */
enum iot_err agent_encode_presence(enum agent_presence_kind kind, const char *device_id,
                                   uint64_t connection, int64_t boot_time_ms, int64_t time_ms,
                                   uint8_t *buf, size_t cap, size_t *len);

#endif
