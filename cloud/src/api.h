/* SPDX-License-Identifier: Apache-2.0 */
/* The /v1 HTTP API (DESIGN.md "Cloud HTTP API"): routing, bearer-token check, JSON errors,
 * command routes with long-poll, registry and telemetry reads, and the event stream. Runs on MHD's
 * thread, except the event entry points, which any thread may call. */
#ifndef INGEST_API_H
#define INGEST_API_H
#include <stdbool.h>
#include <stdint.h>

#include "cmd_state.h"
#include "commands.h"
#include "http_server.h"
#include "ingest/config.h"
#include "iot/err.h"
#include "json_util.h"
#include "metrics.h"

/** Longest long-poll (GET /v1/commands/{cid}?wait=S). */
#define API_WAIT_MAX_S 60
/** Retry-After of a 503 answered because the database is busy (locked by another writer). */
#ifndef API_RETRY_AFTER_S
#define API_RETRY_AFTER_S 2
#endif

struct api;

/**
 * @brief Open the API's read connection to the storage and its event hub. @p cfg is copied;
 * @p metrics and @p commands must outlive it.
 * @return IOT_OK, IOT_ERR_IO, IOT_ERR_NOMEM
 */
enum iot_err api_create(const struct cloud_config *cfg, struct ingest_metrics *metrics,
                        struct commands *commands, struct api **out);
/** @brief Free (NULL-safe), after the HTTP server stopped. */
void api_destroy(struct api *a);

/** @brief Route and answer (or suspend) one request (MHD's thread). */
void api_handle(struct api *a, struct http_request *r);
/** @brief Stopping: answer every waiting long-poll, end every stream, suspend nothing more. */
void api_quiesce(struct api *a);
/** @brief Long-poll deadlines and SSE heartbeats (main loop). */
void api_tick(struct api *a, uint64_t now_mono_ms);

/** @brief Commands listener (commands_set_listener): long-polls and "command" events. */
void api_on_command_change(void *ctx, const char *cid, const char *device_id, enum cmd_state st,
                           int64_t at_ms);
/** @brief Send an event to the stream clients (takes ownership of @p data; any thread). */
void api_event(struct api *a, const char *event, const char *device, cJSON *data);
/** @brief True when someone listens to events (skip building them otherwise). */
bool api_events_wanted(struct api *a);

/**
 * @brief Answer a failed storage call: 503 + Retry-After for IOT_ERR_TIMEOUT (the database is
 * busy past the lock wait), else 500; @p fmt names what failed.
 */
__attribute__((format(printf, 3, 4))) void api_reply_store_error(struct http_request *r,
                                                                 enum iot_err rc,
                                                                 const char *fmt, ...);

/* api_data.c: registry and telemetry reads over the API's read connection (MHD's thread). */
struct api_db;
/** @brief The API's read connection (SQLite path or postgresql:// URI). */
enum iot_err api_db_open(enum cloud_storage_kind kind, const char *storage, struct api_db **out);
void api_db_close(struct api_db *d);
/** GET /v1/devices */
void api_db_devices(struct api_db *d, struct http_request *r);
/** GET /v1/devices/{id}, with the seq gaps and dropped ranges per epoch */
void api_db_device(struct api_db *d, struct http_request *r, const char *id);
/** GET /v1/devices/{id}/telemetry */
void api_db_telemetry(struct api_db *d, struct http_request *r, const char *id);

/**
 * @brief Strict decimal integer in [@p min, @p max] (api_data.c; shared with api.c).
 * @return false when @p s is NULL, empty, not a number, or out of range
 */
bool api_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

#endif
