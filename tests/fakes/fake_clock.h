/* SPDX-License-Identifier: Apache-2.0 */
/* A plat_clock that moves only when the test advances it. */
#ifndef FAKE_CLOCK_H
#define FAKE_CLOCK_H
#include <stdint.h>

#include "iot/plat_clock.h"

struct fake_clock {
    uint64_t mono_ms;
    int64_t wall_ms;
    struct plat_clock clock; /**< pass &fc.clock to the code under test */
};

void fake_clock_init(struct fake_clock *fc, uint64_t mono_ms, int64_t wall_ms);
/** @brief Move both clocks forward by @p ms. */
void fake_clock_advance(struct fake_clock *fc, uint64_t ms);

#endif
