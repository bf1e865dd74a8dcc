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
    CLOUD_STORAGE_SQLITE /**< a SQLite database file (WAL) */
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
    char token[256];            /**< bearer token of the /v1 API (later issue); not used by /healthz, /metrics */
};

struct cloud_config {
    enum cloud_storage_kind storage_kind;
    char storage[CLOUD_PATH_MAX]; /**< SQLite file path (the "sqlite:" prefix removed) */
    char instance[CLOUD_NAME_MAX + 1];
    struct cloud_mqtt_config mqtt;
    struct cloud_http_config http;
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
 * @brief Start-up check that the required TLS files are set and readable.
 * @return IOT_OK, IOT_ERR_INVAL (a required option is empty), IOT_ERR_NOT_FOUND (a file is unreadable;
 * @p errbuf names it)
 */
enum iot_err cloud_config_check_files(const struct cloud_config *cfg, char *errbuf, size_t errlen);

/** @brief Static text describing every section, key and default (for --help). */
const char *cloud_config_help(void);

#endif
