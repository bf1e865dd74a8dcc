/* SPDX-License-Identifier: Apache-2.0 */
/* plat_event over an eventfd (async-signal-safe to signal), mutex over pthreads, signals, re-exec. */
#include "iot/plat_event.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "iot/mem.h"

struct plat_event {
    int fd;
};

enum iot_err plat_event_create(struct plat_event **out)
{
    struct plat_event *ev = iot_malloc(sizeof *ev);
    if (!ev)
        return IOT_ERR_NOMEM;
    ev->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ev->fd < 0) {
        iot_free(ev);
        return IOT_ERR_IO;
    }
    *out = ev;
    return IOT_OK;
}

void plat_event_destroy(struct plat_event *ev)
{
    if (!ev)
        return;
    close(ev->fd);
    iot_free(ev);
}

void plat_event_signal(struct plat_event *ev)
{
    uint64_t one = 1;
    int saved = errno;
    ssize_t n = write(ev->fd, &one, sizeof one);
    (void)n; /* EAGAIN means the counter is already non-zero: the waiter wakes anyway */
    errno = saved;
}

enum iot_err plat_event_wait(struct plat_event *ev, uint32_t timeout_ms)
{
    struct pollfd p = {.fd = ev->fd, .events = POLLIN};
    int n;
    do {
        n = poll(&p, 1, timeout_ms > INT32_MAX ? -1 : (int)timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n <= 0)
        return IOT_ERR_TIMEOUT;
    uint64_t v;
    ssize_t r = read(ev->fd, &v, sizeof v);
    (void)r;
    return IOT_OK;
}

int plat_event_fd(const struct plat_event *ev) { return ev->fd; }

struct plat_mutex {
    pthread_mutex_t m;
};

enum iot_err plat_mutex_create(struct plat_mutex **out)
{
    struct plat_mutex *m = iot_malloc(sizeof *m);
    if (!m)
        return IOT_ERR_NOMEM;
    pthread_mutex_init(&m->m, NULL);
    *out = m;
    return IOT_OK;
}

void plat_mutex_destroy(struct plat_mutex *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->m);
    iot_free(m);
}

void plat_mutex_lock(struct plat_mutex *m) { pthread_mutex_lock(&m->m); }
void plat_mutex_unlock(struct plat_mutex *m) { pthread_mutex_unlock(&m->m); }

static struct plat_event *sig_event;
static volatile int *sig_flag;

static void on_signal(int sig)
{
    if (sig_flag)
        *sig_flag = sig;
    if (sig_event)
        plat_event_signal(sig_event);
}

void plat_signals_install(struct plat_event *ev, volatile int *stop_flag)
{
    sig_event = ev;
    sig_flag = stop_flag;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

enum iot_err plat_reexec(char *const argv[])
{
    execv("/proc/self/exe", argv);
    return IOT_ERR_IO;
}
