/* SPDX-License-Identifier: Apache-2.0 */
/* iot-sim options: one table serves the command line (--name VALUE, --name=VALUE) and the [sim]
 * section of a --config file (name = value), so both accept exactly the same options. */
#define IOT_LOG_TAG "sim.opts"
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static const char *const kind_names[SIM_KINDS] = {"thermostat", "plug",     "motion",
                                                  "door",       "humidity", "light"};

const char *sim_kind_name(enum sim_kind k) { return k < SIM_KINDS ? kind_names[k] : "?"; }

enum opt_type { T_U32, T_U16, T_U64, T_DBL, T_STR, T_FLAG, T_BOOL, T_MIX, T_STORE, T_FSYNC,
                T_LEVEL, T_BYTES };

struct opt {
    const char *name;
    enum opt_type type;
    size_t off, cap;
    double min, max;
};

#define OFF(f) offsetof(struct sim_opts, f)
#define CAP(f) sizeof(((struct sim_opts *)0)->f)
static const struct opt opts[] = {
    {"devices", T_U32, OFF(devices), 0, 1, 100000},
    {"mix", T_MIX, OFF(mix), 0, 0, 0},
    {"host", T_STR, OFF(host), CAP(host), 0, 0},
    {"port", T_U16, OFF(port), 0, 1, 65535},
    {"pki", T_STR, OFF(pki), CAP(pki), 0, 0},
    {"issue", T_BOOL, OFF(issue), 0, 0, 0},
    {"state", T_STR, OFF(state), CAP(state), 0, 0},
    {"prefix", T_STR, OFF(prefix), CAP(prefix), 0, 0},
    {"interval-ms", T_U32, OFF(interval_ms), 0, 10, 86400000},
    {"batch", T_U32, OFF(batch_max), 0, 1, 1000},
    {"inflight", T_U32, OFF(inflight), 0, 1, 1000},
    {"store", T_STORE, OFF(store), 0, 0, 0},
    {"store-max-bytes", T_BYTES, OFF(store_max_bytes), 0, 65536, 1e12},
    {"buffer-samples", T_U32, OFF(buffer_samples), 0, 10, 10000000},
    {"fsync", T_FSYNC, OFF(fsync), 0, 0, 0},
    {"commands", T_BOOL, OFF(commands), 0, 0, 0},
    {"time-constant", T_DBL, OFF(time_constant_s), 0, 1, 86400},
    {"churn", T_DBL, OFF(churn), 0, 0, 1},
    {"churn-period", T_U32, OFF(churn_period_s), 0, 4, 86400},
    {"clock-skew-ms", T_U32, OFF(clock_skew_ms), 0, 0, 86400000},
    {"burst", T_U32, OFF(burst), 0, 0, 10000},
    {"burst-every", T_U32, OFF(burst_every_s), 0, 1, 86400},
    {"connect-rate", T_U32, OFF(connect_rate), 0, 1, 100000},
    {"duration", T_U32, OFF(duration_s), 0, 0, 100000000},
    {"drain", T_U32, OFF(drain_s), 0, 0, 3600},
    {"progress", T_U32, OFF(progress_s), 0, 0, 3600},
    {"stats", T_STR, OFF(stats_file), CAP(stats_file), 0, 0},
    {"log-level", T_LEVEL, OFF(log_level), 0, 0, 0},
    {"seed", T_U64, OFF(seed), 0, 0, 0},
    {"list", T_FLAG, OFF(list), 0, 0, 0},
};

