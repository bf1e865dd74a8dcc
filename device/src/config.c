/* SPDX-License-Identifier: Apache-2.0 */
/* agent.conf parsing (libinih) with defaults and errors that name file, line, section, key and why.
 * A line-counting reader feeds inih so the handler knows the line of every key. */
#define IOT_LOG_TAG "agent.config"
#include "agent/config.h"

#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_cert.h"
#include "iot/plat_file.h"

/* Largest config file we read. */
#define CONFIG_MAX_BYTES (256u * 1024u)

struct parse {
    const char *name;     /* file name, for messages */
    const char *cur;      /* reader position */
    int line;             /* line of the text the handler is looking at */
    bool long_line;
    struct agent_config *cfg;
    bool seen_client_id;
    char *err;
    size_t errlen;
    bool failed;
};

/* Index i is bit 1u << i of enum agent_sim_sensor. */
static const char *const sim_names[] = {"temperature", "humidity", "motion", "door", "energy",
                                        "light"};

static const char help_text[] =
    "Configuration file (INI); every option has a default except those marked required:\n"
    "  [device]    id = ID                    required; [A-Za-z0-9_-]{1,64}, the certificate's CN\n"
    "              state_dir = ./iot-agent-state   epoch, seq and connection counter live here\n"
    "  [mqtt]      host = 127.0.0.1\n"
    "              port = 8883\n"
    "              ca_file = PATH             required; CA that signed the broker's certificate\n"
    "              cert_file = PATH           required; this device's certificate\n"
    "              key_file = PATH            required; this device's private key\n"
    "              client_id = ID             default: the device id\n"
    "              keepalive_s = 30\n"
    "              reconnect_min_ms = 500     backoff starts here, doubles, full jitter\n"
    "              reconnect_max_ms = 30000\n"
    "              inflight = 50              max QoS 1 publishes outstanding (< broker's receive max)\n"
    "  [telemetry] interval_ms = 1000         one sample per interval\n"
    "              batch_max = 10             max samples per TelemetryBatch\n"
    "              max_samples = 0            0 = forever; N = take N samples, wait for acks, exit\n"
    "              drain_timeout_ms = 30000   max_samples: how long to wait for the acks\n"
    "              buffer_max_samples = 100000  [store] kind = memory: backlog bound in samples\n"
    "  [sensors]   linux = true               thermal zones, load, memory, uptime, network bytes\n"
    "              simulated = temperature,humidity,motion,door,energy   (empty: none)\n"
    "                                         (also: light, a dimmable lamp)\n"
    "              seed = 0                   0 = random; else a deterministic simulation\n"
    "  [log]       level = info               error|warn|info|debug\n";

const char *agent_config_help(void)
{
    /* Built once: the commands sections' text lives beside their parser (config_commands.c). */
    static char text[sizeof help_text + 2048];
    if (!text[0])
        snprintf(text, sizeof text, "%s%s%s", help_text, agent_store_config_help(),
                 agent_commands_config_help());
    return text;
}

void agent_config_defaults(struct agent_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->state_dir, sizeof cfg->state_dir, "%s", "./iot-agent-state");
    snprintf(cfg->host, sizeof cfg->host, "%s", "127.0.0.1");
    cfg->port = 8883;
    cfg->keepalive_s = 30;
    cfg->reconnect_min_ms = 500;
    cfg->reconnect_max_ms = 30000;
    cfg->inflight = 50;
    cfg->interval_ms = 1000;
    cfg->batch_max = 10;
    cfg->max_samples = 0;
    cfg->drain_timeout_ms = 30000;
    cfg->buffer_max_samples = 100000;
    cfg->linux_sensors = true;
    cfg->sim_sensors = AGENT_SIM_ALL;
    cfg->seed = 0;
    cfg->log_level = IOT_LOG_INFO;
    agent_commands_config_defaults(&cfg->commands);
    agent_store_config_defaults(&cfg->store);
}

