/* SPDX-License-Identifier: Apache-2.0 */
/* iotctl send: queue a command through the async API (202 + status URL), then optionally long-poll
 * the status URL until a final state. The exit code tells the outcome (iotctl.h enum ctl_exit). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iotctl.h"

#define WAIT_DEFAULT_S 30
#define LONGPOLL_MAX_S 60 /* the API's limit per request */

static const char send_usage[] =
    "usage: iotctl send ID NAME [KEY=VALUE...] [--timeout S] [--wait [S]] [--callback URL]\n"
    "                   [--force] [--json]\n"
    "Send a signed command to a device (the cloud signs it; the device verifies, runs it once and\n"
    "answers). Prints the status URL; with --wait, follows it until the command is done and prints\n"
    "the result. Built-ins: ping, get_state, set_interval interval_ms=, sample_now, restart;\n"
    "simulated devices: set_setpoint celsius=, plug_on, plug_off, light_on [brightness=],\n"
    "light_off, set_brightness percent=.\n"
    "  --timeout S   the command expires if not answered within S seconds [server default]\n"
    "  --wait [S]    wait up to S seconds for the result [the --timeout, else 30]\n"
    "  --callback U  the cloud POSTs the final state to U (webhook)\n"
    "  --force       skip the check that the device is known\n"
    "Exit: 0 succeeded (or queued, without --wait), 3 failed, 4 rejected, 5 expired, 6 cancelled,\n"
    "7 still not done when --wait ran out, 8 unknown device, 9 bad token, 10 server unreachable,\n"
    "11 other HTTP error.\n";

static bool is_final(const char *st)
{
    return strcmp(st, "succeeded") == 0 || strcmp(st, "failed") == 0 ||
           strcmp(st, "rejected") == 0 || strcmp(st, "expired") == 0 ||
           strcmp(st, "cancelled") == 0;
}

static int exit_for(const char *st)
{
    if (strcmp(st, "succeeded") == 0)
        return CTL_OK;
    if (strcmp(st, "failed") == 0)
        return CTL_FAILED;
    if (strcmp(st, "rejected") == 0)
        return CTL_REJECTED;
    if (strcmp(st, "expired") == 0)
        return CTL_EXPIRED;
    if (strcmp(st, "cancelled") == 0)
        return CTL_CANCELLED;
    return CTL_TIMEOUT;
}

static void print_result(const cJSON *cmd, long waited_s)
{
    const char *st = jstr(cmd, "status", "?");
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(cmd, "result");
    double created = jnum(cmd, "created_ms", 0), updated = jnum(cmd, "updated_ms", 0);
    if (!is_final(st)) {
        printf("still %s after %ld s (the command goes on; its status URL tells later)\n", st,
               waited_s);
        return;
    }
    if (cJSON_IsObject(res)) {
        printf("%s in %.0f ms: %s (code %.0f) %s\n", st, updated - created,
               jstr(res, "status", "?"), jnum(res, "code", 0), jstr(res, "message", ""));
        const cJSON *o;
        cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(res, "outputs"))
        {
            if (cJSON_IsString(o))
                printf("  %s = %s\n", o->string, o->valuestring);
        }
    } else if (strcmp(st, "expired") == 0) {
        printf("expired: no answer from the device before the deadline\n");
    } else {
        printf("%s\n", st);
    }
}

static int follow(const struct ctl *c, const char *status_path, long wait_s, cJSON **out)
{
    int64_t start = now_ms(), deadline = start + wait_s * 1000;
    *out = NULL;
    for (int round = 0; round < 100000; round++) {
        int64_t left_ms = deadline - now_ms();
        long w = left_ms <= 0 ? 0 : (long)((left_ms + 999) / 1000);
        if (w > LONGPOLL_MAX_S)
            w = LONGPOLL_MAX_S;
        char path[300];
        snprintf(path, sizeof path, "%s?wait=%ld", status_path, w);
        cJSON *j;
        int rc = ctl_http_json(c, "GET", path, NULL, w + 5, false, &j);
        if (rc != CTL_OK)
            return rc;
        cJSON_Delete(*out);
        *out = j;
        if (is_final(jstr(j, "status", "")) || w == 0 || ctl_stop)
            break;
    }
    return CTL_OK;
}

