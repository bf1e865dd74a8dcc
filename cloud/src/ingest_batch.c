/* SPDX-License-Identifier: Apache-2.0 */
/* One batch of received messages in one storage transaction: decode and validate, store or put
 * aside as dead letters, then (only after the commit) report what became durable to the receipts
 * hook and what happened to the events hook. No allocation per message beyond the decoder's. */
#define IOT_LOG_TAG "cloud.ingest"
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_internal.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "validate.h"

#define DEAD_LETTER_PAYLOAD_MAX 4096 /* bytes of an oversize payload kept for inspection */
#define DEAD_LETTER_LOGS_PER_BATCH 5

/* ---- messages and batches (shared with unit tests through ingest_internal.h) ---- */

struct ingest_msg *ingest__msg_new(const char *topic, const void *payload, size_t len,
                                   int64_t received_ms)
{
    size_t keep = len > IOT_MAX_PAYLOAD ? IOT_MAX_PAYLOAD + 1 : len;
    size_t tlen = strlen(topic);
    struct ingest_msg *msg = iot_malloc(sizeof *msg + keep + tlen + 1);
    if (!msg)
        return NULL;
    msg->received_ms = received_ms;
    msg->wire_len = len;
    msg->len = keep;
    if (keep)
        memcpy(msg->payload, payload, keep);
    msg->topic = (char *)msg->payload + keep;
    memcpy(msg->topic, topic, tlen + 1);
    static const char suffix[] = "/telemetry";
    msg->telemetry = tlen >= sizeof suffix - 1 &&
                     memcmp(topic + tlen - (sizeof suffix - 1), suffix, sizeof suffix - 1) == 0;
    return msg;
}

struct batch_delta {
    uint64_t telemetry, presence, stored, duplicate, dead, applied, stale, reported, results;
    uint64_t dead_by[INGEST_REASON_COUNT];
    unsigned dead_logged;
};

/* Durable ranges per telemetry message, gathered only when a commit hook is set. All ranges of a
 * batch share one array (items hold offsets), so a message costs no allocation. */
struct receipt_item {
    char device_id[IOT_DEVICE_ID_MAX + 1];
    uint64_t epoch;
    size_t first_range, n_ranges;
};

struct receipt_buf {
    struct receipt_item *items;
    size_t n, cap;
    struct ingest_seq_range *ranges;
    size_t n_ranges, ranges_cap;
    uint64_t *seqs; /* scratch for unsorted batches */
    size_t seqs_cap;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *np = iot_realloc(*p, c * elem);
    if (!np)
        return false;
    *p = np;
    *cap = c;
    return true;
}

static void add_seq(struct receipt_buf *rb, size_t first, uint64_t seq)
{
    struct ingest_seq_range *last = rb->n_ranges > first ? &rb->ranges[rb->n_ranges - 1] : NULL;
    if (last && (seq == last->last || seq == last->last + 1))
        last->last = seq;
    else
        rb->ranges[rb->n_ranges++] = (struct ingest_seq_range){seq, seq};
}

static enum iot_err receipt_add(struct receipt_buf *rb, const Iot__V1__TelemetryBatch *b)
{
    size_t ns = b->n_samples;
    if (!grow((void **)&rb->items, &rb->cap, rb->n + 1, sizeof *rb->items) ||
        !grow((void **)&rb->ranges, &rb->ranges_cap, rb->n_ranges + ns, sizeof *rb->ranges))
        return IOT_ERR_NOMEM;
    bool sorted = true;
    for (size_t i = 1; i < ns && sorted; i++)
        sorted = b->samples[i - 1]->seq < b->samples[i]->seq;
    size_t first = rb->n_ranges;
    if (sorted) {
        for (size_t i = 0; i < ns; i++)
            add_seq(rb, first, b->samples[i]->seq);
    } else {
        if (!grow((void **)&rb->seqs, &rb->seqs_cap, ns, sizeof *rb->seqs))
            return IOT_ERR_NOMEM;
        for (size_t i = 0; i < ns; i++)
            rb->seqs[i] = b->samples[i]->seq;
        qsort(rb->seqs, ns, sizeof *rb->seqs, cmp_u64);
        for (size_t i = 0; i < ns; i++)
            add_seq(rb, first, rb->seqs[i]);
    }
    struct receipt_item *it = &rb->items[rb->n++];
    size_t idn = strnlen(b->device_id, IOT_DEVICE_ID_MAX); /* validated: at most that long */
    memcpy(it->device_id, b->device_id, idn);
    it->device_id[idn] = '\0';
    it->epoch = b->epoch;
    it->first_range = first;
    it->n_ranges = rb->n_ranges - first;
    return IOT_OK;
}

static void receipt_buf_free(struct receipt_buf *rb)
{
    iot_free(rb->items);
    iot_free(rb->ranges);
    iot_free(rb->seqs);
    memset(rb, 0, sizeof *rb);
}

