/* SPDX-License-Identifier: Apache-2.0 */
/* Builders of protobuf messages for the cloud unit tests. */
#include "fixtures.h"

#include <stdlib.h>
#include <string.h>

void fx_batch_init(struct fx_batch *f, const char *id, uint64_t epoch, uint64_t first, size_t n)
{
    memset(f, 0, sizeof *f);
    iot__v1__telemetry_batch__init(&f->b);
    f->b.device_id = (char *)id;
    f->b.epoch = epoch;
    f->b.n_samples = n;
    f->b.samples = f->sp;
    for (size_t i = 0; i < n && i < FX_SAMPLES; i++) {
        iot__v1__sample__init(&f->s[i]);
        f->s[i].seq = first + i;
        f->s[i].time_ms = FX_NOW_MS - 1000 + (int64_t)i;
        for (size_t j = 0; j < FX_METRICS; j++) {
            iot__v1__metric__init(&f->m[i][j]);
            f->m[i][j].name = j == 0 ? "temperature" : "humidity";
            f->m[i][j].unit = j == 0 ? "C" : "%";
            f->m[i][j].value = 20.0 + (double)i + (double)j / 10.0;
            f->mp[i][j] = &f->m[i][j];
        }
        f->s[i].n_metrics = FX_METRICS;
        f->s[i].metrics = f->mp[i];
        f->sp[i] = &f->s[i];
    }
}

void fx_batch_dropped(struct fx_batch *f, uint64_t first, uint64_t last)
{
    iot__v1__seq_range__init(&f->r);
    f->r.first = first;
    f->r.last = last;
    f->rp[0] = &f->r;
    f->b.n_dropped = 1;
    f->b.dropped = f->rp;
}

void fx_presence_init(Iot__V1__Presence *p, const char *id, int online, uint64_t connection)
{
    iot__v1__presence__init(p);
    p->device_id = (char *)id;
    p->state = online ? IOT__V1__PRESENCE__STATE__ONLINE : IOT__V1__PRESENCE__STATE__OFFLINE;
    p->reason = online ? IOT__V1__PRESENCE__REASON__CONNECTED
                       : IOT__V1__PRESENCE__REASON__LOST_CONNECTION;
    p->agent_version = "1.2.3";
    p->boot_time_ms = FX_NOW_MS - 60000;
    p->connection = connection;
    p->time_ms = FX_NOW_MS;
}

uint8_t *fx_pack_batch(const Iot__V1__TelemetryBatch *b, size_t *len)
{
    *len = iot__v1__telemetry_batch__get_packed_size(b);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf)
        iot__v1__telemetry_batch__pack(b, buf);
    return buf;
}

uint8_t *fx_pack_presence(const Iot__V1__Presence *p, size_t *len)
{
    *len = iot__v1__presence__get_packed_size(p);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf)
        iot__v1__presence__pack(p, buf);
    return buf;
}
