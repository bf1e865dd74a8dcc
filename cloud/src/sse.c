/* SPDX-License-Identifier: Apache-2.0 */
/* SSE hub (see sse.h). One lock guards the client list and every client's ring buffer; holding it
 * costs a memcpy per client. Exactly one party resumes a suspended client: whoever clears
 * `suspended` under the lock. */
#define IOT_LOG_TAG "cloud.sse"
#include "sse.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "iot/log.h"
#include "iot/mem.h"
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

struct sse_hub {
    struct cloud_sse_config cfg;
    struct ingest_metrics *metrics;
    pthread_mutex_t lock;
    struct sse_client *clients;
    size_t n_clients;
    uint64_t next_id;
    uint64_t next_heartbeat_ms;
    bool stopping;
};

enum iot_err sse_hub_create(const struct cloud_sse_config *cfg, struct ingest_metrics *metrics,
                            struct sse_hub **out)
{
    struct sse_hub *h = iot_calloc(1, sizeof *h);
    if (!h)
        return IOT_ERR_NOMEM;
    h->cfg = *cfg;
    h->metrics = metrics;
    h->next_id = 1;
    pthread_mutex_init(&h->lock, NULL);
    *out = h;
    return IOT_OK;
}

void sse_hub_destroy(struct sse_hub *h)
{
    if (!h)
        return;
    if (h->clients)
        IOT_LOG(IOT_LOG_WARN, "%zu event streams still open at exit", h->n_clients);
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
        IOT_LOG(IOT_LOG_WARN, "event stream dropped: client %zu bytes behind", c->len);
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
    pthread_mutex_unlock(&h->lock);
    iot_free(c->buf);
    iot_free(c);
}

void sse_hub_open(struct sse_hub *h, struct http_request *r, const char *device)
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
        static const char hello[] = ": iot-cloud events\nretry: 3000\n\n";
        push(h, c, hello, sizeof hello - 1);
    }
    pthread_mutex_unlock(&h->lock);
    if (full) {
        iot_free(buf);
        iot_free(c);
        http_reply_error(r, 503, "unavailable", "too many event streams (max %u)",
                         h->cfg.max_clients);
        return;
    }
    http_reply_header(r, "X-Accel-Buffering", "no");
    http_reply_stream(r, "text/event-stream", reader, client_done, c);
}

bool sse_hub_active(struct sse_hub *h)
{
    return h && atomic_load(&h->metrics->sse_clients) > 0;
}

void sse_hub_publish(struct sse_hub *h, const char *event, const char *device, const char *data)
{
    if (!sse_hub_active(h))
        return;
    size_t dlen = strlen(data);
    char *msg = iot_malloc(dlen + 160);
    if (!msg)
        return;
    pthread_mutex_lock(&h->lock);
    int n = snprintf(msg, dlen + 160, "id: %" PRIu64 "\nevent: %s\ndata: %s\n\n", h->next_id++,
                     event, data);
    for (struct sse_client *c = h->clients; c && n > 0 && (size_t)n < dlen + 160; c = c->next)
        if (!c->device[0] || (device && strcmp(c->device, device) == 0))
            push(h, c, msg, (size_t)n);
    pthread_mutex_unlock(&h->lock);
    iot_free(msg);
}

void sse_hub_tick(struct sse_hub *h, uint64_t now_mono_ms)
{
    if (!h || now_mono_ms < h->next_heartbeat_ms)
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
