/* SPDX-License-Identifier: Apache-2.0 */
/* Builders of protobuf messages for the cloud unit tests (stack-owned, no allocation). */
#ifndef CLOUD_TEST_FIXTURES_H
#define CLOUD_TEST_FIXTURES_H
#include <stddef.h>
#include <stdint.h>

#include "iot.pb-c.h"

#define FX_SAMPLES 8
#define FX_METRICS 2
#define FX_NOW_MS 1700000000000LL /* a fixed "receive time" */

struct fx_batch {
    Iot__V1__TelemetryBatch b;
    Iot__V1__Sample s[FX_SAMPLES];
    Iot__V1__Sample *sp[FX_SAMPLES];
    Iot__V1__Metric m[FX_SAMPLES][FX_METRICS];
    Iot__V1__Metric *mp[FX_SAMPLES][FX_METRICS];
    Iot__V1__SeqRange r;
    Iot__V1__SeqRange *rp[1];
};

/** A valid batch: @p n samples seq first.., 2 metrics each (temperature C, humidity %). */
void fx_batch_init(struct fx_batch *f, const char *id, uint64_t epoch, uint64_t first, size_t n);

/** Add one dropped range [first, last]. */
void fx_batch_dropped(struct fx_batch *f, uint64_t first, uint64_t last);

void fx_presence_init(Iot__V1__Presence *p, const char *id, int online, uint64_t connection);

/** Encode into a malloc'd buffer (free with free()). */
uint8_t *fx_pack_batch(const Iot__V1__TelemetryBatch *b, size_t *len);
uint8_t *fx_pack_presence(const Iot__V1__Presence *p, size_t *len);

#endif
