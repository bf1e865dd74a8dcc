/* SPDX-License-Identifier: Apache-2.0 */
/* libmicrohttpd server: request contexts, bounded bodies, built-in health routes, JSON replies,
 * suspend/resume for long-polls and streamed bodies for SSE (FIELD-NOTES.md: epoll + internal
 * polling thread; resume everything before MHD_stop_daemon). Handlers never touch the ingest store. */
#define IOT_LOG_TAG "cloud.http"
#include "http_server.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "api.h"
#include "iot/log.h"
#include "iot/mem.h"

#define PATH_MAX_LEN 512
#define MAX_HEADERS 4
#define DEFAULT_MAX_BODY (64u * 1024u)
#define DEFAULT_CONN_LIMIT 4096u
#define STREAM_BLOCK 4096
#define EARLY_413_FACTOR 16u /* announced bodies above max_body x this are refused unread */

struct http_server {
    struct MHD_Daemon *daemon;
    struct http_app app;
    struct sockaddr_storage addr;
};

struct stream {
    http_stream_fn fn;
    void (*done)(void *ctx);
    void *ctx;
};

struct http_request {
    struct http_server *srv;
    struct MHD_Connection *conn;
    char method[16];
    char path[PATH_MAX_LEN];
    bool path_too_long;
    char *body;
    size_t body_len, body_cap;
    bool too_big;
    /* reply */
    bool replied;
    unsigned status;
    const char *content_type;
    char *resp;
    size_t resp_len;
    char *hname[MAX_HEADERS], *hvalue[MAX_HEADERS];
    int n_headers;
    struct stream *stream;
    /* suspension */
    bool suspended;
    http_resume_fn resume_fn;
    void (*resume_free)(void *ctx);
    void *resume_ctx;
};

/* ---- request accessors and replies ---- */

const char *http_req_method(const struct http_request *r) { return r->method; }
const char *http_req_path(const struct http_request *r) { return r->path; }

const char *http_req_header(struct http_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(struct http_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_req_body(const struct http_request *r, size_t *len)
{
    if (len)
        *len = r->body_len;
    return r->body ? r->body : "";
}

static void reply_raw(struct http_request *r, unsigned status, const char *ctype, char *owned,
                      size_t len)
{
    iot_free(r->resp);
    r->replied = true;
    r->status = status;
    r->content_type = ctype;
    r->resp = owned;
    r->resp_len = len;
}

static void reply_text(struct http_request *r, unsigned status, const char *text)
{
    reply_raw(r, status, "text/plain; charset=utf-8", iot_strdup(text), strlen(text));
}

void http_reply_json(struct http_request *r, unsigned status, cJSON *obj)
{
    char *text = json_print(obj);
    cJSON_Delete(obj);
    if (!text) {
        reply_raw(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json",
                  iot_strdup("{\"error\":\"internal\",\"detail\":\"out of memory\"}"), 46);
        return;
    }
    size_t n = strlen(text);
    char *copy = iot_malloc(n + 2);
    if (copy) {
        memcpy(copy, text, n);
        copy[n] = '\n';
        copy[n + 1] = 0;
    }
    cJSON_free(text);
    reply_raw(r, status, "application/json", copy, copy ? n + 1 : 0);
}

void http_reply_error(struct http_request *r, unsigned status, const char *error, const char *fmt,
                      ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "error", error);
        cJSON_AddStringToObject(o, "detail", detail);
    }
    http_reply_json(r, status, o);
}

void http_reply_header(struct http_request *r, const char *name, const char *value)
{
    if (r->n_headers >= MAX_HEADERS)
        return;
    r->hname[r->n_headers] = iot_strdup(name);
    r->hvalue[r->n_headers] = iot_strdup(value);
    r->n_headers++;
}

void http_req_suspend(struct http_request *r, http_resume_fn fn, void (*free_ctx)(void *ctx),
                      void *ctx)
{
    r->suspended = true;
    r->resume_fn = fn;
    r->resume_free = free_ctx;
    r->resume_ctx = ctx;
    MHD_suspend_connection(r->conn);
}

