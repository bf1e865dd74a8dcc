/* SPDX-License-Identifier: Apache-2.0 */
/* protobuf-c encoders for the agent. A TelemetryBatch is its header fields followed by each stored
 * Sample as a length-delimited field 3: protobuf allows fields in any order, so stored bytes are sent
 * without decoding and re-encoding them. */
#include "encode.h"

#include <string.h>

#include "agent/agent.h"
#include "iot/codec.h"

enum iot_err agent_encode_sample(uint64_t seq, int64_t time_ms, const struct agent_metrics *m,
                                 uint8_t *buf, size_t cap, size_t *len)
{
    Iot__V1__Metric metrics[AGENT_MAX_METRICS];
    Iot__V1__Metric *ptrs[AGENT_MAX_METRICS];
    Iot__V1__Sample s = IOT__V1__SAMPLE__INIT;
    s.seq = seq;
    s.time_ms = time_ms;
    for (size_t i = 0; i < m->n && i < AGENT_MAX_METRICS; i++) {
        iot__v1__metric__init(&metrics[i]);
        metrics[i].name = (char *)m->v[i].name;
        metrics[i].value = m->v[i].value;
        metrics[i].unit = (char *)(m->v[i].unit ? m->v[i].unit : "");
        ptrs[i] = &metrics[i];
    }
    s.n_metrics = m->n;
    s.metrics = ptrs;
    size_t need = iot__v1__sample__get_packed_size(&s);
    if (need > cap)
        return IOT_ERR_FULL;
    *len = iot__v1__sample__pack(&s, buf);
    return IOT_OK;
}

enum iot_err agent_encode_batch_header(const char *device_id, uint64_t epoch,
                                       const struct agent_seq_range *dropped, size_t n_dropped,
                                       uint8_t *buf, size_t cap, size_t *len)
{
    Iot__V1__SeqRange ranges[AGENT_STORE_MAX_DROPPED_RANGES];
    Iot__V1__SeqRange *ptrs[AGENT_STORE_MAX_DROPPED_RANGES];
    Iot__V1__TelemetryBatch b = IOT__V1__TELEMETRY_BATCH__INIT;
    b.device_id = (char *)device_id;
    b.epoch = epoch;
    if (n_dropped > AGENT_STORE_MAX_DROPPED_RANGES)
        n_dropped = AGENT_STORE_MAX_DROPPED_RANGES;
    for (size_t i = 0; i < n_dropped; i++) {
        iot__v1__seq_range__init(&ranges[i]);
        ranges[i].first = dropped[i].first;
        ranges[i].last = dropped[i].last;
        ptrs[i] = &ranges[i];
    }
    b.n_dropped = n_dropped;
    b.dropped = ptrs;
    if (iot__v1__telemetry_batch__get_packed_size(&b) > cap)
        return IOT_ERR_FULL;
    *len = iot__v1__telemetry_batch__pack(&b, buf);
    return IOT_OK;
}

enum iot_err agent_encode_batch_add(uint8_t *buf, size_t cap, size_t *len, const uint8_t *sample,
                                    size_t sample_len)
{
    uint8_t hdr[11];
    size_t h = 0;
    hdr[h++] = (3u << 3) | 2u; /* field 3, wire type 2 (length-delimited) */
    uint64_t v = sample_len;
    do {
        uint8_t byte = v & 0x7fu;
        v >>= 7;
        hdr[h++] = (uint8_t)(byte | (v ? 0x80u : 0u));
    } while (v);
    if (*len + h + sample_len > cap)
        return IOT_ERR_FULL;
    memcpy(buf + *len, hdr, h);
    memcpy(buf + *len + h, sample, sample_len);
    *len += h + sample_len;
    return IOT_OK;
}

enum iot_err agent_encode_presence(enum agent_presence_kind kind, const char *device_id,
                                   uint64_t connection, int64_t boot_time_ms, int64_t time_ms,
                                   uint8_t *buf, size_t cap, size_t *len)
{
    Iot__V1__Presence p = IOT__V1__PRESENCE__INIT;
    p.device_id = (char *)device_id;
    switch (kind) {
    case AGENT_PRESENCE_BIRTH:
        p.state = IOT__V1__PRESENCE__STATE__ONLINE;
        p.reason = IOT__V1__PRESENCE__REASON__CONNECTED;
        break;
    case AGENT_PRESENCE_WILL:
        p.state = IOT__V1__PRESENCE__STATE__OFFLINE;
        p.reason = IOT__V1__PRESENCE__REASON__LOST_CONNECTION;
        break;
    case AGENT_PRESENCE_SHUTDOWN:
        p.state = IOT__V1__PRESENCE__STATE__OFFLINE;
        p.reason = IOT__V1__PRESENCE__REASON__CLEAN_SHUTDOWN;
        break;
    }
    p.agent_version = (char *)AGENT_VERSION;
    p.boot_time_ms = boot_time_ms;
    p.connection = connection;
    p.time_ms = time_ms;
    if (iot__v1__presence__get_packed_size(&p) > cap)
        return IOT_ERR_FULL;
    *len = iot__v1__presence__pack(&p, buf);
    return IOT_OK;
}
