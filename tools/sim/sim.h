/* SPDX-License-Identifier: Apache-2.0 */
/* iot-sim internals: options, the simulated devices (each a full iot_agent with its own identity,
 * state and store) and the one loop that runs them all. Printing to stdout happens in main.c and
 * sim_loop.c (progress, summary) only. */
#ifndef IOT_SIM_H
#define IOT_SIM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/mqtt.h"
#include "iot/err.h"
#include "iot/log.h"
#include "iot/plat_clock.h"
#include "iot/topic.h"

#define SIM_PATH_MAX 512
#define SIM_PREFIX_MAX 32

/** Device models of a house. */
enum sim_kind {
    SIM_THERMOSTAT,
    SIM_PLUG,
    SIM_MOTION,
    SIM_DOOR,
    SIM_HUMIDITY,
    SIM_LIGHT,
    SIM_KINDS
};

/** Options (command line or [sim] of --config). */
struct sim_opts {
    uint32_t devices;                 /**< 10 */
    uint32_t mix[SIM_KINDS];          /**< devices of each kind per house */
    char host[AGENT_HOST_MAX];        /**< 127.0.0.1 */
    uint16_t port;                    /**< 8883 */
    char pki[SIM_PATH_MAX];           /**< required: ca.crt, cmd-sign.pub, devices/ */
    bool issue;                       /**< issue missing device certificates (true) */
    char state[SIM_PATH_MAX];         /**< ./iot-sim-state: one directory per device */
    char prefix[SIM_PREFIX_MAX];      /**< "house": ids house0001-thermostat, ... */
    uint32_t interval_ms;             /**< 1000 */
    uint32_t batch_max;               /**< 10 */
    uint32_t inflight;                /**< 20 */
    enum agent_store_kind store;      /**< disk */
    uint64_t store_max_bytes;         /**< 1 MiB per device (64 KiB segments) */
    uint32_t buffer_samples;          /**< memory store bound: 1000 */
    enum agent_store_fsync fsync;     /**< never (a simulator; see --help) */
    bool commands;                    /**< true */
    double time_constant_s;           /**< 600: thermostat room */
    double churn;                     /**< 0: fraction of devices power-cycled per period */
    uint32_t churn_period_s;          /**< 30 */
    uint32_t clock_skew_ms;           /**< 0: wall clocks off by up to +-this */
    uint32_t burst;                   /**< 0: extra samples per device per burst */
    uint32_t burst_every_s;           /**< 30 */
    uint32_t connect_rate;            /**< 100 devices started per second */
    uint32_t duration_s;              /**< 0 = until a signal */
    uint32_t drain_s;                 /**< 15: at the end, wait this long for receipts */
    uint32_t progress_s;              /**< 5; 0 = no progress lines */
    char stats_file[SIM_PATH_MAX];    /**< "" = none: JSON summary written at exit */
    enum iot_log_level log_level;     /**< warn */
    uint64_t seed;                    /**< 0 = random */
    bool list;                        /**< print ids and kinds, then exit */
};

/** Life of one simulated device. */
enum sim_dev_state {
    DEV_PENDING,  /**< not started yet (connect ramp) */
    DEV_RUNNING,  /**< agent created and stepping */
    DEV_STOPPING, /**< agent_stop called; stepping until it closes */
    DEV_OFF,      /**< churned off until back_at */
    DEV_DONE      /**< stopped for good */
};

/** Counters the MQTT wrapper keeps (they survive the agent's re-creation). */
struct sim_dev_counters {
    uint64_t cmds_received; /**< messages on devices/{id}/commands */
    uint64_t cmds_answered; /**< publishes on devices/{id}/responses acknowledged */
    uint64_t connects;
};

struct sim_dev {
    char id[IOT_DEVICE_ID_MAX + 1];
    enum sim_kind kind;
    uint32_t index;
    enum sim_dev_state state;
    struct agent *agent;
    struct plat_event *ev;     /**< the Paho adapter's wake-up; polled by the loop */
    struct plat_clock clock;   /**< system monotonic time, wall time + skew_ms */
    int64_t skew_ms;
    uint64_t seed;
    uint64_t due;              /**< monotonic ms of the next agent_step */
    uint64_t back_at;          /**< DEV_OFF: when to start again */
    bool online;               /**< connected, as the MQTT wrapper saw it */
    bool churn_stop;           /**< the stop is a churn power-cycle, not the end */
    struct sim_dev_counters c;
    struct agent_stats base;   /**< stats of earlier agent instances (churn) */
};

struct sim {
    struct sim_opts o;
    struct sim_dev *devs;
    uint32_t n;
    struct plat_event *sig_ev;
    volatile int stop_signal;
    const struct sim_dev *current; /**< the device being stepped (log prefix) */
};

/* ---- sim_opts.c ---- */

/** @brief Defaults (see the field comments). */
void sim_opts_defaults(struct sim_opts *o);
/**
 * @brief Parse the command line (and any --config FILE it names). On error @p err gets one line.
 * @param[out] help set when --help was given (nothing else is checked then)
 * @return IOT_OK, IOT_ERR_INVAL
 */
enum iot_err sim_opts_parse(int argc, char **argv, struct sim_opts *o, bool *help, char *err,
                            size_t errlen);
/** @brief The --help text. */
const char *sim_opts_help(void);
/** @brief "thermostat" etc. */
const char *sim_kind_name(enum sim_kind k);

/* ---- sim_devices.c ---- */

/** @brief Lay out the devices (ids, kinds, seeds, skews); nothing is started. @return IOT_OK,
 *  IOT_ERR_NOMEM, IOT_ERR_INVAL (no device in the mix) */
enum iot_err sim_devices_plan(struct sim *s);
/** @brief Check the PKI and issue missing device certificates (if allowed; count in @p issued).
 *  @return IOT_OK, IOT_ERR_NOT_FOUND (PKI files missing: logged), IOT_ERR_TLS, IOT_ERR_IO */
enum iot_err sim_devices_identities(struct sim *s, uint32_t *issued);
/** @brief Create and start the agent of @p d (state dir, store, MQTT wrapper over Paho).
 *  @return IOT_OK or the agent's error (logged) */
enum iot_err sim_dev_start(struct sim *s, struct sim_dev *d);
/** @brief Destroy the agent of @p d, keeping its counters. */
void sim_dev_destroy_agent(struct sim_dev *d);
/** @brief Stats of @p d over all its agent instances. */
void sim_dev_stats(const struct sim_dev *d, struct agent_stats *out);
/** @brief Free everything (agents included). */
void sim_devices_free(struct sim *s);

/* ---- sim_loop.c ---- */

/** @brief Run the simulation until the duration ends or a signal. @return process exit status */
int sim_run(struct sim *s);

#endif
