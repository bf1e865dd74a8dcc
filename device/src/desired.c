/* SPDX-License-Identifier: Apache-2.0 */
/* Desired / reported state (see desired.h). Known settings:
 *   interval_ms            telemetry interval, AGENT_INTERVAL_MIN_MS..AGENT_INTERVAL_MAX_MS
 *   sensors.simulated      simulated sensors enabled, e.g. "temperature,door" ("" = none)
 *   thermostat.setpoint_c  the simulated thermostat's setpoint, 5..35
 *   plug                   the simulated smart plug, on|off
 *   light                  the simulated light, on|off
 *   light.brightness       its brightness in percent, 0..100
 * Unknown keys and bad values are not applied; ReportedState lists them in "_not_applied".
 * desired.state is text: "iot-desired 1", "version N", then one "key=value" per applied setting. */
#define IOT_LOG_TAG "agent.desired"
#include "desired.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "iot/codec.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_file.h"
#include "sensors.h"

#define DESIRED_KEYS_MAX 8
#define DESIRED_VALUE_MAX 128
#define DESIRED_HEADER "iot-desired 1\n"
#define NOT_APPLIED_KEY "_not_applied"

struct kv {
    char key[48];
    char value[DESIRED_VALUE_MAX];
};

struct agent_desired {
    char path[600];
    uint64_t version;
    struct kv set[DESIRED_KEYS_MAX]; /* what desired state set, normalized */
    size_t n_set;
};

static const char *const sim_names[] = {"temperature", "humidity", "motion", "door", "energy",
                                        "light"};
#define N_SIM (sizeof sim_names / sizeof sim_names[0])

/* ---------------------------------------------------------------- settings */

static enum iot_err apply_interval(struct agent *a, const char *v, char *why, size_t cap)
{
    char *end = NULL;
    errno = 0;
    unsigned long long ms = *v >= '0' && *v <= '9' ? strtoull(v, &end, 10) : 0;
    if (!end || *end || errno || ms < AGENT_INTERVAL_MIN_MS || ms > AGENT_INTERVAL_MAX_MS) {
        snprintf(why, cap, "'%.40s' is not a whole number of ms in %u..%u", v,
                 AGENT_INTERVAL_MIN_MS, AGENT_INTERVAL_MAX_MS);
        return IOT_ERR_INVAL;
    }
    agent__set_interval(a, (uint32_t)ms);
    return IOT_OK;
}

static bool current_interval(struct agent *a, char *buf, size_t cap)
{
    snprintf(buf, cap, "%u", agent__config(a)->interval_ms);
    return true;
}

static enum iot_err apply_sensors(struct agent *a, const char *v, char *why, size_t cap)
{
    unsigned which;
    char bad[80];
    if (!agent_config_parse_sensors(v, &which, bad, sizeof bad)) {
        snprintf(why, cap,
                 "unknown sensor '%s' (known: temperature,humidity,motion,door,energy,light)", bad);
        return IOT_ERR_INVAL;
    }
    enum iot_err rc = agent__set_sim_sensors(a, which);
    if (rc != IOT_OK)
        snprintf(why, cap, "cannot change the sensors: %s", iot_err_str(rc));
    return rc;
}

static bool current_sensors(struct agent *a, char *buf, size_t cap)
{
    unsigned which = agent__sim(a) ? agent__config(a)->sim_sensors : 0;
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < N_SIM; i++) {
        if ((which & (1u << i)) && used < cap) {
            int n = snprintf(buf + used, cap - used, "%s%s", used ? "," : "", sim_names[i]);
            used += n > 0 ? (size_t)n : 0;
        }
    }
    return true;
}

static enum iot_err apply_setpoint(struct agent *a, const char *v, char *why, size_t cap)
{
    char *end = NULL;
    double c = strtod(v, &end);
    if (!*v || !end || *end || !isfinite(c) || c < 5.0 || c > 35.0) {
        snprintf(why, cap, "'%.40s' is not a number of degrees in 5..35", v);
        return IOT_ERR_INVAL;
    }
    if (!agent__sim(a)) {
        snprintf(why, cap, "no simulated thermostat on this agent");
        return IOT_ERR_NOT_FOUND;
    }
    agent_sim_set_setpoint(agent__sim(a), c);
    return IOT_OK;
}

