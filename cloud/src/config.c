/* SPDX-License-Identifier: Apache-2.0 */
/* cloud.conf parsing: a table of keys drives the INI handler, so every key has one default, one range
 * and one help line. Errors name file, line, section and key. No network, no file checks here. */
#include "ingest/config.h"

#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iot/mem.h"
#include "iot/plat_file.h"

enum key_type { KEY_STR, KEY_U16, KEY_U32, KEY_LEVEL, KEY_STORAGE, KEY_NAME };

struct key_def {
    const char *section;
    const char *name;
    enum key_type type;
    size_t offset;
    size_t cap;       /* KEY_STR/KEY_NAME/KEY_STORAGE: buffer size */
    uint64_t min, max; /* numbers */
    const char *help;
};

#define OFF(field) offsetof(struct cloud_config, field)
#define CAP(field) sizeof(((struct cloud_config *)0)->field)

static const struct key_def keys[] = {
    {"cloud", "storage", KEY_STORAGE, OFF(storage), CAP(storage), 0, 0,
     "SQLite file path, sqlite:PATH, or postgresql://USER[:PASS]@HOST[:PORT]/DB[?PARAMS] "
     "(libpq URI) [./iot-cloud.db]"},
    {"cloud", "instance", KEY_NAME, OFF(instance), CAP(instance), 0, 0,
     "name of this instance, [A-Za-z0-9_.-]{1,64} [iot-cloud-1]"},
    {"mqtt", "host", KEY_STR, OFF(mqtt.host), CAP(mqtt.host), 0, 0, "broker host [127.0.0.1]"},
    {"mqtt", "port", KEY_U16, OFF(mqtt.port), 0, 1, 65535, "broker TLS port [8883]"},
    {"mqtt", "ca_file", KEY_STR, OFF(mqtt.ca_file), CAP(mqtt.ca_file), 0, 0,
     "PEM CA certificate(s) of the broker (required)"},
    {"mqtt", "cert_file", KEY_STR, OFF(mqtt.cert_file), CAP(mqtt.cert_file), 0, 0,
     "PEM client certificate (required)"},
    {"mqtt", "key_file", KEY_STR, OFF(mqtt.key_file), CAP(mqtt.key_file), 0, 0,
     "PEM private key of cert_file (required)"},
    {"mqtt", "client_id", KEY_STR, OFF(mqtt.client_id), CAP(mqtt.client_id), 0, 0,
     "MQTT client id, stable across restarts [iot-cloud-<instance>, or <instance> when it already "
     "starts with iot-cloud]"},
    {"mqtt", "share_group", KEY_NAME, OFF(mqtt.share_group), CAP(mqtt.share_group), 0, 0,
     "shared-subscription group [iot-cloud]"},
    {"mqtt", "session_expiry_s", KEY_U32, OFF(mqtt.session_expiry_s), 0, 0, UINT32_MAX,
     "persistent session expiry, seconds [604800]"},
    {"mqtt", "keepalive_s", KEY_U16, OFF(mqtt.keepalive_s), 0, 5, 65535, "keepalive, seconds [30]"},
    {"mqtt", "queue_max", KEY_U32, OFF(mqtt.queue_max), 0, 1, 10000000,
     "bounded ingest queue, messages [10000]"},
    {"mqtt", "receipt_interval_ms", KEY_U32, OFF(mqtt.receipt_interval_ms), 0, 0, 60000,
     "least time between two Receipts to one device, ms [200]"},
    {"http", "listen", KEY_STR, OFF(http.listen), CAP(http.listen), 0, 0,
     "numeric address to bind [127.0.0.1]"},
    {"http", "port", KEY_U16, OFF(http.port), 0, 0, 65535, "HTTP port, 0 = disabled [8080]"},
    {"http", "token", KEY_STR, OFF(http.token), CAP(http.token), 0, 0,
     "bearer token of the /v1 API (not used by /healthz, /readyz, /metrics); empty: /v1 refused []"},
    {"http", "max_body", KEY_U32, OFF(http.max_body), 0, 1024, 16777216,
     "largest request body, bytes [65536]"},
    {"http", "connection_limit", KEY_U32, OFF(http.connection_limit), 0, 16, 100000,
     "most simultaneous HTTP connections, long-polls and SSE included [4096]"},
    {"commands", "signing_key_file", KEY_STR, OFF(commands.signing_key_file),
     CAP(commands.signing_key_file), 0, 0,
     "PEM P-256 command-signing private key (iot-pki's cmd-sign.key); empty: no commands []"},
    {"commands", "key_id", KEY_NAME, OFF(commands.key_id), CAP(commands.key_id), 0, 0,
     "key id put in every SignedCommand [cmd-sign]"},
    {"commands", "default_timeout_s", KEY_U32, OFF(commands.default_timeout_s), 0, 1, 31536000,
     "command deadline when the request gives none, seconds [60]"},
    {"commands", "max_timeout_s", KEY_U32, OFF(commands.max_timeout_s), 0, 1, 31536000,
     "largest timeout_s a request may ask for, seconds [86400]"},
    {"webhooks", "secret", KEY_STR, OFF(webhooks.secret), CAP(webhooks.secret), 0, 0,
     "HMAC-SHA256 key of the X-Signature header []"},
    {"webhooks", "max_tries", KEY_U32, OFF(webhooks.max_tries), 0, 1, 100,
     "tries per webhook before giving up [5]"},
    {"webhooks", "backoff_ms", KEY_U32, OFF(webhooks.backoff_ms), 0, 10, 3600000,
     "wait before the second try, doubled for each further one, ms [1000]"},
    {"webhooks", "timeout_ms", KEY_U32, OFF(webhooks.timeout_ms), 0, 100, 600000,
     "time limit of one try, ms [10000]"},
    {"sse", "buffer_bytes", KEY_U32, OFF(sse.buffer_bytes), 0, 1024, 16777216,
     "per-client event buffer; a client further behind is dropped, bytes [65536]"},
    {"sse", "heartbeat_s", KEY_U32, OFF(sse.heartbeat_s), 0, 1, 3600,
     "heartbeat comment interval, seconds [5]"},
    {"sse", "max_clients", KEY_U32, OFF(sse.max_clients), 0, 1, 100000,
     "most simultaneous event streams [256]"},
    {"sse", "replay_events", KEY_U32, OFF(sse.replay_events), 0, 0, 1000000,
     "recent events kept for clients resuming with Last-Event-ID, 0 = none [1024]"},
    {"sse", "replay_idle_s", KEY_U32, OFF(sse.replay_idle_s), 0, 0, 86400,
     "how long events are still kept after the last client left, seconds [300]"},
    {"log", "level", KEY_LEVEL, OFF(log_level), 0, 0, 0, "error|warn|info|debug [info]"},
};

