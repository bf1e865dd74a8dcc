/* SPDX-License-Identifier: Apache-2.0 */
/* Server-Sent Events hub: GET /v1/events clients, each with a bounded buffer. Producers (worker,
 * main loop, HTTP thread) append and resume; a client's reader suspends when its buffer is empty
 * (no busy loop, FIELD-NOTES.md). A client that falls a whole buffer behind is dropped: a slow
 * reader never blocks a producer. */
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

/** @brief Answer @p r with an event stream, filtered to @p device when not NULL (or 503: full). */
void sse_hub_open(struct sse_hub *h, struct http_request *r, const char *device);

/**
 * @brief Send event @p event with JSON @p data (one line) to every client that wants @p device.
 * Thread-safe; never waits for a client.
 */
void sse_hub_publish(struct sse_hub *h, const char *event, const char *device, const char *data);

/** @brief True when at least one client listens (producers may skip building events). */
bool sse_hub_active(struct sse_hub *h);

/** @brief Send a heartbeat comment to every client when one is due (main loop). */
void sse_hub_tick(struct sse_hub *h, uint64_t now_mono_ms);

/** @brief Stopping: every stream ends at its next read; suspended ones are resumed. */
void sse_hub_quiesce(struct sse_hub *h);

#endif
