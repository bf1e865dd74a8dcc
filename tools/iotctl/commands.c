/* SPDX-License-Identifier: Apache-2.0 */
/* iotctl subcommands that read: devices, device, telemetry, tail; and desired (writes settings).
 * Each prints a table for people or, with --json, the server's JSON for scripts. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iotctl.h"

bool ctl_want_help(int argc, char **argv, const char *usage)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return true;
        }
    }
    return false;
}

int ctl_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "iotctl: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage);
    return CTL_USAGE;
}

bool ctl_parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool ctl_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return false;
    }
    return true;
}

int ctl_device_known(const struct ctl *c, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/devices/%s", id);
    struct http_resp r;
    int rc = ctl_http(c, "GET", path, NULL, 0, true, &r);
    http_resp_free(&r);
    if (rc == CTL_NOT_FOUND)
        fprintf(stderr, "iotctl: unknown device '%s' (not in the registry; see `iotctl devices`)\n",
                id);
    return rc;
}

/* ---------------------------------------------------------------- devices */

static const char devices_usage[] =
    "usage: iotctl devices [--json]\n"
    "The registry: every device the cloud has seen, with presence, last message, samples stored\n"
    "and the version of its reported state. --json prints {\"devices\": [...]}.\n";

int cmd_devices(struct ctl *c, int argc, char **argv)
{
    if (ctl_want_help(argc, argv, devices_usage))
        return CTL_OK;
    if (argc > 0)
        return ctl_usage_error(devices_usage, "devices: unexpected argument '%s'", argv[0]);
    cJSON *all = cJSON_CreateArray();
    char cursor[300] = "";
    int rc = CTL_OK;
    for (int page = 0; page < 10000 && all; page++) {
        char path[400];
        snprintf(path, sizeof path, "/v1/devices?limit=1000%s%s", cursor[0] ? "&cursor=" : "",
                 cursor);
        cJSON *j;
        if ((rc = ctl_http_json(c, "GET", path, NULL, 0, false, &j)) != CTL_OK)
            break;
        cJSON *devs = cJSON_GetObjectItemCaseSensitive(j, "devices"), *d;
        cJSON_ArrayForEach(d, devs) cJSON_AddItemToArray(all, cJSON_Duplicate(d, true));
        const char *next = jstr(j, "next_cursor", NULL);
        bool more = next && ctl_url_escape(next, cursor, sizeof cursor);
        cJSON_Delete(j);
        if (!more)
            break;
    }
    if (rc == CTL_OK && c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "devices", all);
        print_json(o);
        cJSON_Delete(o);
        return rc;
    }
    if (rc == CTL_OK) {
        static const char *const h[] = {"ID", "PRESENCE", "LAST SEEN", "SAMPLES", "AGENT",
                                        "REPORTED"};
        struct table *t = table_new(6, h);
        cJSON *d;
        size_t n = 0, online = 0;
        cJSON_ArrayForEach(d, all)
        {
            char seen[32], samples[32], rep[32];
            fmt_age_ms(jnum(d, "last_seen_ms", 0), seen, sizeof seen);
            fmt_num(jnum(d, "samples", 0), samples, sizeof samples);
            double rv = jnum(d, "reported_version", -1);
            if (rv >= 0)
                snprintf(rep, sizeof rep, "v%.0f", rv);
            else
                snprintf(rep, sizeof rep, "-");
            const char *row[] = {jstr(d, "id", "?"), jstr(d, "presence", "?"), seen, samples,
                                 jstr(d, "agent_version", "-"), rep};
            table_add(t, row);
            n++;
            online += strcmp(jstr(d, "presence", ""), "online") == 0;
        }
        table_print(t);
        table_free(t);
        printf("%zu devices, %zu online\n", n, online);
    }
    cJSON_Delete(all);
    return rc;
}

/* ---------------------------------------------------------------- device */

