/* SPDX-License-Identifier: Apache-2.0 */
/* A wakeable wait: library threads (Paho's) and signal handlers signal; the main loop waits. */
#ifndef IOT_PLAT_EVENT_H
#define IOT_PLAT_EVENT_H
#include <stdbool.h>
#include <stdint.h>
#include "iot/err.h"

struct plat_event;

enum iot_err plat_event_create(struct plat_event **out);
void plat_event_destroy(struct plat_event *ev);
/** @brief Wake the waiter. Thread-safe and async-signal-safe. */
void plat_event_signal(struct plat_event *ev);
/**
 * @brief Wait until signalled or @p timeout_ms passes (clears the signal).
 * @return IOT_OK (signalled), IOT_ERR_TIMEOUT
 */
enum iot_err plat_event_wait(struct plat_event *ev, uint32_t timeout_ms);

/**
 * @brief A file descriptor that polls readable while @p ev is signalled, for hosts that multiplex
 * many events in one poll/epoll (iot-sim). Clear it with plat_event_wait(ev, 0). Owned by @p ev.
 */
int plat_event_fd(const struct plat_event *ev);

/** A mutex, for state shared with library callback threads. */
struct plat_mutex;
enum iot_err plat_mutex_create(struct plat_mutex **out);
void plat_mutex_destroy(struct plat_mutex *m);
void plat_mutex_lock(struct plat_mutex *m);
void plat_mutex_unlock(struct plat_mutex *m);

/**
 * @brief Route SIGINT and SIGTERM to @p ev and set *@p stop_flag to the signal number; ignore SIGPIPE.
 * Only one event may be registered per process.
 */
void plat_signals_install(struct plat_event *ev, volatile int *stop_flag);

/** @brief Replace this process with a fresh run of the same program and @p argv (for "restart"). */
enum iot_err plat_reexec(char *const argv[]);

#endif
