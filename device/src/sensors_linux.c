/* SPDX-License-Identifier: Apache-2.0 */
/* Real Linux sources: thermal zones, load, memory, uptime, network bytes. The parsers are pure
 * functions over text; file access goes through plat_file (no direct OS calls here). */
#define IOT_LOG_TAG "agent.linux"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_file.h"
#include "sensors.h"

#define LINUX_MAX_ZONES 16
#define LINUX_PATH_MAX 512
#define LINUX_READ_MAX (256u * 1024u)

struct agent_linux {
    char root[256];
    size_t n_zones;
    int zone_id[LINUX_MAX_ZONES];
};

enum iot_err agent_metrics_add(struct agent_metrics *m, const char *name, double value,
                               const char *unit)
{
    if (m->n >= AGENT_MAX_METRICS)
        return IOT_ERR_FULL;
    struct agent_metric *x = &m->v[m->n++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->value = value;
    x->unit = unit ? unit : "";
    return IOT_OK;
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

enum iot_err agent_linux_parse_loadavg(const char *text, double load[3])
{
    const char *p = text;
    double v[3];
    for (int i = 0; i < 3; i++) {
        char *end;
        p = skip_ws(p);
        errno = 0;
        v[i] = strtod(p, &end);
        if (end == p || errno || v[i] < 0)
            return IOT_ERR_MALFORMED;
        p = end;
    }
    memcpy(load, v, sizeof v);
    return IOT_OK;
}

/* Value in kB of "Key:   123 kB" lines. */
static bool meminfo_field(const char *text, const char *key, uint64_t *bytes)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            const char *p = skip_ws(line + klen + 1);
            char *end;
            errno = 0;
            unsigned long long kb = strtoull(p, &end, 10);
            if (end == p || errno || *p == '-')
                return false;
            *bytes = (uint64_t)kb * 1024u;
            return true;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return false;
}

enum iot_err agent_linux_parse_meminfo(const char *text, uint64_t *avail, uint64_t *total)
{
    uint64_t a, t;
    if (!meminfo_field(text, "MemAvailable", &a) || !meminfo_field(text, "MemTotal", &t))
        return IOT_ERR_MALFORMED;
    *avail = a;
    *total = t;
    return IOT_OK;
}

enum iot_err agent_linux_parse_uptime(const char *text, double *uptime_s)
{
    char *end;
    const char *p = skip_ws(text);
    errno = 0;
    double v = strtod(p, &end);
    if (end == p || errno || v < 0)
        return IOT_ERR_MALFORMED;
    *uptime_s = v;
    return IOT_OK;
}

/* Lines after the two headers: "  eth0: rxbytes rxpackets ... (8 rx fields) txbytes ...". */
enum iot_err agent_linux_parse_netdev(const char *text, uint64_t *rx, uint64_t *tx)
{
    uint64_t srx = 0, stx = 0;
    bool any_line = false;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        const char *colon = strchr(line, ':');
        if (colon && (!nl || colon < nl)) {
            const char *name = skip_ws(line);
            size_t nlen = (size_t)(colon - name);
            uint64_t f[9];
            const char *p = colon + 1;
            for (int i = 0; i < 9; i++) {
                char *end;
                p = skip_ws(p);
                errno = 0;
                f[i] = strtoull(p, &end, 10);
                if (end == p || errno || *p == '-')
                    return IOT_ERR_MALFORMED;
                p = end;
            }
            any_line = true;
            if (!(nlen == 2 && strncmp(name, "lo", 2) == 0)) {
                srx += f[0];
                stx += f[8];
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    if (!any_line)
        return IOT_ERR_MALFORMED;
    *rx = srx;
    *tx = stx;
    return IOT_OK;
}

enum iot_err agent_linux_parse_thermal(const char *text, double *temp_c)
{
    char *end;
    const char *p = skip_ws(text);
    errno = 0;
    long v = strtol(p, &end, 10);
    if (end == p || errno)
        return IOT_ERR_MALFORMED;
    end = (char *)skip_ws(end);
    if (*end && *end != '\n')
        return IOT_ERR_MALFORMED;
    *temp_c = (double)v / 1000.0;
    return IOT_OK;
}

/* Read root + rel into a NUL-terminated buffer (caller frees). */
static enum iot_err read_text(const struct agent_linux *lx, const char *rel, char **out)
{
    char path[LINUX_PATH_MAX];
    if (snprintf(path, sizeof path, "%s%s", lx->root, rel) >= (int)sizeof path)
        return IOT_ERR_INVAL;
    uint8_t *buf;
    size_t len;
    enum iot_err rc = plat_file_read(path, LINUX_READ_MAX, &buf, &len);
    if (rc == IOT_OK)
        *out = (char *)buf;
    return rc;
}

static enum iot_err read_thermal(void *ctx, uint64_t now_ms, struct agent_metrics *out)
{
    (void)now_ms;
    struct agent_linux *lx = ctx;
    for (size_t i = 0; i < lx->n_zones; i++) {
        char rel[96], name[AGENT_METRIC_NAME_MAX], *text;
        snprintf(rel, sizeof rel, "/sys/class/thermal/thermal_zone%d/temp", lx->zone_id[i]);
        if (read_text(lx, rel, &text) != IOT_OK)
            continue;
        double c;
        if (agent_linux_parse_thermal(text, &c) == IOT_OK) {
            if (lx->zone_id[i] == 0)
                snprintf(name, sizeof name, "cpu_temp_c");
            else
                snprintf(name, sizeof name, "cpu_temp_c.%d", lx->zone_id[i]);
            agent_metrics_add(out, name, c, "C");
        }
        iot_free(text);
    }
    return IOT_OK;
}

static enum iot_err read_load(void *ctx, uint64_t now_ms, struct agent_metrics *out)
{
    (void)now_ms;
    char *text;
    enum iot_err rc = read_text(ctx, "/proc/loadavg", &text);
    if (rc != IOT_OK)
        return rc;
    double l[3];
    rc = agent_linux_parse_loadavg(text, l);
    iot_free(text);
    if (rc != IOT_OK)
        return rc;
    agent_metrics_add(out, "load1", l[0], "");
    agent_metrics_add(out, "load5", l[1], "");
    agent_metrics_add(out, "load15", l[2], "");
    return IOT_OK;
}

static enum iot_err read_memory(void *ctx, uint64_t now_ms, struct agent_metrics *out)
{
    (void)now_ms;
    char *text;
    enum iot_err rc = read_text(ctx, "/proc/meminfo", &text);
    if (rc != IOT_OK)
        return rc;
    uint64_t avail, total;
    rc = agent_linux_parse_meminfo(text, &avail, &total);
    iot_free(text);
    if (rc != IOT_OK)
        return rc;
    agent_metrics_add(out, "mem_available_bytes", (double)avail, "B");
    agent_metrics_add(out, "mem_total_bytes", (double)total, "B");
    return IOT_OK;
}

static enum iot_err read_uptime(void *ctx, uint64_t now_ms, struct agent_metrics *out)
{
    (void)now_ms;
    char *text;
    enum iot_err rc = read_text(ctx, "/proc/uptime", &text);
    if (rc != IOT_OK)
        return rc;
    double up;
    rc = agent_linux_parse_uptime(text, &up);
    iot_free(text);
    if (rc != IOT_OK)
        return rc;
    agent_metrics_add(out, "uptime_s", up, "s");
    return IOT_OK;
}

static enum iot_err read_network(void *ctx, uint64_t now_ms, struct agent_metrics *out)
{
    (void)now_ms;
    char *text;
    enum iot_err rc = read_text(ctx, "/proc/net/dev", &text);
    if (rc != IOT_OK)
        return rc;
    uint64_t rx, tx;
    rc = agent_linux_parse_netdev(text, &rx, &tx);
    iot_free(text);
    if (rc != IOT_OK)
        return rc;
    agent_metrics_add(out, "net_rx_bytes", (double)rx, "B");
    agent_metrics_add(out, "net_tx_bytes", (double)tx, "B");
    return IOT_OK;
}

static void probe_zones(struct agent_linux *lx)
{
    char dir[LINUX_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/sys/class/thermal", lx->root);
    char **names = NULL;
    size_t n = 0;
    if (plat_dir_list(dir, &names, &n) != IOT_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        const char *pfx = "thermal_zone";
        if (strncmp(names[i], pfx, strlen(pfx)) == 0 && lx->n_zones < LINUX_MAX_ZONES) {
            char *end;
            long id = strtol(names[i] + strlen(pfx), &end, 10);
            char rel[96], *text;
            snprintf(rel, sizeof rel, "/sys/class/thermal/thermal_zone%ld/temp", id);
            double c;
            if (*end == 0 && id >= 0 && id < 1000000 && read_text(lx, rel, &text) == IOT_OK) {
                if (agent_linux_parse_thermal(text, &c) == IOT_OK)
                    lx->zone_id[lx->n_zones++] = (int)id;
                iot_free(text);
            }
        }
        iot_free(names[i]);
    }
    iot_free(names);
}

enum iot_err agent_linux_create(const char *root, struct agent_linux **out_lx,
                                struct agent_sensor *out, size_t cap, size_t *n_out)
{
    struct agent_linux *lx = iot_calloc(1, sizeof *lx);
    if (!lx)
        return IOT_ERR_NOMEM;
    snprintf(lx->root, sizeof lx->root, "%s", root ? root : "");
    size_t n = 0;

    probe_zones(lx);
    if (lx->n_zones == 0)
        IOT_LOG(IOT_LOG_INFO, "thermal: no %s/sys/class/thermal zones, skipped", lx->root);
    else if (n < cap)
        out[n++] = (struct agent_sensor){"thermal", read_thermal, lx};

    static const struct {
        const char *name, *path;
        enum iot_err (*read)(void *, uint64_t, struct agent_metrics *);
    } srcs[] = {
        {"load", "/proc/loadavg", read_load},
        {"memory", "/proc/meminfo", read_memory},
        {"uptime", "/proc/uptime", read_uptime},
        {"network", "/proc/net/dev", read_network},
    };
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        struct agent_metrics probe = {.n = 0};
        enum iot_err rc = srcs[i].read(lx, 0, &probe);
        if (rc != IOT_OK) {
            IOT_LOG(IOT_LOG_INFO, "%s: %s%s %s, skipped", srcs[i].name, lx->root, srcs[i].path,
                    rc == IOT_ERR_MALFORMED ? "does not parse" : "not readable");
            continue;
        }
        if (n < cap)
            out[n++] = (struct agent_sensor){srcs[i].name, srcs[i].read, lx};
    }
    *out_lx = lx;
    *n_out = n;
    return IOT_OK;
}

void agent_linux_destroy(struct agent_linux *lx) { iot_free(lx); }