#define N_KEYS (sizeof keys / sizeof keys[0])

struct parse_state {
    const char *path;
    FILE *fp;
    int line;      /* line of the text handed to inih last */
    int next_line; /* line the next read starts on */
    struct cloud_config cfg;
    int client_id_set;
    char err[256]; /* first error found by the handler; empty when none */
    int err_line;
};

/* The client id must not change between restarts, or the persistent session (and the messages the
 * broker queued in it) is orphaned: derive it from the instance name only. */
static void derive_client_id(struct cloud_config *cfg)
{
    if (strncmp(cfg->instance, "iot-cloud", 9) == 0)
        snprintf(cfg->mqtt.client_id, sizeof cfg->mqtt.client_id, "%s", cfg->instance);
    else
        snprintf(cfg->mqtt.client_id, sizeof cfg->mqtt.client_id, "iot-cloud-%s", cfg->instance);
}

void cloud_config_defaults(struct cloud_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->storage_kind = CLOUD_STORAGE_SQLITE;
    snprintf(cfg->storage, sizeof cfg->storage, "./iot-cloud.db");
    snprintf(cfg->instance, sizeof cfg->instance, "iot-cloud-1");
    snprintf(cfg->mqtt.host, sizeof cfg->mqtt.host, "127.0.0.1");
    cfg->mqtt.port = 8883;
    snprintf(cfg->mqtt.share_group, sizeof cfg->mqtt.share_group, "iot-cloud");
    cfg->mqtt.session_expiry_s = 604800;
    cfg->mqtt.keepalive_s = 30;
    cfg->mqtt.queue_max = 10000;
    cfg->mqtt.receipt_interval_ms = 200;
    snprintf(cfg->http.listen, sizeof cfg->http.listen, "127.0.0.1");
    cfg->http.port = 8080;
    cfg->http.max_body = 65536;
    cfg->http.connection_limit = 4096;
    snprintf(cfg->commands.key_id, sizeof cfg->commands.key_id, "cmd-sign");
    cfg->commands.default_timeout_s = 60;
    cfg->commands.max_timeout_s = 86400;
    cfg->webhooks.max_tries = 5;
    cfg->webhooks.backoff_ms = 1000;
    cfg->webhooks.timeout_ms = 10000;
    cfg->sse.buffer_bytes = 65536;
    cfg->sse.heartbeat_s = 5;
    cfg->sse.max_clients = 256;
    cfg->sse.replay_events = 1024;
    cfg->sse.replay_idle_s = 300;
    cfg->log_level = IOT_LOG_INFO;
    derive_client_id(cfg);
}

