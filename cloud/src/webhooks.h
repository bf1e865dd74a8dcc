/* SPDX-License-Identifier: Apache-2.0 */
/* Webhook delivery: one thread drives every POST through libcurl's multi interface
 * (curl_multi_poll, woken by curl_multi_wakeup), signs bodies with HMAC-SHA256 and retries with
 * exponential backoff up to a bounded number of tries. Submitting never blocks on the network. */
#ifndef INGEST_WEBHOOKS_H
#define INGEST_WEBHOOKS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/config.h"
#include "iot/err.h"
#include "metrics.h"

/** "sha256=" + 64 hex digits + NUL */
#define WEBHOOK_SIG_LEN 72
#define WEBHOOK_URL_MAX 2048
/** Most webhooks waiting or in flight; more are refused (IOT_ERR_FULL). */
#define WEBHOOK_QUEUE_MAX 10000

enum webhook_outcome {
    WEBHOOK_RETRYING,  /**< this try failed; another follows */
    WEBHOOK_DELIVERED, /**< answered 2xx */
    WEBHOOK_GAVE_UP    /**< this was the last try allowed */
};

/** One finished try. */
struct webhook_try {
    unsigned n;         /**< 1-based try number */
    int64_t at_ms;      /**< wall clock when the try started */
    uint32_t duration_ms;
    long http_status;   /**< 0 when no HTTP answer */
    char error[128];    /**< curl's error text, or "HTTP 503"; empty on success */
};

/** Called on the webhook thread after each try; must not call back into webhooks. */
typedef void (*webhooks_report_fn)(void *ctx, const char *key, const struct webhook_try *t,
                                   enum webhook_outcome o);

struct webhooks;

/**
 * @brief Start the delivery thread. @p cfg is copied; @p metrics must outlive it.
 * @return IOT_OK, IOT_ERR_NOMEM, IOT_ERR_INTERNAL (curl or thread failed; logged)
 */
enum iot_err webhooks_create(const struct cloud_webhooks_config *cfg, struct ingest_metrics *metrics,
                             webhooks_report_fn report, void *ctx, struct webhooks **out);

/**
 * @brief Queue a POST of @p body to @p url (copied; thread-safe, non-blocking). @p key identifies
 * it in reports (the command id). @p tries_done: tries already made (after a restart).
 * @return IOT_OK, IOT_ERR_INVAL (bad URL), IOT_ERR_FULL, IOT_ERR_NOMEM
 */
enum iot_err webhooks_submit(struct webhooks *w, const char *key, const char *url, const char *body,
                             unsigned tries_done);

/** @brief Stop the thread (what is still queued is dropped) and free. NULL-safe. */
void webhooks_destroy(struct webhooks *w);

/** @brief X-Signature value: "sha256=" + hex HMAC-SHA256(@p secret, body). */
void webhooks_signature(const char *secret, const void *body, size_t len,
                        char out[WEBHOOK_SIG_LEN]);

/** @brief True for an absolute http:// or https:// URL of printable characters, at most
 *  WEBHOOK_URL_MAX bytes, with a host. */
bool webhooks_url_ok(const char *url);

/** @brief Wait before try @p n + 1 after @p n failed tries: base * 2^(n-1), at most 10 minutes. */
uint32_t webhooks_backoff_ms(uint32_t base_ms, unsigned n);

#endif