static bool current_setpoint(struct agent *a, char *buf, size_t cap)
{
    if (!agent__sim(a))
        return false;
    snprintf(buf, cap, "%.1f", agent_sim_setpoint(agent__sim(a)));
    return true;
}

static enum iot_err apply_plug(struct agent *a, const char *v, char *why, size_t cap)
{
    bool on = strcmp(v, "on") == 0;
    if (!on && strcmp(v, "off") != 0) {
        snprintf(why, cap, "'%.40s' is not on or off", v);
        return IOT_ERR_INVAL;
    }
    if (!agent__sim(a)) {
        snprintf(why, cap, "no simulated plug on this agent");
        return IOT_ERR_NOT_FOUND;
    }
    agent_sim_set_plug(agent__sim(a), on);
    return IOT_OK;
}

static bool current_plug(struct agent *a, char *buf, size_t cap)
{
    if (!agent__sim(a))
        return false;
    snprintf(buf, cap, "%s", agent_sim_plug(agent__sim(a)) ? "on" : "off");
    return true;
}

static enum iot_err apply_light(struct agent *a, const char *v, char *why, size_t cap)
{
    bool on = strcmp(v, "on") == 0;
    if (!on && strcmp(v, "off") != 0) {
        snprintf(why, cap, "'%.40s' is not on or off", v);
        return IOT_ERR_INVAL;
    }
    if (!agent__sim(a)) {
        snprintf(why, cap, "no simulated light on this agent");
        return IOT_ERR_NOT_FOUND;
    }
    agent_sim_set_light(agent__sim(a), on, -1);
    return IOT_OK;
}

static bool current_light(struct agent *a, char *buf, size_t cap)
{
    if (!agent__sim(a))
        return false;
    snprintf(buf, cap, "%s", agent_sim_light(agent__sim(a), NULL) ? "on" : "off");
    return true;
}

static enum iot_err apply_brightness(struct agent *a, const char *v, char *why, size_t cap)
{
    char *end = NULL;
    double p = strtod(v, &end);
    if (!*v || !end || *end || !isfinite(p) || p < 0.0 || p > 100.0) {
        snprintf(why, cap, "'%.40s' is not a number of percent in 0..100", v);
        return IOT_ERR_INVAL;
    }
    if (!agent__sim(a)) {
        snprintf(why, cap, "no simulated light on this agent");
        return IOT_ERR_NOT_FOUND;
    }
    agent_sim_set_light(agent__sim(a), agent_sim_light(agent__sim(a), NULL), p);
    return IOT_OK;
}

static bool current_brightness(struct agent *a, char *buf, size_t cap)
{
    double b;
    if (!agent__sim(a))
        return false;
    agent_sim_light(agent__sim(a), &b);
    snprintf(buf, cap, "%.0f", b);
    return true;
}

static const struct setting {
    const char *key;
    enum iot_err (*apply)(struct agent *a, const char *v, char *why, size_t cap);
    bool (*current)(struct agent *a, char *buf, size_t cap);
} settings[] = {
    {"interval_ms", apply_interval, current_interval},
    {"sensors.simulated", apply_sensors, current_sensors},
    {"thermostat.setpoint_c", apply_setpoint, current_setpoint},
    {"plug", apply_plug, current_plug},
    {"light", apply_light, current_light},
    {"light.brightness", apply_brightness, current_brightness},
};
#define N_SETTINGS (sizeof settings / sizeof settings[0])

static const struct setting *find_setting(const char *key)
{
    for (size_t i = 0; key && i < N_SETTINGS; i++) {
        if (strcmp(settings[i].key, key) == 0)
            return &settings[i];
    }
    return NULL;
}

/* Remember that desired state set @p s (its value now in effect), for the next start. */
static void remember(struct agent_desired *d, struct agent *a, const struct setting *s)
{
    struct kv *slot = NULL;
    for (size_t i = 0; i < d->n_set; i++) {
        if (strcmp(d->set[i].key, s->key) == 0)
            slot = &d->set[i];
    }
    if (!slot) {
        if (d->n_set == DESIRED_KEYS_MAX)
            return; /* more keys than settings exist: cannot happen */
        slot = &d->set[d->n_set++];
        snprintf(slot->key, sizeof slot->key, "%s", s->key);
    }
    if (!s->current(a, slot->value, sizeof slot->value))
        slot->value[0] = 0;
}