/* inih reader that tracks line numbers (Debian's inih is built without INI_HANDLER_LINENO). */
static char *read_line(char *str, int num, void *stream)
{
    struct parse_state *st = stream;
    char *s = fgets(str, num, st->fp);
    st->line = st->next_line;
    if (s && strchr(s, '\n'))
        st->next_line++;
    return s;
}

static int set_error(struct parse_state *st, const char *section, const char *name, const char *why,
                     const char *value)
{
    if (st->err[0] == 0) {
        st->err_line = st->line;
        snprintf(st->err, sizeof st->err, "[%s] %s: %s%s%s%s", section, name, why,
                 value ? " '" : "", value ? value : "", value ? "'" : "");
    }
    return 0;
}

static int name_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > CLOUD_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

static int set_number(struct parse_state *st, const struct key_def *k, const char *value)
{
    char *end = NULL;
    errno = 0;
    if (value[0] == '-' || value[0] == 0)
        return set_error(st, k->section, k->name, "not a non-negative number", value);
    unsigned long long v = strtoull(value, &end, 10);
    if (errno != 0 || !end || *end != 0)
        return set_error(st, k->section, k->name, "not a number", value);
    if (v < k->min || v > k->max) {
        char why[96];
        snprintf(why, sizeof why, "out of range %llu..%llu", (unsigned long long)k->min,
                 (unsigned long long)k->max);
        return set_error(st, k->section, k->name, why, value);
    }
    char *dst = (char *)&st->cfg + k->offset;
    if (k->type == KEY_U16) {
        uint16_t x = (uint16_t)v;
        memcpy(dst, &x, sizeof x);
    } else {
        uint32_t x = (uint32_t)v;
        memcpy(dst, &x, sizeof x);
    }
    return 1;
}

static int set_string(struct parse_state *st, const struct key_def *k, const char *value)
{
    if (strlen(value) >= k->cap) {
        char why[64];
        snprintf(why, sizeof why, "too long (max %zu characters)", k->cap - 1);
        return set_error(st, k->section, k->name, why, NULL);
    }
    snprintf((char *)&st->cfg + k->offset, k->cap, "%s", value);
    return 1;
}

static int set_storage(struct parse_state *st, const struct key_def *k, const char *value)
{
    if (strncasecmp(value, "postgresql://", 13) == 0 || strncasecmp(value, "postgres://", 11) == 0) {
        st->cfg.storage_kind = CLOUD_STORAGE_POSTGRESQL;
        return set_string(st, k, value);
    }
    if (strncmp(value, "sqlite:", 7) == 0)
        value += 7;
    if (value[0] == 0)
        return set_error(st, k->section, k->name, "empty path", NULL);
    if (strstr(value, "://"))
        return set_error(st, k->section, k->name, "unknown storage URL scheme", value);
    st->cfg.storage_kind = CLOUD_STORAGE_SQLITE;
    return set_string(st, k, value);
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    struct parse_state *st = user;
    const struct key_def *k = NULL;
    int section_known = 0;
    for (size_t i = 0; i < N_KEYS; i++) {
        if (strcmp(keys[i].section, section) != 0)
            continue;
        section_known = 1;
        if (strcmp(keys[i].name, name) == 0) {
            k = &keys[i];
            break;
        }
    }
    if (!section_known)
        return set_error(st, section, name, "unknown section", NULL);
    if (!k)
        return set_error(st, section, name, "unknown key", NULL);
    if (!value)
        value = "";
    switch (k->type) {
    case KEY_U16:
    case KEY_U32: return set_number(st, k, value);
    case KEY_STORAGE: return set_storage(st, k, value);
    case KEY_NAME:
        if (!name_ok(value))
            return set_error(st, section, name, "must match [A-Za-z0-9_.-]{1,64}", value);
        return set_string(st, k, value);
    case KEY_LEVEL: {
        enum iot_log_level lvl;
        if (!iot_log_level_parse(value, &lvl))
            return set_error(st, section, name, "must be error, warn, info or debug", value);
        st->cfg.log_level = lvl;
        return 1;
    }
    case KEY_STR:
        if (strcmp(section, "mqtt") == 0 && strcmp(name, "client_id") == 0) {
            if (value[0] == 0)
                return set_error(st, section, name, "must not be empty", NULL);
            st->client_id_set = 1;
        }
        return set_string(st, k, value);
    }
    return set_error(st, section, name, "internal: unhandled key type", NULL);
}

