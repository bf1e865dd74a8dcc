/* SPDX-License-Identifier: Apache-2.0 */
/* iot-cmd-rtt: command round trips through the cloud HTTP API, timed by the client: POST a command,
 * then long-poll its status URL until a final state, N times in sequence over one kept-alive
 * connection (as an application would), round-robin over the given devices. One line per command:
 * "client_us cloud_ms status" (cloud_ms = the cloud's created_ms to its final state). Used by
 * tools/bench/run.sh; process start-up is not in the figure. */
#include <cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

struct buf {
    char *p;
    size_t len;
};

static size_t on_body(char *d, size_t size, size_t n, void *user)
{
    struct buf *b = user;
    size_t add = size * n;
    char *p = realloc(b->p, b->len + add + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, d, add);
    b->p = p;
    b->len += add;
    p[b->len] = 0;
    return add;
}

/* One request on the shared handle; the body (JSON) into *out. @return the HTTP status, 0 = none */
static long request(CURL *h, const char *url, const char *auth, const char *post, cJSON **out)
{
    struct buf b = {0};
    struct curl_slist *hd = curl_slist_append(NULL, auth);
    if (post)
        hd = curl_slist_append(hd, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    if (post) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    *out = b.p ? cJSON_Parse(b.p) : NULL;
    free(b.p);
    return status;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: iot-cmd-rtt BASE_URL TOKEN N DEVICE... [--name NAME]\n"
                        "  prints \"client_us cloud_ms status\" per command\n");
        return 2;
    }
    const char *base = argv[1], *name = "ping";
    long n = strtol(argv[3], NULL, 10);
    int ndev = 0;
    char **devs = argv + 4;
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
            name = argv[i + 1];
            break;
        }
        ndev++;
    }
    if (n <= 0 || ndev == 0)
        return 2;
    char auth[600], url[600], body[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", argv[2]);
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"timeout_s\":30}", name);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *h = curl_easy_init();
    int failures = 0;
    for (long i = 0; h && i < n; i++) {
        snprintf(url, sizeof url, "%s/v1/devices/%s/commands", base, devs[i % ndev]);
        long long t0 = bench_now_us();
        cJSON *q = NULL, *r = NULL;
        long st = request(h, url, auth, body, &q);
        char status[32] = "http_error";
        double cloud_ms = 0;
        if (st == 202 && *str(q, "status_url")) {
            snprintf(url, sizeof url, "%s%s?wait=15", base, str(q, "status_url"));
            for (int k = 0; k < 4; k++) { /* 4 x 15 s at most */
                cJSON_Delete(r);
                if (request(h, url, auth, NULL, &r) != 200) {
                    snprintf(status, sizeof status, "http_error");
                    break;
                }
                snprintf(status, sizeof status, "%s", str(r, "status"));
                if (strcmp(status, "queued") != 0 && strcmp(status, "sent") != 0)
                    break;
            }
            cloud_ms = num(r, "updated_ms") - num(r, "created_ms");
        }
        long long t1 = bench_now_us();
        printf("%lld %.0f %s\n", t1 - t0, cloud_ms, status);
        failures += strcmp(status, "succeeded") != 0;
        cJSON_Delete(q);
        cJSON_Delete(r);
    }
    curl_easy_cleanup(h);
    curl_global_cleanup();
    return failures ? 1 : 0;
}
