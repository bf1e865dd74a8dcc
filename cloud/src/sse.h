/* SPDX-License-Identifier: Apache-2.0 */
/* Server-Sent Events hub: GET /v1/events clients, each with a bounded buffer. Producers (worker,
 * main loop, HTTP thread) append and resume; a client's reader suspends when its buffer is empty
 * (no busy loop, FIELD-NOTES.md). A client that falls a whole buffer behind is dropped and its
 * connection reset at once: a slow reader never blocks a producer. The last [sse] replay_events
 * events are kept, so a client that reconnects with Last-Event-ID gets what it missed (or an
 * `event: reset` when those are gone). */
#ifndef INGEST_SSE_H
#define INGEST_SSE_H
#include <stdbool.h>
#include <stdint.h>

#include "http_server.h"
#include "ingest/config.h"
#include "iot/err.h"
#include "metrics.h"

struct sse_hub;

/** @return IOT_OK, IOT_ERR_NOMEM */
enum iot_err sse_hub_create(const struct cloud_sse_config *cfg, struct ingest_metrics *metrics,
                            struct sse_hub **out);
/** @brief Free (NULL-safe). Every stream must have ended (after MHD stopped). */
void sse_hub_destroy(struct sse_hub *h);

/**
 * @brief Answer @p r with an event stream, filtered to @p device when not NULL (or 503: full).
 * @param last_id when not NULL, the client's Last-Event-ID: the kept events after it are sent
 *   first, or `event: reset` (data {last_event_id, oldest_event_id, reason}) when some are gone
 */
void sse_hub_open(struct sse_hub *h, struct http_request *r, const char *device,
                  const uint64_t *last_id);

/**
 * @brief Send event @p event with JSON @p data (one line) to every client that wants @p device.
 * Thread-safe; never waits for a client.
 */
void sse_hub_publish(struct sse_hub *h, const char *event, const char *device, const char *data);

/** @brief True while events are wanted: a client listens, or left less than [sse] replay_idle_s
 * ago (producers skip building events otherwise). */
bool sse_hub_active(struct sse_hub *h);

/** @brief Heartbeat comments when due; forget kept events after replay_idle_s without clients
 * (main loop). */
void sse_hub_tick(struct sse_hub *h, uint64_t now_mono_ms);

/** @brief Stopping: every stream ends at its next read; suspended ones are resumed. */
void sse_hub_quiesce(struct sse_hub *h);

#endif
