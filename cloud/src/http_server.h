/* SPDX-License-Identifier: Apache-2.0 */
/* The cloud's HTTP endpoint (libmicrohttpd: one internal polling thread, epoll, suspend/resume).
 * Serves /healthz, /readyz, /metrics itself and hands every other path to the API router
 * (api.h). Handlers run on MHD's thread; they may suspend a request (long-poll) and have it
 * resumed from any thread, or answer with a stream (SSE). */
#ifndef INGEST_HTTP_SERVER_H
#define INGEST_HTTP_SERVER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"
#include "json_util.h"
#include "metrics.h"

struct http_request;
struct api;

/** What the routes read. Everything must outlive the server; called on MHD's thread. */
struct http_app {
    struct ingest_metrics *metrics; /**< also counts the responses by status */
    /** True when the service can do its job; otherwise writes why into @p why. */
    bool (*ready)(void *ctx, char *why, size_t cap);
    void *ctx;
    struct api *api;           /**< /v1 routes; NULL: only the built-in paths */
    uint32_t max_body;         /**< request body bound (413 above); 0: 64 KiB */
    uint32_t connection_limit; /**< 0: 4096 */
};

struct http_server;

/**
 * @brief Listen on @p listen (numeric IPv4 or IPv6 address) : @p port and serve @p app.
 * Raises the open-file limit to fit connection_limit when it can.
 * @return IOT_OK, IOT_ERR_INVAL (bad address), IOT_ERR_IO (cannot bind; logged), IOT_ERR_NOMEM
 */
enum iot_err http_server_start(const char *listen, uint16_t port, const struct http_app *app,
                               struct http_server **out);

/** @brief Resume every suspended request (api_quiesce), stop serving and free (NULL-safe). */
void http_server_stop(struct http_server *s);

/* ---- for handlers (MHD's thread, during the handler call unless said otherwise) ---- */

const char *http_req_method(const struct http_request *r);
/** Path without the query string. */
const char *http_req_path(const struct http_request *r);
/** Request header (case-insensitive name) or NULL. */
const char *http_req_header(struct http_request *r, const char *name);
/** Query argument or NULL ("" for a key without value). */
const char *http_req_query(struct http_request *r, const char *name);
/** NUL-terminated body ("" when none). */
const char *http_req_body(const struct http_request *r, size_t *len);

/** @brief Answer with @p obj (takes ownership; NULL: 500). */
void http_reply_json(struct http_request *r, unsigned status, cJSON *obj);
/** @brief Answer JSON {error, detail}. */
void http_reply_error(struct http_request *r, unsigned status, const char *error, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));
/** @brief Add a response header (copied; at most 4 per reply). */
void http_reply_header(struct http_request *r, const char *name, const char *value);

/** Called on MHD's thread when a suspended request is resumed; it must reply (and own @p ctx). */
typedef void (*http_resume_fn)(struct http_request *r, void *ctx);
/**
 * @brief Suspend @p r (inside a handler, instead of replying). Call it while holding the lock that
 * whoever resumes it takes, so exactly one party resumes it. @p free_ctx releases @p ctx when the
 * request ends without @p fn having run (the server stopped first).
 */
void http_req_suspend(struct http_request *r, http_resume_fn fn, void (*free_ctx)(void *ctx),
                      void *ctx);
/** @brief Resume a request suspended by http_req_suspend (any thread, exactly once). */
void http_req_resume(struct http_request *r);

/**
 * Stream reader (MHD's thread): copy up to @p max bytes into @p buf and return the count; return 0
 * only after suspending through http_stream_suspend(); return -1 to end the stream, -2 to abort
 * the connection.
 */
typedef long (*http_stream_fn)(void *ctx, char *buf, size_t max);
/** @brief Answer 200 with a body produced by @p fn; @p done(ctx) runs when the connection ends. */
void http_reply_stream(struct http_request *r, const char *content_type, http_stream_fn fn,
                       void (*done)(void *ctx), void *ctx);
/** Opaque handle of a streaming connection, for http_stream_suspend/resume. */
struct http_conn;
/** @brief The connection of @p r (valid until the stream's done callback). */
struct http_conn *http_req_conn(struct http_request *r);
/** @brief Suspend a stream from its reader (MHD's thread, under the producer's lock). */
void http_stream_suspend(struct http_conn *c);
/** @brief Resume a suspended stream (any thread, under the producer's lock). */
void http_stream_resume(struct http_conn *c);
/**
 * @brief Reset a stream's connection now (any thread, under the producer's lock, before the
 * stream's done callback ran): a client that stopped reading is otherwise only freed by the
 * connection timeout, with its unread data parked in kernel buffers. The reader must still end
 * the stream (return -2) when it is next called.
 */
void http_stream_abort(struct http_conn *c);
/**
 * @brief Bound the kernel's send buffer of @p c to about @p bytes (MHD's thread, in the handler):
 * by default it grows to megabytes for a client that stops reading (FIELD-NOTES.md).
 */
void http_conn_set_sndbuf(struct http_conn *c, uint32_t bytes);

#endif
