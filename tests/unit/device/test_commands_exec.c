/* SPDX-License-Identifier: Apache-2.0 */
/* Configured command handlers, with real child processes (shell scripts in a temp dir): params as
 * sanitised environment variables, exit code, bounded output with a marker, timeout (process group
 * killed), at-most-once with a duplicate delivered while running and after, and plat_proc itself. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_clock.h"
#include "iot/plat_file.h"
#include "iot/plat_proc.h"
#include "test_commands_env.h"

#define OK IOT__V1__COMMAND_RESULT__STATUS__OK
#define ERROR IOT__V1__COMMAND_RESULT__STATUS__ERROR

static void add_handler(struct cenv *e, const char *name, const char *path, uint32_t timeout_ms,
                        uint32_t max_output)
{
    struct agent_commands_config *cc = &e->fx.cfg.commands;
    struct agent_cmd_handler_config *h = &cc->handlers[cc->n_handlers++];
    snprintf(h->name, sizeof h->name, "%s", name);
    snprintf(h->exec, sizeof h->exec, "%s", path);
    h->timeout_ms = timeout_ms;
    h->max_output = max_output;
}

static size_t count_lines(const char *path)
{
    uint8_t *buf;
    size_t len, n = 0;
    if (plat_file_read(path, 1 << 20, &buf, &len) != IOT_OK)
        return 0;
    for (size_t i = 0; i < len; i++)
        n += buf[i] == '\n';
    iot_free(buf);
    return n;
}

static void test_exec_env_name_sanitised(void **state)
{
    (void)state;
    char out[64];
    agent_exec_env_name("my-key.x", out, sizeof out);
    assert_string_equal(out, "IOT_PARAM_MY_KEY_X");
    agent_exec_env_name("A_b9$", out, sizeof out);
    assert_string_equal(out, "IOT_PARAM_A_B9_");
    agent_exec_env_name("abcdefghijklmnopqrstuvwxyz", out, 16);
    assert_string_equal(out, "IOT_PARAM_ABCDE");
    char text[] = "ok \xc3\xa9 \xff bad \xe2\x82";
    agent_exec_sanitize_text(text, sizeof text - 1);
    assert_string_equal(text, "ok \xc3\xa9 ? bad ??");
}

static void test_exec_params_env_and_exit_code(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    char path[256];
    cenv_script(e, "h.sh",
                "echo \"key=$IOT_PARAM_MY_KEY id=$IOT_COMMAND_ID name=$IOT_COMMAND_NAME "
                "dev=$IOT_DEVICE_ID home=${HOME:-none}\"\necho oops >&2\nexit 3",
                path, sizeof path);
    add_handler(e, "check", path, 5000, 4096);
    cenv_start(e);
    const char *params[] = {"my-key", "hello world", NULL};
    cenv_run(e, "c-h", "check", params);
    assert_true(cenv_wait_responses(e, 1, 5000));
    Iot__V1__CommandResult *r = cenv_result(e, 0);
    assert_string_equal(r->command_id, "c-h");
    assert_int_equal(r->status, ERROR);
    assert_int_equal(r->code, 3);
    assert_string_equal(cenv_output(r, "stdout"),
                        "key=hello world id=c-h name=check dev=dev-1 home=none\n");
    assert_string_equal(cenv_output(r, "stderr"), "oops\n");
    iot__v1__command_result__free_unpacked(r, NULL);
    cenv_free(e);
}

static void test_exec_success_and_output_truncated(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    char path[256];
    cenv_script(e, "big.sh", "i=0; while [ $i -lt 500 ]; do echo 0123456789; i=$((i+1)); done",
                path, sizeof path);
    add_handler(e, "big", path, 5000, 100);
    cenv_start(e);
    cenv_run(e, "c-big", "big", NULL);
    assert_true(cenv_wait_responses(e, 1, 5000));
    Iot__V1__CommandResult *r = cenv_result(e, 0);
    assert_int_equal(r->status, OK);
    assert_int_equal(r->code, 0);
    const char *out = cenv_output(r, "stdout");
    assert_non_null(out);
    assert_memory_equal(out, "0123456789\n0123456789\n", 22);
    assert_non_null(strstr(out, "[truncated: 100 of 5500 bytes kept]"));
    assert_true(strlen(out) < 100 + 64);
    iot__v1__command_result__free_unpacked(r, NULL);
    cenv_free(e);
}

static void test_exec_timeout_kills_group(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    char path[256], marker[300];
    snprintf(marker, sizeof marker, "%s/late", e->fx.dir);
    char body[600];
    /* a grandchild that would leave a file behind if it survived the kill */
    snprintf(body, sizeof body, "(sleep 1; touch %s) &\necho started\nsleep 10", marker);
    cenv_script(e, "slow.sh", body, path, sizeof path);
    add_handler(e, "slow", path, 300, 4096);
    cenv_start(e);
    uint64_t t0 = plat_mono_ms();
    cenv_run(e, "c-slow", "slow", NULL);
    assert_true(cenv_wait_responses(e, 1, 5000));
    assert_true(plat_mono_ms() - t0 < 3000);
    Iot__V1__CommandResult *r = cenv_result(e, 0);
    assert_int_equal(r->status, ERROR);
    assert_non_null(strstr(r->message, "timed out"));
    assert_string_equal(cenv_output(r, "stdout"), "started\n");
    iot__v1__command_result__free_unpacked(r, NULL);
    usleep(1300000);
    assert_false(plat_file_readable(marker));
    cenv_free(e);
}

