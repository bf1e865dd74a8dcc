/* SPDX-License-Identifier: Apache-2.0 */
/* Durable commands and desired state: the API's own connection beside the ingest worker's (SQLite:
 * WAL, every write inside BEGIN IMMEDIATE, FIELD-NOTES.md; or PostgreSQL). Not thread-safe:
 * commands.c calls it under its lock. Callbacks of the foreach functions must not call back into
 * the store. Any function that runs a statement may also return IOT_ERR_TIMEOUT: it waited for a
 * lock another connection held past the lock wait (SQLite busy timeout, PostgreSQL lock_timeout),
 * nothing was changed (logged; the API answers 503 + Retry-After). */
#ifndef INGEST_CMD_STORE_H
#define INGEST_CMD_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmd_sign.h"
#include "cmd_state.h"
#include "ingest/config.h"
#include "iot/err.h"
#include "iot/topic.h"
#include "json_util.h"

struct cmd_store;

/** A new command row (state queued). Strings are borrowed for the call. */
struct cmd_new {
    const char *id, *device_id, *name;
    const char *params_json;  /**< JSON object of strings */
    int64_t created_ms, expires_ms;
    uint32_t timeout_s;
    const char *callback_url; /**< NULL: none */
    const char *idem_key;     /**< NULL: none */
    const uint8_t *payload;   /**< the SignedCommand bytes published */
    size_t payload_len;
};

/**
 * @brief Open @p storage, a SQLite path or a postgresql:// URI (the schema must exist: the ingest
 * store created it).
 * @return IOT_OK, IOT_ERR_IO (logged), IOT_ERR_INVAL, IOT_ERR_NOMEM
 */
enum iot_err cmd_store_open(enum cloud_storage_kind kind, const char *storage,
                            struct cmd_store **out);
void cmd_store_close(struct cmd_store *s);

/** @return IOT_OK, IOT_ERR_TIMEOUT (SQLite: another writer held the lock beyond the busy
 * timeout; PostgreSQL takes its locks statement by statement, see above; logged), IOT_ERR_IO
 * (failed; logged) */
enum iot_err cmd_store_begin(struct cmd_store *s);
/** @return IOT_OK, IOT_ERR_IO (rolled back) */
enum iot_err cmd_store_commit(struct cmd_store *s);
void cmd_store_rollback(struct cmd_store *s);

/** @return IOT_OK, IOT_ERR_IO */
enum iot_err cmd_store_insert(struct cmd_store *s, const struct cmd_new *n);

/**
 * @brief The command stored under (@p device, @p key). @p same: its name and params equal these.
 * @return IOT_OK, IOT_ERR_NOT_FOUND, IOT_ERR_IO
 */
enum iot_err cmd_store_find_idem(struct cmd_store *s, const char *device, const char *key,
                                 const char *name, const char *params_json,
                                 char id[CMD_ID_LEN + 1], bool *same);

/** @return IOT_OK, IOT_ERR_NOT_FOUND, IOT_ERR_IO */
enum iot_err cmd_store_state(struct cmd_store *s, const char *cid, enum cmd_state *st,
                             char device[IOT_DEVICE_ID_MAX + 1]);

/**
 * @brief Move @p cid from @p from to @p to, appending {state, at_ms} to its history.
 * @param[out] changed false when the command was not in @p from
 * @return IOT_OK, IOT_ERR_IO
 */
enum iot_err cmd_store_transition(struct cmd_store *s, const char *cid, enum cmd_state from,
                                  enum cmd_state to, int64_t at_ms, bool *changed);

/** @brief Store the device's answer (a JSON object). @return IOT_OK, IOT_ERR_IO */
enum iot_err cmd_store_set_result(struct cmd_store *s, const char *cid, const char *result_json);

/**
 * @brief The command as the API shows it.
 * @param[out] out caller frees with cJSON_Delete
 * @return IOT_OK, IOT_ERR_NOT_FOUND, IOT_ERR_IO, IOT_ERR_NOMEM
 */
enum iot_err cmd_store_get_json(struct cmd_store *s, const char *cid, cJSON **out);

typedef void (*cmd_store_due_fn)(void *ctx, const char *cid, const char *device,
                                 const uint8_t *payload, size_t len, int64_t expires_ms);
/** @brief Queued, unexpired commands of online devices, oldest first, at most @p limit. */
enum iot_err cmd_store_foreach_due(struct cmd_store *s, int64_t now_ms, unsigned limit,
                                   cmd_store_due_fn fn, void *ctx);

/** @brief Sent (delivered, unanswered), unexpired commands of @p device, oldest first, at most
 * @p limit. @return IOT_OK, IOT_ERR_IO */
enum iot_err cmd_store_foreach_sent(struct cmd_store *s, const char *device, int64_t now_ms,
                                    unsigned limit, cmd_store_due_fn fn, void *ctx);

typedef void (*cmd_store_id_fn)(void *ctx, const char *cid, enum cmd_state st);
/** @brief Queued or sent commands whose deadline is at or before @p now_ms, at most @p limit. */
enum iot_err cmd_store_foreach_expired(struct cmd_store *s, int64_t now_ms, unsigned limit,
                                       cmd_store_id_fn fn, void *ctx);

/** @brief Earliest deadline of a queued or sent command; INT64_MAX when none. */
enum iot_err cmd_store_next_expiry(struct cmd_store *s, int64_t *out);

/**
 * @brief Append one webhook try (a JSON object) and set the webhook state
 * ("pending", "delivered", "failed"). @return IOT_OK, IOT_ERR_IO
 */
enum iot_err cmd_store_webhook_try(struct cmd_store *s, const char *cid, const char *try_json,
                                   const char *state);

typedef void (*cmd_store_webhook_fn)(void *ctx, const char *cid, const char *url, unsigned tries);
/** @brief Terminal commands whose webhook is still "pending" (after a restart). */
enum iot_err cmd_store_foreach_webhook_pending(struct cmd_store *s, cmd_store_webhook_fn fn,
                                               void *ctx);

/**
 * @brief Store the next desired state of @p device: version = previous + 1 (1 for the first),
 * unpublished. @return IOT_OK, IOT_ERR_IO
 */
enum iot_err cmd_store_desired_put(struct cmd_store *s, const char *device,
                                   const char *settings_json, int64_t now_ms, uint64_t *version);

typedef void (*cmd_store_desired_fn)(void *ctx, const char *device, uint64_t version,
                                     const char *settings_json);
/** @brief Desired states not yet acknowledged by the broker. */
enum iot_err cmd_store_desired_foreach_unpublished(struct cmd_store *s, cmd_store_desired_fn fn,
                                                   void *ctx);
/** @brief Mark (@p device, @p version) published (no-op when a newer version replaced it). */
enum iot_err cmd_store_desired_published(struct cmd_store *s, const char *device,
                                         uint64_t version);

#endif
