/* SPDX-License-Identifier: Apache-2.0 */
/* commands (with cmd_store, cmd_sign) over a real SQLite file and a key pair made here: the
 * stored SignedCommand verifies with the public key, idempotency keys return the same command
 * (also after a reopen), device results, cancels and deadlines move the lifecycle, the listener
 * sees every transition; results that arrive while another connection holds the database lock are
 * kept and applied after it, in order (the retry list alone too); webhook signatures match a known
 * HMAC-SHA256 vector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "commands.h"
#include "commands_internal.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "ingest/store.h"
#include "iot/plat_clock.h"
#include "store_fx.h"
#include "test_keys.h"
#include "webhooks.h"

struct fx {
    char dir[64];
    char key[128], pub[128], db[128];
    struct cloud_config cfg;
    struct ingest_metrics m;
    struct commands *c;
    struct ingest_store store;
    char seen[64][64]; /* "cid state" of listener calls */
    size_t n_seen;
};

static void on_change(void *ctx, const char *cid, const char *dev, enum cmd_state st, int64_t at)
{
    (void)dev;
    (void)at;
    struct fx *f = ctx;
    if (f->n_seen < 64)
        snprintf(f->seen[f->n_seen++], 64, "%.28s %s", cid, cmd_state_name(st));
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/iot-test-commands.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->key, sizeof f->key, "%s/cmd-sign.key", f->dir);
    snprintf(f->pub, sizeof f->pub, "%s/cmd-sign.pub", f->dir);
    test_keys_write_pair(f->key, f->pub);
    cloud_config_defaults(&f->cfg);
    snprintf(f->cfg.commands.signing_key_file, sizeof f->cfg.commands.signing_key_file, "%s",
             f->key);
    ingest_metrics_init(&f->m);
    json_util_init();
    iot_log_set_level(IOT_LOG_WARN);
    store_fx_setup("commands", &f->cfg, &f->store);
    iot_log_set_level(IOT_LOG_INFO);
    assert_int_equal(commands_create(&f->cfg, &f->m, &f->c), IOT_OK);
    commands_set_listener(f->c, on_change, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    commands_destroy(f->c);
    store_fx_teardown(&f->store);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void request(struct cmd_request *rq, const char *dev, const char *name, uint32_t timeout_s,
                    const char *key)
{
    memset(rq, 0, sizeof *rq);
    snprintf(rq->device_id, sizeof rq->device_id, "%s", dev);
    snprintf(rq->name, sizeof rq->name, "%s", name);
    snprintf(rq->params[0].key, sizeof rq->params[0].key, "level");
    snprintf(rq->params[0].value, sizeof rq->params[0].value, "7");
    rq->n_params = 1;
    rq->timeout_s = timeout_s;
    if (key)
        snprintf(rq->idem_key, sizeof rq->idem_key, "%s", key);
}

static void submit(struct fx *f, const char *dev, const char *name, uint32_t timeout_s,
                   const char *key, char id[CMD_ID_LEN + 1], enum cmd_submit_outcome want)
{
    struct cmd_request *rq = malloc(sizeof *rq);
    request(rq, dev, name, timeout_s, key);
    enum cmd_submit_outcome o;
    assert_int_equal(commands_submit(f->c, rq, id, &o), IOT_OK);
    assert_int_equal(o, want);
    free(rq);
}

static enum cmd_state state_of(struct fx *f, const char *cid)
{
    cJSON *j = NULL;
    enum cmd_state st;
    assert_int_equal(commands_get(f->c, cid, &j, &st), IOT_OK);
    cJSON_Delete(j);
    return st;
}

static void test_commands_submit_signed_command_verifies_with_public_key(void **state)
{
    struct fx *f = *state;
    char id[CMD_ID_LEN + 1];
    int64_t before = plat_wall_ms();
    submit(f, "dev-1", "reboot", 30, NULL, id, CMD_SUBMIT_CREATED);
    assert_true(cmd_id_valid(id));

    size_t len = 0;
    uint8_t *payload = store_fx_blob("SELECT payload FROM commands WHERE id = ?1", id, &len);
    assert_non_null(payload);
    Iot__V1__SignedCommand *sc = iot__v1__signed_command__unpack(NULL, len, payload);
    free(payload);
    assert_non_null(sc);
    assert_string_equal(sc->key_id, "cmd-sign");

    struct plat_verifier *v;
    assert_int_equal(plat_verifier_load(f->pub, &v), IOT_OK);
    assert_int_equal(plat_verifier_verify(v, sc->body.data, sc->body.len, sc->signature.data,
                                          sc->signature.len),
                     IOT_OK);
    sc->body.data[sc->body.len / 2] ^= 0x01; /* one flipped bit: no longer verifies */
    assert_int_equal(plat_verifier_verify(v, sc->body.data, sc->body.len, sc->signature.data,
                                          sc->signature.len),
                     IOT_ERR_TLS);
    sc->body.data[sc->body.len / 2] ^= 0x01;
    plat_verifier_destroy(v);

    Iot__V1__Command *c = iot__v1__command__unpack(NULL, sc->body.len, sc->body.data);
    assert_non_null(c);
    assert_string_equal(c->id, id);
    assert_string_equal(c->device_id, "dev-1");
    assert_string_equal(c->name, "reboot");
    assert_int_equal(c->n_params, 1);
    assert_string_equal(c->params[0]->key, "level");
    assert_string_equal(c->params[0]->value, "7");
    assert_true(c->issued_ms >= before && c->issued_ms <= plat_wall_ms());
    assert_int_equal(c->expires_ms - c->issued_ms, 30000);
    iot__v1__command__free_unpacked(c, NULL);
    iot__v1__signed_command__free_unpacked(sc, NULL);
}

static void test_commands_submit_idempotency_key_returns_same_command(void **state)
{
    struct fx *f = *state;
    char a[CMD_ID_LEN + 1], b[CMD_ID_LEN + 1], c[CMD_ID_LEN + 1], d[CMD_ID_LEN + 1];
    submit(f, "dev-1", "reboot", 30, "k-1", a, CMD_SUBMIT_CREATED);
    submit(f, "dev-1", "reboot", 30, "k-1", b, CMD_SUBMIT_EXISTING);
    assert_string_equal(a, b);
    submit(f, "dev-1", "update", 30, "k-1", c, CMD_SUBMIT_KEY_CONFLICT);
    assert_string_equal(a, c);
    submit(f, "dev-2", "reboot", 30, "k-1", d, CMD_SUBMIT_CREATED); /* keys are per device */
    assert_string_not_equal(a, d);
    submit(f, "dev-1", "reboot", 30, NULL, d, CMD_SUBMIT_CREATED); /* no key: always new */
    assert_string_not_equal(a, d);
    /* Durable: a restarted service still knows the key. */
    commands_destroy(f->c);
    assert_int_equal(commands_create(&f->cfg, &f->m, &f->c), IOT_OK);
    submit(f, "dev-1", "reboot", 30, "k-1", b, CMD_SUBMIT_EXISTING);
    assert_string_equal(a, b);
    assert_int_equal(atomic_load(&f->m.commands_by_state[CMD_QUEUED]), 3);
}

static Iot__V1__CommandResult result(const char *cid, const char *dev, int status)
{
    Iot__V1__CommandResult r = IOT__V1__COMMAND_RESULT__INIT;
    r.command_id = (char *)cid;
    r.device_id = (char *)dev;
    r.status = (Iot__V1__CommandResult__Status)status;
    r.message = "m";
    r.done_ms = 1;
    return r;
}

static void test_commands_lifecycle_results_cancel_and_deadline(void **state)
{
    struct fx *f = *state;
    char a[CMD_ID_LEN + 1], b[CMD_ID_LEN + 1], c[CMD_ID_LEN + 1], e[CMD_ID_LEN + 1];
    submit(f, "dev-1", "ping", 60, NULL, a, CMD_SUBMIT_CREATED);
    submit(f, "dev-1", "ping", 60, NULL, b, CMD_SUBMIT_CREATED);
    submit(f, "dev-1", "ping", 1, NULL, c, CMD_SUBMIT_CREATED);
    submit(f, "dev-1", "ping", 60, NULL, e, CMD_SUBMIT_CREATED);

    bool cancelled = false;
    assert_int_equal(commands_cancel(f->c, a, &cancelled), IOT_OK);
    assert_true(cancelled);
    assert_int_equal(state_of(f, a), CMD_CANCELLED);
    assert_int_equal(commands_cancel(f->c, a, &cancelled), IOT_OK);
    assert_false(cancelled); /* terminal: the API's 409 */
    assert_int_equal(commands_cancel(f->c, "cmd-000000000000000000000000", &cancelled),
                     IOT_ERR_NOT_FOUND);

    /* A result proves delivery: queued -> sent -> succeeded, outputs kept. */
    Iot__V1__CommandResult r = result(b, "dev-1", IOT__V1__COMMAND_RESULT__STATUS__OK);
    commands_on_result(f->c, &r);
    Iot__V1__CommandResult other = result(e, "dev-2", IOT__V1__COMMAND_RESULT__STATUS__OK);
    commands_on_result(f->c, &other); /* another device's command: ignored */
    Iot__V1__CommandResult rej = result(e, "dev-1", IOT__V1__COMMAND_RESULT__STATUS__BAD_SIGNATURE);
    commands_on_result(f->c, &rej);
    (void)commands_tick(f->c);
    assert_int_equal(state_of(f, b), CMD_SUCCEEDED);
    assert_int_equal(state_of(f, e), CMD_REJECTED);
    assert_int_equal(atomic_load(&f->m.command_results_unmatched), 1);
    cJSON *j = NULL;
    assert_int_equal(commands_get(f->c, b, &j, NULL), IOT_OK);
    char *text = cJSON_PrintUnformatted(j);
    assert_non_null(strstr(text, "\"status\":\"succeeded\""));
    assert_non_null(strstr(text, "\"result\":{\"status\":\"OK\""));
    assert_non_null(strstr(text, "{\"state\":\"queued\""));
    assert_non_null(strstr(text, "{\"state\":\"sent\""));
    cJSON_free(text);
    cJSON_Delete(j);

    /* A late result changes nothing. */
    Iot__V1__CommandResult late = result(b, "dev-1", IOT__V1__COMMAND_RESULT__STATUS__ERROR);
    commands_on_result(f->c, &late);
    (void)commands_tick(f->c);
    assert_int_equal(state_of(f, b), CMD_SUCCEEDED);
    assert_int_equal(atomic_load(&f->m.command_results_late), 1);

    /* The deadline: c expires, the others are untouched. */
    assert_int_equal(state_of(f, c), CMD_QUEUED);
    plat_sleep_ms(1100);
    (void)commands_tick(f->c);
    assert_int_equal(state_of(f, c), CMD_EXPIRED);

    char want[8][64];
    size_t n = 0;
    snprintf(want[n++], 64, "%s queued", a);
    snprintf(want[n++], 64, "%s queued", b);
    snprintf(want[n++], 64, "%s queued", c);
    snprintf(want[n++], 64, "%s queued", e);
    snprintf(want[n++], 64, "%s cancelled", a);
    snprintf(want[n++], 64, "%s sent", b);
    snprintf(want[n++], 64, "%s succeeded", b);
    snprintf(want[n++], 64, "%s sent", e);
    assert_true(f->n_seen >= n + 2);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(f->seen[i], want[i]);
    char last[64];
    snprintf(last, sizeof last, "%s expired", c);
    assert_string_equal(f->seen[f->n_seen - 1], last);
    assert_int_equal(atomic_load(&f->m.commands_by_state[CMD_SUCCEEDED]), 1);
    assert_int_equal(atomic_load(&f->m.commands_by_state[CMD_REJECTED]), 1);
    assert_int_equal(atomic_load(&f->m.commands_by_state[CMD_EXPIRED]), 1);
}

/* Another connection holds the lock the command store's writes wait on (SQLite: the write lock;
 * PostgreSQL: the commands table, reads still go on). */
static void lock_commands(void)
{
    if (strcmp(store_fx_backend(), "sqlite") == 0)
        store_fx_exec("BEGIN IMMEDIATE");
    else
        store_fx_exec("BEGIN; LOCK TABLE commands IN EXCLUSIVE MODE");
}

static void test_commands_results_while_locked_kept_and_applied_in_order(void **state)
{
    struct fx *f = *state;
    char a[CMD_ID_LEN + 1], b[CMD_ID_LEN + 1];
    submit(f, "dev-1", "ping", 2, NULL, a, CMD_SUBMIT_CREATED);
    submit(f, "dev-1", "ping", 60, NULL, b, CMD_SUBMIT_CREATED);
    int64_t a_deadline = plat_wall_ms() + 2000;

    lock_commands();
    Iot__V1__CommandResult ok = result(a, "dev-1", IOT__V1__COMMAND_RESULT__STATUS__OK);
    Iot__V1__CommandResult again = result(a, "dev-1", IOT__V1__COMMAND_RESULT__STATUS__ERROR);
    Iot__V1__CommandResult ok_b = result(b, "dev-1", IOT__V1__COMMAND_RESULT__STATUS__OK);
    commands_on_result(f->c, &ok);
    commands_on_result(f->c, &again); /* a second answer of a: after the first, so late */
    commands_on_result(f->c, &ok_b);
    iot_log_set_level(IOT_LOG_ERROR); /* the lock timeouts are logged as warnings */
    uint32_t wait_ms = commands_tick(f->c); /* the first apply waits out the lock; all kept */
    assert_true(wait_ms <= RETRY_BACKOFF_MIN_MS);
    assert_int_equal(state_of(f, a), CMD_QUEUED);
    assert_int_equal(state_of(f, b), CMD_QUEUED);
    assert_int_equal(atomic_load(&f->m.command_updates_deferred), 3);
    assert_int_equal(atomic_load(&f->m.command_updates_pending), 3);
    /* b's device answered: no longer cancellable (the API's 409), even before it is stored */
    bool cancelled = true;
    assert_int_equal(commands_cancel(f->c, b, &cancelled), IOT_OK);
    assert_false(cancelled);

    /* a's deadline passes while the lock is held: a is answered, so it does not expire. */
    while (plat_wall_ms() <= a_deadline + 100)
        plat_sleep_ms(50);
    (void)commands_tick(f->c); /* a's retry times out again */
    (void)commands_tick(f->c); /* nothing due: the deadline scan runs and skips a */
    assert_int_equal(state_of(f, a), CMD_QUEUED);
    assert_int_equal(atomic_load(&f->m.command_updates_pending), 3);
    iot_log_set_level(IOT_LOG_INFO);

    store_fx_exec("COMMIT");
    plat_sleep_ms(commands__retry_backoff_ms(2) + 50);
    (void)commands_tick(f->c);
    assert_int_equal(state_of(f, a), CMD_SUCCEEDED);
    assert_int_equal(state_of(f, b), CMD_SUCCEEDED);
    assert_int_equal(atomic_load(&f->m.command_updates_pending), 0);
    assert_int_equal(atomic_load(&f->m.command_updates_dropped), 0);
    assert_int_equal(atomic_load(&f->m.command_results_late), 1); /* the second answer of a */
    assert_int_equal(atomic_load(&f->m.commands_by_state[CMD_EXPIRED]), 0);

    cJSON *j = NULL;
    assert_int_equal(commands_get(f->c, a, &j, NULL), IOT_OK);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(j, "result");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(res, "status")->valuestring, "OK");
    /* the transitions carry the time the answer arrived: before the deadline */
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "history");
    assert_int_equal(cJSON_GetArraySize(h), 3);
    const cJSON *last = cJSON_GetArrayItem(h, 2);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(last, "state")->valuestring, "succeeded");
    assert_true(cJSON_GetObjectItemCaseSensitive(last, "at_ms")->valuedouble < (double)a_deadline);
    cJSON_Delete(j);

    char want[6][64];
    snprintf(want[0], 64, "%s queued", a);
    snprintf(want[1], 64, "%s queued", b);
    snprintf(want[2], 64, "%s sent", a);
    snprintf(want[3], 64, "%s succeeded", a);
    snprintf(want[4], 64, "%s sent", b);
    snprintf(want[5], 64, "%s succeeded", b);
    assert_int_equal(f->n_seen, 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(f->seen[i], want[i]);
}

