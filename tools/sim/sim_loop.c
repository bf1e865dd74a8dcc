/* SPDX-License-Identifier: Apache-2.0 */
/* The one loop of iot-sim: every device's Paho wake-up event sits in one epoll set; a device's
 * agent_step() runs when its event fires or its own deadline passes. Around it: the connect ramp,
 * churn, bursts, progress lines, the drain at the end, a clean stop, and the JSON summary. */
#define IOT_LOG_TAG "sim"
#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent/embed.h"
#include "iot/plat_crypto.h"
#include "iot/plat_event.h"
#include "sim.h"

#define SIM_STOP_TIMEOUT_MS 15000u
#define SIM_EVENTS 512
#define SIM_SIG_TAG UINT64_MAX
#define SIM_RSS_EVERY_MS 1000u
#define SIM_ABORT_AFTER_MS 1000u /* a second signal aborts only this long after the first */

enum phase { PH_RUN, PH_DRAIN, PH_STOP, PH_END };

struct totals {
    uint32_t online, running;
    struct agent_stats st;
    uint64_t cmds_received, cmds_answered, connects;
};

struct loop {
    struct sim *s;
    int ep;
    enum phase phase;
    uint64_t t0, deadline;
    uint32_t started, start_failures, signals;
    uint64_t first_signal_ms;
    uint64_t next_progress, next_churn, next_burst, next_rss, next_drain_check;
    uint64_t all_online_ms; /* 0 = not yet */
    uint32_t peak_online;
    uint64_t rss_baseline_kb, rss_run_max_kb;
    double cpu0;
    uint64_t progress_t, progress_cpu_t;
    double progress_cpu;
    uint64_t churn_cycles, bursts;
};

/* ---------------------------------------------------------------- measurements */

static uint64_t rss_kb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) / 1024u;
}

static uint64_t hwm_kb(void)
{
    char line[256];
    unsigned long long v = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmHWM: %llu", &v) == 1)
            break;
    }
    fclose(f);
    return v;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void totals(const struct sim *s, struct totals *t)
{
    memset(t, 0, sizeof *t);
    for (uint32_t i = 0; i < s->n; i++) {
        const struct sim_dev *d = &s->devs[i];
        struct agent_stats st;
        sim_dev_stats(d, &st);
        t->online += d->online;
        t->running += d->agent != NULL;
        t->st.samples += st.samples;
        t->st.samples_sent += st.samples_sent;
        t->st.samples_acked += st.samples_acked;
        t->st.backlog += st.backlog;
        t->st.dropped += st.dropped;
        t->st.resends += st.resends;
        t->cmds_received += d->c.cmds_received;
        t->cmds_answered += d->c.cmds_answered;
        t->connects += d->c.connects;
    }
}

static void progress(struct loop *l, uint64_t now)
{
    struct totals t;
    totals(l->s, &t);
    double cpu = cpu_s();
    double dt = (double)(now - l->progress_t) / 1000.0;
    double pct = dt > 0 ? (cpu - l->progress_cpu) * 100.0 / dt : 0;
    l->progress_t = now;
    l->progress_cpu = cpu;
    uint64_t rss = rss_kb();
    printf("[%6.1fs] online %" PRIu32 "/%" PRIu32 "  samples %" PRIu64 "  sent %" PRIu64
           "  receipted %" PRIu64 "  buffered %" PRIu64 "  dropped %" PRIu64
           "  commands answered %" PRIu64 " of %" PRIu64 "  rss %.1f MB (%.1f KB/device)"
           "  cpu %.0f%%%s\n",
           (double)(now - l->t0) / 1000.0, t.online, l->s->n, t.st.samples, t.st.samples_sent,
           t.st.samples_acked, t.st.backlog, t.st.dropped, t.cmds_answered, t.cmds_received,
           (double)rss / 1024.0, (double)rss / l->s->n, pct,
           l->phase == PH_DRAIN ? "  (draining)" : l->phase == PH_STOP ? "  (stopping)" : "");
    fflush(stdout);
}

/* ---------------------------------------------------------------- devices */