/* ---------------------------------------------------------------- file */

static enum iot_err save(const struct agent_desired *d)
{
    char buf[2048];
    int n = snprintf(buf, sizeof buf, "%sversion %" PRIu64 "\n", DESIRED_HEADER, d->version);
    for (size_t i = 0; i < d->n_set && n > 0 && (size_t)n < sizeof buf; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s=%s\n", d->set[i].key, d->set[i].value);
    if (n <= 0 || (size_t)n >= sizeof buf)
        return IOT_ERR_INTERNAL;
    enum iot_err rc = plat_file_write_atomic(d->path, buf, (size_t)n, true);
    if (rc != IOT_OK)
        IOT_LOG(IOT_LOG_ERROR, "cannot write %s: %s", d->path, iot_err_str(rc));
    return rc;
}

static enum iot_err load(struct agent_desired *d, char *text)
{
    size_t hl = strlen(DESIRED_HEADER);
    if (strncmp(text, DESIRED_HEADER, hl) != 0)
        return IOT_ERR_MALFORMED;
    char *save_ptr = NULL;
    bool have_version = false;
    for (char *line = strtok_r(text + hl, "\n", &save_ptr); line;
         line = strtok_r(NULL, "\n", &save_ptr)) {
        if (strncmp(line, "version ", 8) == 0) {
            char *end;
            errno = 0;
            d->version = strtoull(line + 8, &end, 10);
            if (*end || errno)
                return IOT_ERR_MALFORMED;
            have_version = true;
            continue;
        }
        char *eq = strchr(line, '=');
        if (!eq)
            return IOT_ERR_MALFORMED;
        *eq = 0;
        if (!find_setting(line) || strlen(eq + 1) >= DESIRED_VALUE_MAX) {
            IOT_LOG(IOT_LOG_WARN, "%s: setting '%.40s' not understood; dropped", d->path, line);
            continue;
        }
        if (d->n_set < DESIRED_KEYS_MAX) {
            snprintf(d->set[d->n_set].key, sizeof d->set[0].key, "%s", line);
            snprintf(d->set[d->n_set].value, sizeof d->set[0].value, "%s", eq + 1);
            d->n_set++;
        }
    }
    return have_version ? IOT_OK : IOT_ERR_MALFORMED;
}

enum iot_err agent_desired_open(const char *dir, struct agent_desired **out)
{
    if (!dir || !out)
        return IOT_ERR_INVAL;
    struct agent_desired *d = iot_calloc(1, sizeof *d);
    if (!d)
        return IOT_ERR_NOMEM;
    if (snprintf(d->path, sizeof d->path, "%s/%s", dir, AGENT_DESIRED_FILE) >= (int)sizeof d->path) {
        iot_free(d);
        return IOT_ERR_INVAL;
    }
    uint8_t *text = NULL;
    size_t len = 0;
    enum iot_err rc = plat_file_read(d->path, 64u * 1024u, &text, &len);
    if (rc == IOT_OK) {
        rc = load(d, (char *)text);
        iot_free(text);
        if (rc != IOT_OK)
            IOT_LOG(IOT_LOG_ERROR, "%s: not a desired-state file; fix or remove it", d->path);
    } else if (rc == IOT_ERR_NOT_FOUND) {
        rc = IOT_OK;
    } else {
        IOT_LOG(IOT_LOG_ERROR, "cannot read %s: %s", d->path, iot_err_str(rc));
    }
    if (rc != IOT_OK) {
        iot_free(d);
        return rc;
    }
    *out = d;
    return IOT_OK;
}

void agent_desired_destroy(struct agent_desired *d) { iot_free(d); }

uint64_t agent_desired_version(const struct agent_desired *d) { return d ? d->version : 0; }

void agent_desired_restore(struct agent_desired *d, struct agent *a)
{
    for (size_t i = 0; i < d->n_set; i++) {
        const struct setting *s = find_setting(d->set[i].key);
        char why[160];
        if (s && s->apply(a, d->set[i].value, why, sizeof why) != IOT_OK)
            IOT_LOG(IOT_LOG_WARN, "persisted desired %s=%s not applied: %s", d->set[i].key,
                    d->set[i].value, why);
    }
    if (d->version)
        IOT_LOG(IOT_LOG_INFO, "desired state version %" PRIu64 " restored (%zu settings)",
                d->version, d->n_set);
}

/* ---------------------------------------------------------------- messages */

static enum iot_err encode_reported(struct agent_desired *d, struct agent *a, const char *not_applied,
                                    uint8_t **out, size_t *out_len)
{
    Iot__V1__ReportedState rs = IOT__V1__REPORTED_STATE__INIT;
    Iot__V1__ReportedState__SettingsEntry ent[N_SETTINGS + 1];
    Iot__V1__ReportedState__SettingsEntry *ptr[N_SETTINGS + 1];
    char values[N_SETTINGS][DESIRED_VALUE_MAX];
    size_t n = 0;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (!settings[i].current(a, values[n], sizeof values[n]))
            continue;
        iot__v1__reported_state__settings_entry__init(&ent[n]);
        ent[n].key = (char *)settings[i].key;
        ent[n].value = values[n];
        ptr[n] = &ent[n];
        n++;
    }
    if (not_applied[0]) {
        iot__v1__reported_state__settings_entry__init(&ent[n]);
        ent[n].key = NOT_APPLIED_KEY;
        ent[n].value = (char *)not_applied;
        ptr[n] = &ent[n];
        n++;
    }
    rs.version = d->version;
    rs.n_settings = n;
    rs.settings = ptr;
    rs.device_id = (char *)agent__config(a)->device_id;
    size_t len = iot__v1__reported_state__get_packed_size(&rs);
    uint8_t *buf = iot_malloc(len ? len : 1);
    if (!buf)
        return IOT_ERR_NOMEM;
    iot__v1__reported_state__pack(&rs, buf);
    *out = buf;
    *out_len = len;
    return IOT_OK;
}

