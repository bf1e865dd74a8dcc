/* SPDX-License-Identifier: Apache-2.0 */
/* Time. Modules take a struct plat_clock so tests can drive time by hand. */
#ifndef IOT_PLAT_CLOCK_H
#define IOT_PLAT_CLOCK_H
#include <stdint.h>

struct plat_clock {
    uint64_t (*mono_ms)(void *ctx); /**< monotonic milliseconds; never goes back */
    int64_t (*wall_ms)(void *ctx);  /**< Unix time in milliseconds (may jump) */
    void *ctx;
};

/** @brief The system clock (CLOCK_MONOTONIC / CLOCK_REALTIME). Static storage. */
const struct plat_clock *plat_clock_system(void);

static inline uint64_t plat_clock_mono_ms(const struct plat_clock *c) { return c->mono_ms(c->ctx); }
static inline int64_t plat_clock_wall_ms(const struct plat_clock *c) { return c->wall_ms(c->ctx); }

/** @brief Shortcuts for the system clock. */
uint64_t plat_mono_ms(void);
int64_t plat_wall_ms(void);
/** @brief Sleep (used by tools and tests; agent loops wait on a plat_event instead). */
void plat_sleep_ms(uint32_t ms);

#endif
