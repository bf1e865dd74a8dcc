/* SPDX-License-Identifier: Apache-2.0 */
/* SSE hub (see sse.h). One lock guards the client list, every client's ring buffer and the replay
 * ring; holding it costs a memcpy per client. Exactly one party resumes a suspended client:
 * whoever clears `suspended` under the lock. A dropped client's socket is shut down at once (under
 * the lock, while MHD still owns the descriptor): a client that stopped reading is otherwise only
 * noticed by MHD's connection timeout, with megabytes parked in kernel buffers (FIELD-NOTES.md). */
#define IOT_LOG_TAG "cloud.sse"
#include "sse.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_clock.h"
#include "iot/topic.h"

struct sse_client {
    struct sse_client *next, *prev;
    struct sse_hub *hub;
    struct http_conn *conn;
    char device[IOT_DEVICE_ID_MAX + 1]; /* "" = all devices */
    char *buf;
    size_t cap, head, len; /* ring */
    bool suspended;
    bool dropped;
};

/* A recent event kept for clients that resume with Last-Event-ID. */
struct sse_event {
    uint64_t id;
    char device[IOT_DEVICE_ID_MAX + 1]; /* "" = not device-specific */
    char *msg;                          /* the whole "id: ...\n...\n\n" block */
    size_t len;
};

struct sse_hub {
    struct cloud_sse_config cfg;
    struct ingest_metrics *metrics;
    pthread_mutex_t lock;
    struct sse_client *clients;
    size_t n_clients;
    uint64_t next_id;
    uint64_t next_heartbeat_ms;
    bool stopping;
    /* Replay ring: every event with id >= first_kept_id is in it. */
    struct sse_event *ring;
    size_t ring_head, ring_len;
    uint64_t first_kept_id;
    atomic_bool recording;  /* events are built, numbered and kept */
    uint64_t last_left_ms;  /* when the last client left (monotonic) */
};

enum iot_err sse_hub_create(const struct cloud_sse_config *cfg, struct ingest_metrics *metrics,
                            struct sse_hub **out)
{
    struct sse_hub *h = iot_calloc(1, sizeof *h);
    if (!h)
        return IOT_ERR_NOMEM;
    h->cfg = *cfg;
    if (cfg->replay_events) {
        h->ring = iot_calloc(cfg->replay_events, sizeof *h->ring);
        if (!h->ring) {
            iot_free(h);
            return IOT_ERR_NOMEM;
        }
    }
    h->metrics = metrics;
    /* Ids start from the wall clock, so an id a client kept from before a restart is older than
     * anything kept now and gets a reset, never somebody else's events. */
    int64_t wall = plat_wall_ms();
    h->next_id = (wall > 0 ? (uint64_t)wall : 0) * 1000u + 1;
    h->first_kept_id = h->next_id;
    atomic_init(&h->recording, false);
    pthread_mutex_init(&h->lock, NULL);
    *out = h;
    return IOT_OK;
}

/* lock held. Forget the kept events; the id skipped marks the gap of what is not recorded. */
static void ring_clear(struct sse_hub *h)
{
    for (size_t i = 0; i < h->ring_len; i++)
        iot_free(h->ring[(h->ring_head + i) % h->cfg.replay_events].msg);
    h->ring_head = h->ring_len = 0;
    h->next_id++;
    h->first_kept_id = h->next_id;
}

void sse_hub_destroy(struct sse_hub *h)
{
    if (!h)
        return;
    if (h->clients)
        IOT_LOG(IOT_LOG_WARN, "%zu event streams still open at exit", h->n_clients);
    ring_clear(h);
    iot_free(h->ring);
    pthread_mutex_destroy(&h->lock);
    iot_free(h);
}

/* lock held */
static void wake(struct sse_client *c)
{
    if (c->suspended) {
        c->suspended = false;
        http_stream_resume(c->conn);
    }
}

/* lock held. Append or drop the client when it is a whole buffer behind. */
static void push(struct sse_hub *h, struct sse_client *c, const char *data, size_t n)
{
    if (c->dropped)
        return;
    if (c->cap - c->len < n) {
        c->dropped = true;
        atomic_fetch_add(&h->metrics->sse_dropped, 1);
        IOT_LOG(IOT_LOG_WARN, "event stream%s%s dropped: client %zu bytes behind (buffer %zu)",
                c->device[0] ? " of device " : "", c->device, c->len, c->cap);
        http_stream_abort(c->conn);
        wake(c);
        return;
    }
    size_t tail = (c->head + c->len) % c->cap;
    size_t first = c->cap - tail < n ? c->cap - tail : n;
    memcpy(c->buf + tail, data, first);
    memcpy(c->buf, data + first, n - first);
    c->len += n;
    wake(c);
}

