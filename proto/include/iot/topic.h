/* SPDX-License-Identifier: Apache-2.0 */
/* The MQTT topic contract of DESIGN.md: device ids and devices/{id}/{kind} topics. */
#ifndef IOT_TOPIC_H
#define IOT_TOPIC_H
#include <stdbool.h>
#include <stddef.h>
#include "iot/err.h"

#define IOT_DEVICE_ID_MAX 64
/** Longest topic we build: "devices/" + id + "/state/reported" + NUL. */
#define IOT_TOPIC_MAX 96

enum iot_topic_kind {
    IOT_TOPIC_TELEMETRY,
    IOT_TOPIC_STATUS,
    IOT_TOPIC_COMMANDS,
    IOT_TOPIC_RESPONSES,
    IOT_TOPIC_RECEIPTS,
    IOT_TOPIC_DESIRED,
    IOT_TOPIC_REPORTED,
    IOT_TOPIC_KIND_COUNT
};

/** @brief True when @p id matches [A-Za-z0-9_-]{1,64}. */
bool iot_device_id_valid(const char *id);

/** @brief The suffix after "devices/{id}/" for @p kind, e.g. "state/desired". */
const char *iot_topic_suffix(enum iot_topic_kind kind);

/** @brief Build "devices/{id}/{suffix}". @return IOT_OK, IOT_ERR_INVAL (bad id or small buffer) */
enum iot_err iot_topic_format(char *buf, size_t cap, enum iot_topic_kind kind, const char *id);

/**
 * @brief Parse a topic of the contract. @p id receives the device id (cap IOT_DEVICE_ID_MAX + 1).
 * @return IOT_OK, IOT_ERR_MALFORMED (not devices/{valid id}/{known suffix})
 */
enum iot_err iot_topic_parse(const char *topic, char id[IOT_DEVICE_ID_MAX + 1],
                             enum iot_topic_kind *kind);

#endif
