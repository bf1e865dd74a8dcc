/* SPDX-License-Identifier: Apache-2.0 */
/* The simulated devices: layout of a house mix into ids, identities from the PKI (issued here when
 * missing), and one iot_agent per device over a Paho adapter wrapped to count what the progress line
 * shows (online, commands). The agent logic itself is the device library's, untouched. */
#define IOT_LOG_TAG "sim"
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/embed.h"
#include "iot/mem.h"
#include "iot/plat_crypto.h"
#include "iot/plat_event.h"
#include "pki.h"
#include "sim.h"

static const unsigned kind_sensors[SIM_KINDS] = {
    [SIM_THERMOSTAT] = AGENT_SIM_TEMPERATURE, [SIM_PLUG] = AGENT_SIM_ENERGY,
    [SIM_MOTION] = AGENT_SIM_MOTION,          [SIM_DOOR] = AGENT_SIM_DOOR,
    [SIM_HUMIDITY] = AGENT_SIM_HUMIDITY,      [SIM_LIGHT] = AGENT_SIM_LIGHT,
};

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t dev_mono(void *ctx)
{
    (void)ctx;
    return plat_mono_ms();
}

static int64_t dev_wall(void *ctx)
{
    const struct sim_dev *d = ctx;
    return plat_wall_ms() + d->skew_ms;
}

enum iot_err sim_devices_plan(struct sim *s)
{
    const struct sim_opts *o = &s->o;
    uint32_t house = 0;
    for (int k = 0; k < SIM_KINDS; k++)
        house += o->mix[k];
    if (house == 0 || o->devices == 0)
        return IOT_ERR_INVAL;
    s->devs = iot_calloc(o->devices, sizeof *s->devs);
    if (!s->devs)
        return IOT_ERR_NOMEM;
    s->n = o->devices;
    uint64_t base = o->seed;
    while (base == 0 && plat_random(&base, sizeof base) == IOT_OK && base == 0) {
    }
    for (uint32_t i = 0; i < s->n; i++) {
        struct sim_dev *d = &s->devs[i];
        uint32_t slot = i % house, h = i / house + 1;
        int k = 0;
        uint32_t nth = slot;
        while (nth >= o->mix[k]) {
            nth -= o->mix[k];
            k++;
        }
        d->kind = (enum sim_kind)k;
        d->index = i;
        if (o->mix[k] > 1)
            snprintf(d->id, sizeof d->id, "%s%04" PRIu32 "-%s-%" PRIu32, o->prefix, h,
                     sim_kind_name(d->kind), nth + 1);
        else
            snprintf(d->id, sizeof d->id, "%s%04" PRIu32 "-%s", o->prefix, h,
                     sim_kind_name(d->kind));
        d->seed = mix64(base + i) | 1u;
        if (o->clock_skew_ms) {
            uint64_t r = mix64(d->seed ^ 0x5bd1e995u);
            d->skew_ms = (int64_t)(r % (2ull * o->clock_skew_ms + 1)) - (int64_t)o->clock_skew_ms;
        }
        d->clock = (struct plat_clock){.mono_ms = dev_mono, .wall_ms = dev_wall, .ctx = d};
        d->state = DEV_PENDING;
        if (!o->list && plat_event_create(&d->ev) != IOT_OK)
            return IOT_ERR_NOMEM;
    }
    return IOT_OK;
}

static bool readable(const char *path) { return access(path, R_OK) == 0; }

enum iot_err sim_devices_identities(struct sim *s, uint32_t *issued)
{
    const struct sim_opts *o = &s->o;
    char path[PKI_PATH_MAX], key[PKI_PATH_MAX];
    *issued = 0;
    snprintf(path, sizeof path, "%s/%s", o->pki, PKI_CA_CRT);
    if (!readable(path)) {
        IOT_LOG(IOT_LOG_ERROR, "--pki %s: no readable %s (make one with `iot-pki init %s`)", o->pki,
                path, o->pki);
        return IOT_ERR_NOT_FOUND;
    }
    snprintf(path, sizeof path, "%s/%s", o->pki, PKI_CMD_SIGN_PUB);
    if (o->commands && !readable(path)) {
        IOT_LOG(IOT_LOG_ERROR, "--pki %s: no readable %s (needed for signed commands; or "
                "--commands false)", o->pki, path);
        return IOT_ERR_NOT_FOUND;
    }
    struct pki *p = NULL;
    enum iot_err rc = IOT_OK;
    for (uint32_t i = 0; i < s->n && rc == IOT_OK; i++) {
        snprintf(path, sizeof path, "%s/%s/%s.crt", o->pki, PKI_DEVICES, s->devs[i].id);
        snprintf(key, sizeof key, "%s/%s/%s.key", o->pki, PKI_DEVICES, s->devs[i].id);
        if (readable(path) && readable(key))
            continue;
        if (!o->issue) {
            IOT_LOG(IOT_LOG_ERROR, "no certificate %s (issue it with `iot-pki device %s %s`, or "
                    "--issue true)", path, o->pki, s->devs[i].id);
            rc = IOT_ERR_NOT_FOUND;
            break;
        }
        if (!p) {
            if ((rc = pki_create(&p)) != IOT_OK)
                break;
            if ((rc = pki_ca_load(p, o->pki)) != IOT_OK) {
                IOT_LOG(IOT_LOG_ERROR, "--pki %s: cannot load the CA to issue device certificates "
                        "(%s)", o->pki, iot_err_str(rc));
                break;
            }
        }
        enum pki_issue_result res;
        rc = pki_issue_device(p, o->pki, s->devs[i].id, false, &res);
        if (rc == IOT_OK && res == PKI_ISSUED)
            (*issued)++;
    }
    if (rc == IOT_OK && *issued)
        rc = pki_devices_sync(o->pki);
    pki_destroy(p);
    return rc;
}