static void retry_ev(struct inbox_ev *ev, const char *cid, const char *json)
{
    memset(ev, 0, sizeof *ev);
    ev->kind = EV_RESULT;
    snprintf(ev->cid, sizeof ev->cid, "%s", cid);
    ev->result_json = json ? iot_strdup(json) : NULL;
}

static void test_commands_retry_list_orders_per_command_backs_off_and_is_bounded(void **state)
{
    (void)state;
    assert_int_equal(commands__retry_backoff_ms(1), RETRY_BACKOFF_MIN_MS);
    assert_int_equal(commands__retry_backoff_ms(2), 2 * RETRY_BACKOFF_MIN_MS);
    assert_int_equal(commands__retry_backoff_ms(3), 4 * RETRY_BACKOFF_MIN_MS);
    assert_int_equal(commands__retry_backoff_ms(60), RETRY_BACKOFF_MAX_MS);

    struct retry_list r;
    commands__retry_init(&r, 3);
    assert_int_equal(commands__retry_wait_ms(&r, 0), UINT32_MAX);
    struct inbox_ev ev;
    const uint64_t t0 = 1000;
    retry_ev(&ev, "cmd-x", "{\"n\":1}");
    assert_int_equal(commands__retry_push(&r, &ev, 5, IOT_ERR_TIMEOUT, t0), IOT_OK);
    assert_null(ev.result_json); /* taken */
    retry_ev(&ev, "cmd-y", NULL);
    assert_int_equal(commands__retry_push(&r, &ev, 6, IOT_ERR_TIMEOUT, t0 + 10), IOT_OK);
    retry_ev(&ev, "cmd-x", "{\"n\":2}");
    assert_int_equal(commands__retry_push(&r, &ev, 7, IOT_ERR_IO, t0 + 20), IOT_OK);
    retry_ev(&ev, "cmd-z", "{}");
    assert_int_equal(commands__retry_push(&r, &ev, 8, IOT_ERR_TIMEOUT, t0 + 30), IOT_ERR_FULL);
    assert_non_null(ev.result_json); /* refused: still the caller's */
    iot_free(ev.result_json);
    assert_int_equal(r.n, 3);
    assert_true(commands__retry_has(&r, "cmd-x"));
    assert_false(commands__retry_has(&r, "cmd-z"));

    /* nothing before the first backoff */
    assert_int_equal(commands__retry_wait_ms(&r, t0), RETRY_BACKOFF_MIN_MS);
    assert_int_equal(commands__retry_next(&r, 0, t0 + RETRY_BACKOFF_MIN_MS - 1), r.n);
    /* all due: the first x, then y; the second x waits behind the first */
    uint64_t t1 = t0 + 20 + RETRY_BACKOFF_MIN_MS;
    assert_int_equal(commands__retry_next(&r, 0, t1), 0);
    assert_int_equal(commands__retry_next(&r, 1, t1), 1);
    assert_int_equal(commands__retry_next(&r, 2, t1), r.n);
    /* the first x fails again: it waits twice as long, and so does the second x; y goes */
    commands__retry_failed(&r, 0, IOT_ERR_TIMEOUT, t1);
    uint64_t t2 = t1 + 2 * RETRY_BACKOFF_MIN_MS;
    assert_int_equal(r.v[0].tries, 2);
    assert_int_equal(r.v[0].due_mono_ms, t2);
    assert_int_equal(r.v[2].due_mono_ms, t2);
    assert_int_equal(commands__retry_next(&r, 0, t1), 1);
    commands__retry_remove(&r, 1); /* y applied */
    assert_int_equal(r.n, 2);
    assert_int_equal(commands__retry_next(&r, 0, t1), r.n);
    assert_int_equal(commands__retry_wait_ms(&r, t1), 2 * RETRY_BACKOFF_MIN_MS); /* no spin */
    /* a newer update of x pushed now is not due before the older ones either */
    retry_ev(&ev, "cmd-x", "{\"n\":3}");
    assert_int_equal(commands__retry_push(&r, &ev, 9, IOT_ERR_TIMEOUT, t1), IOT_OK);
    assert_int_equal(r.v[2].due_mono_ms, t2);
    assert_int_equal(commands__retry_wait_ms(&r, t1), 2 * RETRY_BACKOFF_MIN_MS);
    /* the first x applied: the second is next, with its own result */
    assert_int_equal(commands__retry_next(&r, 0, t2), 0);
    commands__retry_remove(&r, 0);
    assert_int_equal(commands__retry_next(&r, 0, t2), 0);
    assert_string_equal(r.v[0].ev.result_json, "{\"n\":2}");
    assert_int_equal(r.v[0].at_ms, 7);
    assert_int_equal(r.v[0].last_err, IOT_ERR_IO);
    commands__retry_deinit(&r); /* frees what is left (ASan checks) */
    assert_int_equal(r.n, 0);
}

