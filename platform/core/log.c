/* SPDX-License-Identifier: Apache-2.0 */
/* Log formatting and the default stderr sink (journald-friendly when run under systemd). */
#include "iot/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

volatile int iot_log_threshold = IOT_LOG_INFO;

static iot_log_sink_fn sink_fn;
static void *sink_ctx;
static int journal_mode = -1; /* -1: decide from $JOURNAL_STREAM at first use */

void iot_log_set_level(enum iot_log_level lvl) { iot_log_threshold = (int)lvl; }

bool iot_log_level_parse(const char *s, enum iot_log_level *out)
{
    static const struct { const char *name; enum iot_log_level lvl; } names[] = {
        {"error", IOT_LOG_ERROR}, {"warn", IOT_LOG_WARN}, {"warning", IOT_LOG_WARN},
        {"info", IOT_LOG_INFO},   {"debug", IOT_LOG_DEBUG},
    };
    for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].lvl;
            return true;
        }
    }
    return false;
}

void iot_log_set_sink(iot_log_sink_fn fn, void *ctx)
{
    sink_fn = fn;
    sink_ctx = ctx;
}

void iot_log_set_journal(bool journal) { journal_mode = journal ? 1 : 0; }

static const char *level_name(enum iot_log_level lvl)
{
    switch (lvl) {
    case IOT_LOG_ERROR: return "ERROR";
    case IOT_LOG_WARN: return "WARN ";
    case IOT_LOG_INFO: return "INFO ";
    case IOT_LOG_DEBUG: return "DEBUG";
    }
    return "?";
}

static void stderr_sink(enum iot_log_level lvl, const char *tag, const char *msg)
{
    char line[1200];
    if (journal_mode < 0)
        journal_mode = getenv("JOURNAL_STREAM") != NULL;
    if (journal_mode) {
        snprintf(line, sizeof line, "<%d>%s: %s\n", (int)lvl, tag, msg);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        char when[32];
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(line, sizeof line, "%s.%03ldZ %s %s: %s\n", when, ts.tv_nsec / 1000000L,
                 level_name(lvl), tag, msg);
    }
    fputs(line, stderr); /* one call per line keeps lines from threads whole */
}

void iot_log_write(enum iot_log_level lvl, const char *tag, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (sink_fn)
        sink_fn(sink_ctx, lvl, tag, msg);
    else
        stderr_sink(lvl, tag, msg);
}