static const char device_usage[] =
    "usage: iotctl device ID [--json]\n"
    "One device: presence, last message, agent version, connection counter, reported and desired\n"
    "state, samples stored and commands by state. Exit 8 when the device is unknown.\n";

int cmd_device(struct ctl *c, int argc, char **argv)
{
    if (ctl_want_help(argc, argv, device_usage))
        return CTL_OK;
    if (argc != 1)
        return ctl_usage_error(device_usage, "device: %s", argc ? "one device id, please" : "which device?");
    if (!ctl_id_ok(argv[0]))
        return ctl_usage_error(device_usage, "device: '%s' is not a device id ([A-Za-z0-9_-]{1,64})",
                           argv[0]);
    char path[128];
    snprintf(path, sizeof path, "/v1/devices/%s", argv[0]);
    cJSON *j;
    int rc = ctl_http_json(c, "GET", path, NULL, 0, true, &j);
    if (rc == CTL_NOT_FOUND)
        fprintf(stderr, "iotctl: unknown device '%s' (not in the registry; see `iotctl devices`)\n",
                argv[0]);
    if (rc != CTL_OK)
        return rc;
    if (c->json) {
        print_json(j);
        cJSON_Delete(j);
        return CTL_OK;
    }
    char a[64], b[64], line[2048];
    printf("%-12s %s\n", "id", jstr(j, "id", "?"));
    fmt_time_ms(jnum(j, "presence_ms", 0), a, sizeof a);
    printf("%-12s %s (%s) since %s\n", "presence", jstr(j, "presence", "?"),
           jstr(j, "presence_reason", "-"), a);
    fmt_age_ms(jnum(j, "last_seen_ms", 0), a, sizeof a);
    fmt_time_ms(jnum(j, "last_seen_ms", 0), b, sizeof b);
    printf("%-12s %s (%s)\n", "last seen", a, b);
    fmt_time_ms(jnum(j, "boot_time_ms", 0), a, sizeof a);
    printf("%-12s %s, connection %s, booted %s\n", "agent", jstr(j, "agent_version", "-"),
           jstr(j, "connection", "-"), a);
    const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(j, "counters");
    fmt_num(jnum(cnt, "samples", 0), a, sizeof a);
    printf("%-12s %s stored\n", "samples", a);
    fmt_kv(cJSON_GetObjectItemCaseSensitive(cnt, "commands"), line, sizeof line);
    printf("%-12s %s\n", "commands", line);
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(j, "reported");
    if (cJSON_IsObject(rep)) {
        fmt_kv(cJSON_GetObjectItemCaseSensitive(rep, "settings"), line, sizeof line);
        fmt_age_ms(jnum(rep, "at_ms", 0), a, sizeof a);
        printf("%-12s v%.0f (%s): %s\n", "reported", jnum(rep, "version", 0), a, line);
    } else {
        printf("%-12s -\n", "reported");
    }
    const cJSON *des = cJSON_GetObjectItemCaseSensitive(j, "desired");
    if (cJSON_IsObject(des)) {
        fmt_kv(cJSON_GetObjectItemCaseSensitive(des, "settings"), line, sizeof line);
        printf("%-12s v%.0f (%s): %s\n", "desired", jnum(des, "version", 0),
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(des, "published")) ? "published"
                                                                                : "not published",
               line);
    } else {
        printf("%-12s -\n", "desired");
    }
    cJSON_Delete(j);
    return CTL_OK;
}

/* ---------------------------------------------------------------- telemetry */

static const char telemetry_usage[] =
    "usage: iotctl telemetry ID [--since DURATION|TIME] [--metric NAME] [--limit N] [--json]\n"
    "Stored samples of a device, newest first.\n"
    "  --since   90s, 10m, 2h, 1d (ago), Unix seconds or ms, or 2026-05-01T10:00:00Z (UTC)\n"
    "  --metric  only this metric (e.g. temperature)\n"
    "  --limit   how many samples [20]\n";