static uint64_t rnd(uint64_t below)
{
    uint64_t r = 0;
    plat_random(&r, sizeof r);
    return below ? r % below : 0;
}

static void start_dev(struct loop *l, struct sim_dev *d)
{
    if (sim_dev_start(l->s, d) != IOT_OK) {
        l->start_failures++;
        d->state = DEV_DONE;
    }
}

static void step_dev(struct loop *l, struct sim_dev *d, uint64_t now)
{
    uint32_t wait_ms = 0;
    l->s->current = d;
    enum iot_err rc = agent_step(d->agent, &wait_ms);
    l->s->current = NULL;
    if (rc == IOT_OK) {
        d->due = now + wait_ms;
        return;
    }
    bool restart = agent_exit_status(d->agent) == AGENT_EXIT_RESTART;
    sim_dev_destroy_agent(d);
    if (d->churn_stop && l->phase == PH_RUN) {
        d->state = DEV_OFF; /* back_at was set when the churn began */
    } else if (d->churn_stop && l->phase == PH_DRAIN) {
        start_dev(l, d); /* back at once, so that its stored samples drain */
        if (d->agent)
            agent_set_interval(d->agent, 86400000u);
    } else if (restart && l->phase == PH_RUN) {
        d->state = DEV_OFF; /* the restart command: back at once, like iot-agent re-executing */
        d->back_at = now;
    } else {
        d->state = DEV_DONE;
    }
    d->churn_stop = false;
}

static void stop_dev(struct sim_dev *d, bool churn)
{
    if (d->state == DEV_RUNNING) {
        agent_stop(d->agent);
        d->state = DEV_STOPPING;
        d->due = 0;
    }
    d->churn_stop = churn;
}

static void ramp(struct loop *l, uint64_t now)
{
    uint64_t allowed = (now - l->t0) * l->s->o.connect_rate / 1000u + 1;
    while (l->started < l->s->n && l->started < allowed)
        start_dev(l, &l->s->devs[l->started++]);
}

static void churn(struct loop *l, uint64_t now)
{
    struct sim *s = l->s;
    uint32_t want = (uint32_t)(s->o.churn * s->n + 0.5), done = 0;
    uint64_t span = (uint64_t)s->o.churn_period_s * 500u - 2000u;
    for (uint32_t tries = 0; done < want && tries < 4 * want + 16; tries++) {
        struct sim_dev *d = &s->devs[rnd(s->n)];
        if (d->state != DEV_RUNNING)
            continue;
        d->back_at = now + 2000u + rnd(span + 1);
        stop_dev(d, true);
        done++;
    }
    l->churn_cycles++;
    IOT_LOG(IOT_LOG_INFO, "churn: %" PRIu32 " devices power-cycled", done);
}

static void burst(struct loop *l)
{
    struct sim *s = l->s;
    for (uint32_t i = 0; i < s->n; i++) {
        struct sim_dev *d = &s->devs[i];
        if (d->state != DEV_RUNNING)
            continue;
        for (uint32_t k = 0; k < s->o.burst; k++)
            agent_sample_now(d->agent);
        d->due = 0;
    }
    l->bursts++;
}

static void begin_drain(struct loop *l, uint64_t now)
{
    struct sim *s = l->s;
    l->phase = PH_DRAIN;
    l->deadline = now + (uint64_t)s->o.drain_s * 1000u;
    for (uint32_t i = 0; i < s->n; i++) {
        struct sim_dev *d = &s->devs[i];
        if (d->state == DEV_PENDING)
            d->state = DEV_DONE;
        else if (d->state == DEV_OFF) /* churned off: back, so that its stored samples drain */
            start_dev(l, d);
        if (d->agent && d->state == DEV_RUNNING)
            agent_set_interval(d->agent, 86400000u); /* no more samples: only receipts to await */
    }
    printf("iot-sim: duration reached; sampling stopped, waiting up to %" PRIu32
           " s for the receipts of the buffered samples\n", s->o.drain_s);
    fflush(stdout);
}