static long reader(void *ctx, char *out, size_t max)
{
    struct sse_client *c = ctx;
    struct sse_hub *h = c->hub;
    pthread_mutex_lock(&h->lock);
    if (c->dropped || h->stopping) {
        bool dropped = c->dropped;
        pthread_mutex_unlock(&h->lock);
        return dropped ? -2 : -1;
    }
    if (c->len == 0) {
        c->suspended = true;
        http_stream_suspend(c->conn);
        pthread_mutex_unlock(&h->lock);
        return 0;
    }
    size_t n = c->len < max ? c->len : max;
    size_t first = c->cap - c->head < n ? c->cap - c->head : n;
    memcpy(out, c->buf + c->head, first);
    memcpy(out + first, c->buf, n - first);
    c->head = (c->head + n) % c->cap;
    c->len -= n;
    pthread_mutex_unlock(&h->lock);
    return (long)n;
}

/* lock held. No client and nothing to keep: stop building events. */
static void stop_recording(struct sse_hub *h)
{
    atomic_store(&h->recording, false);
    ring_clear(h);
}

static void client_done(void *ctx)
{
    struct sse_client *c = ctx;
    struct sse_hub *h = c->hub;
    pthread_mutex_lock(&h->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        h->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->n_clients--;
    atomic_store(&h->metrics->sse_clients, h->n_clients);
    if (h->n_clients == 0) {
        h->last_left_ms = plat_mono_ms();
        if (!h->cfg.replay_events || !h->cfg.replay_idle_s)
            stop_recording(h);
    }
    pthread_mutex_unlock(&h->lock);
    iot_free(c->buf);
    iot_free(c);
}

static bool wants(const struct sse_client *c, const char *device)
{
    return !c->device[0] || (device && device[0] && strcmp(c->device, device) == 0);
}

/* lock held. Queue a reset event: the client missed events that are no longer kept. */
static void push_reset(struct sse_hub *h, struct sse_client *c, uint64_t last_id, const char *why)
{
    atomic_fetch_add(&h->metrics->sse_resets, 1);
    IOT_LOG(IOT_LOG_INFO, "event stream resumed after id %" PRIu64 ": reset (%s)", last_id, why);
    char msg[256];
    int n = snprintf(msg, sizeof msg,
                     "event: reset\ndata: {\"last_event_id\":%" PRIu64
                     ",\"oldest_event_id\":%" PRIu64 ",\"reason\":\"%s\"}\n\n",
                     last_id, h->first_kept_id, why);
    if (n > 0 && (size_t)n < sizeof msg)
        push(h, c, msg, (size_t)n);
}

/* lock held. Queue the kept events after @p last_id for @p c, or a reset when some are gone. */
static void replay(struct sse_hub *h, struct sse_client *c, uint64_t last_id)
{
    uint64_t newest = h->next_id - 1;
    if (last_id == newest)
        return;
    if (last_id > newest || last_id + 1 < h->first_kept_id) {
        push_reset(h, c, last_id, last_id > newest ? "unknown_id" : "too_old");
        return;
    }
    size_t need = 0, first = h->ring_len;
    for (size_t i = 0; i < h->ring_len; i++) {
        const struct sse_event *e = &h->ring[(h->ring_head + i) % h->cfg.replay_events];
        if (e->id <= last_id)
            continue;
        if (first == h->ring_len)
            first = i;
        if (wants(c, e->device))
            need += e->len;
    }
    if (need > c->cap - c->len) {
        push_reset(h, c, last_id, "too_many");
        return;
    }
    for (size_t i = first; i < h->ring_len; i++) {
        const struct sse_event *e = &h->ring[(h->ring_head + i) % h->cfg.replay_events];
        if (wants(c, e->device))
            push(h, c, e->msg, e->len);
    }
}

void sse_hub_open(struct sse_hub *h, struct http_request *r, const char *device,
                  const uint64_t *last_id)
{
    struct sse_client *c = iot_calloc(1, sizeof *c);
    char *buf = c ? iot_malloc(h->cfg.buffer_bytes) : NULL;
    if (!buf) {
        iot_free(c);
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    c->hub = h;
    c->conn = http_req_conn(r);
    c->buf = buf;
    c->cap = h->cfg.buffer_bytes;
    snprintf(c->device, sizeof c->device, "%s", device ? device : "");
    pthread_mutex_lock(&h->lock);
    bool full = h->n_clients >= h->cfg.max_clients || h->stopping;
    if (!full) {
        c->next = h->clients;
        if (h->clients)
            h->clients->prev = c;
        h->clients = c;
        h->n_clients++;
        atomic_store(&h->metrics->sse_clients, h->n_clients);
        atomic_store(&h->recording, true);
        static const char hello[] = ": iot-cloud events\nretry: 3000\n\n";
        push(h, c, hello, sizeof hello - 1);
        if (last_id) {
            atomic_fetch_add(&h->metrics->sse_resumed, 1);
            replay(h, c, *last_id);
        }
    }
    pthread_mutex_unlock(&h->lock);
    if (full) {
        iot_free(buf);
        iot_free(c);
        http_reply_error(r, 503, "unavailable", "too many event streams (max %u)",
                         h->cfg.max_clients);
        return;
    }
    /* Our buffer plus about as much in the kernel is all a slow client may hold up. */
    http_conn_set_sndbuf(c->conn, h->cfg.buffer_bytes);
    http_reply_header(r, "X-Accel-Buffering", "no");
    http_reply_stream(r, "text/event-stream", reader, client_done, c);
}

bool sse_hub_active(struct sse_hub *h) { return h && atomic_load(&h->recording); }

/* lock held. Keep @p msg (ownership taken) for replay, evicting the oldest event when full. */
static void keep(struct sse_hub *h, uint64_t id, const char *device, char *msg, size_t len)
{
    size_t cap = h->cfg.replay_events;
    if (h->ring_len == cap) {
        struct sse_event *old = &h->ring[h->ring_head];
        h->first_kept_id = old->id + 1;
        iot_free(old->msg);
        h->ring_head = (h->ring_head + 1) % cap;
        h->ring_len--;
    }
    struct sse_event *e = &h->ring[(h->ring_head + h->ring_len) % cap];
    e->id = id;
    snprintf(e->device, sizeof e->device, "%s", device ? device : "");
    e->msg = msg;
    e->len = len;
    h->ring_len++;
}

void sse_hub_publish(struct sse_hub *h, const char *event, const char *device, const char *data)
{
    if (!sse_hub_active(h))
        return;
    size_t dlen = strlen(data), cap = dlen + 160;
    char *msg = iot_malloc(cap);
    if (!msg)
        return;
    pthread_mutex_lock(&h->lock);
    if (!atomic_load(&h->recording)) { /* stopped meanwhile */
        pthread_mutex_unlock(&h->lock);
        iot_free(msg);
        return;
    }
    uint64_t id = h->next_id;
    int n = snprintf(msg, cap, "id: %" PRIu64 "\nevent: %s\ndata: %s\n\n", id, event, data);
    if (n > 0 && (size_t)n < cap) {
        h->next_id++;
        for (struct sse_client *c = h->clients; c; c = c->next)
            if (wants(c, device))
                push(h, c, msg, (size_t)n);
        if (h->cfg.replay_events) {
            keep(h, id, device, msg, (size_t)n);
            msg = NULL;
        }
    }
    pthread_mutex_unlock(&h->lock);
    iot_free(msg);
}

void sse_hub_tick(struct sse_hub *h, uint64_t now_mono_ms)
{
    if (!h)
        return;
    if (atomic_load(&h->recording) && atomic_load(&h->metrics->sse_clients) == 0) {
        pthread_mutex_lock(&h->lock);
        if (h->n_clients == 0 &&
            now_mono_ms - h->last_left_ms >= (uint64_t)h->cfg.replay_idle_s * 1000u) {
            IOT_LOG(IOT_LOG_INFO, "no event stream for %u s: %zu kept events forgotten",
                    h->cfg.replay_idle_s, h->ring_len);
            stop_recording(h);
        }
        pthread_mutex_unlock(&h->lock);
    }
    if (now_mono_ms < h->next_heartbeat_ms)
        return;
    h->next_heartbeat_ms = now_mono_ms + (uint64_t)h->cfg.heartbeat_s * 1000u;
    static const char hb[] = ": hb\n\n";
    pthread_mutex_lock(&h->lock);
    for (struct sse_client *c = h->clients; c; c = c->next)
        push(h, c, hb, sizeof hb - 1);
    pthread_mutex_unlock(&h->lock);
}

void sse_hub_quiesce(struct sse_hub *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    for (struct sse_client *c = h->clients; c; c = c->next)
        wake(c);
    pthread_mutex_unlock(&h->lock);
}
