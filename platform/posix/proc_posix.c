/* SPDX-License-Identifier: Apache-2.0 */
/* plat_proc over posix_spawn (safe beside Paho's threads, unlike fork + arbitrary code), pipes read
 * non-blocking, waitpid(WNOHANG), and SIGKILL to the child's process group at the timeout. */
#define _GNU_SOURCE /* posix_spawn_file_actions_addclosefrom_np: no descriptor of ours leaks */
#define IOT_LOG_TAG "plat.proc"
#include "iot/plat_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_clock.h"

/* After the child is gone, how long a process it left behind holding our pipes may keep us
 * reading. */
#define PROC_REAP_GRACE_MS 1000u

struct stream {
    int fd; /* -1 once closed */
    char *buf;
    size_t len;
    uint64_t total;
};

struct plat_proc {
    pid_t pid;
    bool reaped, finished, taken;
    int status;
    bool timed_out;
    uint64_t start_ms, deadline_ms, reaped_ms;
    size_t max_output;
    struct stream s[2]; /* stdout, stderr */
};

static void stream_close(struct stream *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

/* Read until EAGAIN or EOF; keep at most @p max bytes, count the rest. */
static void stream_drain(struct stream *s, size_t max)
{
    char tmp[4096];
    for (int i = 0; s->fd >= 0 && i < 256; i++) {
        ssize_t n = read(s->fd, tmp, sizeof tmp);
        if (n > 0) {
            size_t take = (size_t)n;
            if (s->len + take > max)
                take = max - s->len;
            memcpy(s->buf + s->len, tmp, take);
            s->len += take;
            s->total += (uint64_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        stream_close(s); /* EOF or error */
    }
}

static void kill_group(struct plat_proc *p)
{
    if (p->reaped)
        return;
    if (kill(-p->pid, SIGKILL) != 0 && errno == ESRCH)
        kill(p->pid, SIGKILL);
}

enum iot_err plat_proc_start(const struct plat_proc_spec *spec, struct plat_proc **out)
{
    if (!spec || !out || !spec->path || spec->path[0] != '/')
        return IOT_ERR_INVAL;
    /* Checked before spawning: glibc reports a failed exec through posix_spawn only where vfork
     * semantics hold; under qemu-user (the Raspberry Pi test runs) the child just exits 127. */
    if (!plat_proc_executable(spec->path))
        return IOT_ERR_NOT_FOUND;
    struct plat_proc *p = iot_calloc(1, sizeof *p);
    if (!p)
        return IOT_ERR_NOMEM;
    int fds[2][2] = {{-1, -1}, {-1, -1}};
    enum iot_err rc = IOT_ERR_IO;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    bool fa_ok = false, attr_ok = false;
    p->max_output = spec->max_output;
    p->s[0].fd = p->s[1].fd = -1;
    for (int i = 0; i < 2; i++) {
        p->s[i].buf = iot_malloc(spec->max_output + 1);
        if (!p->s[i].buf) {
            rc = IOT_ERR_NOMEM;
            goto fail;
        }
        if (pipe2(fds[i], O_CLOEXEC) != 0) {
            IOT_LOG(IOT_LOG_ERROR, "pipe: %s", strerror(errno));
            goto fail;
        }
    }
    if (posix_spawn_file_actions_init(&fa) != 0)
        goto fail;
    fa_ok = true;
    if (posix_spawnattr_init(&attr) != 0)
        goto fail;
    attr_ok = true;
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    if (posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) != 0 ||
        posix_spawn_file_actions_adddup2(&fa, fds[0][1], 1) != 0 ||
        posix_spawn_file_actions_adddup2(&fa, fds[1][1], 2) != 0 ||
        posix_spawn_file_actions_addclosefrom_np(&fa, 3) != 0 ||
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                            POSIX_SPAWN_SETSIGMASK) != 0 ||
        posix_spawnattr_setpgroup(&attr, 0) != 0 || posix_spawnattr_setsigdefault(&attr, &all) != 0 ||
        posix_spawnattr_setsigmask(&attr, &none) != 0)
        goto fail;

    char *const argv0[] = {(char *)spec->path, NULL};
    char *const env0[] = {NULL};
    int err = posix_spawn(&p->pid, spec->path, &fa, &attr, spec->argv ? spec->argv : argv0,
                          spec->envp ? spec->envp : env0);
    if (err != 0) {
        IOT_LOG(IOT_LOG_ERROR, "cannot run %s: %s", spec->path, strerror(err));
        rc = err == ENOENT || err == EACCES || err == ENOEXEC || err == ENOTDIR ? IOT_ERR_NOT_FOUND
                                                                                 : IOT_ERR_IO;
        goto fail;
    }
    for (int i = 0; i < 2; i++) {
        close(fds[i][1]);
        fds[i][1] = -1;
        p->s[i].fd = fds[i][0];
        fds[i][0] = -1;
        int fl = fcntl(p->s[i].fd, F_GETFL);
        if (fl >= 0)
            fcntl(p->s[i].fd, F_SETFL, fl | O_NONBLOCK);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    p->start_ms = plat_mono_ms();
    p->deadline_ms = spec->timeout_ms ? p->start_ms + spec->timeout_ms : UINT64_MAX;
    *out = p;
    return IOT_OK;
fail:
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_ok)
        posix_spawnattr_destroy(&attr);
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < 2; k++) {
            if (fds[i][k] >= 0)
                close(fds[i][k]);
        }
        iot_free(p->s[i].buf);
    }
    iot_free(p);
    return rc;
}