static void begin_stop(struct loop *l, uint64_t now)
{
    struct sim *s = l->s;
    l->phase = PH_STOP;
    l->deadline = now + SIM_STOP_TIMEOUT_MS;
    for (uint32_t i = 0; i < s->n; i++) {
        struct sim_dev *d = &s->devs[i];
        if (d->state == DEV_PENDING || d->state == DEV_OFF)
            d->state = DEV_DONE;
        stop_dev(d, false);
    }
}

/* ---------------------------------------------------------------- control */

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* Everything but the devices' own steps. @return when it wants to run next. */
static uint64_t control(struct loop *l, uint64_t now)
{
    struct sim *s = l->s;
    const struct sim_opts *o = &s->o;
    uint64_t next = now + 1000;
    if (l->phase == PH_RUN) {
        ramp(l, now);
        if (l->started < s->n)
            next = min_u64(next, now + 1000u / o->connect_rate + 1);
        if (o->churn > 0 && now >= l->next_churn) {
            churn(l, now);
            l->next_churn = now + (uint64_t)o->churn_period_s * 1000u;
        }
        for (uint32_t i = 0; i < s->n; i++) {
            struct sim_dev *d = &s->devs[i];
            if (d->state == DEV_OFF) {
                if (now >= d->back_at)
                    start_dev(l, d);
                else
                    next = min_u64(next, d->back_at);
            }
        }
        if (o->burst && now >= l->next_burst) {
            burst(l);
            l->next_burst = now + (uint64_t)o->burst_every_s * 1000u;
        }
        if (o->churn > 0)
            next = min_u64(next, l->next_churn);
        if (o->burst)
            next = min_u64(next, l->next_burst);
        if (o->duration_s && now >= l->t0 + (uint64_t)o->duration_s * 1000u)
            begin_drain(l, now);
        else if (o->duration_s)
            next = min_u64(next, l->t0 + (uint64_t)o->duration_s * 1000u);
    }
    if (l->phase == PH_DRAIN && now >= l->next_drain_check) {
        struct totals t;
        totals(s, &t);
        if (t.st.backlog == 0 || now >= l->deadline) {
            if (t.st.backlog)
                printf("iot-sim: drain timeout: %" PRIu64 " samples still without a receipt\n",
                       t.st.backlog);
            begin_stop(l, now);
        }
        l->next_drain_check = now + 200;
        next = min_u64(next, l->next_drain_check);
    }
    if (l->phase == PH_STOP) {
        bool any = false;
        for (uint32_t i = 0; i < s->n && !any; i++)
            any = s->devs[i].agent != NULL;
        if (!any) {
            l->phase = PH_END;
        } else if (now >= l->deadline) {
            IOT_LOG(IOT_LOG_WARN, "devices did not stop within %u ms; closing them",
                    SIM_STOP_TIMEOUT_MS);
            l->phase = PH_END;
        }
    }
    /* online accounting and memory */
    uint32_t online = 0;
    for (uint32_t i = 0; i < s->n; i++)
        online += s->devs[i].online;
    if (online > l->peak_online)
        l->peak_online = online;
    if (!l->all_online_ms && online == s->n) {
        l->all_online_ms = now - l->t0;
        printf("iot-sim: all %" PRIu32 " devices online after %.1f s\n", s->n,
               (double)l->all_online_ms / 1000.0);
        fflush(stdout);
    }
    if (now >= l->next_rss) {
        if (l->phase == PH_RUN && l->started == s->n) {
            uint64_t r = rss_kb();
            if (r > l->rss_run_max_kb)
                l->rss_run_max_kb = r;
        }
        l->next_rss = now + SIM_RSS_EVERY_MS;
    }
    next = min_u64(next, l->next_rss);
    if (o->progress_s && now >= l->next_progress) {
        progress(l, now);
        l->next_progress = now + (uint64_t)o->progress_s * 1000u;
    }
    if (o->progress_s)
        next = min_u64(next, l->next_progress);
    return next;
}

/* ---------------------------------------------------------------- summary */

static void add_num(cJSON *o, const char *k, double v) { cJSON_AddNumberToObject(o, k, v); }