static void test_commands_set_desired_versions_increase(void **state)
{
    struct fx *f = *state;
    struct cmd_kv kv[] = {{"interval_ms", "500"}};
    uint64_t v = 0;
    assert_int_equal(commands_set_desired(f->c, "dev-1", kv, 1, &v), IOT_OK);
    assert_int_equal(v, 1);
    assert_int_equal(commands_set_desired(f->c, "dev-1", kv, 1, &v), IOT_OK);
    assert_int_equal(v, 2);
    assert_int_equal(commands_set_desired(f->c, "dev-2", kv, 1, &v), IOT_OK);
    assert_int_equal(v, 1);
}

static void test_webhooks_signature_matches_hmac_sha256_vector(void **state)
{
    (void)state;
    /* RFC 4231 test case 2 */
    char sig[WEBHOOK_SIG_LEN];
    const char *body = "what do ya want for nothing?";
    webhooks_signature("Jefe", body, strlen(body), sig);
    assert_string_equal(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    assert_true(webhooks_url_ok("http://127.0.0.1:8080/h?x=1"));
    assert_true(webhooks_url_ok("HTTPS://example.test"));
    assert_false(webhooks_url_ok("ftp://example.test/"));
    assert_false(webhooks_url_ok("http://"));
    assert_false(webhooks_url_ok("http:///path"));
    assert_false(webhooks_url_ok("http://a b"));
    assert_false(webhooks_url_ok("file:///etc/passwd"));
    assert_int_equal(webhooks_backoff_ms(500, 1), 500);
    assert_int_equal(webhooks_backoff_ms(500, 2), 1000);
    assert_int_equal(webhooks_backoff_ms(500, 4), 4000);
    assert_int_equal(webhooks_backoff_ms(500, 60), 600000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commands_submit_signed_command_verifies_with_public_key,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_commands_submit_idempotency_key_returns_same_command,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_commands_lifecycle_results_cancel_and_deadline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_commands_results_while_locked_kept_and_applied_in_order, setup, teardown),
        cmocka_unit_test(test_commands_retry_list_orders_per_command_backs_off_and_is_bounded),
        cmocka_unit_test_setup_teardown(test_commands_set_desired_versions_increase, setup,
                                        teardown),
        cmocka_unit_test(test_webhooks_signature_matches_hmac_sha256_vector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
