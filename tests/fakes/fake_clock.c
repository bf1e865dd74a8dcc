/* SPDX-License-Identifier: Apache-2.0 */
/* A plat_clock that moves only when the test advances it. */
#include "fake_clock.h"

static uint64_t fake_mono(void *ctx) { return ((struct fake_clock *)ctx)->mono_ms; }
static int64_t fake_wall(void *ctx) { return ((struct fake_clock *)ctx)->wall_ms; }

void fake_clock_init(struct fake_clock *fc, uint64_t mono_ms, int64_t wall_ms)
{
    fc->mono_ms = mono_ms;
    fc->wall_ms = wall_ms;
    fc->clock.mono_ms = fake_mono;
    fc->clock.wall_ms = fake_wall;
    fc->clock.ctx = fc;
}

void fake_clock_advance(struct fake_clock *fc, uint64_t ms)
{
    fc->mono_ms += ms;
    fc->wall_ms += (int64_t)ms;
}
