/* SPDX-License-Identifier: Apache-2.0 */
/* Webhook delivery over libcurl multi (see webhooks.h). Jobs live in one list guarded by a mutex;
 * only the webhook thread touches curl handles. A 2xx answer is success; everything else (HTTP
 * error status, connection refused, timeout) is a failed try (503 still returns CURLE_OK). */
#define IOT_LOG_TAG "cloud.webhooks"
#include "webhooks.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_clock.h"
#include "iot/plat_crypto.h"

#define MAX_IN_FLIGHT 16
#define POLL_MAX_MS 1000
#define BACKOFF_CAP_MS 600000u

struct job {
    struct job *next;
    char *key, *url, *body;
    size_t body_len;
    unsigned tries;          /* made so far */
    uint64_t due_mono_ms;    /* next try not before */
    bool active;             /* an easy handle runs it */
    CURL *easy;
    struct curl_slist *headers;
    int64_t started_wall_ms;
    uint64_t started_mono_ms;
    char errbuf[CURL_ERROR_SIZE];
};

struct webhooks {
    struct cloud_webhooks_config cfg;
    struct ingest_metrics *metrics;
    webhooks_report_fn report;
    void *ctx;
    CURLM *multi;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock; /* guards jobs, n_jobs, stop */
    struct job *jobs;
    size_t n_jobs;
    bool stop;
};

void webhooks_signature(const char *secret, const void *body, size_t len,
                        char out[WEBHOOK_SIG_LEN])
{
    uint8_t mac[32];
    plat_hmac_sha256(secret ? secret : "", secret ? strlen(secret) : 0, body, len, mac);
    memcpy(out, "sha256=", 7);
    plat_hex(mac, sizeof mac, out + 7);
}

