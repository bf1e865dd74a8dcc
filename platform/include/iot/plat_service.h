/* SPDX-License-Identifier: Apache-2.0 */
/* The service manager boundary: readiness, watchdog keep-alives and status for systemd (sd_notify).
 * Every call is a cheap no-op when not run by systemd, or on a build without libsystemd. */
#ifndef IOT_PLAT_SERVICE_H
#define IOT_PLAT_SERVICE_H
#include <stdbool.h>
#include <stdint.h>

/** @brief Tell the service manager that start-up is complete (Type=notify). */
void plat_service_ready(void);
/** @brief Tell the service manager that a clean stop has begun. */
void plat_service_stopping(void);
/** @brief A free-form status line (systemctl status shows it). */
void plat_service_status(const char *status);
/**
 * @brief The watchdog interval the manager expects keep-alives within (WatchdogSec), in ms;
 * 0 when there is no watchdog. Send plat_service_watchdog() at least every half of it.
 */
uint32_t plat_service_watchdog_ms(void);
/** @brief Watchdog keep-alive: call from the main loop only when the loop is healthy. */
void plat_service_watchdog(void);
/** @brief True when stderr goes to the journal (log lines then carry no timestamps). */
bool plat_service_journal(void);

#endif
