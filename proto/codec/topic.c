/* SPDX-License-Identifier: Apache-2.0 */
#include "iot/topic.h"

#include <stdio.h>
#include <string.h>

static const char *const suffixes[IOT_TOPIC_KIND_COUNT] = {
    [IOT_TOPIC_TELEMETRY] = "telemetry", [IOT_TOPIC_STATUS] = "status",
    [IOT_TOPIC_COMMANDS] = "commands",   [IOT_TOPIC_RESPONSES] = "responses",
    [IOT_TOPIC_RECEIPTS] = "receipts",   [IOT_TOPIC_DESIRED] = "state/desired",
    [IOT_TOPIC_REPORTED] = "state/reported",
};

static bool id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

bool iot_device_id_valid(const char *id)
{
    if (!id)
        return false;
    size_t n = 0;
    for (; id[n]; n++) {
        if (n >= IOT_DEVICE_ID_MAX || !id_char(id[n]))
            return false;
    }
    return n > 0;
}

const char *iot_topic_suffix(enum iot_topic_kind kind)
{
    return (unsigned)kind < IOT_TOPIC_KIND_COUNT ? suffixes[kind] : NULL;
}

enum iot_err iot_topic_format(char *buf, size_t cap, enum iot_topic_kind kind, const char *id)
{
    const char *sfx = iot_topic_suffix(kind);
    if (!buf || !sfx || !iot_device_id_valid(id))
        return IOT_ERR_INVAL;
    int n = snprintf(buf, cap, "devices/%s/%s", id, sfx);
    return n > 0 && (size_t)n < cap ? IOT_OK : IOT_ERR_INVAL;
}

enum iot_err iot_topic_parse(const char *topic, char id[IOT_DEVICE_ID_MAX + 1],
                             enum iot_topic_kind *kind)
{
    static const char prefix[] = "devices/";
    if (!topic || strncmp(topic, prefix, sizeof prefix - 1) != 0)
        return IOT_ERR_MALFORMED;
    const char *p = topic + sizeof prefix - 1;
    const char *slash = strchr(p, '/');
    if (!slash || slash == p || (size_t)(slash - p) > IOT_DEVICE_ID_MAX)
        return IOT_ERR_MALFORMED;
    for (const char *q = p; q < slash; q++) {
        if (!id_char(*q))
            return IOT_ERR_MALFORMED;
    }
    for (int k = 0; k < IOT_TOPIC_KIND_COUNT; k++) {
        if (strcmp(slash + 1, suffixes[k]) == 0) {
            memcpy(id, p, (size_t)(slash - p));
            id[slash - p] = 0;
            *kind = (enum iot_topic_kind)k;
            return IOT_OK;
        }
    }
    return IOT_ERR_MALFORMED;
}
