/* SPDX-License-Identifier: Apache-2.0 */
/* iotctl's HTTP layer (libcurl easy): requests with the bearer token, the event stream, and the
 * one place where transport and HTTP failures become a message a user can act on plus an exit
 * code. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iotctl.h"

#define BODY_MAX (64u * 1024u * 1024u)

struct buf {
    char *p;
    size_t len, cap;
    bool oom;
};

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
    struct buf *b = user;
    size_t add = size * n;
    if (b->len + add + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + add + 1)
            cap *= 2;
        char *p = cap <= BODY_MAX ? realloc(b->p, cap) : NULL;
        if (!p) {
            b->oom = true;
            return 0;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, add);
    b->len += add;
    b->p[b->len] = 0;
    return add;
}

void http_resp_free(struct http_resp *r)
{
    if (!r)
        return;
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

bool ctl_url_escape(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~';
        if (o + (plain ? 1 : 3) >= cap)
            return false;
        if (plain) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = 0;
    return true;
}

static struct curl_slist *headers(const struct ctl *c, bool json_body, const char *accept)
{
    struct curl_slist *h = NULL;
    char line[600];
    if (c->token[0]) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", c->token);
        h = curl_slist_append(h, line);
    }
    if (json_body)
        h = curl_slist_append(h, "Content-Type: application/json");
    snprintf(line, sizeof line, "Accept: %s", accept);
    return curl_slist_append(h, line);
}

/* The words for a failure, and its exit code. */
static int report(const struct ctl *c, const char *method, const char *path, CURLcode cc,
                  long status, const char *body, const char *curl_err, bool quiet_404)
{
    if (cc != CURLE_OK) {
        const char *why = curl_err[0] ? curl_err : curl_easy_strerror(cc);
        if (cc == CURLE_COULDNT_CONNECT)
            fprintf(stderr, "iotctl: cannot connect to %s: %s\n"
                    "iotctl: is iot-cloud running there? (set the address with --url, IOT_URL or "
                    "url = in the config file)\n", c->url, why);
        else if (cc == CURLE_COULDNT_RESOLVE_HOST)
            fprintf(stderr, "iotctl: unknown host in %s: %s\n", c->url, why);
        else if (cc == CURLE_OPERATION_TIMEDOUT)
            fprintf(stderr, "iotctl: %s %s: no answer in time: %s\n", method, path, why);
        else
            fprintf(stderr, "iotctl: %s %s%s: %s\n", method, c->url, path, why);
        return CTL_UNREACHABLE;
    }
    char detail[400] = "";
    cJSON *j = body ? cJSON_Parse(body) : NULL;
    if (j)
        snprintf(detail, sizeof detail, "%s", jstr(j, "detail", jstr(j, "error", "")));
    cJSON_Delete(j);
    if (status == 401 || status == 403) {
        fprintf(stderr, "iotctl: the server refused the token (HTTP %ld%s%s): check --token, "
                "IOT_TOKEN or token = in the config file\n", status, detail[0] ? ": " : "",
                detail);
        return CTL_UNAUTHORIZED;
    }
    if (status == 404) {
        if (!quiet_404)
            fprintf(stderr, "iotctl: not found: %s\n", detail[0] ? detail : path);
        return CTL_NOT_FOUND;
    }
    fprintf(stderr, "iotctl: %s %s: HTTP %ld%s%s\n", method, path, status, detail[0] ? ": " : "",
            detail);
    return CTL_HTTP_ERROR;
}

/* Ctrl-C during a request (a long-poll may last a minute): abort it. */
static int on_interrupt(void *user, curl_off_t a, curl_off_t b, curl_off_t c2, curl_off_t d)
{
    (void)user, (void)a, (void)b, (void)c2, (void)d;
    return ctl_stop ? 1 : 0;
}

int ctl_http(const struct ctl *c, const char *method, const char *path, const char *body,
             long extra_s, bool quiet_404, struct http_resp *r)
{
    memset(r, 0, sizeof *r);
    CURL *h = curl_easy_init();
    if (!h) {
        fprintf(stderr, "iotctl: cannot initialise libcurl\n");
        return CTL_ERROR;
    }
    char url[2048];
    snprintf(url, sizeof url, "%s%s", c->url, path);
    struct buf b = {0};
    char err[CURL_ERROR_SIZE] = "";
    struct curl_slist *hd = headers(c, body != NULL, "application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, c->http_timeout_s + extra_s);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_interrupt);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    if (b.oom) {
        free(b.p);
        fprintf(stderr, "iotctl: answer too large or out of memory\n");
        return CTL_ERROR;
    }
    r->status = status;
    r->body = b.p ? b.p : calloc(1, 1);
    r->len = b.len;
    if (!r->body)
        return CTL_ERROR;
    if (cc == CURLE_OK && status >= 200 && status < 300)
        return CTL_OK;
    if (cc == CURLE_ABORTED_BY_CALLBACK && ctl_stop) {
        fprintf(stderr, "iotctl: interrupted\n");
        return CTL_INTERRUPTED;
    }
    int rc = report(c, method, path, cc, status, r->body, err, quiet_404);
    return rc;
}