static void note_not_applied(char *list, size_t cap, const char *key)
{
    size_t used = strlen(list);
    if (used + 1 < cap)
        snprintf(list + used, cap - used, "%s%.64s", used ? "," : "", key);
}

enum iot_err agent_desired_handle(struct agent_desired *d, struct agent *a, const uint8_t *buf,
                                  size_t len, uint8_t **out, size_t *out_len)
{
    if (!d || !a || (!buf && len) || !out || !out_len)
        return IOT_ERR_INVAL;
    Iot__V1__DesiredState *ds = iot__v1__desired_state__unpack(iot_pb_allocator(), len, buf);
    if (!ds) {
        IOT_LOG(IOT_LOG_WARN, "desired state: %zu bytes that are not a DesiredState; ignored", len);
        return IOT_ERR_MALFORMED;
    }
    if (ds->version <= d->version) {
        IOT_LOG(IOT_LOG_INFO, "desired state version %" PRIu64 " ignored: version %" PRIu64
                " is applied", ds->version, d->version);
        iot__v1__desired_state__free_unpacked(ds, iot_pb_allocator());
        return IOT_ERR_AGAIN;
    }
    char not_applied[512] = "";
    for (size_t i = 0; i < ds->n_settings; i++) {
        const Iot__V1__DesiredState__SettingsEntry *e = ds->settings[i];
        const char *key = e && e->key ? e->key : "";
        const struct setting *s = find_setting(key);
        char why[200] = "unknown setting";
        if (!s || !e->value || s->apply(a, e->value, why, sizeof why) != IOT_OK) {
            IOT_LOG(IOT_LOG_WARN, "desired version %" PRIu64 ": %.64s not applied: %s",
                    ds->version, key, why);
            note_not_applied(not_applied, sizeof not_applied, key);
            continue;
        }
        remember(d, a, s);
        IOT_LOG(IOT_LOG_INFO, "desired version %" PRIu64 ": %s = %.64s", ds->version, key,
                e->value);
    }
    d->version = ds->version;
    iot__v1__desired_state__free_unpacked(ds, iot_pb_allocator());
    enum iot_err saved = save(d);
    enum iot_err rc = encode_reported(d, a, not_applied, out, out_len);
    if (rc != IOT_OK)
        return rc;
    return saved == IOT_OK ? IOT_OK : IOT_ERR_IO;
}