static void try_reap(struct plat_proc *p)
{
    if (p->reaped)
        return;
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) {
        p->reaped = true;
        p->reaped_ms = plat_mono_ms();
        p->status = st;
    } else if (r < 0 && errno == ECHILD) {
        p->reaped = true; /* someone else reaped it (SIGCHLD ignored): status unknown */
        p->reaped_ms = plat_mono_ms();
        p->status = 0;
    }
}

enum iot_err plat_proc_poll(struct plat_proc *p, uint32_t wait_ms)
{
    if (!p)
        return IOT_ERR_INVAL;
    if (p->finished)
        return IOT_OK;
    uint64_t now = plat_mono_ms();
    if (!p->reaped && now >= p->deadline_ms && !p->timed_out) {
        p->timed_out = true;
        kill_group(p);
    }
    if (wait_ms > 0) {
        uint64_t until = now + wait_ms;
        if (!p->timed_out && p->deadline_ms < until)
            until = p->deadline_ms;
        struct pollfd pfd[2];
        nfds_t n = 0;
        for (int i = 0; i < 2; i++) {
            if (p->s[i].fd >= 0)
                pfd[n++] = (struct pollfd){.fd = p->s[i].fd, .events = POLLIN};
        }
        int ms = until > now ? (int)(until - now) : 0;
        if (n == 0 && ms > 20)
            ms = 20; /* nothing to wait on but the exit: look again soon */
        if (ms > 0)
            (void)poll(n ? pfd : NULL, n, ms);
    }
    for (int i = 0; i < 2; i++)
        stream_drain(&p->s[i], p->max_output);
    try_reap(p);
    now = plat_mono_ms();
    if (!p->reaped && now >= p->deadline_ms && !p->timed_out) {
        p->timed_out = true;
        kill_group(p);
    }
    if (!p->reaped)
        return IOT_ERR_AGAIN;
    /* Exited. Output written before the exit is in the pipes already (drained above); a process it
     * left behind may keep them open: read on for a short grace, then stop listening. */
    bool open = p->s[0].fd >= 0 || p->s[1].fd >= 0;
    if (open && now < p->reaped_ms + PROC_REAP_GRACE_MS && !p->timed_out)
        return IOT_ERR_AGAIN;
    stream_close(&p->s[0]);
    stream_close(&p->s[1]);
    p->finished = true;
    return IOT_OK;
}

enum iot_err plat_proc_take_result(struct plat_proc *p, struct plat_proc_result *r)
{
    if (!p || !r)
        return IOT_ERR_INVAL;
    if (!p->finished || p->taken)
        return IOT_ERR_AGAIN;
    memset(r, 0, sizeof *r);
    r->timed_out = p->timed_out;
    r->exit_code = WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1;
    r->term_signal = WIFSIGNALED(p->status) ? WTERMSIG(p->status) : 0;
    r->duration_ms = plat_mono_ms() - p->start_ms;
    char **dst[2] = {&r->out, &r->err};
    size_t *lens[2] = {&r->out_len, &r->err_len};
    uint64_t *totals[2] = {&r->out_total, &r->err_total};
    for (int i = 0; i < 2; i++) {
        p->s[i].buf[p->s[i].len] = 0;
        *dst[i] = p->s[i].buf;
        *lens[i] = p->s[i].len;
        *totals[i] = p->s[i].total;
        p->s[i].buf = NULL;
    }
    p->taken = true;
    return IOT_OK;
}

void plat_proc_destroy(struct plat_proc *p)
{
    if (!p)
        return;
    if (!p->reaped) {
        kill_group(p);
        int st;
        while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR) {
        }
    }
    for (int i = 0; i < 2; i++) {
        stream_close(&p->s[i]);
        iot_free(p->s[i].buf);
    }
    iot_free(p);
}

void plat_proc_result_clear(struct plat_proc_result *r)
{
    if (!r)
        return;
    iot_free(r->out);
    iot_free(r->err);
    r->out = r->err = NULL;
    r->out_len = r->err_len = 0;
}

enum iot_err plat_proc_run(const struct plat_proc_spec *spec, struct plat_proc_result *r)
{
    if (!spec || !r || spec->timeout_ms == 0)
        return IOT_ERR_INVAL;
    struct plat_proc *p;
    enum iot_err rc = plat_proc_start(spec, &p);
    if (rc != IOT_OK)
        return rc;
    /* Bounded: the timeout kills the group; the reap grace bounds a lingering pipe holder. */
    uint64_t give_up = plat_mono_ms() + spec->timeout_ms + PROC_REAP_GRACE_MS + 5000u;
    while ((rc = plat_proc_poll(p, 50)) == IOT_ERR_AGAIN && plat_mono_ms() < give_up) {
    }
    if (rc == IOT_OK)
        rc = plat_proc_take_result(p, r);
    else
        rc = IOT_ERR_TIMEOUT;
    plat_proc_destroy(p);
    return rc;
}

bool plat_proc_executable(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}