bool webhooks_url_ok(const char *url)
{
    if (!url)
        return false;
    size_t skip;
    if (strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else
        return false;
    size_t n = strlen(url);
    if (n > WEBHOOK_URL_MAX || n == skip || url[skip] == '/' || url[skip] == ':')
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            return false;
    return true;
}

uint32_t webhooks_backoff_ms(uint32_t base_ms, unsigned n)
{
    uint64_t d = base_ms;
    for (unsigned i = 1; i < n && d < BACKOFF_CAP_MS; i++)
        d *= 2;
    return d > BACKOFF_CAP_MS ? BACKOFF_CAP_MS : (uint32_t)d;
}

static void job_free(struct job *j)
{
    if (!j)
        return;
    iot_free(j->key);
    iot_free(j->url);
    iot_free(j->body);
    iot_free(j);
}

enum iot_err webhooks_submit(struct webhooks *w, const char *key, const char *url, const char *body,
                             unsigned tries_done)
{
    if (!w || !key || !body || !webhooks_url_ok(url))
        return IOT_ERR_INVAL;
    struct job *j = iot_calloc(1, sizeof *j);
    if (!j)
        return IOT_ERR_NOMEM;
    j->key = iot_strdup(key);
    j->url = iot_strdup(url);
    j->body = iot_strdup(body);
    if (!j->key || !j->url || !j->body) {
        job_free(j);
        return IOT_ERR_NOMEM;
    }
    j->body_len = strlen(body);
    j->tries = tries_done;
    j->due_mono_ms = plat_mono_ms();
    pthread_mutex_lock(&w->lock);
    bool full = w->n_jobs >= WEBHOOK_QUEUE_MAX;
    if (!full) {
        j->next = w->jobs;
        w->jobs = j;
        w->n_jobs++;
    }
    pthread_mutex_unlock(&w->lock);
    if (full) {
        job_free(j);
        IOT_LOG(IOT_LOG_WARN, "webhook for %s dropped: %u webhooks waiting", key, WEBHOOK_QUEUE_MAX);
        return IOT_ERR_FULL;
    }
    curl_multi_wakeup(w->multi);
    return IOT_OK;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

/* Webhook thread: start a try of @p j (not holding the lock; j is marked active). */
static bool start_try(struct webhooks *w, struct job *j)
{
    char sig[WEBHOOK_SIG_LEN + 16];
    memcpy(sig, "X-Signature: ", 13);
    webhooks_signature(w->cfg.secret, j->body, j->body_len, sig + 13);
    char idh[160];
    snprintf(idh, sizeof idh, "X-Command-Id: %s", j->key);
    char tryh[48];
    snprintf(tryh, sizeof tryh, "X-Webhook-Try: %u", j->tries + 1);
    struct curl_slist *h = NULL, *t;
    const char *lines[] = {"Content-Type: application/json", "Expect:", "User-Agent: iot-cloud",
                           sig, idh, tryh};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        t = curl_slist_append(h, lines[i]);
        if (!t) {
            curl_slist_free_all(h);
            return false;
        }
        h = t;
    }
    CURL *e = curl_easy_init();
    if (!e) {
        curl_slist_free_all(h);
        return false;
    }
    j->errbuf[0] = 0;
    curl_easy_setopt(e, CURLOPT_URL, j->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)w->cfg.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)w->cfg.timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    j->easy = e;
    j->headers = h;
    j->started_wall_ms = plat_wall_ms();
    j->started_mono_ms = plat_mono_ms();
    if (curl_multi_add_handle(w->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        curl_slist_free_all(h);
        j->easy = NULL;
        j->headers = NULL;
        return false;
    }
    atomic_fetch_add(&w->metrics->webhooks_tried, 1);
    return true;
}

/* Webhook thread: jobs due now become active, up to MAX_IN_FLIGHT. Returns ms until the next due. */
static uint32_t start_due(struct webhooks *w)
{
    struct job *due[MAX_IN_FLIGHT];
    size_t n_due = 0, active = 0;
    uint64_t now = plat_mono_ms(), next = now + POLL_MAX_MS;
    pthread_mutex_lock(&w->lock);
    for (struct job *j = w->jobs; j; j = j->next)
        active += j->active;
    for (struct job *j = w->jobs; j && active + n_due < MAX_IN_FLIGHT; j = j->next) {
        if (j->active)
            continue;
        if (j->due_mono_ms <= now) {
            j->active = true;
            due[n_due++] = j;
        } else if (j->due_mono_ms < next) {
            next = j->due_mono_ms;
        }
    }
    pthread_mutex_unlock(&w->lock);
    for (size_t i = 0; i < n_due; i++) {
        if (!start_try(w, due[i])) {
            IOT_LOG(IOT_LOG_WARN, "webhook for %s: cannot start a try (out of memory?)", due[i]->key);
            pthread_mutex_lock(&w->lock);
            due[i]->active = false;
            due[i]->due_mono_ms = now + 1000;
            pthread_mutex_unlock(&w->lock);
        }
    }
    return next > now ? (uint32_t)(next - now) : 0;
}

static void unlink_job(struct webhooks *w, struct job *j)
{
    pthread_mutex_lock(&w->lock);
    for (struct job **pp = &w->jobs; *pp; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            w->n_jobs--;
            break;
        }
    }
    pthread_mutex_unlock(&w->lock);
}

