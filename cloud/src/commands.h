/* SPDX-License-Identifier: Apache-2.0 */
/* Commands and desired state, cloud side: durable (cmd_store), signed (cmd_sign), published over
 * MQTT 5 when the device is online, driven through the lifecycle of cmd_state.h by PUBACKs, device
 * results, deadlines and cancels; terminal states fire webhooks. Thread-safe: the HTTP thread
 * submits and reads, Paho's and the worker's threads post events, the main loop runs
 * commands_tick(), the webhook thread reports tries. */
#ifndef INGEST_COMMANDS_H
#define INGEST_COMMANDS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmd_sign.h"
#include "cmd_state.h"
#include "ingest/config.h"
#include "iot.pb-c.h"
#include "iot/err.h"
#include "iot/plat_event.h"
#include "iot/topic.h"
#include "json_util.h"
#include "metrics.h"
#include "mqtt_client.h"
#include "webhooks.h"

#define CMD_NAME_MAX 64
#define CMD_PARAMS_MAX 32
#define CMD_KEY_MAX 64
#define CMD_VALUE_MAX 1024
#define CMD_IDEM_KEY_MAX 128

/** One entry of a string map (params, settings). */
struct cmd_param {
    char key[CMD_KEY_MAX + 1];
    char value[CMD_VALUE_MAX + 1];
};

/** A validated POST /v1/devices/{id}/commands (see api_json.h). Large: allocate it. */
struct cmd_request {
    char device_id[IOT_DEVICE_ID_MAX + 1];
    char name[CMD_NAME_MAX + 1];
    struct cmd_param params[CMD_PARAMS_MAX];
    size_t n_params;
    uint32_t timeout_s;
    char callback_url[WEBHOOK_URL_MAX + 1]; /**< empty: none */
    char idem_key[CMD_IDEM_KEY_MAX + 1];    /**< empty: none */
};

enum cmd_submit_outcome {
    CMD_SUBMIT_CREATED,     /**< a new command */
    CMD_SUBMIT_EXISTING,    /**< the idempotency key names an equal command: that one */
    CMD_SUBMIT_KEY_CONFLICT /**< the idempotency key names a different command */
};

/** Every state change, after it is committed (called without locks held, any thread). */
typedef void (*commands_change_fn)(void *ctx, const char *cid, const char *device_id,
                                   enum cmd_state st, int64_t at_ms);

struct commands;

/**
 * @brief Open the command store on @p cfg->storage (after ingest_store_sqlite_open made the schema),
 * load the signing key ([commands] signing_key_file; none: submits fail) and start webhooks;
 * resubmit webhooks left pending by a previous run. @p metrics must outlive it.
 * @return IOT_OK, IOT_ERR_IO, IOT_ERR_NOT_FOUND / IOT_ERR_TLS (signing key), IOT_ERR_NOMEM,
 * IOT_ERR_INTERNAL
 */
enum iot_err commands_create(const struct cloud_config *cfg, struct ingest_metrics *metrics,
                             struct commands **out);
/** @brief Stop webhooks and close (NULL-safe). */
void commands_destroy(struct commands *c);

/** @brief Wiring, before any traffic: where to publish, whom to tell, which loop to wake. */
void commands_set_mqtt(struct commands *c, struct ingest_mqtt *mqtt);
void commands_set_listener(struct commands *c, commands_change_fn fn, void *ctx);
void commands_set_wake(struct commands *c, struct plat_event *wake);

/** @brief True when a signing key is loaded (commands can be submitted). */
bool commands_enabled(const struct commands *c);

/**
 * @brief Store (and sign) a command, or find the one its idempotency key names.
 * @param[out] id the command's id (new or existing)
 * @return IOT_OK (see @p outcome), IOT_ERR_CLOSED (no signing key), IOT_ERR_TIMEOUT (the
 * database is locked by another writer: retry later), IOT_ERR_IO, IOT_ERR_NOMEM, IOT_ERR_TLS
 */
enum iot_err commands_submit(struct commands *c, const struct cmd_request *rq,
                             char id[CMD_ID_LEN + 1], enum cmd_submit_outcome *outcome);

/**
 * @brief The command as JSON (cJSON_Delete it) and its state.
 * @return IOT_OK, IOT_ERR_NOT_FOUND, IOT_ERR_IO, IOT_ERR_NOMEM
 */
enum iot_err commands_get(struct commands *c, const char *cid, cJSON **json, enum cmd_state *st);

/**
 * @brief Cancel a command not yet delivered (queued and not being published).
 * @param[out] cancelled false: it was already delivered or finished (the API's 409)
 * @return IOT_OK, IOT_ERR_NOT_FOUND, IOT_ERR_TIMEOUT (database locked), IOT_ERR_IO
 */
enum iot_err commands_cancel(struct commands *c, const char *cid, bool *cancelled);

/**
 * @brief Store the next desired state of @p device (version = previous + 1) and publish it
 * (retained) as soon as MQTT is connected.
 * @return IOT_OK, IOT_ERR_TIMEOUT (database locked), IOT_ERR_IO, IOT_ERR_NOMEM
 */
enum iot_err commands_set_desired(struct commands *c, const char *device, const struct cmd_kv *kv,
                                  size_t n, uint64_t *version);

/** @brief Completion of a publish (Paho's thread): queued for commands_tick. */
void commands_on_published(struct commands *c, uint64_t token, bool ok);
/** @brief A validated CommandResult (worker thread, after its batch committed): copied, queued. */
void commands_on_result(struct commands *c, const Iot__V1__CommandResult *r);
/** @brief A committed presence change: ONLINE makes queued commands of @p device due. */
void commands_on_presence(struct commands *c, const char *device, bool online);
/** @brief MQTT (re)connected: queued commands and unpublished desired states are due. */
void commands_on_connected(struct commands *c);

/**
 * @brief Main loop: apply queued events, expire commands past their deadline, publish what is due.
 * A device's result or a PUBACK the store refuses (database locked past the lock wait, or failing)
 * is kept in memory and retried from here with a backoff, in arrival order per command
 * (iot_cloud_command_updates_* metrics); its command is not expired, cancelled or re-published
 * meanwhile.
 * @return ms until the next deadline or retry (capped at 1000)
 */
uint32_t commands_tick(struct commands *c);

/** @brief The JSON object stored as a command's result (cJSON_Delete it). NULL on NOMEM. */
cJSON *commands_result_json(const Iot__V1__CommandResult *r);

#endif
