/* SPDX-License-Identifier: Apache-2.0 */
/* Sensor sources behind one small interface, the metric list they fill, the Linux /proc and /sys
 * parsers (pure functions over text, for tests) and the simulated smart-home model. */
#ifndef AGENT_SENSORS_H
#define AGENT_SENSORS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"

#define AGENT_METRIC_NAME_MAX 48
/** Most metrics in one sample (all sources together). */
#define AGENT_MAX_METRICS 64

struct agent_metric {
    char name[AGENT_METRIC_NAME_MAX];
    double value;
    const char *unit; /**< static string; "" when none */
};

struct agent_metrics {
    struct agent_metric v[AGENT_MAX_METRICS];
    size_t n;
};

/** @brief Append one metric. @return IOT_OK, IOT_ERR_FULL (AGENT_MAX_METRICS reached) */
enum iot_err agent_metrics_add(struct agent_metrics *m, const char *name, double value,
                               const char *unit);

/** One source of metrics. read() appends to @p out; @p now_ms is monotonic. */
struct agent_sensor {
    const char *name;
    enum iot_err (*read)(void *ctx, uint64_t now_ms, struct agent_metrics *out);
    void *ctx;
};

/* ---- Linux sources (sensors_linux.c) ---- */

/** @brief "0.52 0.58 0.59 1/389 12345" -> load1/5/15. @return IOT_OK, IOT_ERR_MALFORMED */
enum iot_err agent_linux_parse_loadavg(const char *text, double load[3]);
/** @brief /proc/meminfo -> MemAvailable and MemTotal in bytes. @return IOT_OK, IOT_ERR_MALFORMED */
enum iot_err agent_linux_parse_meminfo(const char *text, uint64_t *avail, uint64_t *total);
/** @brief /proc/uptime -> seconds. @return IOT_OK, IOT_ERR_MALFORMED */
enum iot_err agent_linux_parse_uptime(const char *text, double *uptime_s);
/** @brief /proc/net/dev -> rx and tx bytes summed over interfaces other than "lo".
 *  @return IOT_OK, IOT_ERR_MALFORMED */
enum iot_err agent_linux_parse_netdev(const char *text, uint64_t *rx, uint64_t *tx);
/** @brief thermal_zoneN/temp ("45123" millidegrees) -> degrees C. @return IOT_OK, IOT_ERR_MALFORMED */
enum iot_err agent_linux_parse_thermal(const char *text, double *temp_c);

struct agent_linux;

/**
 * @brief Probe the Linux sources under @p root ("" for the real system) and log one INFO line per
 * absent source. Appends up to @p cap sensors to @p out.
 * @return IOT_OK, IOT_ERR_NOMEM
 */
enum iot_err agent_linux_create(const char *root, struct agent_linux **lx, struct agent_sensor *out,
                                size_t cap, size_t *n_out);
void agent_linux_destroy(struct agent_linux *lx);

/* ---- Simulated smart-home model (sensors_sim.c) ---- */

struct agent_sim;

/**
 * @brief Create the model. @p seed 0 takes a random seed. @p which is a mask of enum agent_sim_sensor.
 * Appends one sensor per enabled kind to @p out (cap @p cap).
 * @return IOT_OK, IOT_ERR_NOMEM
 */
enum iot_err agent_sim_create(uint64_t seed, unsigned which, struct agent_sim **sim,
                              struct agent_sensor *out, size_t cap, size_t *n_out);
void agent_sim_destroy(struct agent_sim *sim);
/** @brief Sensor entries of @p sim for the kinds in @p which (the model's state is kept), up to
 *  @p cap. @return how many were written */
size_t agent_sim_sensors(struct agent_sim *sim, unsigned which, struct agent_sensor *out, size_t cap);

/** Setters for commands of a later issue. */
void agent_sim_set_setpoint(struct agent_sim *sim, double celsius);
double agent_sim_setpoint(const struct agent_sim *sim);
void agent_sim_set_plug(struct agent_sim *sim, bool on);
bool agent_sim_plug(const struct agent_sim *sim);
/** @brief Time constant (s, clamped to 1..86400) of the room temperature's approach to the setpoint
 *  (default 600; iot-sim makes it short for tests). */
void agent_sim_set_time_constant(struct agent_sim *sim, double seconds);
/** @brief Switch the light; @p brightness in percent (clamped to 0..100), negative = keep. */
void agent_sim_set_light(struct agent_sim *sim, bool on, double brightness);
/** @brief Whether the light is on; its brightness setting (kept while off) in *@p brightness. */
bool agent_sim_light(const struct agent_sim *sim, double *brightness);

/** A small deterministic PRNG (splitmix64 seeding + xorshift64*), exposed for tests. */
struct agent_rng {
    uint64_t s;
};
void agent_rng_seed(struct agent_rng *r, uint64_t seed);
uint64_t agent_rng_next(struct agent_rng *r);
/** @brief Uniform in [0, 1). */
double agent_rng_unit(struct agent_rng *r);

#endif
