/* SPDX-License-Identifier: Apache-2.0 */
/* iotctl: a command-line client of iot-cloud's HTTP API. Settings come from flags, then the
 * environment (IOT_URL, IOT_TOKEN), then a config file (--config, else ~/.config/iotctl.conf);
 * this file resolves them and dispatches to the subcommands. */
#include <curl/curl.h>
#include <errno.h>
#include <ini.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iotctl.h"

#define DEFAULT_URL "http://127.0.0.1:8080"

volatile int ctl_stop;

static const char usage[] =
    "usage: iotctl [--url URL] [--token TOKEN] [--config FILE] [--json] COMMAND [ARGS...]\n"
    "\n"
    "A client of the iot-cloud HTTP API. Commands (each has --help):\n"
    "  devices                          the registry: presence, last seen, samples\n"
    "  device ID                        one device: presence, agent, reported/desired state\n"
    "  telemetry ID [--since D|T] [--metric NAME] [--limit N]   stored samples, newest first\n"
    "  tail [ID]                        follow events (telemetry, presence, commands) live\n"
    "  send ID NAME [K=V...] [--timeout S] [--wait [S]]   send a command; the exit code tells\n"
    "                                   whether it succeeded\n"
    "  desired ID K=V...                set desired settings\n"
    "\n"
    "Options (anywhere on the line):\n"
    "  --url URL        the API [$IOT_URL, url = in the config file, " DEFAULT_URL "]\n"
    "  --token TOKEN    bearer token [$IOT_TOKEN, token = in the config file]\n"
    "  --config FILE    INI file with url = and token = (top level or [iotctl])\n"
    "                   [$XDG_CONFIG_HOME/iotctl.conf or ~/.config/iotctl.conf, if present]\n"
    "  --json           JSON for scripts instead of tables\n"
    "  --http-timeout S seconds per request [30]\n"
    "  -h, --help       this text\n"
    "\n"
    "Exit status: 0 ok, 1 error, 2 usage, 3 command failed, 4 rejected, 5 expired,\n"
    "6 cancelled, 7 --wait ran out, 8 not found (unknown device), 9 unauthorized (bad token),\n"
    "10 server unreachable (connection refused), 11 other HTTP error.\n";

struct conf_ctx {
    struct ctl *c;
    bool url_set, token_set;
    const char *path;
    bool bad;
};

static int on_conf(void *user, const char *section, const char *name, const char *value)
{
    struct conf_ctx *x = user;
    if (section[0] && strcmp(section, "iotctl") != 0)
        return 1; /* other sections belong to other tools */
    if (strcmp(name, "url") == 0) {
        if (!x->url_set)
            snprintf(x->c->url, sizeof x->c->url, "%s", value);
    } else if (strcmp(name, "token") == 0) {
        if (!x->token_set)
            snprintf(x->c->token, sizeof x->c->token, "%s", value);
    } else {
        fprintf(stderr, "iotctl: %s: unknown key '%s' (url, token)\n", x->path, name);
        x->bad = true;
        return 0;
    }
    return 1;
}

/* Fill what flags and the environment left unset from the config file. */
static int load_config(struct ctl *c, const char *explicit_path, bool url_set, bool token_set)
{
    char path[1024];
    if (explicit_path) {
        snprintf(path, sizeof path, "%s", explicit_path);
    } else if (getenv("XDG_CONFIG_HOME") && *getenv("XDG_CONFIG_HOME")) {
        snprintf(path, sizeof path, "%s/iotctl.conf", getenv("XDG_CONFIG_HOME"));
    } else if (getenv("HOME")) {
        snprintf(path, sizeof path, "%s/.config/iotctl.conf", getenv("HOME"));
    } else {
        return CTL_OK;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        if (!explicit_path && errno == ENOENT)
            return CTL_OK;
        fprintf(stderr, "iotctl: config file %s: %s\n", path, strerror(errno));
        return CTL_ERROR;
    }
    struct conf_ctx x = {.c = c, .url_set = url_set, .token_set = token_set, .path = path};
    int rc = ini_parse_file(f, on_conf, &x);
    fclose(f);
    if (x.bad)
        return CTL_ERROR;
    if (rc != 0) {
        fprintf(stderr, "iotctl: config file %s:%d: not INI (url = ..., token = ...)\n", path, rc);
        return CTL_ERROR;
    }
    return CTL_OK;
}

static void on_signal(int sig) { ctl_stop = sig; }

int main(int argc, char **argv)
{
    struct ctl c = {.http_timeout_s = 30};
    const char *url = NULL, *token = NULL, *config = NULL;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0;
    if (!rest)
        return CTL_ERROR;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--url") == 0      ? &url
                            : strcmp(a, "--token") == 0  ? &token
                            : strcmp(a, "--config") == 0 ? &config
                                                         : NULL;
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "iotctl: %s needs a value\n", a);
                free(rest);
                return CTL_USAGE;
            }
            *slot = argv[++i];
        } else if (strcmp(a, "--http-timeout") == 0) {
            if (i + 1 >= argc || !ctl_parse_long(argv[++i], 1, 3600, &c.http_timeout_s)) {
                fprintf(stderr, "iotctl: --http-timeout needs 1..3600 seconds\n");
                free(rest);
                return CTL_USAGE;
            }
        } else if (strcmp(a, "--json") == 0) {
            c.json = true;
        } else if (nrest == 0 && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 ||
                                  strcmp(a, "help") == 0)) {
            fputs(usage, stdout);
            free(rest);
            return CTL_OK;
        } else {
            rest[nrest++] = argv[i];
        }
    }
    if (nrest == 0) {
        fputs(usage, stderr);
        free(rest);
        return CTL_USAGE;
    }
    if (!url && getenv("IOT_URL") && *getenv("IOT_URL"))
        url = getenv("IOT_URL");
    if (!token && getenv("IOT_TOKEN") && *getenv("IOT_TOKEN"))
        token = getenv("IOT_TOKEN");
    snprintf(c.url, sizeof c.url, "%s", url ? url : DEFAULT_URL);
    if (token)
        snprintf(c.token, sizeof c.token, "%s", token);
    int rc = load_config(&c, config, url != NULL, token != NULL);
    size_t n = strlen(c.url);
    while (n > 0 && c.url[n - 1] == '/')
        c.url[--n] = 0;
    if (rc == CTL_OK && strncmp(c.url, "http://", 7) != 0 && strncmp(c.url, "https://", 8) != 0) {
        fprintf(stderr, "iotctl: --url '%s' must start with http:// or https://\n", c.url);
        rc = CTL_USAGE;
    }
    if (rc != CTL_OK) {
        free(rest);
        return rc;
    }
    static const struct {
        const char *name;
        int (*fn)(struct ctl *, int, char **);
    } cmds[] = {{"devices", cmd_devices},     {"device", cmd_device}, {"telemetry", cmd_telemetry},
                {"tail", cmd_tail},           {"send", cmd_send},     {"desired", cmd_desired}};
    int (*fn)(struct ctl *, int, char **) = NULL;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(rest[0], cmds[i].name) == 0)
            fn = cmds[i].fn;
    }
    if (!fn) {
        fprintf(stderr, "iotctl: unknown command '%s'\n%s", rest[0], usage);
        free(rest);
        return CTL_USAGE;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = fn(&c, nrest - 1, rest + 1);
    curl_global_cleanup();
    free(rest);
    fflush(stdout);
    return rc;
}