bool ctl_parse_since(const char *s, int64_t now, int64_t *out_ms)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end != s && !errno && v >= 0) {
        double mul = 0;
        if (strcmp(end, "ms") == 0)
            mul = 1;
        else if (strcmp(end, "s") == 0)
            mul = 1000;
        else if (strcmp(end, "m") == 0)
            mul = 60000;
        else if (strcmp(end, "h") == 0)
            mul = 3600000;
        else if (strcmp(end, "d") == 0)
            mul = 86400000;
        if (mul > 0) {
            *out_ms = now - (int64_t)(v * mul);
            return true;
        }
        if (*end == 0 && v == (double)(int64_t)v) { /* Unix time: seconds, or ms when large */
            *out_ms = v >= 1e11 ? (int64_t)v : (int64_t)v * 1000;
            return true;
        }
    }
    static const char *const fmts[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S",
                                       "%Y-%m-%d %H:%M", "%Y-%m-%d"};
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *rest = strptime(s, fmts[i], &tm);
        if (rest && (*rest == 0 || strcmp(rest, "Z") == 0)) {
            *out_ms = (int64_t)timegm(&tm) * 1000;
            return true;
        }
    }
    return false;
}

static void metrics_text(const cJSON *m, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, m)
    {
        char v[64];
        fmt_num(jnum(it, "value", 0), v, sizeof v);
        int n = snprintf(out + used, cap - used, "%s%s=%s%s", used ? " " : "", it->string, v,
                         jstr(it, "unit", ""));
        if (n < 0 || (size_t)n >= cap - used)
            break;
        used += (size_t)n;
    }
}

int cmd_telemetry(struct ctl *c, int argc, char **argv)
{
    if (ctl_want_help(argc, argv, telemetry_usage))
        return CTL_OK;
    const char *id = NULL, *metric = NULL;
    int64_t from = -1;
    long limit = 20;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--since") == 0 || strcmp(a, "--metric") == 0 || strcmp(a, "--limit") == 0) {
            if (i + 1 >= argc)
                return ctl_usage_error(telemetry_usage, "%s needs a value", a);
            const char *v = argv[++i];
            if (a[2] == 's' && !ctl_parse_since(v, now_ms(), &from))
                return ctl_usage_error(telemetry_usage, "--since: '%s' is neither a duration (10m) "
                                   "nor a time", v);
            if (a[2] == 'm')
                metric = v;
            if (a[2] == 'l' && !ctl_parse_long(v, 1, 1000000, &limit))
                return ctl_usage_error(telemetry_usage, "--limit: '%s' is not 1..1000000", v);
        } else if (a[0] == '-') {
            return ctl_usage_error(telemetry_usage, "telemetry: unknown option '%s'", a);
        } else if (!id) {
            id = a;
        } else {
            return ctl_usage_error(telemetry_usage, "telemetry: unexpected argument '%s'", a);
        }
    }
    if (!id)
        return ctl_usage_error(telemetry_usage, "telemetry: which device?");
    if (!ctl_id_ok(id))
        return ctl_usage_error(telemetry_usage, "telemetry: '%s' is not a device id", id);
    char esc_metric[200] = "";
    if (metric && !ctl_url_escape(metric, esc_metric, sizeof esc_metric))
        return ctl_usage_error(telemetry_usage, "--metric: '%s' is too long", metric);
    cJSON *items = cJSON_CreateArray();
    char cursor[300] = "";
    int rc = CTL_OK;
    long got = 0;
    while (rc == CTL_OK && got < limit) {
        long want = limit - got > 1000 ? 1000 : limit - got;
        char path[800], fromq[40] = "";
        if (from >= 0)
            snprintf(fromq, sizeof fromq, "&from=%lld", (long long)from);
        snprintf(path, sizeof path, "/v1/devices/%s/telemetry?limit=%ld%s%s%s%s%s", id, want,
                 fromq, metric ? "&metric=" : "", esc_metric, cursor[0] ? "&cursor=" : "",
                 cursor);
        cJSON *j;
        if ((rc = ctl_http_json(c, "GET", path, NULL, 0, false, &j)) != CTL_OK)
            break;
        cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "items"))
        {
            cJSON_AddItemToArray(items, cJSON_Duplicate(it, true));
            got++;
        }
        const char *next = jstr(j, "next_cursor", NULL);
        bool more = next && ctl_url_escape(next, cursor, sizeof cursor);
        cJSON_Delete(j);
        if (!more)
            break;
    }
    if (rc == CTL_OK && got == 0)
        rc = ctl_device_known(c, id); /* nothing stored: an unknown id deserves its own error */
    if (rc == CTL_OK && c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "device_id", id);
        cJSON_AddItemToObject(o, "items", items);
        print_json(o);
        cJSON_Delete(o);
        return rc;
    }
    if (rc == CTL_OK) {
        static const char *const h[] = {"TIME (UTC)", "SEQ", "METRICS"};
        struct table *t = table_new(3, h);
        cJSON *it;
        cJSON_ArrayForEach(it, items)
        {
            char when[48], seq[32], m[2048];
            fmt_time_ms(jnum(it, "time_ms", 0), when, sizeof when);
            fmt_num(jnum(it, "seq", 0), seq, sizeof seq);
            metrics_text(cJSON_GetObjectItemCaseSensitive(it, "metrics"), m, sizeof m);
            const char *row[] = {when, seq, m};
            table_add(t, row);
        }
        table_print(t);
        table_free(t);
        printf("%ld samples\n", got);
    }
    cJSON_Delete(items);
    return rc;
}

