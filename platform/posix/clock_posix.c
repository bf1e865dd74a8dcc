/* SPDX-License-Identifier: Apache-2.0 */
#include "iot/plat_clock.h"

#include <time.h>

uint64_t plat_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t plat_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void plat_sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static uint64_t sys_mono(void *ctx) { (void)ctx; return plat_mono_ms(); }
static int64_t sys_wall(void *ctx) { (void)ctx; return plat_wall_ms(); }

const struct plat_clock *plat_clock_system(void)
{
    static const struct plat_clock sys = {sys_mono, sys_wall, NULL};
    return &sys;
}
