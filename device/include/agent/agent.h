/* SPDX-License-Identifier: Apache-2.0 */
/* The device agent: samples sensors, keeps a backlog, publishes telemetry and presence over MQTT.
 * All logic runs on the thread that calls agent_run() / agent_step(). */
#ifndef AGENT_AGENT_H
#define AGENT_AGENT_H
#include <stdint.h>

#include "agent/config.h"
#include "agent/mqtt.h"
#include "iot/err.h"
#include "iot/plat_clock.h"

#ifndef AGENT_VERSION
#define AGENT_VERSION "0.1.0"
#endif

struct agent;
struct plat_event;

/** Injected dependencies; every field is optional (NULL/0 = the real one). */
struct agent_deps {
    const struct plat_clock *clock; /**< must outlive the agent */
    struct agent_mqtt mqtt;         /**< ops NULL: the Paho adapter; else the agent takes ownership */
    const char *sys_root;           /**< prefix for /proc and /sys (tests); NULL = "" */
};

/** Counters, for logs and tests. */
struct agent_stats {
    uint64_t samples;          /**< samples taken */
    uint64_t batches_sent;     /**< telemetry publishes started */
    uint64_t samples_sent;     /**< samples in those publishes (re-sends counted again) */
    uint64_t samples_acked;    /**< samples acknowledged */
    uint64_t publish_failures;
    uint64_t connects;         /**< successful connects */
    uint64_t connect_failures;
    uint64_t losses;           /**< connections lost */
    uint64_t dropped;          /**< samples dropped for lack of space */
    uint64_t backlog;          /**< samples held, not yet acknowledged */
    uint64_t corrupt;          /**< stored samples lost to bad checksums */
    uint64_t store_disk_bytes; /**< disk the store occupies */
    uint64_t receipts;         /**< cloud receipts applied */
    uint64_t resends;          /**< times unreceipted samples were sent again */
    uint32_t outstanding;      /**< publishes in flight right now */
};

/** How agent_run() / the drain ended. */
enum agent_exit {
    AGENT_EXIT_OK = 0,            /**< stopped on request, or max_samples all acknowledged */
    AGENT_EXIT_FAILED = 1,        /**< could not start */
    AGENT_EXIT_DRAIN_TIMEOUT = 3, /**< max_samples: drain timeout hit with samples unacknowledged */
    AGENT_EXIT_RESTART = 4        /**< the restart command: the caller re-executes the program */
};

/**
 * @brief Create an agent: state dir (epoch, seq, connection counter), sensors, store, MQTT adapter.
 * Checks the TLS files (agent_config_check_files; the error names the file) unless
 * cfg->tls_files_checked says the caller did. Does not connect yet.
 * @return IOT_OK, IOT_ERR_INVAL, IOT_ERR_NOT_FOUND (a TLS file), IOT_ERR_IO, IOT_ERR_NOMEM
 */
enum iot_err agent_create(const struct agent_config *cfg, const struct agent_deps *deps,
                          struct agent **out);
/** @brief Destroy (NULL is a no-op). Saves the state (no seq gap on a clean restart). */
void agent_destroy(struct agent *a);

/** @brief Route SIGINT/SIGTERM to a clean stop of this agent (one agent per process). */
void agent_install_signals(struct agent *a);

/** @brief Ask the agent to stop cleanly (offline presence, disconnect). Thread-safe. */
void agent_stop(struct agent *a);

/**
 * @brief Run until stopped. Blocks. @return the exit status (enum agent_exit).
 */
enum agent_exit agent_run(struct agent *a);

/**
 * @brief One iteration of the main loop without waiting: drain MQTT events, run due timers (sample,
 * reconnect, shutdown deadlines), publish what the window allows.
 * @param[out] wait_ms how long the caller may sleep before the next call (an event may come sooner)
 * @return IOT_OK (keep going), IOT_ERR_CLOSED (finished; see agent_exit_status)
 */
enum iot_err agent_step(struct agent *a, uint32_t *wait_ms);

/** @brief Exit status once agent_step returned IOT_ERR_CLOSED. */
enum agent_exit agent_exit_status(const struct agent *a);

void agent_get_stats(const struct agent *a, struct agent_stats *out);

/** @brief The epoch of this device's sequence stream. */
uint64_t agent_epoch(const struct agent *a);

#endif