/* ---------------------------------------------------------------- tail */

static const char tail_usage[] =
    "usage: iotctl tail [ID] [--count N] [--for S] [--json]\n"
    "Follow the cloud's event stream (telemetry, presence, command states) as it happens, of one\n"
    "device or all. Ctrl-C stops. --count N: stop after N events; --for S: stop after S seconds.\n"
    "--json prints one {\"event\":..., \"data\":{...}} object per line.\n";

struct tail_ctx {
    const struct ctl *c;
    long count, seen;
};

static bool on_event(void *ctx, const char *event, const char *data)
{
    struct tail_ctx *t = ctx;
    cJSON *d = cJSON_Parse(data);
    if (t->c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "event", event);
        if (d)
            cJSON_AddItemToObject(o, "data", d);
        else
            cJSON_AddStringToObject(o, "data", data);
        char *s = cJSON_PrintUnformatted(o);
        if (s)
            printf("%s\n", s);
        cJSON_free(s);
        cJSON_Delete(o);
    } else {
        char when[48], text[2048] = "";
        fmt_time_ms((double)now_ms(), when, sizeof when);
        const char *dev = jstr(d, "device_id", "-");
        if (strcmp(event, "telemetry") == 0) {
            const cJSON *s, *last = NULL;
            cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(d, "samples")) last = s;
            char m[1500] = "";
            fmt_kv(cJSON_GetObjectItemCaseSensitive(last, "metrics"), m, sizeof m);
            snprintf(text, sizeof text, "%.0f sample(s), last seq %.0f: %s",
                     jnum(d, "n_samples", 0), jnum(last, "seq", 0), m);
        } else {
            cJSON *copy = cJSON_Duplicate(d, true);
            cJSON_DeleteItemFromObjectCaseSensitive(copy, "device_id");
            fmt_kv(copy, text, sizeof text);
            cJSON_Delete(copy);
        }
        printf("%s  %-9s %-24s %s\n", when + 11, event, dev, text);
        cJSON_Delete(d);
    }
    fflush(stdout);
    t->seen++;
    return !(t->count > 0 && t->seen >= t->count);
}