void http_req_resume(struct http_request *r) { MHD_resume_connection(r->conn); }

struct http_conn *http_req_conn(struct http_request *r) { return (struct http_conn *)r->conn; }
void http_stream_suspend(struct http_conn *c) { MHD_suspend_connection((struct MHD_Connection *)c); }
void http_stream_resume(struct http_conn *c) { MHD_resume_connection((struct MHD_Connection *)c); }

void http_conn_set_sndbuf(struct http_conn *c, uint32_t bytes)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info((struct MHD_Connection *)c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int v = bytes > INT32_MAX ? INT32_MAX : (int)bytes;
    if (ci && setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v) != 0)
        IOT_LOG(IOT_LOG_DEBUG, "SO_SNDBUF on fd %d: %s", ci->connect_fd, strerror(errno));
}

/* MHD frees a connection's response (our done callback) before it closes the descriptor, so the
 * fd read here is still the client's while the caller holds the lock that done takes. Linger 0:
 * the close that follows resets the connection and frees the kernel buffers at once. */
void http_stream_abort(struct http_conn *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info((struct MHD_Connection *)c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    if (setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0 ||
        shutdown(ci->connect_fd, SHUT_RDWR) != 0)
        IOT_LOG(IOT_LOG_DEBUG, "aborting stream fd %d: %s", ci->connect_fd, strerror(errno));
}

void http_reply_stream(struct http_request *r, const char *content_type, http_stream_fn fn,
                       void (*done)(void *ctx), void *ctx)
{
    struct stream *s = iot_calloc(1, sizeof *s);
    if (!s) {
        done(ctx);
        http_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return;
    }
    s->fn = fn;
    s->done = done;
    s->ctx = ctx;
    r->stream = s;
    reply_raw(r, MHD_HTTP_OK, content_type, NULL, 0);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream *s = cls;
    long n = s->fn(s->ctx, buf, max);
    if (n == -1)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct stream *s = cls;
    s->done(s->ctx);
    iot_free(s);
}

/* ---- built-in routes ---- */

static void h_healthz(struct http_request *r) { reply_text(r, MHD_HTTP_OK, "ok\n"); }

static void h_readyz(struct http_request *r)
{
    const struct http_app *app = &r->srv->app;
    char why[160] = "";
    if (app->ready && !app->ready(app->ctx, why, sizeof why)) {
        char text[200];
        snprintf(text, sizeof text, "not ready: %s\n", why);
        reply_text(r, MHD_HTTP_SERVICE_UNAVAILABLE, text);
        return;
    }
    reply_text(r, MHD_HTTP_OK, "ready\n");
}

static void h_metrics(struct http_request *r)
{
    char *text = NULL;
    size_t len = 0;
    if (ingest_metrics_render(r->srv->app.metrics, &text, &len) != IOT_OK) {
        reply_text(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        return;
    }
    reply_raw(r, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

static const struct {
    const char *path;
    void (*fn)(struct http_request *r);
} builtin[] = {
    {"/healthz", h_healthz},
    {"/readyz", h_readyz},
    {"/metrics", h_metrics},
};

static void dispatch(struct http_request *r)
{
    if (r->too_big) {
        http_reply_error(r, 413, "payload_too_large",
                         "request body larger than %u bytes", r->srv->app.max_body);
        return;
    }
    if (r->path_too_long) {
        http_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "path too long");
        return;
    }
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++) {
        if (strcmp(builtin[i].path, r->path) != 0)
            continue;
        if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0) {
            builtin[i].fn(r);
        } else {
            reply_text(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
            http_reply_header(r, MHD_HTTP_HEADER_ALLOW, "GET");
        }
        return;
    }
    if (r->srv->app.api)
        api_handle(r->srv->app.api, r);
    else
        http_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no route for %s", r->path);
}

static enum MHD_Result send_reply(struct http_request *r)
{
    if (!r->replied)
        http_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "no reply");
    struct MHD_Response *resp;
    if (r->stream) {
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read,
                                                 r->stream, stream_free);
        if (!resp)
            stream_free(r->stream);
        r->stream = NULL;
    } else {
        resp = MHD_create_response_from_buffer(r->resp_len, r->resp ? r->resp : (char *)"",
                                               MHD_RESPMEM_MUST_COPY);
    }
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    for (int i = 0; i < r->n_headers; i++)
        if (r->hname[i] && r->hvalue[i])
            MHD_add_response_header(resp, r->hname[i], r->hvalue[i]);
    enum MHD_Result rc = MHD_queue_response(r->conn, r->status, resp);
    MHD_destroy_response(resp);
    if (rc == MHD_YES)
        ingest_metrics_http_response(r->srv->app.metrics, r->status);
    return rc;
}

