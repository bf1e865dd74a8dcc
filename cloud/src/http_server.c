/* SPDX-License-Identifier: Apache-2.0 */
/* libmicrohttpd server with a small route table. Handlers run on MHD's polling thread: they read
 * atomics and callbacks only, never the store directly. */
#define IOT_LOG_TAG "cloud.http"
#include "http_server.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "iot/log.h"
#include "iot/mem.h"

struct http_server {
    struct MHD_Daemon *daemon;
    struct http_app app;
    struct sockaddr_storage addr;
};

/** A reply built by a handler. @p body is either static (@p owned false) or iot_malloc'd. */
struct http_reply {
    unsigned status;
    const char *content_type;
    char *body;
    size_t len;
    bool owned;
};

typedef void (*http_handler_fn)(const struct http_app *app, const char *url, struct http_reply *rp);

struct http_route {
    const char *method;
    const char *path;
    http_handler_fn fn;
};

static void reply_static(struct http_reply *rp, unsigned status, const char *text)
{
    rp->status = status;
    rp->content_type = "text/plain; charset=utf-8";
    rp->body = (char *)text;
    rp->len = strlen(text);
    rp->owned = false;
}

static void h_healthz(const struct http_app *app, const char *url, struct http_reply *rp)
{
    (void)app;
    (void)url;
    reply_static(rp, MHD_HTTP_OK, "ok\n");
}

static void h_readyz(const struct http_app *app, const char *url, struct http_reply *rp)
{
    (void)url;
    char why[160] = "";
    if (app->ready && !app->ready(app->ctx, why, sizeof why)) {
        char *body = iot_malloc(sizeof why + 16);
        if (!body) {
            reply_static(rp, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n");
            return;
        }
        int n = snprintf(body, sizeof why + 16, "not ready: %s\n", why);
        rp->status = MHD_HTTP_SERVICE_UNAVAILABLE;
        rp->content_type = "text/plain; charset=utf-8";
        rp->body = body;
        rp->len = n > 0 ? (size_t)n : 0;
        rp->owned = true;
        return;
    }
    reply_static(rp, MHD_HTTP_OK, "ready\n");
}

static void h_metrics(const struct http_app *app, const char *url, struct http_reply *rp)
{
    (void)url;
    char *text = NULL;
    size_t len = 0;
    if (ingest_metrics_render(app->metrics, &text, &len) != IOT_OK) {
        reply_static(rp, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        return;
    }
    rp->status = MHD_HTTP_OK;
    rp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    rp->body = text;
    rp->len = len;
    rp->owned = true;
}

/* Exact paths for now; the /v1 routes of a later issue add patterns such as /v1/commands/{cid}. */
static const struct http_route routes[] = {
    {"GET", "/healthz", h_healthz},
    {"GET", "/readyz", h_readyz},
    {"GET", "/metrics", h_metrics},
};

static bool method_matches(const char *route_method, const char *method)
{
    return strcmp(route_method, method) == 0 ||
           (strcmp(route_method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

static void dispatch(const struct http_app *app, const char *method, const char *url,
                     struct http_reply *rp, char *allow, size_t allow_cap)
{
    bool path_known = false;
    allow[0] = 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(routes[i].path, url) != 0)
            continue;
        path_known = true;
        if (method_matches(routes[i].method, method)) {
            routes[i].fn(app, url, rp);
            return;
        }
        size_t n = strlen(allow);
        snprintf(allow + n, allow_cap - n, "%s%s", n ? ", " : "", routes[i].method);
    }
    if (path_known)
        reply_static(rp, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    else
        reply_static(rp, MHD_HTTP_NOT_FOUND, "not found\n");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    struct http_server *s = cls;
    /* No route takes a body yet: answer at the first call; MHD discards any upload. */
    *upload_data_size = 0;
    *con_cls = NULL;
    struct http_reply rp = {0};
    char allow[64];
    dispatch(&s->app, method, url, &rp, allow, sizeof allow);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(rp.len, rp.body, MHD_RESPMEM_MUST_COPY);
    if (rp.owned)
        iot_free(rp.body);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rp.content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (rp.status == MHD_HTTP_METHOD_NOT_ALLOWED && allow[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result r = MHD_queue_response(conn, rp.status, resp);
    MHD_destroy_response(resp);
    return r;
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    if (n && line[n - 1] == '\n')
        line[n - 1] = 0;
    IOT_LOG(IOT_LOG_WARN, "microhttpd: %s", line);
}

enum iot_err http_server_start(const char *listen, uint16_t port, const struct http_app *app,
                               struct http_server **out)
{
    if (!listen || !app || !app->metrics || !out || port == 0)
        return IOT_ERR_INVAL;
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    char port_str[8];
    snprintf(port_str, sizeof port_str, "%u", (unsigned)port);
    int gai = getaddrinfo(listen, port_str, &hints, &ai);
    if (gai != 0 || !ai) {
        IOT_LOG(IOT_LOG_ERROR, "[http] listen '%s' is not a numeric address: %s", listen,
                gai_strerror(gai));
        if (ai)
            freeaddrinfo(ai);
        return IOT_ERR_INVAL;
    }
    struct http_server *s = iot_calloc(1, sizeof *s);
    if (!s) {
        freeaddrinfo(ai);
        return IOT_ERR_NOMEM;
    }
    s->app = *app;
    memcpy(&s->addr, ai->ai_addr, ai->ai_addrlen);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    freeaddrinfo(ai);
    s->daemon = MHD_start_daemon(flags, port, NULL, NULL, on_request, s,
                                 MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&s->addr,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(8 * 1024),
                                 MHD_OPTION_END);
    if (!s->daemon) {
        IOT_LOG(IOT_LOG_ERROR, "cannot serve HTTP on %s:%u (address in use or not local?)", listen,
                (unsigned)port);
        iot_free(s);
        return IOT_ERR_IO;
    }
    *out = s;
    return IOT_OK;
}

void http_server_stop(struct http_server *s)
{
    if (!s)
        return;
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    iot_free(s);
}