enum iot_err cloud_config_load(const char *path, struct cloud_config *cfg, char *errbuf, size_t errlen)
{
    if (!path || !cfg || !errbuf || errlen == 0)
        return IOT_ERR_INVAL;
    errbuf[0] = 0;
    struct parse_state *st = iot_calloc(1, sizeof *st);
    if (!st)
        return IOT_ERR_NOMEM;
    enum iot_err rc = IOT_OK;
    st->path = path;
    st->next_line = 1;
    cloud_config_defaults(&st->cfg);
    st->fp = fopen(path, "r");
    if (!st->fp) {
        snprintf(errbuf, errlen, "%s: cannot open: %s", path, strerror(errno));
        rc = IOT_ERR_NOT_FOUND;
        goto out;
    }
    int r = ini_parse_stream(read_line, st, on_key, st);
    if (r != 0 || st->err[0]) {
        if (st->err[0] && (r <= 0 || st->err_line <= r))
            snprintf(errbuf, errlen, "%s:%d: %s", path, st->err_line, st->err);
        else if (r > 0)
            snprintf(errbuf, errlen, "%s:%d: syntax error (expected [section] or key = value)", path,
                     r);
        else
            snprintf(errbuf, errlen, "%s: cannot parse (error %d)", path, r);
        rc = IOT_ERR_INVAL;
        goto out;
    }
    if (!st->client_id_set)
        derive_client_id(&st->cfg);
    *cfg = st->cfg;
out:
    if (st->fp)
        fclose(st->fp);
    iot_free(st);
    return rc;
}

static enum iot_err check_file(const char *key, const char *path, char *errbuf, size_t errlen)
{
    if (path[0] == 0) {
        snprintf(errbuf, errlen, "[mqtt] %s is required (a PEM file)", key);
        return IOT_ERR_INVAL;
    }
    if (!plat_file_readable(path)) {
        snprintf(errbuf, errlen, "[mqtt] %s: cannot read '%s': %s", key, path, strerror(errno));
        return IOT_ERR_NOT_FOUND;
    }
    /* Readable is not enough: a directory or a file that is not PEM fails only at the first TLS
     * connect, which is then retried for ever with a bare library code. */
    uint8_t *buf = NULL;
    size_t len = 0;
    enum iot_err rc = plat_file_read(path, 1024u * 1024u, &buf, &len);
    bool pem = rc == IOT_OK && len > 0 && strstr((const char *)buf, "-----BEGIN ") != NULL;
    iot_free(buf);
    if (rc != IOT_OK) {
        snprintf(errbuf, errlen, "[mqtt] %s: cannot read '%s' (%s; a directory?)", key, path,
                 iot_err_str(rc));
        return IOT_ERR_NOT_FOUND;
    }
    if (!pem) {
        snprintf(errbuf, errlen, "[mqtt] %s: '%s' is not a PEM file (no -----BEGIN line)", key,
                 path);
        return IOT_ERR_INVAL;
    }
    return IOT_OK;
}

enum iot_err cloud_config_check_files(const struct cloud_config *cfg, char *errbuf, size_t errlen)
{
    enum iot_err rc = check_file("ca_file", cfg->mqtt.ca_file, errbuf, errlen);
    if (rc == IOT_OK)
        rc = check_file("cert_file", cfg->mqtt.cert_file, errbuf, errlen);
    if (rc == IOT_OK)
        rc = check_file("key_file", cfg->mqtt.key_file, errbuf, errlen);
    if (rc == IOT_OK && cfg->commands.signing_key_file[0] &&
        !plat_file_readable(cfg->commands.signing_key_file)) {
        snprintf(errbuf, errlen, "[commands] signing_key_file: cannot read '%s': %s",
                 cfg->commands.signing_key_file, strerror(errno));
        rc = IOT_ERR_NOT_FOUND;
    }
    if (rc == IOT_OK && cfg->commands.default_timeout_s > cfg->commands.max_timeout_s) {
        snprintf(errbuf, errlen, "[commands] default_timeout_s %u > max_timeout_s %u",
                 cfg->commands.default_timeout_s, cfg->commands.max_timeout_s);
        rc = IOT_ERR_INVAL;
    }
    return rc;
}

const char *cloud_config_help(void)
{
    static char text[8192];
    if (text[0])
        return text;
    size_t n = 0;
    const char *section = "";
    for (size_t i = 0; i < N_KEYS && n < sizeof text; i++) {
        if (strcmp(section, keys[i].section) != 0) {
            section = keys[i].section;
            n += (size_t)snprintf(text + n, sizeof text - n, "  [%s]\n", section);
        }
        if (n < sizeof text)
            n += (size_t)snprintf(text + n, sizeof text - n, "    %-17s %s\n", keys[i].name,
                                  keys[i].help);
    }
    return text;
}
