/* SPDX-License-Identifier: Apache-2.0 */
/* What a committed ingest batch did, routed onwards: device results and presence to the commands
 * (which run queued commands when a device comes online), and telemetry, presence and reported
 * state to the event stream as JSON, built only when someone listens. Worker thread. */
#define IOT_LOG_TAG "cloud.events"
#include "api.h"
#include "commands.h"
#include "ingest_internal.h"

#define EVENT_SAMPLES_MAX 20 /* latest samples of a batch shown in a telemetry event */

static void telemetry_event(struct api *api, const struct ingest_event *e)
{
    const Iot__V1__TelemetryBatch *b = e->telemetry;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddStringToObject(o, "device_id", e->device_id);
    json_add_u64_str(o, "epoch", b->epoch);
    cJSON_AddNumberToObject(o, "n_samples", (double)b->n_samples);
    cJSON_AddNumberToObject(o, "stored", e->stored);
    cJSON *arr = cJSON_AddArrayToObject(o, "samples");
    size_t first = b->n_samples > EVENT_SAMPLES_MAX ? b->n_samples - EVENT_SAMPLES_MAX : 0;
    for (size_t i = first; arr && i < b->n_samples; i++) {
        const Iot__V1__Sample *smp = b->samples[i];
        cJSON *it = cJSON_CreateObject();
        if (!it)
            break;
        cJSON_AddNumberToObject(it, "seq", (double)smp->seq);
        cJSON_AddNumberToObject(it, "time_ms", (double)smp->time_ms);
        cJSON *m = cJSON_AddObjectToObject(it, "metrics");
        for (size_t j = 0; m && j < smp->n_metrics; j++)
            cJSON_AddNumberToObject(m, smp->metrics[j]->name, smp->metrics[j]->value);
        cJSON_AddItemToArray(arr, it);
    }
    api_event(api, "telemetry", e->device_id, o);
}

static void presence_event(struct api *api, const struct ingest_event *e)
{
    const Iot__V1__Presence *p = e->presence;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddStringToObject(o, "device_id", e->device_id);
    cJSON_AddStringToObject(o, "presence",
                            p->state == IOT__V1__PRESENCE__STATE__ONLINE ? "online" : "offline");
    cJSON_AddNumberToObject(o, "reason", p->reason);
    json_add_u64_str(o, "connection", p->connection);
    cJSON_AddStringToObject(o, "agent_version", p->agent_version ? p->agent_version : "");
    api_event(api, "presence", e->device_id, o);
}

static void reported_event(struct api *api, const struct ingest_event *e)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddStringToObject(o, "device_id", e->device_id);
    cJSON_AddNumberToObject(o, "version", (double)e->reported->version);
    cJSON *set = cJSON_AddObjectToObject(o, "settings");
    if (set)
        JSON_ADD_PB_MAP(set, e->reported->settings, e->reported->n_settings);
    api_event(api, "state", e->device_id, o);
}

void ingest__route_events(struct commands *commands, struct api *api,
                          const struct ingest_event *ev, size_t n)
{
    bool sse = api && api_events_wanted(api);
    for (size_t i = 0; i < n; i++) {
        const struct ingest_event *e = &ev[i];
        switch (e->kind) {
        case IOT_TOPIC_RESPONSES:
            if (commands)
                commands_on_result(commands, e->result);
            break;
        case IOT_TOPIC_STATUS:
            if (e->applied && commands)
                commands_on_presence(commands, e->device_id,
                                     e->presence->state == IOT__V1__PRESENCE__STATE__ONLINE);
            if (e->applied && sse)
                presence_event(api, e);
            break;
        case IOT_TOPIC_TELEMETRY:
            if (sse)
                telemetry_event(api, e);
            break;
        case IOT_TOPIC_REPORTED:
            if (sse)
                reported_event(api, e);
            break;
        default: break;
        }
    }
}
