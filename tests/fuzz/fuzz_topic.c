/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: MQTT topic parsing (proto/: iot_topic_parse, iot_device_id_valid). The input is a
 * topic string. Invariant checked: whatever parses formats back to the same topic. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "iot/topic.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return fuzz_init(argc, argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *topic = malloc(size + 1);
    if (!topic)
        return 0;
    memcpy(topic, data, size);
    topic[size] = 0;
    char id[IOT_DEVICE_ID_MAX + 1];
    enum iot_topic_kind kind;
    if (iot_topic_parse(topic, id, &kind) == IOT_OK) {
        char again[IOT_TOPIC_MAX];
        if ((unsigned)kind >= IOT_TOPIC_KIND_COUNT || !iot_device_id_valid(id) ||
            iot_topic_format(again, sizeof again, kind, id) != IOT_OK || strcmp(again, topic) != 0)
            abort();
    }
    (void)iot_device_id_valid(topic);
    free(topic);
    return 0;
}