static void request_free(struct http_request *r)
{
    if (!r)
        return;
    iot_free(r->body);
    iot_free(r->resp);
    for (int i = 0; i < r->n_headers; i++) {
        iot_free(r->hname[i]);
        iot_free(r->hvalue[i]);
    }
    if (r->stream)
        stream_free(r->stream);
    if (r->suspended && r->resume_free) /* resumed while MHD stopped: the callback never ran */
        r->resume_free(r->resume_ctx);
    iot_free(r);
}

static bool append_body(struct http_request *r, const char *data, size_t n)
{
    uint32_t max = r->srv->app.max_body;
    if (r->too_big || r->body_len + n > max) {
        r->too_big = true;
        return true;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 1024;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *p = iot_realloc(r->body, cap);
        if (!p)
            return false;
        r->body = p;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = 0;
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct http_server *s = cls;
    struct http_request *r = *con_cls;
    if (!r) {
        r = iot_calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->srv = s;
        r->conn = conn;
        snprintf(r->method, sizeof r->method, "%s", method);
        r->path_too_long = strlen(url) >= sizeof r->path;
        snprintf(r->path, sizeof r->path, "%s", r->path_too_long ? "" : url);
        *con_cls = r;
        /* A body announced far beyond the bound is refused before reading it. MHD then closes
         * the connection with the upload unread, which the client may see as a reset instead of
         * the 413; a moderately oversize body is read and discarded (append_body) so the 413
         * arrives cleanly. */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > (unsigned long long)s->app.max_body * EARLY_413_FACTOR) {
            r->too_big = true;
            dispatch(r);
            return send_reply(r);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        bool ok = append_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return ok ? MHD_YES : MHD_NO;
    }
    if (r->replied && !r->suspended)
        return MHD_YES; /* answered early (413); MHD is finishing */
    if (r->suspended) {
        r->suspended = false;
        r->resume_fn(r, r->resume_ctx);
        return send_reply(r);
    }
    dispatch(r);
    if (r->suspended)
        return MHD_YES;
    return send_reply(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    request_free(*con_cls);
    *con_cls = NULL;
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

/* Every connection is a file descriptor: make the limit fit (FIELD-NOTES.md: 1020 by default). */
static void raise_fd_limit(uint32_t connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)connections + 256;
    if (rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
        IOT_LOG(IOT_LOG_WARN, "open-file limit %llu is below [http] connection_limit + 256",
                (unsigned long long)rl.rlim_cur);
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
    if (!s->app.max_body)
        s->app.max_body = DEFAULT_MAX_BODY;
    if (!s->app.connection_limit)
        s->app.connection_limit = DEFAULT_CONN_LIMIT;
    memcpy(&s->addr, ai->ai_addr, ai->ai_addrlen);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    freeaddrinfo(ai);
    raise_fd_limit(s->app.connection_limit);
    s->daemon = MHD_start_daemon(flags, port, NULL, NULL, on_request, s,
                                 MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&s->addr,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)90,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(8 * 1024),
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->app.connection_limit,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
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
    if (s->app.api)
        api_quiesce(s->app.api);
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    iot_free(s);
}
