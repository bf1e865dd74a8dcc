/* SPDX-License-Identifier: Apache-2.0 */
/* plat_service over libsystemd's sd_notify (chosen by CMake when libsystemd is found). */
#include "iot/plat_service.h"

#include <stdlib.h>
#include <systemd/sd-daemon.h>

void plat_service_ready(void) { (void)sd_notify(0, "READY=1"); }
void plat_service_stopping(void) { (void)sd_notify(0, "STOPPING=1"); }
void plat_service_status(const char *status) { (void)sd_notifyf(0, "STATUS=%s", status); }
void plat_service_watchdog(void) { (void)sd_notify(0, "WATCHDOG=1"); }

uint32_t plat_service_watchdog_ms(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0)
        return 0;
    return usec / 1000u > UINT32_MAX ? UINT32_MAX : (uint32_t)(usec / 1000u);
}

bool plat_service_journal(void) { return getenv("JOURNAL_STREAM") != NULL; }
