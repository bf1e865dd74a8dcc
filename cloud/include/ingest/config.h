/* SPDX-License-Identifier: Apache-2.0 */
/* iot-cloud configuration: an INI file (libinih) where every option has a default.
 * Loading only parses and range-checks; files named in it are checked by cloud_config_check_files(). */
#ifndef INGEST_CONFIG_H
#define INGEST_CONFIG_H
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"
#include "iot/log.h"

#define CLOUD_PATH_MAX 512
#define CLOUD_NAME_MAX 64

enum cloud_storage_kind {
    CLOUD_STORAGE_SQLITE,    /**< a SQLite database file (WAL) */
    CLOUD_STORAGE_POSTGRESQL /**< a PostgreSQL server (libpq connection URI) */
};

struct cloud_mqtt_config {
    char host[256];             /**< broker host name or address */
    uint16_t port;              /**< broker TLS port */
    char ca_file[CLOUD_PATH_MAX];   /**< PEM CA bundle that signed the broker's certificate (required) */
    char cert_file[CLOUD_PATH_MAX]; /**< PEM client certificate of the cloud (required) */
    char key_file[CLOUD_PATH_MAX];  /**< PEM private key of @ref cert_file (required) */
    char client_id[128];        /**< MQTT client id; stable across restarts (persistent session) */
    char share_group[CLOUD_NAME_MAX + 1]; /**< $share/{group}/... */
    uint32_t session_expiry_s;  /**< MQTT 5 session expiry interval */
    uint16_t keepalive_s;       /**< MQTT keepalive */
    uint32_t queue_max;         /**< bound of the in-memory ingest queue, in messages */
    uint32_t receipt_interval_ms; /**< least time between two Receipts to one device */
};

struct cloud_http_config {
    char listen[64];            /**< numeric IPv4/IPv6 address to bind */
    uint16_t port;              /**< 0 = HTTP disabled */
    char token[256];            /**< bearer token of the /v1 API; empty: every /v1 request gets 401 */
    uint32_t max_body;          /**< largest request body, bytes (413 above) */
    uint32_t connection_limit;  /**< most simultaneous HTTP connections (long-polls, SSE included) */
};

struct cloud_commands_config {
    char signing_key_file[CLOUD_PATH_MAX]; /**< PEM P-256 private key (iot-pki's cmd-sign.key); empty:
                                                POST .../commands answers 503 */
    char key_id[CLOUD_NAME_MAX + 1];       /**< SignedCommand.key_id */
    uint32_t default_timeout_s;            /**< timeout_s when the request has none */
    uint32_t max_timeout_s;                /**< largest timeout_s accepted */
};

struct cloud_webhooks_config {
    char secret[256];     /**< HMAC-SHA256 key of X-Signature; empty: webhooks are not signed */
    uint32_t max_tries;   /**< tries per webhook before giving up */
    uint32_t backoff_ms;  /**< wait before the 2nd try; doubles for each further try */
    uint32_t timeout_ms;  /**< per try */
};

struct cloud_sse_config {
    uint32_t buffer_bytes; /**< per-client buffer; a client that falls further behind is dropped */
    uint32_t heartbeat_s;  /**< comment line sent to idle clients */
    uint32_t max_clients;  /**< more get 503 */
    uint32_t replay_events; /**< events kept for Last-Event-ID resumption; 0 = none */
    uint32_t replay_idle_s; /**< keep recording them this long after the last client left */
};

struct cloud_config {
    enum cloud_storage_kind storage_kind;
    char storage[CLOUD_PATH_MAX]; /**< SQLite file path (the "sqlite:" prefix removed), or the
                                       postgresql:// URI as given (handed to libpq) */
    char instance[CLOUD_NAME_MAX + 1];
    struct cloud_mqtt_config mqtt;
    struct cloud_http_config http;
    struct cloud_commands_config commands;
    struct cloud_webhooks_config webhooks;
    struct cloud_sse_config sse;
    enum iot_log_level log_level;
};

/** @brief Fill @p cfg with the defaults (client id derived from the default instance). */
void cloud_config_defaults(struct cloud_config *cfg);

/**
 * @brief Load @p path over the defaults. On error, @p errbuf gets one line naming the file, the line,
 * the section, the key and why (unknown key, bad number, out of range, too long, ...).
 * @p cfg is written only on success.
 * @return IOT_OK, IOT_ERR_NOT_FOUND (file cannot be opened), IOT_ERR_INVAL (bad content), IOT_ERR_NOMEM
 */
enum iot_err cloud_config_load(const char *path, struct cloud_config *cfg, char *errbuf, size_t errlen);

/**
 * @brief Start-up check that the required TLS files (and the command-signing key, when set) are
 * set and readable.
 * @return IOT_OK, IOT_ERR_INVAL (a required option is empty, or a TLS file is not PEM),
 * IOT_ERR_NOT_FOUND (a file is unreadable or a directory; @p errbuf names it)
 */
enum iot_err cloud_config_check_files(const struct cloud_config *cfg, char *errbuf, size_t errlen);

/** @brief Static text describing every section, key and default (for --help). */
const char *cloud_config_help(void);

#endif