bool agent_config_parse_sensors(const char *list, unsigned *out, char *bad, size_t bad_cap)
{
    unsigned bits = 0;
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        size_t n = (size_t)(p - start);
        while (n > 0 && (start[n - 1] == ' ' || start[n - 1] == '\t'))
            n--;
        bool found = false;
        for (size_t i = 0; i < sizeof sim_names / sizeof sim_names[0]; i++) {
            if (strlen(sim_names[i]) == n && strncmp(sim_names[i], start, n) == 0) {
                bits |= 1u << i;
                found = true;
            }
        }
        if (!found) {
            snprintf(bad, bad_cap, "%.*s", (int)(n > 64 ? 64 : n), start);
            return false;
        }
    }
    *out = bits;
    return true;
}

static int fail(struct parse *p, const char *section, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct parse *p, const char *section, const char *key, const char *fmt, ...)
{
    if (p->failed)
        return 0; /* keep the first error */
    p->failed = true;
    char why[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (p->line > 0)
        snprintf(p->err, p->errlen, "%s:%d: [%s] %s: %s", p->name, p->line, section, key, why);
    else
        snprintf(p->err, p->errlen, "%s: [%s] %s: %s", p->name, section, key, why);
    return 0;
}

static int parse_u64(struct parse *p, const char *sec, const char *key, const char *v, uint64_t min,
                     uint64_t max, uint64_t *out)
{
    if (!*v || *v == '-' || *v == '+')
        return fail(p, sec, key, "bad number '%s' (expected a whole number %" PRIu64 "..%" PRIu64
                    ")", v, min, max);
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end != 0)
        return fail(p, sec, key, "bad number '%s' (expected a whole number %" PRIu64 "..%" PRIu64
                    ")", v, min, max);
    if (errno == ERANGE || n < min || n > max)
        return fail(p, sec, key, "%s is out of range %" PRIu64 "..%" PRIu64, v, min, max);
    *out = n;
    return 1;
}

static int parse_u32(struct parse *p, const char *sec, const char *key, const char *v, uint32_t min,
                     uint32_t max, uint32_t *out)
{
    uint64_t n;
    if (!parse_u64(p, sec, key, v, min, max, &n))
        return 0;
    *out = (uint32_t)n;
    return 1;
}

static int parse_bool(struct parse *p, const char *sec, const char *key, const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = true;
            return 1;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = false;
            return 1;
        }
    }
    return fail(p, sec, key, "bad boolean '%s' (expected true or false)", v);
}

static int copy_str(struct parse *p, const char *sec, const char *key, const char *v, char *dst,
                    size_t cap)
{
    if (strlen(v) >= cap)
        return fail(p, sec, key, "value too long (max %zu bytes)", cap - 1);
    memcpy(dst, v, strlen(v) + 1);
    return 1;
}

static int on_device(struct parse *p, const char *key, const char *v)
{
    struct agent_config *c = p->cfg;
    if (strcmp(key, "id") == 0) {
        if (!iot_device_id_valid(v))
            return fail(p, "device", key, "invalid device id '%.80s' (expected [A-Za-z0-9_-]{1,64})",
                        v);
        return copy_str(p, "device", key, v, c->device_id, sizeof c->device_id);
    }
    if (strcmp(key, "state_dir") == 0) {
        if (!*v)
            return fail(p, "device", key, "must not be empty");
        return copy_str(p, "device", key, v, c->state_dir, sizeof c->state_dir);
    }
    return fail(p, "device", key, "unknown key");
}

