/* SPDX-License-Identifier: Apache-2.0 */
/* The cloud's HTTP endpoint (libmicrohttpd, its own polling thread): health, readiness, metrics now;
 * the /v1 API (commands, long-poll, SSE) is added to the route table in http_server.c later. */
#ifndef INGEST_HTTP_SERVER_H
#define INGEST_HTTP_SERVER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"
#include "metrics.h"

/** What the routes read. Everything must outlive the server; called on MHD's thread. */
struct http_app {
    const struct ingest_metrics *metrics;
    /** True when the service can do its job; otherwise writes why into @p why. */
    bool (*ready)(void *ctx, char *why, size_t cap);
    void *ctx;
    const char *token; /**< bearer token of the /v1 routes (later issue) */
};

struct http_server;

/**
 * @brief Listen on @p listen (numeric IPv4 or IPv6 address) : @p port and serve @p app.
 * @return IOT_OK, IOT_ERR_INVAL (bad address), IOT_ERR_IO (cannot bind; logged), IOT_ERR_NOMEM
 */
enum iot_err http_server_start(const char *listen, uint16_t port, const struct http_app *app,
                               struct http_server **out);

/** @brief Stop serving and free (NULL-safe). */
void http_server_stop(struct http_server *s);

#endif
