/* SPDX-License-Identifier: Apache-2.0 */
/* Levelled logging. The level is checked before formatting. Library code never writes to stdout. */
#ifndef IOT_LOG_H
#define IOT_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum iot_log_level {
    IOT_LOG_ERROR = 3, /* syslog priorities, so journald understands the "<N>" prefix */
    IOT_LOG_WARN = 4,
    IOT_LOG_INFO = 6,
    IOT_LOG_DEBUG = 7
};

/** Lines at or below (more severe than or equal to) this level are written. */
extern volatile int iot_log_threshold;

typedef void (*iot_log_sink_fn)(void *ctx, enum iot_log_level lvl, const char *tag, const char *line);

void iot_log_set_level(enum iot_log_level lvl);
/** @brief Parse "error|warn|info|debug". @return false when @p s is none of them. */
bool iot_log_level_parse(const char *s, enum iot_log_level *out);
/** @brief Replace the sink (NULL restores the default stderr sink). */
void iot_log_set_sink(iot_log_sink_fn fn, void *ctx);
/**
 * @brief Default sink format. With @p journal true, lines are "<P>tag: msg" with no timestamp (journald
 * adds its own); otherwise "YYYY-mm-ddTHH:MM:SS.mmmZ LEVEL tag: msg". Chosen automatically from
 * $JOURNAL_STREAM at first use; this forces it.
 */
void iot_log_set_journal(bool journal);

void iot_log_write(enum iot_log_level lvl, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifndef IOT_LOG_TAG
#define IOT_LOG_TAG "iot"
#endif

#define IOT_LOG(lvl, ...)                                                                          \
    do {                                                                                           \
        if ((int)(lvl) <= iot_log_threshold)                                                       \
            iot_log_write((lvl), IOT_LOG_TAG, __VA_ARGS__);                                        \
    } while (0)

#endif