int ctl_http_json(const struct ctl *c, const char *method, const char *path, const char *body,
                  long extra_s, bool quiet_404, cJSON **out)
{
    struct http_resp r;
    *out = NULL;
    int rc = ctl_http(c, method, path, body, extra_s, quiet_404, &r);
    if (rc == CTL_OK) {
        *out = cJSON_Parse(r.body);
        if (!*out) {
            fprintf(stderr, "iotctl: %s %s: the answer is not JSON\n", method, path);
            rc = CTL_ERROR;
        }
    }
    http_resp_free(&r);
    return rc;
}

/* ---------------------------------------------------------------- Server-Sent Events */

struct sse {
    struct buf line;       /* the current, incomplete line */
    char event[64];
    struct buf data;
    ctl_sse_fn fn;
    void *ctx;
    bool stopped;
    volatile int *stop;
    long status;
    CURL *h;
};

static void sse_line(struct sse *s, const char *l)
{
    if (!*l) { /* blank line: dispatch */
        if (s->data.len && !s->stopped &&
            !s->fn(s->ctx, s->event[0] ? s->event : "message", s->data.p))
            s->stopped = true;
        s->event[0] = 0;
        s->data.len = 0;
        if (s->data.p)
            s->data.p[0] = 0;
        return;
    }
    if (*l == ':')
        return; /* comment (heartbeat) */
    const char *v = strchr(l, ':');
    size_t klen = v ? (size_t)(v - l) : strlen(l);
    v = v ? v + 1 : "";
    if (*v == ' ')
        v++;
    if (klen == 5 && strncmp(l, "event", 5) == 0) {
        snprintf(s->event, sizeof s->event, "%s", v);
    } else if (klen == 4 && strncmp(l, "data", 4) == 0) {
        if (s->data.len)
            on_body("\n", 1, 1, &s->data);
        on_body((char *)v, 1, strlen(v), &s->data);
    }
}

static size_t on_stream(char *data, size_t size, size_t n, void *user)
{
    struct sse *s = user;
    size_t len = size * n;
    if (!s->status)
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status < 200 || s->status >= 300)
        return on_body(data, size, n, &s->line); /* an error body: kept for the report */
    for (size_t i = 0; i < len && !s->stopped; i++) {
        char ch = data[i];
        if (ch == '\n') {
            if (s->line.len && s->line.p[s->line.len - 1] == '\r')
                s->line.p[--s->line.len] = 0;
            sse_line(s, s->line.len ? s->line.p : "");
            s->line.len = 0;
            if (s->line.p)
                s->line.p[0] = 0;
        } else if (!on_body(&ch, 1, 1, &s->line)) {
            return 0;
        }
    }
    return s->stopped ? 0 : len;
}

static int on_progress(void *user, curl_off_t a, curl_off_t b, curl_off_t c2, curl_off_t d)
{
    (void)a, (void)b, (void)c2, (void)d;
    struct sse *s = user;
    if (s->stop && *s->stop)
        s->stopped = true;
    return s->stopped ? 1 : 0;
}

int ctl_sse(const struct ctl *c, const char *path, ctl_sse_fn fn, void *ctx, long for_s,
            volatile int *stop)
{
    CURL *h = curl_easy_init();
    if (!h)
        return CTL_ERROR;
    char url[2048];
    snprintf(url, sizeof url, "%s%s", c->url, path);
    struct sse s = {.fn = fn, .ctx = ctx, .stop = stop, .h = h};
    char err[CURL_ERROR_SIZE] = "";
    struct curl_slist *hd = headers(c, false, "text/event-stream");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &s);
    if (for_s > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT, for_s);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    int rc = CTL_OK;
    bool ended_by_us = s.stopped || (for_s > 0 && cc == CURLE_OPERATION_TIMEDOUT && status == 200);
    if (status >= 200 && status < 300 && (cc == CURLE_OK || ended_by_us))
        rc = CTL_OK;
    else if (cc != CURLE_OK && status == 0)
        rc = report(c, "GET", path, cc, 0, NULL, err, false);
    else if (status < 200 || status >= 300)
        rc = report(c, "GET", path, CURLE_OK, status, s.line.p, err, false);
    else
        rc = report(c, "GET", path, cc, 0, NULL, err, false);
    free(s.line.p);
    free(s.data.p);
    return rc;
}