static void write_stats(struct loop *l, double run_s, double cpu)
{
    struct sim *s = l->s;
    struct totals t;
    totals(s, &t);
    uint64_t rss = l->rss_run_max_kb ? l->rss_run_max_kb : rss_kb();
    printf("iot-sim: %" PRIu32 " devices, %.1f s: samples %" PRIu64 ", receipted %" PRIu64
           ", unreceipted %" PRIu64 ", dropped %" PRIu64 ", commands answered %" PRIu64
           "; peak online %" PRIu32 "; RSS %.1f MB = %.1f KB/device (%.1f KB/device above the "
           "%.1f MB baseline); CPU %.1f s (%.0f%% of one core)\n",
           s->n, run_s, t.st.samples, t.st.samples_acked, t.st.samples - t.st.samples_acked,
           t.st.dropped, t.cmds_answered, l->peak_online, (double)rss / 1024.0,
           (double)rss / s->n, (double)(rss - min_u64(rss, l->rss_baseline_kb)) / s->n,
           (double)l->rss_baseline_kb / 1024.0, cpu, run_s > 0 ? cpu * 100.0 / run_s : 0);
    if (!s->o.stats_file[0])
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON *p = cJSON_AddObjectToObject(o, "params");
    add_num(p, "devices", s->n);
    add_num(p, "interval_ms", s->o.interval_ms);
    cJSON_AddStringToObject(p, "store", s->o.store == AGENT_STORE_DISK ? "disk" : "memory");
    add_num(p, "churn", s->o.churn);
    add_num(p, "clock_skew_ms", s->o.clock_skew_ms);
    add_num(p, "burst", s->o.burst);
    add_num(p, "duration_s", s->o.duration_s);
    add_num(o, "run_s", run_s);
    add_num(o, "cpu_s", cpu);
    add_num(o, "cpu_percent", run_s > 0 ? cpu * 100.0 / run_s : 0);
    add_num(o, "all_online_ms", (double)l->all_online_ms);
    add_num(o, "peak_online", l->peak_online);
    add_num(o, "start_failures", l->start_failures);
    add_num(o, "rss_baseline_kb", (double)l->rss_baseline_kb);
    add_num(o, "rss_kb", (double)rss);
    add_num(o, "rss_peak_kb", (double)hwm_kb());
    add_num(o, "rss_per_device_kb", (double)rss / s->n);
    add_num(o, "rss_per_device_above_baseline_kb",
            (double)(rss - min_u64(rss, l->rss_baseline_kb)) / s->n);
    add_num(o, "samples", (double)t.st.samples);
    add_num(o, "samples_sent", (double)t.st.samples_sent);
    add_num(o, "receipted", (double)t.st.samples_acked);
    add_num(o, "dropped", (double)t.st.dropped);
    add_num(o, "resends", (double)t.st.resends);
    add_num(o, "commands_received", (double)t.cmds_received);
    add_num(o, "commands_answered", (double)t.cmds_answered);
    add_num(o, "connects", (double)t.connects);
    add_num(o, "churn_cycles", (double)l->churn_cycles);
    add_num(o, "bursts", (double)l->bursts);
    cJSON *devs = cJSON_AddArrayToObject(o, "devices");
    for (uint32_t i = 0; devs && i < s->n; i++) {
        const struct sim_dev *d = &s->devs[i];
        struct agent_stats st;
        sim_dev_stats(d, &st);
        cJSON *j = cJSON_CreateObject();
        if (!j)
            break;
        cJSON_AddStringToObject(j, "id", d->id);
        cJSON_AddStringToObject(j, "kind", sim_kind_name(d->kind));
        add_num(j, "samples", (double)st.samples);
        add_num(j, "receipted", (double)st.samples_acked);
        add_num(j, "backlog", (double)st.backlog);
        add_num(j, "dropped", (double)st.dropped);
        add_num(j, "connects", (double)d->c.connects);
        add_num(j, "commands_received", (double)d->c.cmds_received);
        add_num(j, "commands_answered", (double)d->c.cmds_answered);
        add_num(j, "skew_ms", (double)d->skew_ms);
        cJSON_AddItemToArray(devs, j);
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    FILE *f = text ? fopen(s->o.stats_file, "w") : NULL;
    if (!f || fputs(text, f) < 0 || fputc('\n', f) < 0)
        IOT_LOG(IOT_LOG_ERROR, "--stats %s: cannot write: %s", s->o.stats_file, strerror(errno));
    if (f)
        fclose(f);
    cJSON_free(text);
}

/* ---------------------------------------------------------------- the loop */

static enum iot_err loop_init(struct loop *l, struct sim *s)
{
    memset(l, 0, sizeof *l);
    l->s = s;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    if (l->ep < 0) {
        IOT_LOG(IOT_LOG_ERROR, "epoll_create1: %s", strerror(errno));
        return IOT_ERR_IO;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = SIM_SIG_TAG};
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, plat_event_fd(s->sig_ev), &e) != 0)
        return IOT_ERR_IO;
    for (uint32_t i = 0; i < s->n; i++) {
        e.data.u64 = i;
        if (epoll_ctl(l->ep, EPOLL_CTL_ADD, plat_event_fd(s->devs[i].ev), &e) != 0) {
            IOT_LOG(IOT_LOG_ERROR, "epoll_ctl (device %" PRIu32 "): %s", i, strerror(errno));
            return IOT_ERR_IO;
        }
    }
    return IOT_OK;
}

