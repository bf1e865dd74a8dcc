/* SPDX-License-Identifier: Apache-2.0 */
/* Private to commands.c, commands_dispatch.c and commands_retry.c: the commands object, its
 * in-flight table, inbox and retry list, and the helpers these files use. Everything here is
 * called with c->lock held unless said otherwise. */
#ifndef INGEST_COMMANDS_INTERNAL_H
#define INGEST_COMMANDS_INTERNAL_H
#include <pthread.h>

#include "cmd_store.h"
#include "commands.h"

#define DESIRED_TOKEN_BIT (1ull << 63)
#define DISPATCH_LIMIT 64
#define RESCAN_MS 2000u
#define RETRY_AFTER_FAIL_MS 1000u
#define TICK_MAX_MS 1000u
#define INBOX_MAX 100000
/* Device-driven updates (results, PUBACKs) the store failed, kept for a retry (commands_retry.c) */
#define RETRY_MAX 4096              /* entries; beyond, an update is dropped and counted */
#define RETRY_BACKOFF_MIN_MS 200u   /* first retry; doubles per failed try */
#define RETRY_BACKOFF_MAX_MS 2000u
#define RETRY_GIVE_UP_MS 600000u    /* an update failing with an error other than a lock timeout */
#define RETRY_PASS_MAX 256          /* tries per tick */

struct inflight {
    uint64_t token;
    bool desired;
    bool resend; /* a sent command published again (its PUBACK changes no state) */
    char cid[CMD_ID_LEN + 1];
    char device[IOT_DEVICE_ID_MAX + 1];
    uint64_t version;
};

enum inbox_kind { EV_PUBACK, EV_RESULT, EV_ONLINE, EV_CONNECTED };

struct inbox_ev {
    enum inbox_kind kind;
    uint64_t token;
    bool ok;
    int status;
    char device[IOT_DEVICE_ID_MAX + 1];
    char cid[CMD_ID_LEN + 1];
    char *result_json; /* iot_malloc'd */
};

/* A device-driven update kept for a retry: the event as posted (cid and device filled in for a
 * PUBACK), the wall time it arrived (the time its transition records) and the retry schedule. */
struct retry_entry {
    struct inbox_ev ev; /* owns ev.result_json */
    int64_t at_ms;
    uint64_t first_mono_ms, due_mono_ms;
    unsigned tries;
    enum iot_err last_err;
};

/* Oldest first (arrival order); bounded by max. Pure: no lock, no store, time passed in. */
struct retry_list {
    struct retry_entry *v;
    size_t n, cap, max;
};

/* State changes of one locked operation, told to the listener after unlocking. */
struct change {
    char cid[CMD_ID_LEN + 1];
    char device[IOT_DEVICE_ID_MAX + 1];
    enum cmd_state st;
    int64_t at_ms;
};

struct changes {
    struct change *v;
    size_t n, cap;
};

struct commands {
    struct cloud_commands_config cfg;
    struct ingest_metrics *metrics;
    struct plat_signer *signer;
    struct cmd_store *store;
    struct webhooks *webhooks;
    struct ingest_mqtt *mqtt;
    commands_change_fn on_change;
    void *change_ctx;
    struct plat_event *wake;

    pthread_mutex_t lock; /* store, inflight, dirty, next_* */
    struct inflight *inflight;
    size_t n_inflight, cap_inflight;
    uint64_t next_token;
    bool dirty;
    int64_t next_expiry_ms;
    uint64_t next_scan_mono_ms;

    struct retry_list retry; /* under lock */

    pthread_mutex_t inbox_lock;
    struct inbox_ev *inbox;
    size_t n_inbox, cap_inbox;
};

/* ---- helpers (lock held) ---- */

struct inflight *commands__inflight_find_cmd(struct commands *c, const char *cid);
bool commands__inflight_has_desired(struct commands *c, const char *device);
/** @return a zeroed entry with a fresh token, or NULL (NOMEM) */
struct inflight *commands__inflight_add(struct commands *c);
void commands__inflight_remove(struct commands *c, struct inflight *f);
/** Wake the main loop (any thread, no lock needed). */
void commands__wake_loop(struct commands *c);
/** Record a committed transition for the listeners (and the per-state counters). */
void commands__note_change(struct commands *c, struct changes *ch, const char *cid,
                           const char *device, enum cmd_state st, int64_t at_ms);
/**
 * Apply @p ev to @p cid in its own transaction (storing @p result_json with it when not NULL).
 * @return IOT_OK (applied), IOT_ERR_INVAL (illegal, or the state moved meanwhile), IOT_ERR_IO
 */
enum iot_err commands__apply(struct commands *c, struct changes *ch, const char *cid,
                             const char *device, enum cmd_state from, enum cmd_event ev,
                             int64_t now_ms, const char *result_json);
/* ---- retry list (commands_retry.c; pure: the caller holds what guards the list) ---- */

/** An empty list of at most @p max entries. */
void commands__retry_init(struct retry_list *r, size_t max);
/** Free every entry (and its result). */
void commands__retry_deinit(struct retry_list *r);
/**
 * Append @p ev (arrived at wall time @p at_ms; its first try failed with @p err at @p now_ms,
 * monotonic): the next try is due after commands__retry_backoff_ms(1). On IOT_OK the list takes
 * ev->result_json (set to NULL); otherwise the caller keeps it.
 * @return IOT_OK, IOT_ERR_FULL (max entries), IOT_ERR_NOMEM
 */
enum iot_err commands__retry_push(struct retry_list *r, struct inbox_ev *ev, int64_t at_ms,
                                  enum iot_err err, uint64_t now_ms);
/** True when an update of @p cid waits in the list. */
bool commands__retry_has(const struct retry_list *r, const char *cid);
/**
 * The first entry at index @p from or later that is due at @p now_ms and is the oldest of its
 * command (updates of one command are tried in arrival order). @return its index, or r->n
 */
size_t commands__retry_next(const struct retry_list *r, size_t from, uint64_t now_ms);
/** Entry @p i failed again with @p err at @p now_ms: the next try waits longer. */
void commands__retry_failed(struct retry_list *r, size_t i, enum iot_err err, uint64_t now_ms);
/** Remove entry @p i (freeing its result), keeping the order of the others. */
void commands__retry_remove(struct retry_list *r, size_t i);
/** Wait before try @p tries + 1: RETRY_BACKOFF_MIN_MS doubled per try, at most ..._MAX_MS. */
uint32_t commands__retry_backoff_ms(unsigned tries);
/** ms until the earliest entry is due (0: now); UINT32_MAX when the list is empty. */
uint32_t commands__retry_wait_ms(const struct retry_list *r, uint64_t now_ms);

/** Without the lock: tell listeners, start webhooks of terminal states; frees @p ch's array. */
void commands__tell(struct commands *c, struct changes *ch);

#endif
