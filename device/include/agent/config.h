/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's configuration (INI, libinih): defaults, loading and validation. No network, no files
 * other than the config itself are touched here, so it is testable on its own. */
#ifndef AGENT_CONFIG_H
#define AGENT_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/config_commands.h"
#include "agent/config_store.h"
#include "iot/err.h"
#include "iot/log.h"
#include "iot/plat_cert.h"
#include "iot/topic.h"

#define AGENT_PATH_MAX 512
#define AGENT_HOST_MAX 256
#define AGENT_CLIENT_ID_MAX 128

/** Simulated sensors, as bits of agent_config.sim_sensors. */
enum agent_sim_sensor {
    AGENT_SIM_TEMPERATURE = 1u << 0,
    AGENT_SIM_HUMIDITY = 1u << 1,
    AGENT_SIM_MOTION = 1u << 2,
    AGENT_SIM_DOOR = 1u << 3,
    AGENT_SIM_ENERGY = 1u << 4,
    AGENT_SIM_ALL = (1u << 5) - 1, /**< the default set: the five above */
    AGENT_SIM_LIGHT = 1u << 5      /**< a dimmable light (iot-sim); not in the default set */
};

struct agent_config {
    /* [device] */
    char device_id[IOT_DEVICE_ID_MAX + 1];      /**< required */
    char state_dir[AGENT_PATH_MAX];             /**< ./iot-agent-state */
    /* [mqtt] */
    char host[AGENT_HOST_MAX];                  /**< 127.0.0.1 */
    uint16_t port;                              /**< 8883 */
    char ca_file[AGENT_PATH_MAX];               /**< required */
    char cert_file[AGENT_PATH_MAX];             /**< required */
    char key_file[AGENT_PATH_MAX];              /**< required */
    char client_id[AGENT_CLIENT_ID_MAX];        /**< default: device_id */
    uint32_t keepalive_s;                       /**< 30 */
    uint32_t reconnect_min_ms;                  /**< 500 */
    uint32_t reconnect_max_ms;                  /**< 30000 */
    uint32_t inflight;                          /**< 50: max QoS 1 publishes outstanding */
    /* [telemetry] */
    uint32_t interval_ms;                       /**< 1000 */
    uint32_t batch_max;                         /**< 10 samples per TelemetryBatch */
    uint64_t max_samples;                       /**< 0 = forever; N = N samples, drain, stop */
    uint32_t drain_timeout_ms;                  /**< 30000: max wait for acks after max_samples */
    uint32_t buffer_max_samples;                /**< 100000: in-memory backlog bound */
    /* [sensors] */
    bool linux_sensors;                         /**< true */
    unsigned sim_sensors;                       /**< enum agent_sim_sensor bits; AGENT_SIM_ALL */
    uint64_t seed;                              /**< 0 = random */
    /* [log] */
    enum iot_log_level log_level;               /**< info */
    /* [commands], [command.NAME], [state] (config_commands.h) */
    struct agent_commands_config commands;
    /* [store] (config_store.h) */
    struct agent_store_config store;
    /* Not an option of the file: set by a caller (iot-agent's main) that has already run
     * agent_config_check_files and agent_config_log_cert_dates, so that agent_create does not parse
     * the certificate again. false (the default) = agent_create checks the files itself when it
     * uses the Paho adapter. */
    bool tls_files_checked;
};

/** @brief Fill @p cfg with the defaults (device_id and the TLS files empty). */
void agent_config_defaults(struct agent_config *cfg);

/**
 * @brief Load @p path over the defaults and validate. On error @p errbuf gets one line naming the file,
 * the line, the section, the key and why, e.g. "a.conf:7: [mqtt] port: bad number 'x'".
 * @return IOT_OK, IOT_ERR_NOT_FOUND (no such file), IOT_ERR_IO (unreadable), IOT_ERR_INVAL (bad content)
 */
enum iot_err agent_config_load(const char *path, struct agent_config *cfg, char *errbuf, size_t errlen);

/**
 * @brief Same as agent_config_load over INI text in memory; @p name is used in messages.
 * @return IOT_OK, IOT_ERR_INVAL
 */
enum iot_err agent_config_parse(const char *name, const char *text, struct agent_config *cfg,
                                char *errbuf, size_t errlen);

/** @brief Parse a simulated-sensor list ("temperature,door"). @return false (and the bad name in
 * @p bad, cap @p bad_cap) on an unknown name. */
bool agent_config_parse_sensors(const char *list, unsigned *out, char *bad, size_t bad_cap);

/**
 * @brief Check that the TLS files of @p cfg exist, are readable and look like PEM, that the
 * certificate parses, that the private key is its key, and that its subject CN is the device id
 * (the broker takes the CN as the MQTT username, and its ACL grants a device only its own topics:
 * another device's certificate would connect and then have every publish refused). On failure
 * @p errbuf names the option, the file and what is wrong.
 * @param[out] info when not NULL, receives what the certificate says (CN, validity period), set
 * only on IOT_OK: pass it to agent_config_log_cert_dates instead of parsing the file again
 * @return IOT_OK, IOT_ERR_NOT_FOUND (missing), IOT_ERR_IO (unreadable), IOT_ERR_MALFORMED (not PEM,
 * does not parse), IOT_ERR_INVAL (key of another certificate, CN is not the device id)
 */
enum iot_err agent_config_check_files(const struct agent_config *cfg, struct plat_cert_info *info,
                                      char *errbuf, size_t errlen);

/**
 * @brief Log what the validity period of @p info (the certificate of @p cfg, as returned by
 * agent_config_check_files; the file is not read again) means at @p now_ms: expired (an error: the
 * broker refuses it), not yet valid (a warning: often a clock not yet synchronised on a board
 * without a real-time clock), or expiring within 30 days (a warning). Never fails: the clock may
 * be the one that is wrong, and a renewed certificate can be put in place while the agent runs.
 */
void agent_config_log_cert_dates(const struct agent_config *cfg, const struct plat_cert_info *info,
                                 int64_t now_ms);

/** @brief Print the documented options with their defaults (for --help). */
const char *agent_config_help(void);

#endif