static const char help_text[] =
    "usage: iot-sim --pki DIR [options]\n"
    "       iot-sim --config FILE [options]\n"
    "\n"
    "Simulates N smart-home devices in one process. Each is a full iot-agent (the device library):\n"
    "its own certificate (CN = device id), presence, telemetry kept in its own store until the\n"
    "cloud's receipt, signed commands with results, desired/reported state. SIGINT/SIGTERM stop\n"
    "every device cleanly (offline presence, disconnect); another signal a second or more later\n"
    "aborts. Progress lines go to stdout, logs to stderr. Exit status: 0 ok, 1 error (a device\n"
    "could not start), 2 usage.\n"
    "\n"
    "Broker and identity:\n"
    "  --pki DIR              PKI of `iot-pki init` (ca.crt, cmd-sign.pub, devices/); required\n"
    "  --issue BOOL           issue missing device certificates with DIR/ca.key [true]\n"
    "  --host HOST            broker host [127.0.0.1]\n"
    "  --port PORT            broker TLS port [8883]\n"
    "Devices:\n"
    "  --devices N            how many [10]\n"
    "  --mix SPEC             one house: kind:count,... [thermostat:1,plug:2,motion:1,door:1,\n"
    "                         humidity:1,light:2]; kinds: thermostat (set_setpoint celsius=),\n"
    "                         plug (plug_on, plug_off), motion, door, humidity, light (light_on,\n"
    "                         light_off, set_brightness percent=); all: ping, get_state, ...\n"
    "  --prefix TEXT          device ids TEXT0001-thermostat, TEXT0001-plug-2, ... [house]\n"
    "  --state DIR            one state + store directory per device [./iot-sim-state]\n"
    "  --interval-ms MS       sampling interval per device [1000]\n"
    "  --batch N              max samples per telemetry message [10]\n"
    "  --inflight N           max QoS 1 publishes outstanding per device [20]\n"
    "  --store disk|memory    offline store per device [disk]\n"
    "  --store-max-bytes N    disk store bound per device, K/M/G suffixes [1M]\n"
    "  --buffer-samples N     memory store bound per device [1000]\n"
    "  --fsync never|interval|always   disk store durability [never: the kernel writes back;\n"
    "                         a simulator needs no power-loss safety, 1000 fsyncs/s would]\n"
    "  --commands BOOL        accept signed commands (needs DIR/cmd-sign.pub) [true]\n"
    "  --time-constant S      thermostat room: time constant toward the setpoint [600]\n"
    "  --seed N               deterministic models (0 = random) [0]\n"
    "Chaos:\n"
    "  --churn FRACTION       this fraction of the devices power-cycles every period: offline\n"
    "                         presence, gone for 2 s .. period/2, back with its state and store [0]\n"
    "  --churn-period S       [30]\n"
    "  --clock-skew-ms MS     each device's wall clock is off by a fixed amount in +-MS [0]\n"
    "  --burst N              every burst period each device takes N extra samples at once [0]\n"
    "  --burst-every S        [30]\n"
    "Run:\n"
    "  --connect-rate R       devices started per second (TLS handshakes) [100]\n"
    "  --duration S           stop after S seconds; 0 = until SIGINT/SIGTERM [0]\n"
    "  --drain S              at the end of --duration: stop sampling, wait up to S for every\n"
    "                         sample's receipt, then stop [15]\n"
    "  --progress S           a progress line every S seconds; 0 = none [5]\n"
    "  --stats FILE           write a JSON summary (totals, memory, per device) at exit\n"
    "  --log-level LEVEL      error|warn|info|debug [warn]; lines name the device\n"
    "  --list                 print the device ids and kinds, then exit\n"
    "  --config FILE          INI file: [sim] with any option above as name = value\n"
    "  -h, --help             this text\n"
    "\n"
    "Memory: the summary reports RSS / devices. Raise the open-file limit (done here up to the hard\n"
    "limit): each device holds a socket, two event fds and (disk store) two files.\n";

const char *sim_opts_help(void) { return help_text; }

void sim_opts_defaults(struct sim_opts *o)
{
    memset(o, 0, sizeof *o);
    o->devices = 10;
    static const uint32_t mix[SIM_KINDS] = {1, 2, 1, 1, 1, 2};
    memcpy(o->mix, mix, sizeof mix);
    snprintf(o->host, sizeof o->host, "127.0.0.1");
    o->port = 8883;
    o->issue = true;
    snprintf(o->state, sizeof o->state, "./iot-sim-state");
    snprintf(o->prefix, sizeof o->prefix, "house");
    o->interval_ms = 1000;
    o->batch_max = 10;
    o->inflight = 20;
    o->store = AGENT_STORE_DISK;
    o->store_max_bytes = 1024 * 1024;
    o->buffer_samples = 1000;
    o->fsync = AGENT_FSYNC_NEVER;
    o->commands = true;
    o->time_constant_s = 600;
    o->churn_period_s = 30;
    o->burst_every_s = 30;
    o->connect_rate = 100;
    o->drain_s = 15;
    o->progress_s = 5;
    o->log_level = IOT_LOG_WARN;
}