static void test_exec_duplicate_runs_once(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    char path[256], log[300], body[600];
    snprintf(log, sizeof log, "%s/ran.log", e->fx.dir);
    snprintf(body, sizeof body, "echo \"$IOT_COMMAND_ID\" >> %s\nsleep 0.2\necho done", log);
    cenv_script(e, "append.sh", body, path, sizeof path);
    add_handler(e, "append", path, 5000, 4096);
    cenv_start(e);
    uint8_t buf[4096];
    size_t n = cenv_command(e->signer, "c-once", "dev-1", "append", CENV_NOW_WALL + 600000, NULL,
                            buf, sizeof buf);
    cenv_send(e, buf, n, NULL);
    cenv_step(e);
    cenv_send(e, buf, n, NULL); /* while it runs: not started again, no extra answer yet */
    cenv_step(e);
    assert_true(cenv_wait_responses(e, 1, 5000));
    cenv_send(e, buf, n, NULL); /* after: the stored answer */
    cenv_step(e);
    assert_int_equal(cenv_count(e, "responses"), 2);
    Iot__V1__CommandResult *r = cenv_result(e, 1);
    assert_int_equal(r->status, OK);
    assert_string_equal(cenv_output(r, "stdout"), "done\n");
    iot__v1__command_result__free_unpacked(r, NULL);
    cenv_restart_agent(e);
    cenv_send(e, buf, n, NULL);
    cenv_step(e);
    assert_int_equal(cenv_count(e, "responses"), 1);
    usleep(300000);
    cenv_step(e);
    assert_int_equal(count_lines(log), 1);
    cenv_free(e);
}

static void test_exec_missing_handler_fails_start(void **state)
{
    (void)state;
    struct cenv *e = cenv_new(true);
    add_handler(e, "nope", "/nonexistent/handler", 1000, 10);
    struct agent_deps deps = {.clock = &e->fx.clk.clock, .mqtt = fake_mqtt_iface(&e->fx.mq)};
    assert_int_equal(agent_create(&e->fx.cfg, &deps, &e->fx.a), IOT_ERR_NOT_FOUND);
    e->fx.a = NULL;
    cenv_free(e);
}

static void test_proc_run_blocking_and_env(void **state)
{
    (void)state;
    char *argv[] = {"/bin/sh", "-c", "echo \"$A\"; kill -TERM $$", NULL};
    char *envp[] = {"A=1", NULL};
    struct plat_proc_spec spec = {.path = "/bin/sh", .argv = argv, .envp = envp,
                                  .timeout_ms = 2000, .max_output = 16};
    struct plat_proc_result r;
    assert_int_equal(plat_proc_run(&spec, &r), IOT_OK);
    assert_string_equal(r.out, "1\n");
    assert_int_equal(r.term_signal, 15);
    assert_int_equal(r.exit_code, -1);
    assert_false(r.timed_out);
    plat_proc_result_clear(&r);
    spec.path = "relative/sh";
    assert_int_equal(plat_proc_run(&spec, &r), IOT_ERR_INVAL);
    spec.path = "/nonexistent/x";
    assert_int_equal(plat_proc_run(&spec, &r), IOT_ERR_NOT_FOUND);
    assert_false(plat_proc_executable("/nonexistent/x"));
    assert_true(plat_proc_executable("/bin/sh"));
}

int main(void)
{
    iot_log_set_level(IOT_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_env_name_sanitised),
        cmocka_unit_test(test_exec_params_env_and_exit_code),
        cmocka_unit_test(test_exec_success_and_output_truncated),
        cmocka_unit_test(test_exec_timeout_kills_group),
        cmocka_unit_test(test_exec_duplicate_runs_once),
        cmocka_unit_test(test_exec_missing_handler_fails_start),
        cmocka_unit_test(test_proc_run_blocking_and_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