static int on_mqtt(struct parse *p, const char *key, const char *v)
{
    struct agent_config *c = p->cfg;
    const char *s = "mqtt";
    if (strcmp(key, "host") == 0) {
        if (!*v)
            return fail(p, s, key, "must not be empty");
        return copy_str(p, s, key, v, c->host, sizeof c->host);
    }
    if (strcmp(key, "port") == 0) {
        uint32_t port;
        if (!parse_u32(p, s, key, v, 1, 65535, &port))
            return 0;
        c->port = (uint16_t)port;
        return 1;
    }
    if (strcmp(key, "ca_file") == 0)
        return copy_str(p, s, key, v, c->ca_file, sizeof c->ca_file);
    if (strcmp(key, "cert_file") == 0)
        return copy_str(p, s, key, v, c->cert_file, sizeof c->cert_file);
    if (strcmp(key, "key_file") == 0)
        return copy_str(p, s, key, v, c->key_file, sizeof c->key_file);
    if (strcmp(key, "client_id") == 0) {
        if (!*v)
            return fail(p, s, key, "must not be empty");
        p->seen_client_id = true;
        return copy_str(p, s, key, v, c->client_id, sizeof c->client_id);
    }
    if (strcmp(key, "keepalive_s") == 0)
        return parse_u32(p, s, key, v, 0, 65535, &c->keepalive_s);
    if (strcmp(key, "reconnect_min_ms") == 0)
        return parse_u32(p, s, key, v, 10, 3600000, &c->reconnect_min_ms);
    if (strcmp(key, "reconnect_max_ms") == 0)
        return parse_u32(p, s, key, v, 10, 3600000, &c->reconnect_max_ms);
    if (strcmp(key, "inflight") == 0)
        return parse_u32(p, s, key, v, 1, 1000, &c->inflight);
    return fail(p, s, key, "unknown key");
}

static int on_telemetry(struct parse *p, const char *key, const char *v)
{
    struct agent_config *c = p->cfg;
    const char *s = "telemetry";
    if (strcmp(key, "interval_ms") == 0)
        return parse_u32(p, s, key, v, 1, 86400000, &c->interval_ms);
    if (strcmp(key, "batch_max") == 0)
        return parse_u32(p, s, key, v, 1, 1000, &c->batch_max);
    if (strcmp(key, "max_samples") == 0)
        return parse_u64(p, s, key, v, 0, UINT64_MAX, &c->max_samples);
    if (strcmp(key, "drain_timeout_ms") == 0)
        return parse_u32(p, s, key, v, 0, 86400000, &c->drain_timeout_ms);
    if (strcmp(key, "buffer_max_samples") == 0)
        return parse_u32(p, s, key, v, 1, 100000000, &c->buffer_max_samples);
    return fail(p, s, key, "unknown key");
}

static int on_sensors(struct parse *p, const char *key, const char *v)
{
    struct agent_config *c = p->cfg;
    const char *s = "sensors";
    if (strcmp(key, "linux") == 0)
        return parse_bool(p, s, key, v, &c->linux_sensors);
    if (strcmp(key, "simulated") == 0) {
        char bad[80];
        if (!agent_config_parse_sensors(v, &c->sim_sensors, bad, sizeof bad))
            return fail(p, s, key,
                        "unknown sensor name '%s' (known: temperature,humidity,motion,door,"
                        "energy,light)", bad);
        return 1;
    }
    if (strcmp(key, "seed") == 0)
        return parse_u64(p, s, key, v, 0, UINT64_MAX, &c->seed);
    return fail(p, s, key, "unknown key");
}

static int on_log(struct parse *p, const char *key, const char *v)
{
    if (strcmp(key, "level") == 0) {
        if (!iot_log_level_parse(v, &p->cfg->log_level))
            return fail(p, "log", key, "bad level '%.40s' (expected error, warn, info or debug)", v);
        return 1;
    }
    return fail(p, "log", key, "unknown key");
}

static int on_key(void *user, const char *section, const char *key, const char *value)
{
    struct parse *p = user;
    if (p->long_line)
        return fail(p, section, key, "line too long");
    if (strcmp(section, "device") == 0)
        return on_device(p, key, value);
    if (strcmp(section, "mqtt") == 0)
        return on_mqtt(p, key, value);
    if (strcmp(section, "telemetry") == 0)
        return on_telemetry(p, key, value);
    if (strcmp(section, "sensors") == 0)
        return on_sensors(p, key, value);
    if (strcmp(section, "log") == 0)
        return on_log(p, key, value);
    char why[300];
    enum iot_err src = agent_store_config_key(&p->cfg->store, section, key, value, why, sizeof why);
    if (src != IOT_ERR_NOT_FOUND)
        return src == IOT_OK ? 1 : fail(p, section, key, "%s", why);
    enum iot_err crc = agent_commands_config_key(&p->cfg->commands, section, key, value, why,
                                                 sizeof why);
    if (crc != IOT_ERR_NOT_FOUND)
        return crc == IOT_OK ? 1 : fail(p, section, key, "%s", why);
    if (!*section)
        return fail(p, "", key, "key outside any section");
    return fail(p, section, key,
                "unknown section (known: device, mqtt, telemetry, sensors, log, store, commands, "
                "command.NAME, state)");
}