static enum iot_err parse_mix(const char *v, uint32_t mix[SIM_KINDS], char *err, size_t errlen)
{
    uint32_t m[SIM_KINDS] = {0};
    const char *p = v;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char item[64];
        if (n >= sizeof item) {
            snprintf(err, errlen, "--mix: item too long");
            return IOT_ERR_INVAL;
        }
        memcpy(item, p, n);
        item[n] = 0;
        char *colon = strchr(item, ':');
        unsigned long count = 1;
        if (colon) {
            *colon = 0;
            char *e = NULL;
            errno = 0;
            count = strtoul(colon + 1, &e, 10);
            if (!*(colon + 1) || *e || errno || count > 1000) {
                snprintf(err, errlen, "--mix: '%s': count must be 0..1000", colon + 1);
                return IOT_ERR_INVAL;
            }
        }
        int k = -1;
        for (int i = 0; i < SIM_KINDS; i++) {
            if (strcmp(item, kind_names[i]) == 0)
                k = i;
        }
        if (k < 0) {
            snprintf(err, errlen,
                     "--mix: unknown kind '%s' (known: thermostat, plug, motion, door, humidity, "
                     "light)", item);
            return IOT_ERR_INVAL;
        }
        m[k] += (uint32_t)count;
        p += n;
        if (*p == ',')
            p++;
    }
    uint32_t total = 0;
    for (int i = 0; i < SIM_KINDS; i++)
        total += m[i];
    if (total == 0) {
        snprintf(err, errlen, "--mix: a house needs at least one device");
        return IOT_ERR_INVAL;
    }
    memcpy(mix, m, sizeof m);
    return IOT_OK;
}

static bool parse_num(const char *v, double *out)
{
    char *end = NULL;
    errno = 0;
    double d = strtod(v, &end);
    if (!*v || !end || *end || errno || !isfinite(d))
        return false;
    *out = d;
    return true;
}

static bool parse_bytes(const char *v, double *out)
{
    char buf[64];
    size_t n = strlen(v);
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, v, n + 1);
    double mul = 1;
    char last = buf[n - 1];
    if (last == 'K' || last == 'k')
        mul = 1024.0;
    else if (last == 'M' || last == 'm')
        mul = 1024.0 * 1024.0;
    else if (last == 'G' || last == 'g')
        mul = 1024.0 * 1024.0 * 1024.0;
    if (mul > 1)
        buf[n - 1] = 0;
    if (!parse_num(buf, out))
        return false;
    *out *= mul;
    return true;
}

static enum iot_err set_opt(struct sim_opts *o, const struct opt *d, const char *v, char *err,
                            size_t errlen)
{
    char *base = (char *)o + d->off;
    double x;
    switch (d->type) {
    case T_U32:
    case T_U16:
    case T_DBL:
    case T_BYTES:
        if (!(d->type == T_BYTES ? parse_bytes(v, &x) : parse_num(v, &x)) || x < d->min ||
            x > d->max || (d->type != T_DBL && x != floor(x))) {
            snprintf(err, errlen, "--%s: '%s' is not a %s in %g..%g", d->name, v,
                     d->type == T_DBL ? "number" : "whole number", d->min, d->max);
            return IOT_ERR_INVAL;
        }
        if (d->type == T_U32)
            *(uint32_t *)(void *)base = (uint32_t)x;
        else if (d->type == T_U16)
            *(uint16_t *)(void *)base = (uint16_t)x;
        else if (d->type == T_BYTES)
            *(uint64_t *)(void *)base = (uint64_t)x;
        else
            *(double *)(void *)base = x;
        return IOT_OK;
    case T_U64: {
        char *end = NULL;
        errno = 0;
        unsigned long long u = strtoull(v, &end, 0);
        if (!*v || *end || errno || *v == '-') {
            snprintf(err, errlen, "--%s: '%s' is not a whole number", d->name, v);
            return IOT_ERR_INVAL;
        }
        *(uint64_t *)(void *)base = u;
        return IOT_OK;
    }
    case T_STR:
        if (strlen(v) >= d->cap || !*v) {
            snprintf(err, errlen, "--%s: empty or longer than %zu characters", d->name, d->cap - 1);
            return IOT_ERR_INVAL;
        }
        snprintf(base, d->cap, "%s", v);
        return IOT_OK;
    case T_FLAG:
    case T_BOOL:
        if (strcmp(v, "true") == 0 || strcmp(v, "on") == 0 || strcmp(v, "1") == 0 ||
            strcmp(v, "yes") == 0) {
            *(bool *)(void *)base = true;
        } else if (strcmp(v, "false") == 0 || strcmp(v, "off") == 0 || strcmp(v, "0") == 0 ||
                   strcmp(v, "no") == 0) {
            *(bool *)(void *)base = false;
        } else {
            snprintf(err, errlen, "--%s: '%s' is not true or false", d->name, v);
            return IOT_ERR_INVAL;
        }
        return IOT_OK;
    case T_MIX:
        return parse_mix(v, o->mix, err, errlen);
    case T_STORE:
        if (strcmp(v, "disk") == 0)
            o->store = AGENT_STORE_DISK;
        else if (strcmp(v, "memory") == 0)
            o->store = AGENT_STORE_MEMORY;
        else {
            snprintf(err, errlen, "--store: '%s' is not disk or memory", v);
            return IOT_ERR_INVAL;
        }
        return IOT_OK;
    case T_FSYNC:
        if (strcmp(v, "never") == 0)
            o->fsync = AGENT_FSYNC_NEVER;
        else if (strcmp(v, "interval") == 0)
            o->fsync = AGENT_FSYNC_INTERVAL;
        else if (strcmp(v, "always") == 0)
            o->fsync = AGENT_FSYNC_ALWAYS;
        else {
            snprintf(err, errlen, "--fsync: '%s' is not never, interval or always", v);
            return IOT_ERR_INVAL;
        }
        return IOT_OK;
    case T_LEVEL:
        if (!iot_log_level_parse(v, &o->log_level)) {
            snprintf(err, errlen, "--log-level: '%s' is not error, warn, info or debug", v);
            return IOT_ERR_INVAL;
        }
        return IOT_OK;
    }
    return IOT_ERR_INVAL;
}