static void finish_try(struct webhooks *w, CURL *e, CURLcode res)
{
    struct job *j = NULL;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&j);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(w->multi, e);
    curl_easy_cleanup(e);
    curl_slist_free_all(j->headers);
    j->easy = NULL;
    j->headers = NULL;
    j->tries++;

    struct webhook_try t = {.n = j->tries, .at_ms = j->started_wall_ms, .http_status = status};
    t.duration_ms = (uint32_t)(plat_mono_ms() - j->started_mono_ms);
    bool ok = res == CURLE_OK && status >= 200 && status < 300;
    if (res != CURLE_OK)
        snprintf(t.error, sizeof t.error, "curl %d: %.100s", (int)res,
                 j->errbuf[0] ? j->errbuf : curl_easy_strerror(res));
    else if (!ok)
        snprintf(t.error, sizeof t.error, "HTTP %ld", status);
    enum webhook_outcome o = ok                             ? WEBHOOK_DELIVERED
                             : j->tries >= w->cfg.max_tries ? WEBHOOK_GAVE_UP
                                                            : WEBHOOK_RETRYING;
    if (o == WEBHOOK_DELIVERED) {
        atomic_fetch_add(&w->metrics->webhooks_delivered, 1);
        IOT_LOG(IOT_LOG_INFO, "webhook for %s delivered (HTTP %ld, try %u)", j->key, status,
                j->tries);
    } else {
        atomic_fetch_add(&w->metrics->webhooks_failed_tries, 1);
        if (o == WEBHOOK_GAVE_UP)
            atomic_fetch_add(&w->metrics->webhooks_gave_up, 1);
        IOT_LOG(IOT_LOG_WARN, "webhook for %s to %.200s: try %u failed: %s%s", j->key, j->url,
                j->tries, t.error, o == WEBHOOK_GAVE_UP ? "; giving up" : "");
    }
    if (w->report)
        w->report(w->ctx, j->key, &t, o);
    if (o == WEBHOOK_RETRYING) {
        pthread_mutex_lock(&w->lock);
        j->active = false;
        j->due_mono_ms = plat_mono_ms() + webhooks_backoff_ms(w->cfg.backoff_ms, j->tries);
        pthread_mutex_unlock(&w->lock);
    } else {
        unlink_job(w, j);
        job_free(j);
    }
}

static void *thread_main(void *arg)
{
    struct webhooks *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        bool stop = w->stop;
        pthread_mutex_unlock(&w->lock);
        if (stop)
            break;
        uint32_t wait_ms = start_due(w);
        int running = 0;
        curl_multi_perform(w->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(w->multi, &left)))
            if (m->msg == CURLMSG_DONE)
                finish_try(w, m->easy_handle, m->data.result);
        if (wait_ms > POLL_MAX_MS)
            wait_ms = POLL_MAX_MS;
        curl_multi_poll(w->multi, NULL, 0, (int)(wait_ms ? wait_ms : 1), NULL);
    }
    return NULL;
}

static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

enum iot_err webhooks_create(const struct cloud_webhooks_config *cfg, struct ingest_metrics *metrics,
                             webhooks_report_fn report, void *ctx, struct webhooks **out)
{
    if (!cfg || !metrics || !out || cfg->max_tries == 0)
        return IOT_ERR_INVAL;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_init_once);
    struct webhooks *w = iot_calloc(1, sizeof *w);
    if (!w)
        return IOT_ERR_NOMEM;
    w->cfg = *cfg;
    w->metrics = metrics;
    w->report = report;
    w->ctx = ctx;
    pthread_mutex_init(&w->lock, NULL);
    w->multi = curl_multi_init();
    if (!w->multi) {
        IOT_LOG(IOT_LOG_ERROR, "curl_multi_init failed");
        webhooks_destroy(w);
        return IOT_ERR_INTERNAL;
    }
    curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 4L);
    if (pthread_create(&w->thread, NULL, thread_main, w) != 0) {
        IOT_LOG(IOT_LOG_ERROR, "cannot start the webhook thread");
        webhooks_destroy(w);
        return IOT_ERR_INTERNAL;
    }
    w->started = true;
    *out = w;
    return IOT_OK;
}

void webhooks_destroy(struct webhooks *w)
{
    if (!w)
        return;
    if (w->started) {
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_mutex_unlock(&w->lock);
        curl_multi_wakeup(w->multi);
        pthread_join(w->thread, NULL);
    }
    size_t dropped = 0;
    for (struct job *j = w->jobs, *next; j; j = next) {
        next = j->next;
        if (j->easy) {
            curl_multi_remove_handle(w->multi, j->easy);
            curl_easy_cleanup(j->easy);
            curl_slist_free_all(j->headers);
        }
        job_free(j);
        dropped++;
    }
    if (dropped)
        IOT_LOG(IOT_LOG_INFO, "%zu webhooks not delivered yet (resumed at the next start)", dropped);
    if (w->multi)
        curl_multi_cleanup(w->multi);
    pthread_mutex_destroy(&w->lock);
    iot_free(w);
}