int cmd_tail(struct ctl *c, int argc, char **argv)
{
    if (ctl_want_help(argc, argv, tail_usage))
        return CTL_OK;
    const char *id = NULL;
    long count = 0, for_s = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--count") == 0 || strcmp(a, "--for") == 0) {
            if (i + 1 >= argc)
                return ctl_usage_error(tail_usage, "%s needs a value", a);
            if (!ctl_parse_long(argv[++i], 1, 100000000, a[2] == 'c' ? &count : &for_s))
                return ctl_usage_error(tail_usage, "'%s' is not a positive whole number", argv[i]);
        } else if (a[0] == '-') {
            return ctl_usage_error(tail_usage, "tail: unknown option '%s'", a);
        } else if (!id) {
            id = a;
        } else {
            return ctl_usage_error(tail_usage, "tail: unexpected argument '%s'", a);
        }
    }
    if (id && !ctl_id_ok(id))
        return ctl_usage_error(tail_usage, "tail: '%s' is not a device id", id);
    if (id) {
        int rc = ctl_device_known(c, id);
        if (rc != CTL_OK)
            return rc;
    }
    char path[128];
    snprintf(path, sizeof path, "/v1/events%s%s", id ? "?device=" : "", id ? id : "");
    struct tail_ctx t = {.c = c, .count = count};
    return ctl_sse(c, path, on_event, &t, for_s, &ctl_stop);
}

/* ---------------------------------------------------------------- desired */

static const char desired_usage[] =
    "usage: iotctl desired ID KEY=VALUE... [--force] [--json]\n"
    "Set desired settings of a device (e.g. interval_ms=500, thermostat.setpoint_c=22, plug=off,\n"
    "sensors.simulated=temperature,door). The device applies them when online and reports them\n"
    "back (see `iotctl device ID`). --force skips the check that the device is known.\n";

int cmd_desired(struct ctl *c, int argc, char **argv)
{
    if (ctl_want_help(argc, argv, desired_usage))
        return CTL_OK;
    const char *id = NULL;
    bool force = false;
    cJSON *body = cJSON_CreateObject();
    cJSON *settings = cJSON_AddObjectToObject(body, "settings");
    int rc = CTL_OK;
    for (int i = 0; i < argc && rc == CTL_OK; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        if (strcmp(a, "--force") == 0) {
            force = true;
        } else if (a[0] == '-') {
            rc = ctl_usage_error(desired_usage, "desired: unknown option '%s'", a);
        } else if (!id && !eq) {
            id = a;
        } else if (eq && eq != a) {
            char key[128];
            snprintf(key, sizeof key, "%.*s", (int)(eq - a), a);
            cJSON_AddStringToObject(settings, key, eq + 1);
        } else {
            rc = ctl_usage_error(desired_usage, "desired: '%s' is not KEY=VALUE", a);
        }
    }
    if (rc == CTL_OK && (!id || cJSON_GetArraySize(settings) == 0))
        rc = ctl_usage_error(desired_usage, "desired: a device id and at least one KEY=VALUE");
    if (rc == CTL_OK && !ctl_id_ok(id))
        rc = ctl_usage_error(desired_usage, "desired: '%s' is not a device id", id);
    if (rc == CTL_OK && !force)
        rc = ctl_device_known(c, id);
    cJSON *j = NULL;
    if (rc == CTL_OK) {
        char path[128], *text = cJSON_PrintUnformatted(body);
        snprintf(path, sizeof path, "/v1/devices/%s/state/desired", id);
        rc = text ? ctl_http_json(c, "PUT", path, text, 0, false, &j) : CTL_ERROR;
        cJSON_free(text);
    }
    if (rc == CTL_OK) {
        if (c->json)
            print_json(j);
        else
            printf("desired state of %s is now version %.0f\n", id, jnum(j, "version", 0));
    }
    cJSON_Delete(j);
    cJSON_Delete(body);
    return rc;
}