/* fgets-style reader over the text that counts lines, so on_key knows where it is. */
static char *read_line(char *str, int num, void *stream)
{
    struct parse *p = stream;
    if (!*p->cur)
        return NULL;
    const char *nl = strchr(p->cur, '\n');
    size_t n = nl ? (size_t)(nl - p->cur) + 1 : strlen(p->cur);
    p->line++;
    p->long_line = n + 1 > (size_t)num;
    size_t take = p->long_line ? (size_t)num - 2 : n;
    memcpy(str, p->cur, take);
    if (p->long_line)
        str[take++] = '\n'; /* the rest of the line is skipped: the whole line is one record */
    str[take] = 0;
    p->cur += n;
    return str;
}

static enum iot_err finish(struct parse *p)
{
    struct agent_config *c = p->cfg;
    p->line = 0;
    if (!c->device_id[0])
        fail(p, "device", "id", "required but missing");
    else if (!c->ca_file[0])
        fail(p, "mqtt", "ca_file", "required but missing");
    else if (!c->cert_file[0])
        fail(p, "mqtt", "cert_file", "required but missing");
    else if (!c->key_file[0])
        fail(p, "mqtt", "key_file", "required but missing");
    else if (c->reconnect_max_ms < c->reconnect_min_ms)
        fail(p, "mqtt", "reconnect_max_ms", "%u is below reconnect_min_ms %u", c->reconnect_max_ms,
             c->reconnect_min_ms);
    char where[96], why[200];
    if (!p->failed &&
        agent_commands_config_finish(&c->commands, where, sizeof where, why, sizeof why) != IOT_OK) {
        snprintf(p->err, p->errlen, "%s: %s: %s", p->name, where, why);
        p->failed = true;
    }
    if (p->failed)
        return IOT_ERR_INVAL;
    if (!p->seen_client_id)
        snprintf(c->client_id, sizeof c->client_id, "%s", c->device_id);
    return IOT_OK;
}

enum iot_err agent_config_parse(const char *name, const char *text, struct agent_config *cfg,
                                char *errbuf, size_t errlen)
{
    char dummy[1];
    if (!errbuf || errlen == 0) {
        errbuf = dummy;
        errlen = sizeof dummy;
    }
    errbuf[0] = 0;
    if (!name || !text || !cfg)
        return IOT_ERR_INVAL;
    agent_config_defaults(cfg);
    struct parse p = {.name = name, .cur = text, .cfg = cfg, .err = errbuf, .errlen = errlen};
    int rc = ini_parse_stream(read_line, &p, on_key, &p);
    if (rc != 0 && !p.failed) {
        /* inih's own syntax error (no '=' or an unterminated [section]) on line rc */
        snprintf(errbuf, errlen, "%s:%d: syntax error (expected [section] or key = value)", name, rc);
        return IOT_ERR_INVAL;
    }
    if (p.failed)
        return IOT_ERR_INVAL;
    return finish(&p);
}

enum iot_err agent_config_load(const char *path, struct agent_config *cfg, char *errbuf,
                               size_t errlen)
{
    if (!path || !cfg || !errbuf || errlen == 0)
        return IOT_ERR_INVAL;
    uint8_t *text = NULL;
    size_t len = 0;
    enum iot_err rc = plat_file_read(path, CONFIG_MAX_BYTES, &text, &len);
    if (rc == IOT_ERR_NOT_FOUND) {
        snprintf(errbuf, errlen, "%s: no such file", path);
        return rc;
    }
    if (rc == IOT_ERR_FULL) {
        snprintf(errbuf, errlen, "%s: larger than %u bytes", path, CONFIG_MAX_BYTES);
        return IOT_ERR_INVAL;
    }
    if (rc != IOT_OK) {
        snprintf(errbuf, errlen, "%s: cannot read (%s)", path, iot_err_str(rc));
        return rc;
    }
    if (memchr(text, 0, len)) {
        snprintf(errbuf, errlen, "%s: contains a NUL byte (not a text file)", path);
        iot_free(text);
        return IOT_ERR_INVAL;
    }
    rc = agent_config_parse(path, (const char *)text, cfg, errbuf, errlen);
    iot_free(text);
    return rc;
}

