/* SPDX-License-Identifier: Apache-2.0 */
/* Simulated smart-home sensors: a thermostat-controlled room (temperature, humidity), a motion sensor,
 * a door contact, a smart plug (power, cumulative energy) and a dimmable light. Deterministic for a given seed and
 * sequence of read times; the state lives in struct agent_sim so commands can change it later. */
#define IOT_LOG_TAG "agent.sim"
#include <string.h>

#include "agent/config.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_crypto.h"
#include "sensors.h"

struct agent_sim {
    struct agent_rng rng;
    /* room */
    double temp_c, setpoint_c;
    double tau_s; /* time constant of the room's approach to the setpoint */
    double humidity;
    bool room_started;
    uint64_t room_last_ms;
    /* door: open until door_close_ms */
    bool door_open;
    uint64_t door_close_ms;
    /* plug */
    bool plug_on;
    bool plug_started;
    uint64_t plug_last_ms;
    double power_w, energy_wh;
    double load_w;            /* appliance currently running on the plug, 0 = none */
    uint64_t load_until_ms;
    /* light */
    bool light_on;
    double brightness; /* percent, kept while off */
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void agent_rng_seed(struct agent_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    r->s = splitmix64(&x);
    if (r->s == 0)
        r->s = 0x2545f4914f6cdd1dull; /* xorshift must not start at 0 */
}

uint64_t agent_rng_next(struct agent_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545f4914f6cdd1dull;
}

double agent_rng_unit(struct agent_rng *r) { return (double)(agent_rng_next(r) >> 11) * 0x1.0p-53; }

/* Symmetric noise in (-amp, amp), roughly bell-shaped (sum of two uniforms). */
static double noise(struct agent_rng *r, double amp)
{
    return (agent_rng_unit(r) + agent_rng_unit(r) - 1.0) * amp;
}

static double clamp(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Advance the room model to now_ms: temperature relaxes toward the setpoint (time constant tau_s,
 * 10 min by default),
 * humidity toward 45 %, both with a little noise. */
static void room_advance(struct agent_sim *s, uint64_t now_ms)
{
    if (!s->room_started) {
        s->room_started = true;
        s->room_last_ms = now_ms;
        return;
    }
    if (now_ms <= s->room_last_ms)
        return; /* temperature and humidity read at one instant share one step */
    double dt_s = (double)(now_ms - s->room_last_ms) / 1000.0;
    s->room_last_ms = now_ms;
    double k = clamp(dt_s / s->tau_s, 0.0, 1.0);
    s->temp_c += (s->setpoint_c - s->temp_c) * k + noise(&s->rng, 0.05);
    s->temp_c = clamp(s->temp_c, -10.0, 45.0);
    s->humidity += (45.0 - s->humidity) * k * 0.5 + noise(&s->rng, 0.3);
    s->humidity = clamp(s->humidity, 15.0, 95.0);
}

static enum iot_err read_temperature(void *ctx, uint64_t now_ms, struct agent_metrics *out)
{
    struct agent_sim *s = ctx;
    room_advance(s, now_ms);
    return agent_metrics_add(out, "temperature", s->temp_c, "C");
}

static enum iot_err read_humidity(void *ctx, uint64_t now_ms, struct agent_metrics *out)
{
    struct agent_sim *s = ctx;
    room_advance(s, now_ms);
    return agent_metrics_add(out, "humidity", s->humidity, "%");
}

static enum iot_err read_motion(void *ctx, uint64_t now_ms, struct agent_metrics *out)
{
    (void)now_ms;
    struct agent_sim *s = ctx;
    double motion = agent_rng_unit(&s->rng) < 0.05 ? 1.0 : 0.0;
    return agent_metrics_add(out, "motion", motion, "");
}

static enum iot_err read_door(void *ctx, uint64_t now_ms, struct agent_metrics *out)
{
    struct agent_sim *s = ctx;
    if (s->door_open && now_ms >= s->door_close_ms) {
        s->door_open = false;
    } else if (!s->door_open && agent_rng_unit(&s->rng) < 0.02) {
        s->door_open = true; /* stays open 3 .. 30 s */
        s->door_close_ms = now_ms + 3000 + (agent_rng_next(&s->rng) % 27000);
    }
    return agent_metrics_add(out, "door_open", s->door_open ? 1.0 : 0.0, "");
}

static enum iot_err read_energy(void *ctx, uint64_t now_ms, struct agent_metrics *out)
{
    struct agent_sim *s = ctx;
    double dt_h = 0;
    if (s->plug_started)
        dt_h = (double)(now_ms - s->plug_last_ms) / 3600000.0;
    s->plug_started = true;
    s->plug_last_ms = now_ms;
    /* energy over the elapsed interval at the power of the previous reading */
    s->energy_wh += s->power_w * dt_h;
    if (s->load_w > 0 && now_ms >= s->load_until_ms)
        s->load_w = 0;
    if (s->load_w == 0 && agent_rng_unit(&s->rng) < 0.01) {
        s->load_w = 1200.0 + agent_rng_unit(&s->rng) * 800.0; /* kettle, heater: 10 .. 120 s */
        s->load_until_ms = now_ms + 10000 + agent_rng_next(&s->rng) % 110000;
    }
    if (s->plug_on)
        s->power_w = clamp(40.0 + noise(&s->rng, 4.0) + s->load_w, 0.0, 3600.0);
    else
        s->power_w = 0.0;
    enum iot_err rc = agent_metrics_add(out, "power_w", s->power_w, "W");
    if (rc == IOT_OK)
        rc = agent_metrics_add(out, "energy_wh", s->energy_wh, "Wh");
    return rc;
}

static enum iot_err read_light(void *ctx, uint64_t now_ms, struct agent_metrics *out)
{
    (void)now_ms;
    struct agent_sim *s = ctx;
    enum iot_err rc = agent_metrics_add(out, "light_on", s->light_on ? 1.0 : 0.0, "");
    if (rc == IOT_OK)
        rc = agent_metrics_add(out, "brightness", s->light_on ? s->brightness : 0.0, "%");
    return rc;
}

enum iot_err agent_sim_create(uint64_t seed, unsigned which, struct agent_sim **sim,
                              struct agent_sensor *out, size_t cap, size_t *n_out)
{
    struct agent_sim *s = iot_calloc(1, sizeof *s);
    if (!s)
        return IOT_ERR_NOMEM;
    while (seed == 0) {
        if (plat_random(&seed, sizeof seed) != IOT_OK)
            seed = 1;
    }
    agent_rng_seed(&s->rng, seed);
    s->setpoint_c = 21.0;
    s->tau_s = 600.0;
    s->brightness = 100.0;
    s->temp_c = 21.0 + noise(&s->rng, 3.0);
    s->humidity = 40.0 + agent_rng_unit(&s->rng) * 20.0;
    s->plug_on = true;

    *sim = s;
    *n_out = agent_sim_sensors(s, which, out, cap);
    return IOT_OK;
}

size_t agent_sim_sensors(struct agent_sim *sim, unsigned which, struct agent_sensor *out, size_t cap)
{
    static const struct {
        unsigned bit;
        const char *name;
        enum iot_err (*read)(void *, uint64_t, struct agent_metrics *);
    } kinds[] = {
        {AGENT_SIM_TEMPERATURE, "temperature", read_temperature},
        {AGENT_SIM_HUMIDITY, "humidity", read_humidity},
        {AGENT_SIM_MOTION, "motion", read_motion},
        {AGENT_SIM_DOOR, "door", read_door},
        {AGENT_SIM_ENERGY, "energy", read_energy},
        {AGENT_SIM_LIGHT, "light", read_light},
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if ((which & kinds[i].bit) && n < cap)
            out[n++] = (struct agent_sensor){kinds[i].name, kinds[i].read, sim};
    }
    return n;
}

void agent_sim_destroy(struct agent_sim *sim) { iot_free(sim); }

void agent_sim_set_setpoint(struct agent_sim *sim, double celsius)
{
    sim->setpoint_c = clamp(celsius, 5.0, 35.0);
}

double agent_sim_setpoint(const struct agent_sim *sim) { return sim->setpoint_c; }

void agent_sim_set_plug(struct agent_sim *sim, bool on) { sim->plug_on = on; }

bool agent_sim_plug(const struct agent_sim *sim) { return sim->plug_on; }

void agent_sim_set_time_constant(struct agent_sim *sim, double seconds)
{
    sim->tau_s = clamp(seconds, 1.0, 86400.0);
}

void agent_sim_set_light(struct agent_sim *sim, bool on, double brightness)
{
    sim->light_on = on;
    if (brightness >= 0)
        sim->brightness = clamp(brightness, 0.0, 100.0);
}

bool agent_sim_light(const struct agent_sim *sim, double *brightness)
{
    if (brightness)
        *brightness = sim->brightness;
    return sim->light_on;
}
