/* SPDX-License-Identifier: Apache-2.0 */
/* iot-sim: parse the options, lay out the devices, make sure each has an identity, raise the
 * open-file limit, and run the simulation loop (sim_loop.c). Logs name the device being stepped. */
#define IOT_LOG_TAG "iot-sim"
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "iot/plat_event.h"
#include "sim.h"

static void log_sink(void *ctx, enum iot_log_level lvl, const char *tag, const char *line)
{
    const struct sim *s = ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    const char *name = lvl <= IOT_LOG_ERROR  ? "ERROR"
                       : lvl == IOT_LOG_WARN ? "WARN "
                       : lvl == IOT_LOG_INFO ? "INFO "
                                             : "DEBUG";
    const struct sim_dev *d = s->current;
    fprintf(stderr, "%s.%03ldZ %s %s: %s%s%s\n", when, ts.tv_nsec / 1000000, name, tag,
            d ? d->id : "", d ? ": " : "", line);
}

/* Each device holds a socket, two eventfds and (disk store) two files: lift the soft limit. */
static void raise_nofile(uint32_t devices)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)devices * 6 + 64;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want)
        IOT_LOG(IOT_LOG_WARN, "open-file limit %llu may be too low for %" PRIu32
                " devices (about %llu needed; raise ulimit -Hn)", (unsigned long long)rl.rlim_cur,
                devices, (unsigned long long)want);
}

int main(int argc, char **argv)
{
    static struct sim s;
    char err[800];
    bool help;
    sim_opts_defaults(&s.o);
    if (sim_opts_parse(argc, argv, &s.o, &help, err, sizeof err) != IOT_OK) {
        fprintf(stderr, "iot-sim: %s\n", err);
        return 2;
    }
    if (help) {
        fputs(sim_opts_help(), stdout);
        return 0;
    }
    iot_log_set_level(s.o.log_level);
    iot_log_set_sink(log_sink, &s);
    int status = 1;
    if (sim_devices_plan(&s) != IOT_OK) {
        fprintf(stderr, "iot-sim: cannot lay out %" PRIu32 " devices\n", s.o.devices);
        goto out;
    }
    if (s.o.list) {
        for (uint32_t i = 0; i < s.n; i++)
            printf("%s %s\n", s.devs[i].id, sim_kind_name(s.devs[i].kind));
        status = 0;
        goto out;
    }
    uint32_t per[SIM_KINDS] = {0};
    for (uint32_t i = 0; i < s.n; i++)
        per[s.devs[i].kind]++;
    printf("iot-sim: %" PRIu32 " devices (", s.n);
    for (int k = 0, first = 1; k < SIM_KINDS; k++) {
        if (per[k]) {
            printf("%s%" PRIu32 " %s", first ? "" : ", ", per[k], sim_kind_name((enum sim_kind)k));
            first = 0;
        }
    }
    printf(") to %s:%u, %s store, every %" PRIu32 " ms\n", s.o.host, (unsigned)s.o.port,
           s.o.store == AGENT_STORE_DISK ? "disk" : "memory", s.o.interval_ms);
    fflush(stdout);
    uint32_t issued = 0;
    if (sim_devices_identities(&s, &issued) != IOT_OK)
        goto out;
    if (issued) {
        printf("iot-sim: issued %" PRIu32 " device certificates in %s/devices\n", issued, s.o.pki);
        fflush(stdout);
    }
    raise_nofile(s.n);
    if (plat_event_create(&s.sig_ev) != IOT_OK)
        goto out;
    plat_signals_install(s.sig_ev, &s.stop_signal);
    status = sim_run(&s);
out:
    sim_devices_free(&s);
    plat_event_destroy(s.sig_ev);
    iot_log_set_sink(NULL, NULL);
    return status;
}
