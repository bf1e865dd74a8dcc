/* SPDX-License-Identifier: Apache-2.0 */
/* The [store] section of agent.conf (see config_store.h). config.c routes the section here and
 * wraps the reasons into its file:line messages. */
#include "agent/config_store.h"

#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_MIN_BYTES (64u * 1024u)
#define STORE_MAX_BYTES (16ull * 1024 * 1024 * 1024)

static const char help_text[] =
    "  [store]     kind = disk                disk | memory (memory: lost on restart; tests)\n"
    "              dir =                      default <state_dir>/store\n"
    "              max_bytes = 64M            disk bound (suffix K, M, G = KiB, MiB, GiB); when\n"
    "                                         full the oldest samples are dropped and reported\n"
    "              fsync = interval           never | interval | always: what survives a power cut\n"
    "                                         (a kill -9 loses nothing with any of them)\n"
    "              fsync_interval_ms = 1000   interval: at most this much is lost at a power cut\n"
    "              resend_after_ms = 10000    re-send samples with no Receipt after this long\n"
    "                                         (doubles while none arrives, up to 8x)\n"
    "              ack = receipt              receipt | puback: what removes a sample\n"
    "              stats_interval_ms = 60000  how often the agent logs its counters\n";

const char *agent_store_config_help(void) { return help_text; }

void agent_store_config_defaults(struct agent_store_config *c)
{
    memset(c, 0, sizeof *c);
    c->kind = AGENT_STORE_DISK;
    c->max_bytes = 64u * 1024u * 1024u;
    c->fsync = AGENT_FSYNC_INTERVAL;
    c->fsync_interval_ms = 1000;
    c->resend_after_ms = 10000;
    c->ack = AGENT_ACK_RECEIPT;
    c->stats_interval_ms = 60000;
}

static enum iot_err why_fmt(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum iot_err why_fmt(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return IOT_ERR_INVAL;
}

static enum iot_err parse_u64(const char *v, uint64_t min, uint64_t max, bool suffix, uint64_t *out,
                              char *why, size_t cap)
{
    char *end;
    errno = 0;
    unsigned long long n = (*v >= '0' && *v <= '9') ? strtoull(v, &end, 10) : 0;
    if (!(*v >= '0' && *v <= '9') || errno == ERANGE)
        return why_fmt(why, cap, "bad number '%s'", v);
    uint64_t mult = 1;
    if (suffix && *end && !end[1]) {
        switch (*end) {
        case 'k': case 'K': mult = 1024u; end++; break;
        case 'm': case 'M': mult = 1024u * 1024u; end++; break;
        case 'g': case 'G': mult = 1024u * 1024u * 1024u; end++; break;
        default: break;
        }
    }
    if (*end)
        return why_fmt(why, cap, "bad number '%s'%s", v, suffix ? " (suffix K, M or G)" : "");
    if (n > max / mult || n * mult < min || n * mult > max)
        return why_fmt(why, cap, "%s is out of range %" PRIu64 "..%" PRIu64, v, min, max);
    *out = n * mult;
    return IOT_OK;
}

static enum iot_err parse_u32(const char *v, uint32_t min, uint32_t max, uint32_t *out, char *why,
                              size_t cap)
{
    uint64_t n;
    enum iot_err rc = parse_u64(v, min, max, false, &n, why, cap);
    if (rc == IOT_OK)
        *out = (uint32_t)n;
    return rc;
}

enum iot_err agent_store_config_key(struct agent_store_config *c, const char *section,
                                    const char *key, const char *v, char *why, size_t cap)
{
    if (strcmp(section, "store") != 0)
        return IOT_ERR_NOT_FOUND;
    if (strcmp(key, "kind") == 0) {
        if (strcmp(v, "disk") == 0)
            c->kind = AGENT_STORE_DISK;
        else if (strcmp(v, "memory") == 0)
            c->kind = AGENT_STORE_MEMORY;
        else
            return why_fmt(why, cap, "bad kind '%.40s' (expected disk or memory)", v);
        return IOT_OK;
    }
    if (strcmp(key, "dir") == 0) {
        if (strlen(v) >= sizeof c->dir)
            return why_fmt(why, cap, "value too long (max %zu bytes)", sizeof c->dir - 1);
        memcpy(c->dir, v, strlen(v) + 1);
        return IOT_OK;
    }
    if (strcmp(key, "max_bytes") == 0)
        return parse_u64(v, STORE_MIN_BYTES, STORE_MAX_BYTES, true, &c->max_bytes, why, cap);
    if (strcmp(key, "fsync") == 0) {
        if (strcmp(v, "never") == 0)
            c->fsync = AGENT_FSYNC_NEVER;
        else if (strcmp(v, "interval") == 0)
            c->fsync = AGENT_FSYNC_INTERVAL;
        else if (strcmp(v, "always") == 0)
            c->fsync = AGENT_FSYNC_ALWAYS;
        else
            return why_fmt(why, cap, "bad policy '%.40s' (expected never, interval or always)", v);
        return IOT_OK;
    }
    if (strcmp(key, "fsync_interval_ms") == 0)
        return parse_u32(v, 1, 3600000, &c->fsync_interval_ms, why, cap);
    if (strcmp(key, "resend_after_ms") == 0)
        return parse_u32(v, 100, 86400000, &c->resend_after_ms, why, cap);
    if (strcmp(key, "ack") == 0) {
        if (strcmp(v, "receipt") == 0)
            c->ack = AGENT_ACK_RECEIPT;
        else if (strcmp(v, "puback") == 0)
            c->ack = AGENT_ACK_PUBACK;
        else
            return why_fmt(why, cap, "bad value '%.40s' (expected receipt or puback)", v);
        return IOT_OK;
    }
    if (strcmp(key, "stats_interval_ms") == 0)
        return parse_u32(v, 100, 86400000, &c->stats_interval_ms, why, cap);
    return why_fmt(why, cap, "unknown key");
}