/* ---------------------------------------------------------------- MQTT wrapper */

/* Forwards to the Paho adapter; watches events and publishes to keep the device's counters. */
struct sim_mqtt {
    struct agent_mqtt inner;
    struct sim_dev *d;
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static enum iot_err w_connect(void *ctx, const struct agent_mqtt_opts *o)
{
    struct sim_mqtt *w = ctx;
    return agent_mqtt_connect(&w->inner, o);
}

static enum iot_err w_publish_props(void *ctx, const char *topic, const uint8_t *buf, size_t len,
                                    int qos, bool retained,
                                    const struct agent_mqtt_pub_props *props, uint64_t token)
{
    struct sim_mqtt *w = ctx;
    enum iot_err rc = agent_mqtt_publish_props(&w->inner, topic, buf, len, qos, retained, props,
                                               token);
    if (rc == IOT_OK && ends_with(topic, "/responses"))
        w->d->c.cmds_answered++;
    return rc;
}

static enum iot_err w_publish(void *ctx, const char *topic, const uint8_t *buf, size_t len,
                              int qos, bool retained, uint64_t token)
{
    return w_publish_props(ctx, topic, buf, len, qos, retained, NULL, token);
}

static enum iot_err w_subscribe(void *ctx, const char *filter, int qos)
{
    struct sim_mqtt *w = ctx;
    return agent_mqtt_subscribe(&w->inner, filter, qos);
}

static enum iot_err w_disconnect(void *ctx, uint32_t timeout_ms)
{
    struct sim_mqtt *w = ctx;
    return agent_mqtt_disconnect(&w->inner, timeout_ms);
}

static enum iot_err w_next_event(void *ctx, struct agent_mqtt_event *ev)
{
    struct sim_mqtt *w = ctx;
    enum iot_err rc = agent_mqtt_next_event(&w->inner, ev);
    if (rc != IOT_OK)
        return rc;
    switch (ev->kind) {
    case AGENT_MQTT_EV_CONNECTED:
        w->d->online = true;
        w->d->c.connects++;
        break;
    case AGENT_MQTT_EV_LOST:
    case AGENT_MQTT_EV_DISCONNECTED:
        w->d->online = false;
        break;
    case AGENT_MQTT_EV_MESSAGE:
        if (ev->topic && ends_with(ev->topic, "/commands"))
            w->d->c.cmds_received++;
        break;
    default:
        break;
    }
    return IOT_OK;
}

static void w_destroy(void *ctx)
{
    struct sim_mqtt *w = ctx;
    agent_mqtt_destroy(&w->inner);
    w->d->online = false;
    iot_free(w);
}

static const struct agent_mqtt_ops wrap_ops = {
    .connect = w_connect,
    .publish = w_publish,
    .subscribe = w_subscribe,
    .disconnect = w_disconnect,
    .next_event = w_next_event,
    .destroy = w_destroy,
    .publish_props = w_publish_props,
};

/* ---------------------------------------------------------------- agents */

static enum iot_err dev_config(const struct sim *s, const struct sim_dev *d,
                               struct agent_config *cfg)
{
    const struct sim_opts *o = &s->o;
    agent_config_defaults(cfg);
    int n = 0;
    n |= snprintf(cfg->device_id, sizeof cfg->device_id, "%s", d->id) >= (int)sizeof cfg->device_id;
    n |= snprintf(cfg->state_dir, sizeof cfg->state_dir, "%s/%s", o->state, d->id) >=
         (int)sizeof cfg->state_dir;
    n |= snprintf(cfg->host, sizeof cfg->host, "%s", o->host) >= (int)sizeof cfg->host;
    n |= snprintf(cfg->ca_file, sizeof cfg->ca_file, "%s/%s", o->pki, PKI_CA_CRT) >=
         (int)sizeof cfg->ca_file;
    n |= snprintf(cfg->cert_file, sizeof cfg->cert_file, "%s/%s/%s.crt", o->pki, PKI_DEVICES,
                  d->id) >= (int)sizeof cfg->cert_file;
    n |= snprintf(cfg->key_file, sizeof cfg->key_file, "%s/%s/%s.key", o->pki, PKI_DEVICES, d->id) >=
         (int)sizeof cfg->key_file;
    n |= snprintf(cfg->client_id, sizeof cfg->client_id, "%s", d->id) >= (int)sizeof cfg->client_id;
    if (o->commands)
        n |= snprintf(cfg->commands.public_key_file, sizeof cfg->commands.public_key_file,
                      "%s/%s", o->pki, PKI_CMD_SIGN_PUB) >=
             (int)sizeof cfg->commands.public_key_file;
    if (n) {
        IOT_LOG(IOT_LOG_ERROR, "%s: a path is too long (--pki or --state)", d->id);
        return IOT_ERR_INVAL;
    }
    cfg->port = o->port;
    cfg->inflight = o->inflight;
    cfg->interval_ms = o->interval_ms;
    cfg->batch_max = o->batch_max;
    cfg->buffer_max_samples = o->buffer_samples;
    cfg->linux_sensors = false;
    cfg->sim_sensors = kind_sensors[d->kind];
    cfg->seed = d->seed;
    cfg->log_level = o->log_level;
    cfg->commands.enabled = o->commands;
    cfg->commands.replay_max = 100; /* ids remembered: a real agent keeps 1000 (32 KB) */
    cfg->store.kind = o->store;
    cfg->store.max_bytes = o->store_max_bytes;
    cfg->store.fsync = o->fsync;
    cfg->store.stats_interval_ms = 3600000;
    return IOT_OK;
}

enum iot_err sim_dev_start(struct sim *s, struct sim_dev *d)
{
    struct agent_config cfg;
    enum iot_err rc = dev_config(s, d, &cfg);
    if (rc != IOT_OK)
        return rc;
    char err[800];
    if (d->c.connects == 0 && agent_config_check_files(&cfg, NULL, err, sizeof err) != IOT_OK) {
        IOT_LOG(IOT_LOG_ERROR, "%s", err);
        return IOT_ERR_NOT_FOUND;
    }
    struct sim_mqtt *w = iot_calloc(1, sizeof *w);
    if (!w)
        return IOT_ERR_NOMEM;
    w->d = d;
    if ((rc = agent_mqtt_paho_create(d->ev, &w->inner)) != IOT_OK) {
        iot_free(w);
        return rc;
    }
    struct agent_deps deps = {.clock = &d->clock, .mqtt = {.ops = &wrap_ops, .ctx = w}};
    rc = agent_create(&cfg, &deps, &d->agent); /* owns the wrapper from here, even on failure */
    if (rc != IOT_OK) {
        IOT_LOG(IOT_LOG_ERROR, "%s: cannot start the agent: %s", d->id, iot_err_str(rc));
        d->agent = NULL;
        return rc;
    }
    if (d->kind == SIM_THERMOSTAT || d->kind == SIM_HUMIDITY)
        agent_set_sim_time_constant(d->agent, s->o.time_constant_s);
    d->state = DEV_RUNNING;
    d->due = 0;
    return IOT_OK;
}

static void add_counters(struct agent_stats *to, const struct agent_stats *x)
{
    to->samples += x->samples;
    to->batches_sent += x->batches_sent;
    to->samples_sent += x->samples_sent;
    to->samples_acked += x->samples_acked;
    to->publish_failures += x->publish_failures;
    to->connects += x->connects;
    to->connect_failures += x->connect_failures;
    to->losses += x->losses;
    to->dropped += x->dropped;
    to->corrupt += x->corrupt;
    to->receipts += x->receipts;
    to->resends += x->resends;
}

void sim_dev_destroy_agent(struct sim_dev *d)
{
    if (!d->agent)
        return;
    struct agent_stats st;
    agent_get_stats(d->agent, &st);
    add_counters(&d->base, &st);
    agent_destroy(d->agent);
    d->agent = NULL;
    d->online = false;
}

void sim_dev_stats(const struct sim_dev *d, struct agent_stats *out)
{
    struct agent_stats cur = {0};
    if (d->agent)
        agent_get_stats(d->agent, &cur);
    *out = d->base;
    add_counters(out, &cur);
    out->backlog = cur.backlog;
    out->outstanding = cur.outstanding;
    out->store_disk_bytes = cur.store_disk_bytes;
}

void sim_devices_free(struct sim *s)
{
    for (uint32_t i = 0; s->devs && i < s->n; i++) {
        sim_dev_destroy_agent(&s->devs[i]);
        plat_event_destroy(s->devs[i].ev);
    }
    iot_free(s->devs);
    s->devs = NULL;
    s->n = 0;
}
