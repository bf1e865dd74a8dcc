/* SPDX-License-Identifier: Apache-2.0 */
/* Receipts: the cloud says which (epoch, seq) ranges it has durably stored; only then does the store
 * let the samples go. A PUBACK proves only that the broker has the message (see DESIGN.md). */
#define IOT_LOG_TAG "agent.receipts"
#include "receipts.h"

#include <inttypes.h>
#include <string.h>

#include "iot/codec.h"
#include "iot/log.h"

void agent_receipts_init(struct agent_receipts *r, uint32_t resend_after_ms)
{
    memset(r, 0, sizeof *r);
    r->resend_after_ms = resend_after_ms ? resend_after_ms : 10000;
    r->timeout_ms = r->resend_after_ms;
}

bool agent_receipts_backlog_open(struct agent_store *st, uint32_t inflight, uint32_t batch_max)
{
    struct agent_store_stats ss;
    agent_store_stats(st, &ss);
    return ss.inflight < (uint64_t)inflight * batch_max * AGENT_UNRECEIPTED_WINDOWS;
}

void agent_receipts_on_sent(struct agent_receipts *r, uint64_t now)
{
    if (!r->resend_at)
        r->resend_at = now + r->timeout_ms;
}

void agent_receipts_on_lost(struct agent_receipts *r) { r->resend_at = 0; }

enum iot_err agent_receipts_apply(struct agent_receipts *r, struct agent_store *st,
                                  const char *device_id, uint64_t epoch, const uint8_t *buf,
                                  size_t len, uint64_t now)
{
    Iot__V1__Receipt *m = iot__v1__receipt__unpack(iot_pb_allocator(), len, buf);
    if (!m) {
        r->malformed++;
        IOT_LOG(IOT_LOG_WARN, "receipt of %zu B does not decode: ignored", len);
        return IOT_ERR_MALFORMED;
    }
    enum iot_err rc = IOT_OK;
    if ((m->device_id && m->device_id[0] && strcmp(m->device_id, device_id) != 0) ||
        m->epoch != epoch) {
        r->ignored++;
        IOT_LOG(IOT_LOG_INFO, "receipt for %s epoch %016" PRIx64 " ignored (we are %s epoch %016"
                PRIx64 ")", m->device_id && m->device_id[0] ? m->device_id : "?", m->epoch,
                device_id, epoch);
        rc = IOT_ERR_NOT_FOUND;
        goto out;
    }
    if (m->n_ranges > AGENT_RECEIPT_MAX_RANGES) {
        r->malformed++;
        IOT_LOG(IOT_LOG_WARN, "receipt with %zu ranges (max %u): ignored", m->n_ranges,
                AGENT_RECEIPT_MAX_RANGES);
        rc = IOT_ERR_MALFORMED;
        goto out;
    }
    struct agent_store_stats before, after;
    agent_store_stats(st, &before);
    size_t bad = 0;
    for (size_t i = 0; i < m->n_ranges; i++) {
        const Iot__V1__SeqRange *sr = m->ranges[i];
        if (!sr || sr->first == 0 || sr->first > sr->last) {
            bad++;
            continue;
        }
        enum iot_err arc = agent_store_ack(st, sr->first, sr->last);
        if (arc != IOT_OK)
            rc = arc;
    }
    if (bad) {
        r->malformed++;
        IOT_LOG(IOT_LOG_WARN, "receipt: %zu bad range(s) ignored", bad);
    }
    agent_store_stats(st, &after);
    r->applied++;
    if (after.count < before.count) {
        r->acked += before.count - after.count;
        r->timeout_ms = r->resend_after_ms;
        r->resend_at = after.inflight ? now + r->timeout_ms : 0;
    }
    IOT_LOG(IOT_LOG_DEBUG, "receipt: %zu range(s), %" PRIu64 " samples released, %" PRIu64
            " waiting", m->n_ranges, before.count - after.count, after.count);
out:
    iot__v1__receipt__free_unpacked(m, iot_pb_allocator());
    return rc;
}

bool agent_receipts_poll(struct agent_receipts *r, struct agent_store *st, uint64_t now,
                         uint64_t *next_ms)
{
    *next_ms = r->resend_at ? r->resend_at : UINT64_MAX;
    if (!r->resend_at || now < r->resend_at)
        return false;
    r->resend_at = 0;
    *next_ms = UINT64_MAX;
    struct agent_store_stats ss;
    agent_store_stats(st, &ss);
    if (ss.inflight == 0)
        return false;
    r->resends++;
    IOT_LOG(IOT_LOG_WARN, "no receipt for %" PRIu64 " ms: %" PRIu64 " sent samples go again (of %"
            PRIu64 " waiting), in seq order", r->timeout_ms, ss.inflight, ss.count);
    agent_store_requeue_all(st);
    agent_store_live_mark(st);
    if (r->timeout_ms < (uint64_t)r->resend_after_ms * AGENT_RESEND_BACKOFF_MAX)
        r->timeout_ms *= 2;
    return true;
}