static const struct opt *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    }
    return NULL;
}

struct ini_ctx {
    struct sim_opts *o;
    const char *path;
    char *err;
    size_t errlen;
    bool failed;
};

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *c = user;
    if (c->failed)
        return 0;
    if (strcmp(section, "sim") != 0) {
        snprintf(c->err, c->errlen, "%s: unknown section [%s] (only [sim])", c->path, section);
        c->failed = true;
        return 0;
    }
    const struct opt *d = find_opt(name, strlen(name));
    if (!d) {
        snprintf(c->err, c->errlen, "%s: [sim] unknown option '%s' (see --help)", c->path, name);
        c->failed = true;
        return 0;
    }
    char why[400];
    if (set_opt(c->o, d, value, why, sizeof why) != IOT_OK) {
        snprintf(c->err, c->errlen, "%s: %s", c->path, why);
        c->failed = true;
        return 0;
    }
    return 1;
}

static enum iot_err load_config(const char *path, struct sim_opts *o, char *err, size_t errlen)
{
    struct ini_ctx c = {.o = o, .path = path, .err = err, .errlen = errlen};
    int rc = ini_parse(path, on_ini, &c);
    if (c.failed)
        return IOT_ERR_INVAL;
    if (rc < 0) {
        snprintf(err, errlen, "--config %s: cannot open: %s", path, strerror(errno));
        return IOT_ERR_INVAL;
    }
    if (rc > 0) {
        snprintf(err, errlen, "%s:%d: not INI (name = value under [sim])", path, rc);
        return IOT_ERR_INVAL;
    }
    return IOT_OK;
}

enum iot_err sim_opts_parse(int argc, char **argv, struct sim_opts *o, bool *help, char *err,
                            size_t errlen)
{
    *help = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            *help = true;
            return IOT_OK;
        }
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s' (try --help)", a);
            return IOT_ERR_INVAL;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const char *val = eq ? eq + 1 : NULL;
        if (len == 6 && strncmp(name, "config", 6) == 0) {
            if (!val && i + 1 >= argc) {
                snprintf(err, errlen, "--config needs a file");
                return IOT_ERR_INVAL;
            }
            enum iot_err rc = load_config(val ? val : argv[++i], o, err, errlen);
            if (rc != IOT_OK)
                return rc;
            continue;
        }
        const struct opt *d = find_opt(name, len);
        if (!d) {
            snprintf(err, errlen, "unknown option '%s' (try --help)", a);
            return IOT_ERR_INVAL;
        }
        if (d->type == T_FLAG && !val) {
            val = "true";
        } else if (!val) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "--%s needs a value", d->name);
                return IOT_ERR_INVAL;
            }
            val = argv[++i];
        }
        enum iot_err rc = set_opt(o, d, val, err, errlen);
        if (rc != IOT_OK)
            return rc;
    }
    if (!o->pki[0] && !o->list) {
        snprintf(err, errlen, "--pki DIR is required (a PKI made by `iot-pki init DIR`)");
        return IOT_ERR_INVAL;
    }
    for (const char *p = o->prefix; *p; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_')) {
            snprintf(err, errlen, "--prefix: '%s' may hold only [A-Za-z0-9_-]", o->prefix);
            return IOT_ERR_INVAL;
        }
    }
    if (o->churn_period_s < 4 && o->churn > 0) {
        snprintf(err, errlen, "--churn-period must be at least 4 s");
        return IOT_ERR_INVAL;
    }
    return IOT_OK;
}
