/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the cloud's decoding and validation of every device-to-cloud message
 * (cloud/src/validate.c: ingest_message_decode on telemetry, status, responses, state/reported).
 * The input is a payload; it is offered on each of the four topics. Invariant checked: a message is
 * either accepted (and then every field the ingest path reads is present and in range) or rejected
 * with a named reason and a detail, never both, never a crash or a leak. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "validate.h"

#define RECEIVED_MS 1700000000000LL

static const char *const topics[] = {
    "devices/fz-1/telemetry",
    "devices/fz-1/status",
    "devices/fz-1/responses",
    "devices/fz-1/state/reported",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return fuzz_init(argc, argv);
}

static void check_accepted(const struct ingest_decoded *d)
{
    if (strcmp(d->device_id, "fz-1") != 0)
        abort();
    if (d->telemetry) {
        const Iot__V1__TelemetryBatch *b = d->telemetry;
        if (b->epoch == 0 || b->n_samples == 0 || b->n_samples > INGEST_MAX_SAMPLES)
            abort();
        for (size_t i = 0; i < b->n_samples; i++) {
            const Iot__V1__Sample *s = b->samples[i];
            if (s->seq == 0 || s->time_ms < INGEST_MIN_TIME_MS)
                abort();
            for (size_t j = 0; j < s->n_metrics; j++)
                if (!isfinite(s->metrics[j]->value) || strlen(s->metrics[j]->name) == 0)
                    abort();
        }
        for (size_t i = 0; i < b->n_dropped; i++)
            if (b->dropped[i]->first == 0 || b->dropped[i]->first > b->dropped[i]->last)
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t t = 0; t < sizeof topics / sizeof topics[0]; t++) {
        struct ingest_decoded d;
        struct ingest_reject rej;
        memset(&rej, 0, sizeof rej);
        enum iot_err rc = ingest_message_decode(topics[t], data, size, RECEIVED_MS, &d, &rej);
        if (rc == IOT_OK) {
            check_accepted(&d);
            ingest_decoded_free(&d);
        } else if (rc == IOT_ERR_MALFORMED) {
            /* Rejected: a reason with a name, and nothing left allocated. */
            if ((unsigned)rej.reason >= INGEST_REASON_COUNT || !rej.detail[0] ||
                d.telemetry || d.presence || d.result || d.reported)
                abort();
            (void)ingest_reason_name(rej.reason);
        } else {
            abort();
        }
    }
    return 0;
}