static void call_hook(const struct receipt_buf *rb, ingest_commit_fn hook, void *ctx)
{
    if (!rb->n)
        return;
    struct ingest_receipt *r = iot_malloc(rb->n * sizeof *r);
    if (!r) {
        IOT_LOG(IOT_LOG_WARN, "commit hook skipped: out of memory");
        return;
    }
    for (size_t i = 0; i < rb->n; i++)
        r[i] = (struct ingest_receipt){rb->items[i].device_id, rb->items[i].epoch,
                                       rb->ranges + rb->items[i].first_range,
                                       rb->items[i].n_ranges};
    hook(ctx, r, rb->n);
    iot_free(r);
}

static enum iot_err put_dead_letter(struct ingest_store *store, const struct ingest_msg *msg,
                                    struct ingest_reject *rej, struct batch_delta *d)
{
    if (rej->reason == INGEST_REASON_OVERSIZE)
        snprintf(rej->detail, sizeof rej->detail, "payload %zu bytes > %u (first %u bytes kept)",
                 msg->wire_len, IOT_MAX_PAYLOAD, DEAD_LETTER_PAYLOAD_MAX);
    const char *reason = ingest_reason_name(rej->reason);
    struct ingest_dead_letter dl = {
        .received_ms = msg->received_ms,
        .topic = msg->topic,
        .reason = reason,
        .detail = rej->detail,
        .payload = msg->payload,
        .len = msg->len > IOT_MAX_PAYLOAD ? DEAD_LETTER_PAYLOAD_MAX : msg->len,
    };
    if (d->dead_logged++ < DEAD_LETTER_LOGS_PER_BATCH)
        IOT_LOG(IOT_LOG_WARN, "dead letter from %.100s: %s: %s", msg->topic, reason, rej->detail);
    d->dead++;
    d->dead_by[rej->reason]++;
    return ingest_store_put_dead_letter(store, &dl);
}

/* Decoded messages of a batch kept until after the commit, for the events hook. */
struct ev_buf {
    struct ingest_decoded *dec;
    struct ingest_event *ev;
    size_t *msg; /* index of each event's message in the batch */
    size_t n, cap;
};

static struct ingest_event *ev_slot(struct ev_buf *eb, struct ingest_decoded *dec, size_t msg)
{
    if (eb->n == eb->cap) {
        size_t cap = eb->cap ? eb->cap * 2 : 32;
        struct ingest_decoded *d = iot_realloc(eb->dec, cap * sizeof *d);
        if (!d)
            return NULL;
        eb->dec = d;
        struct ingest_event *e = iot_realloc(eb->ev, cap * sizeof *e);
        if (!e)
            return NULL;
        eb->ev = e;
        size_t *m = iot_realloc(eb->msg, cap * sizeof *m);
        if (!m)
            return NULL;
        eb->msg = m;
        eb->cap = cap;
    }
    eb->dec[eb->n] = *dec; /* takes over the decoded message */
    memset(dec, 0, sizeof *dec);
    eb->msg[eb->n] = msg;
    struct ingest_event *e = &eb->ev[eb->n];
    const struct ingest_decoded *d = &eb->dec[eb->n];
    eb->n++;
    memset(e, 0, sizeof *e);
    e->kind = d->kind;
    e->telemetry = d->telemetry;
    e->presence = d->presence;
    e->result = d->result;
    e->reported = d->reported;
    return e;
}

static void ev_buf_free(struct ev_buf *eb)
{
    for (size_t i = 0; i < eb->n; i++)
        ingest_decoded_free(&eb->dec[i]);
    iot_free(eb->dec);
    iot_free(eb->ev);
    iot_free(eb->msg);
    memset(eb, 0, sizeof *eb);
}

/* @p tres: this message's telemetry outcome, filled by the commit at the latest (store.h). */
static enum iot_err handle_one(struct ingest_store *store, struct iot_pb_arena *arena,
                               const struct ingest_msg *msg, size_t index, struct ingest_telemetry_result *tres,
                               struct batch_delta *d, struct receipt_buf *rb, struct ev_buf *eb)
{
    struct ingest_decoded dec;
    struct ingest_reject rej;
    enum iot_err rc = ingest_message_decode_in(arena, msg->topic, msg->payload, msg->len,
                                               msg->received_ms, &dec, &rej);
    if (rc == IOT_ERR_MALFORMED)
        return put_dead_letter(store, msg, &rej, d);
    if (rc != IOT_OK)
        return rc;
    bool applied = false;
    if (dec.telemetry) {
        rc = ingest_store_put_telemetry(store, dec.telemetry, msg->received_ms, tres);
        if (rc == IOT_OK) {
            d->telemetry++;
            if (rb)
                rc = receipt_add(rb, dec.telemetry);
        }
    } else if (dec.presence) {
        enum ingest_presence_result r;
        rc = ingest_store_put_presence(store, dec.presence, msg->received_ms, &r);
        if (rc == IOT_OK) {
            d->presence++;
            if (r == INGEST_PRESENCE_APPLIED) {
                d->applied++;
                applied = true;
                IOT_LOG(IOT_LOG_INFO, "device %s is %s (connection %llu)", dec.device_id,
                        dec.presence->state == IOT__V1__PRESENCE__STATE__ONLINE ? "online"
                                                                               : "offline",
                        (unsigned long long)dec.presence->connection);
            } else {
                d->stale++;
                IOT_LOG(IOT_LOG_DEBUG, "device %s: stale presence (connection %llu) ignored",
                        dec.device_id, (unsigned long long)dec.presence->connection);
            }
        }
    } else if (dec.reported) {
        rc = ingest_store_put_reported(store, dec.reported, msg->received_ms);
        if (rc == IOT_OK)
            d->reported++;
    } else if (dec.result) {
        d->results++; /* applied by the commands module after the commit (events hook) */
    }
    if (rc == IOT_OK && eb) {
        struct ingest_event *e = ev_slot(eb, &dec, index);
        if (!e)
            rc = IOT_ERR_NOMEM;
        else
            e->applied = applied;
    }
    ingest_decoded_free(&dec);
    return rc;
}

