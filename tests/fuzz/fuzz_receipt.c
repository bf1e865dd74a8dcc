/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the device's handling of the cloud's Receipts (device/src/receipts.c:
 * agent_receipts_apply) against a memory store holding seqs 1..200, half of them in flight.
 * Invariants: only seqs a Receipt names leave the store; a refused receipt removes nothing. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "receipts.h"
#include "store.h"

#define EPOCH 0x1122334455667788ull
#define N_RECS 200u

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return fuzz_init(argc, argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct agent_store st;
    if (agent_store_mem_create(1000, &st) != IOT_OK)
        abort();
    uint8_t rec[16] = {1};
    for (uint64_t s = 1; s <= N_RECS; s++)
        if (agent_store_append(&st, s, rec, sizeof rec) != IOT_OK)
            abort();
    for (uint64_t s = 1; s <= N_RECS / 2; s++)
        agent_store_mark_inflight(&st, s);
    struct agent_receipts r;
    agent_receipts_init(&r, 10000);
    agent_receipts_on_sent(&r, 1000);
    struct agent_store_stats before, after;
    agent_store_stats(&st, &before);
    enum iot_err rc = agent_receipts_apply(&r, &st, "fz-1", EPOCH, data, size, 2000);
    agent_store_stats(&st, &after);
    if (rc != IOT_OK && after.count != before.count)
        abort(); /* refused or ignored, yet samples were removed */
    if (after.count > before.count || (rc == IOT_OK && before.count - after.count != r.acked))
        abort();
    uint64_t next_ms;
    (void)agent_receipts_poll(&r, &st, 50000, &next_ms);
    agent_store_destroy(&st);
    return 0;
}