enum iot_err agent_config_check_files(const struct agent_config *cfg, struct plat_cert_info *info,
                                      char *errbuf, size_t errlen)
{
    const struct {
        const char *key, *path;
    } files[] = {{"ca_file", cfg->ca_file}, {"cert_file", cfg->cert_file}, {"key_file", cfg->key_file}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        uint8_t *buf = NULL;
        size_t len = 0;
        enum iot_err rc = plat_file_read(files[i].path, 1024u * 1024u, &buf, &len);
        if (rc == IOT_ERR_NOT_FOUND) {
            snprintf(errbuf, errlen, "[mqtt] %s %s: no such file", files[i].key, files[i].path);
            return rc;
        }
        if (rc != IOT_OK) {
            snprintf(errbuf, errlen, "[mqtt] %s %s: cannot read it (%s; check permissions)",
                     files[i].key, files[i].path, iot_err_str(rc));
            return IOT_ERR_IO;
        }
        bool pem = len > 0 && strstr((const char *)buf, "-----BEGIN ") != NULL;
        iot_free(buf);
        if (!pem) {
            snprintf(errbuf, errlen, "[mqtt] %s %s: not a PEM file (no -----BEGIN line)",
                     files[i].key, files[i].path);
            return IOT_ERR_MALFORMED;
        }
    }
    struct plat_cert_info ci;
    char why[300];
    enum iot_err rc = plat_cert_inspect(cfg->cert_file, cfg->key_file, &ci, why, sizeof why);
    if (rc != IOT_OK) {
        snprintf(errbuf, errlen, "[mqtt] cert_file/key_file: %s", why);
        return rc;
    }
    if (strcmp(ci.cn, cfg->device_id) != 0) {
        snprintf(errbuf, errlen,
                 "[mqtt] cert_file %s is the certificate of '%s', not of this device '%s' (the "
                 "broker would refuse every publish): use devices/%s.crt and .key from iot-pki",
                 cfg->cert_file, ci.cn, cfg->device_id, cfg->device_id);
        return IOT_ERR_INVAL;
    }
    if (info)
        *info = ci;
    return IOT_OK;
}

#define CERT_RENEW_WARN_MS (30LL * 24 * 3600 * 1000)

void agent_config_log_cert_dates(const struct agent_config *cfg, const struct plat_cert_info *info,
                                 int64_t now_ms)
{
    if (!cfg || !info)
        return;
    char when[40], now[40];
    plat_cert_time_str(now_ms, now, sizeof now);
    if (now_ms > info->not_after_ms) {
        plat_cert_time_str(info->not_after_ms, when, sizeof when);
        IOT_LOG(IOT_LOG_ERROR,
                "certificate %s expired on %s (clock: %s): the broker will refuse it; renew it "
                "(iot-pki device DIR %s) and put the new files in place",
                cfg->cert_file, when, now, cfg->device_id);
    } else if (now_ms < info->not_before_ms) {
        plat_cert_time_str(info->not_before_ms, when, sizeof when);
        IOT_LOG(IOT_LOG_WARN,
                "certificate %s is not valid before %s but the clock says %s: is the clock "
                "synchronised (a board without a real-time clock starts wrong until NTP)?",
                cfg->cert_file, when, now);
    } else if (info->not_after_ms - now_ms < CERT_RENEW_WARN_MS) {
        plat_cert_time_str(info->not_after_ms, when, sizeof when);
        IOT_LOG(IOT_LOG_WARN, "certificate %s expires on %s: renew it soon", cfg->cert_file, when);
    }
}
