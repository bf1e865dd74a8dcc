/* SPDX-License-Identifier: Apache-2.0 */
/* plat_service for builds without libsystemd: nothing to tell. */
#include "iot/plat_service.h"

#include <stdlib.h>

void plat_service_ready(void) {}
void plat_service_stopping(void) {}
void plat_service_status(const char *status) { (void)status; }
void plat_service_watchdog(void) {}
uint32_t plat_service_watchdog_ms(void) { return 0; }
bool plat_service_journal(void) { return getenv("JOURNAL_STREAM") != NULL; }