static void apply_delta(struct ingest_metrics *m, const struct batch_delta *d)
{
    atomic_fetch_add(&m->telemetry_messages, d->telemetry);
    atomic_fetch_add(&m->presence_messages, d->presence);
    atomic_fetch_add(&m->samples_stored, d->stored);
    atomic_fetch_add(&m->samples_duplicate, d->duplicate);
    atomic_fetch_add(&m->dead_letters, d->dead);
    for (int i = 0; i < INGEST_REASON_COUNT; i++)
        atomic_fetch_add(&m->dead_letters_by_reason[i], d->dead_by[i]);
    atomic_fetch_add(&m->presence_applied, d->applied);
    atomic_fetch_add(&m->presence_stale, d->stale);
    atomic_fetch_add(&m->reported_states, d->reported);
    atomic_fetch_add(&m->command_results, d->results);
    atomic_fetch_add(&m->batches_committed, 1);
}

enum iot_err ingest__process_batch(struct ingest_store *store, struct ingest_metrics *m,
                                   struct ingest_msg *const *msgs, size_t n, ingest_commit_fn hook,
                                   void *hook_ctx)
{
    return ingest__process_batch_ev(store, m, msgs, n, hook, hook_ctx, NULL, NULL);
}

enum iot_err ingest__process_batch_ev(struct ingest_store *store, struct ingest_metrics *m,
                                      struct ingest_msg *const *msgs, size_t n,
                                      ingest_commit_fn hook, void *hook_ctx,
                                      ingest_events_fn ev_fn, void *ev_ctx)
{
    if (!store || !m || (!msgs && n))
        return IOT_ERR_INVAL;
    struct batch_delta d;
    memset(&d, 0, sizeof d);
    struct receipt_buf rb = {0};
    struct ev_buf eb = {0};
    struct iot_pb_arena arena; /* the batch's decoded messages, kept until after its events */
    iot_pb_arena_init(&arena);
    struct ingest_telemetry_result *tres = iot_calloc(n ? n : 1, sizeof *tres);
    if (!tres)
        return IOT_ERR_NOMEM;
    enum iot_err rc = ingest_store_begin(store);
    if (rc != IOT_OK) {
        iot_free(tres);
        return rc;
    }
    for (size_t i = 0; i < n && rc == IOT_OK; i++)
        rc = handle_one(store, &arena, msgs[i], i, &tres[i], &d, hook ? &rb : NULL, ev_fn ? &eb : NULL);
    if (rc == IOT_OK)
        rc = ingest_store_commit(store);
    else
        ingest_store_rollback(store);
    if (rc == IOT_OK) {
        for (size_t i = 0; i < n; i++) {
            d.stored += tres[i].stored;
            d.duplicate += tres[i].duplicate;
        }
        for (size_t i = 0; i < eb.n; i++)
            eb.ev[i].stored = tres[eb.msg[i]].stored;
        apply_delta(m, &d);
        if (d.dead > DEAD_LETTER_LOGS_PER_BATCH)
            IOT_LOG(IOT_LOG_WARN, "%llu dead letters in this batch (%u logged)",
                    (unsigned long long)d.dead, DEAD_LETTER_LOGS_PER_BATCH);
        IOT_LOG(IOT_LOG_DEBUG, "batch of %zu committed: stored %llu samples, %llu duplicate, %llu dead",
                n, (unsigned long long)d.stored, (unsigned long long)d.duplicate,
                (unsigned long long)d.dead);
        if (hook)
            call_hook(&rb, hook, hook_ctx);
        if (ev_fn && eb.n) {
            for (size_t i = 0; i < eb.n; i++) /* eb.dec may have moved while growing */
                eb.ev[i].device_id = eb.dec[i].device_id;
            ev_fn(ev_ctx, eb.ev, eb.n);
        }
    }
    receipt_buf_free(&rb);
    ev_buf_free(&eb);
    iot_pb_arena_release(&arena);
    iot_free(tres);
    return rc;
}