int sim_run(struct sim *s)
{
    struct loop l;
    if (loop_init(&l, s) != IOT_OK) {
        if (l.ep >= 0)
            close(l.ep);
        return 1;
    }
    l.rss_baseline_kb = rss_kb();
    l.cpu0 = cpu_s();
    l.t0 = plat_mono_ms();
    l.progress_t = l.t0;
    l.progress_cpu = l.cpu0;
    l.next_progress = l.t0 + (uint64_t)s->o.progress_s * 1000u;
    l.next_churn = l.t0 + (uint64_t)s->o.churn_period_s * 1000u;
    l.next_burst = l.t0 + (uint64_t)s->o.burst_every_s * 1000u;
    struct epoll_event evs[SIM_EVENTS];
    while (l.phase != PH_END) {
        uint64_t now = plat_mono_ms();
        uint64_t next = control(&l, now);
        if (l.phase == PH_END)
            break;
        for (uint32_t i = 0; i < s->n; i++) {
            struct sim_dev *d = &s->devs[i];
            if (d->agent && d->due <= now)
                step_dev(&l, d, now);
            if (d->agent)
                next = min_u64(next, d->due);
        }
        uint64_t after = plat_mono_ms();
        int timeout = next > after ? (int)min_u64(next - after, 1000) : 0;
        int n = epoll_wait(l.ep, evs, SIM_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            IOT_LOG(IOT_LOG_ERROR, "epoll_wait: %s", strerror(errno));
            break;
        }
        for (int k = 0; k < n; k++) {
            if (evs[k].data.u64 == SIM_SIG_TAG) {
                plat_event_wait(s->sig_ev, 0);
                if (!s->stop_signal)
                    continue;
                s->stop_signal = 0;
                uint64_t t = plat_mono_ms();
                if (++l.signals == 1 && l.phase < PH_STOP) {
                    printf("iot-sim: signal received; stopping the devices cleanly (again, a "
                           "second later, to abort)\n");
                    fflush(stdout);
                    l.first_signal_ms = t;
                    begin_stop(&l, t);
                } else if (t >= l.first_signal_ms + SIM_ABORT_AFTER_MS) {
                    printf("iot-sim: second signal; closing now\n");
                    l.phase = PH_END;
                }
                /* else: one Ctrl-C reaching the whole process group and a parent's SIGTERM
                 * right after it are one request, not two */
                continue;
            }
            struct sim_dev *d = &s->devs[evs[k].data.u64];
            plat_event_wait(d->ev, 0); /* clear before the step, so no wake-up is lost */
            d->due = 0;
        }
    }
    double run_s = (double)(plat_mono_ms() - l.t0) / 1000.0;
    double cpu = cpu_s() - l.cpu0;
    if (s->o.progress_s)
        progress(&l, plat_mono_ms());
    write_stats(&l, run_s, cpu);
    for (uint32_t i = 0; i < s->n; i++)
        sim_dev_destroy_agent(&s->devs[i]);
    close(l.ep);
    return l.start_failures ? 1 : 0;
}
