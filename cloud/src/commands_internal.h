/* SPDX-License-Identifier: Apache-2.0 */
/* Private to commands.c and commands_dispatch.c: the commands object, its in-flight table and
 * inbox, and the helpers both files use. Everything here is called with c->lock held unless
 * said otherwise. */
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
/** Without the lock: tell listeners, start webhooks of terminal states; frees @p ch's array. */
void commands__tell(struct commands *c, struct changes *ch);

#endif