int cmd_send(struct ctl *c, int argc, char **argv)
{
    if (ctl_want_help(argc, argv, send_usage))
        return CTL_OK;
    const char *id = NULL, *name = NULL, *callback = NULL;
    long timeout_s = 0, wait_s = -1;
    bool force = false;
    cJSON *body = cJSON_CreateObject();
    cJSON *params = cJSON_AddObjectToObject(body, "params");
    int rc = CTL_OK;
    for (int i = 0; i < argc && rc == CTL_OK; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        if (strcmp(a, "--timeout") == 0) {
            if (i + 1 >= argc || !ctl_parse_long(argv[++i], 1, 86400 * 30, &timeout_s))
                rc = ctl_usage_error(send_usage, "--timeout needs seconds (1..2592000)");
        } else if (strcmp(a, "--wait") == 0) {
            wait_s = 0; /* default, decided below */
            if (i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9' &&
                !ctl_parse_long(argv[++i], 1, 86400, &wait_s))
                rc = ctl_usage_error(send_usage, "--wait: '%s' is not 1..86400 seconds", argv[i]);
        } else if (strcmp(a, "--callback") == 0) {
            if (i + 1 >= argc)
                rc = ctl_usage_error(send_usage, "--callback needs a URL");
            else
                callback = argv[++i];
        } else if (strcmp(a, "--force") == 0) {
            force = true;
        } else if (a[0] == '-') {
            rc = ctl_usage_error(send_usage, "send: unknown option '%s'", a);
        } else if (!id) {
            id = a;
        } else if (!name) {
            name = a;
        } else if (eq && eq != a) {
            char key[128];
            snprintf(key, sizeof key, "%.*s", (int)(eq - a), a);
            cJSON_AddStringToObject(params, key, eq + 1);
        } else {
            rc = ctl_usage_error(send_usage, "send: '%s' is not KEY=VALUE", a);
        }
    }
    if (rc == CTL_OK && (!id || !name))
        rc = ctl_usage_error(send_usage, "send: a device id and a command name, please");
    if (rc == CTL_OK && !ctl_id_ok(id))
        rc = ctl_usage_error(send_usage, "send: '%s' is not a device id", id);
    if (rc != CTL_OK) {
        cJSON_Delete(body);
        return rc;
    }
    cJSON_AddStringToObject(body, "name", name);
    if (timeout_s)
        cJSON_AddNumberToObject(body, "timeout_s", (double)timeout_s);
    if (callback)
        cJSON_AddStringToObject(body, "callback_url", callback);
    if (wait_s == 0)
        wait_s = timeout_s ? timeout_s : WAIT_DEFAULT_S;

    cJSON *queued = NULL, *done = NULL;
    if (!force)
        rc = ctl_device_known(c, id);
    if (rc == CTL_OK) {
        char path[128], *text = cJSON_PrintUnformatted(body);
        snprintf(path, sizeof path, "/v1/devices/%s/commands", id);
        rc = text ? ctl_http_json(c, "POST", path, text, 0, false, &queued) : CTL_ERROR;
        cJSON_free(text);
    }
    const char *status_path = queued ? jstr(queued, "status_url", NULL) : NULL;
    if (rc == CTL_OK && !status_path) {
        fprintf(stderr, "iotctl: the answer to the command has no status_url\n");
        rc = CTL_ERROR;
    }
    if (rc == CTL_OK && !c->json) {
        printf("command %s queued: %s%s\n", jstr(queued, "id", "?"), c->url, status_path);
        fflush(stdout);
    }
    if (rc == CTL_OK && wait_s > 0) {
        rc = follow(c, status_path, wait_s, &done);
        if (rc == CTL_OK && done) {
            if (c->json)
                print_json(done);
            else
                print_result(done, wait_s);
            rc = exit_for(jstr(done, "status", ""));
        }
    } else if (rc == CTL_OK && c->json) {
        print_json(queued);
    }
    cJSON_Delete(done);
    cJSON_Delete(queued);
    cJSON_Delete(body);
    return rc;
}
