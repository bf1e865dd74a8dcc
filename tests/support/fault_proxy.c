/* SPDX-License-Identifier: Apache-2.0 */
/* Test support: a fault-injecting TCP proxy (delay+jitter, bandwidth cap, random cuts, partition)
 * for fault tests on a kernel without netem. Listens on 127.0.0.1 only and connects only to its
 * one --target (loopback or a private/link-local namespace address). Never linked into products. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROXY_BUF_MAX (256u * 1024u)   /* per direction: backpressure beyond this */
#define PROXY_BUF_INIT (4u * 1024u)    /* buffers grow on demand, so idle connections stay small */
#define PROXY_READ_MAX (64u * 1024u)
#define PROXY_MARKS 256u               /* chunks with distinct delivery times in flight, per direction */
#define PROXY_CONNECT_TIMEOUT_MS 10000u
#define PROXY_POLL_MAX_MS 1000
#define RATE_MAX 1000000000ul /* bytes/s; fits a 32-bit unsigned long */

struct proxy_faults {
    unsigned delay_ms;
    unsigned jitter_ms;
    unsigned long rate; /* bytes/s per direction per connection; 0 = unlimited */
    double cut_prob;
    bool partition;
};

/* One chunk boundary: bytes up to stream offset `end` may be sent from `at_ms` on. */
struct proxy_mark {
    uint64_t end;
    uint64_t at_ms;
};

/* One direction of a connection: bytes read from fd[src], waiting to be written to the other fd. */
struct proxy_dir {
    uint8_t *buf;
    size_t head, len, cap; /* pending bytes are buf[head, head + len) */
    struct proxy_mark marks[PROXY_MARKS];
    unsigned mhead, mcount;
    uint64_t in_total, out_total;
    double tokens;
    uint64_t tok_ms;
    bool eof;  /* source sent FIN */
    bool shut; /* FIN forwarded to the destination */
};

struct proxy_conn {
    unsigned long id;
    int fd[2]; /* 0 = client, 1 = upstream (target) */
    bool connecting;
    bool dead;
    uint64_t opened_ms;
    char peer[48];
    struct proxy_dir d[2]; /* d[0]: client -> target, d[1]: target -> client */
};

struct proxy_stats {
    unsigned long accepted, refused, closed, aborted, cuts, partition_drops, connect_failed;
    uint64_t bytes_up, bytes_down;
};

static struct proxy_faults g_faults;
static struct proxy_stats g_stats;
static struct sockaddr_in g_target;
static const char *g_control_path;
static uint64_t g_rng;
static struct proxy_conn **g_conns;
static size_t g_n_conns, g_cap_conns;
static unsigned long g_next_id = 1;

static volatile sig_atomic_t g_sig_stop, g_sig_part, g_sig_heal, g_sig_hup;
static int g_sigpipe[2] = {-1, -1};

static void plog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void plog(const char *fmt, ...)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%02d:%02d:%02d.%03ld fault-proxy: ", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000L);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* xorshift64*: reproducible with --seed, good enough for fault dice. */
static uint64_t rng_next(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 2685821657736338717ull;
}

static double rng_unit(void)
{
    return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0);
}

static void on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGUSR1)
        g_sig_part = 1;
    else if (sig == SIGUSR2)
        g_sig_heal = 1;
    else if (sig == SIGHUP)
        g_sig_hup = 1;
    else
        g_sig_stop = 1;
    if (g_sigpipe[1] >= 0) {
        ssize_t w = write(g_sigpipe[1], "s", 1);
        (void)w; /* a full pipe already guarantees a wakeup */
    }
    errno = saved;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* Close with RST instead of FIN: what a peer sees when a lossy link drops the session. */
static void close_abort(int fd)
{
    if (fd < 0)
        return;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* ---- connections ---------------------------------------------------------------------------- */

static void conn_finish(struct proxy_conn *c, const char *reason, bool abortive)
{
    if (c->dead)
        return;
    for (int k = 0; k < 2; k++) {
        if (abortive)
            close_abort(c->fd[k]);
        else if (c->fd[k] >= 0)
            close(c->fd[k]);
        c->fd[k] = -1;
    }
    c->dead = true;
    plog("conn %lu close reason=%s up=%llu down=%llu age_ms=%llu", c->id, reason,
         (unsigned long long)c->d[0].out_total, (unsigned long long)c->d[1].out_total,
         (unsigned long long)(now_ms() - c->opened_ms));
}

static void conn_free(struct proxy_conn *c)
{
    free(c->d[0].buf);
    free(c->d[1].buf);
    free(c);
}

static void conn_open(int cfd, const struct sockaddr_in *from, uint64_t now)
{
    char addr[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &from->sin_addr, addr, sizeof addr);
    if (g_faults.partition) {
        g_stats.refused++;
        plog("refused %s:%u (partition)", addr, (unsigned)ntohs(from->sin_port));
        close_abort(cfd);
        return;
    }
    if (g_n_conns == g_cap_conns) {
        size_t ncap = g_cap_conns ? g_cap_conns * 2 : 64;
        struct proxy_conn **n = realloc(g_conns, ncap * sizeof *n);
        if (!n) {
            plog("out of memory; refusing %s", addr);
            close_abort(cfd);
            return;
        }
        g_conns = n;
        g_cap_conns = ncap;
    }
    struct proxy_conn *c = calloc(1, sizeof *c);
    int ufd = socket(AF_INET, SOCK_STREAM, 0);
    if (!c || ufd < 0 || set_nonblock(ufd) < 0) {
        plog("cannot open upstream socket: %s", strerror(errno));
        free(c);
        if (ufd >= 0)
            close(ufd);
        close_abort(cfd);
        g_stats.connect_failed++;
        return;
    }
    int one = 1;
    (void)setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->id = g_next_id++;
    c->fd[0] = cfd;
    c->fd[1] = ufd;
    c->opened_ms = now;
    c->d[0].tok_ms = c->d[1].tok_ms = now;
    snprintf(c->peer, sizeof c->peer, "%s:%u", addr, (unsigned)ntohs(from->sin_port));
    if (connect(ufd, (const struct sockaddr *)&g_target, sizeof g_target) == 0) {
        c->connecting = false;
    } else if (errno == EINPROGRESS) {
        c->connecting = true;
    } else {
        plog("conn from %s: connect to target failed: %s", c->peer, strerror(errno));
        g_stats.connect_failed++;
        close(ufd);
        close_abort(cfd);
        free(c);
        return;
    }
    g_conns[g_n_conns++] = c;
    g_stats.accepted++;
    plog("conn %lu open from %s", c->id, c->peer);
}

/* Make room for `want` more bytes after the pending ones (want <= PROXY_BUF_MAX - len). */
static bool dir_reserve(struct proxy_dir *d, size_t want)
{
    if (d->head > 0 && d->head + d->len + want > d->cap) {
        memmove(d->buf, d->buf + d->head, d->len);
        d->head = 0;
    }
    if (d->len + want <= d->cap)
        return true;
    size_t ncap = d->cap ? d->cap : PROXY_BUF_INIT;
    while (ncap < d->len + want)
        ncap *= 2;
    if (ncap > PROXY_BUF_MAX)
        ncap = PROXY_BUF_MAX;
    uint8_t *n = realloc(d->buf, ncap);
    if (!n)
        return false;
    d->buf = n;
    d->cap = ncap;
    return true;
}

static bool dir_can_read(const struct proxy_dir *d)
{
    return !d->eof && d->len < PROXY_BUF_MAX && d->mcount < PROXY_MARKS;
}

/* Delivery time of a new chunk: now + delay +- jitter, never before the previous chunk (order). */
static void dir_mark(struct proxy_dir *d, uint64_t now)
{
    int64_t delay = (int64_t)g_faults.delay_ms;
    if (g_faults.jitter_ms > 0) {
        uint64_t span = 2u * (uint64_t)g_faults.jitter_ms + 1u;
        delay += (int64_t)(rng_next() % span) - (int64_t)g_faults.jitter_ms;
    }
    uint64_t at = now + (uint64_t)(delay < 0 ? 0 : delay);
    if (d->mcount > 0) {
        struct proxy_mark *last = &d->marks[(d->mhead + d->mcount - 1) % PROXY_MARKS];
        if (at <= last->at_ms) {
            last->end = d->in_total; /* same or earlier time: merge, keeps order */
            return;
        }
    }
    d->marks[(d->mhead + d->mcount) % PROXY_MARKS] = (struct proxy_mark){d->in_total, at};
    d->mcount++;
}

/* Bytes of `d` that may be written at `now` (delay and rate applied). Sets *wake_ms to when
 * more becomes sendable (0 = nothing pending). */
static size_t dir_sendable(struct proxy_dir *d, uint64_t now, uint64_t *wake_ms)
{
    *wake_ms = 0;
    while (d->mcount > 0 && d->marks[d->mhead].end <= d->out_total) {
        d->mhead = (d->mhead + 1) % PROXY_MARKS;
        d->mcount--;
    }
    uint64_t limit = d->out_total;
    for (unsigned i = 0; i < d->mcount; i++) {
        const struct proxy_mark *m = &d->marks[(d->mhead + i) % PROXY_MARKS];
        if (m->at_ms > now) {
            *wake_ms = m->at_ms;
            break;
        }
        limit = m->end;
    }
    size_t n = (size_t)(limit - d->out_total);
    if (n == 0 || g_faults.rate == 0)
        return n;
    double burst = (double)g_faults.rate / 20.0;
    if (burst < 1460.0)
        burst = 1460.0;
    d->tokens += (double)(now - d->tok_ms) * (double)g_faults.rate / 1000.0;
    d->tok_ms = now;
    if (d->tokens > burst)
        d->tokens = burst;
    if (d->tokens < 1.0) {
        uint64_t wait = (uint64_t)((1.0 - d->tokens) * 1000.0 / (double)g_faults.rate) + 1u;
        if (*wake_ms == 0 || now + wait < *wake_ms)
            *wake_ms = now + wait;
        return 0;
    }
    if ((double)n > d->tokens)
        n = (size_t)d->tokens;
    return n;
}

/* Read one chunk from fd[k] into d[k]. Returns false when the connection was closed. */
static bool conn_read(struct proxy_conn *c, int k, uint64_t now)
{
    struct proxy_dir *d = &c->d[k];
    if (!dir_can_read(d))
        return true;
    size_t want = PROXY_BUF_MAX - d->len;
    if (want > PROXY_READ_MAX)
        want = PROXY_READ_MAX;
    if (!dir_reserve(d, want)) {
        conn_finish(c, "out-of-memory", true);
        g_stats.aborted++;
        return false;
    }
    ssize_t n = recv(c->fd[k], d->buf + d->head + d->len, want, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return true;
        char why[64];
        snprintf(why, sizeof why, "%s-error(%s)", k == 0 ? "client" : "target", strerror(errno));
        conn_finish(c, why, true);
        g_stats.aborted++;
        return false;
    }
    if (n == 0) {
        d->eof = true;
        plog("conn %lu %s sent EOF", c->id, k == 0 ? "client" : "target");
        return true;
    }
    if (g_faults.cut_prob > 0.0 && rng_unit() < g_faults.cut_prob) {
        g_stats.cuts++;
        plog("conn %lu fault: cut after %zd-byte chunk from %s", c->id, n,
             k == 0 ? "client" : "target");
        conn_finish(c, "cut", true);
        return false;
    }
    d->len += (size_t)n;
    d->in_total += (uint64_t)n;
    dir_mark(d, now);
    return true;
}

/* Write what is due in both directions, forward EOFs, close finished connections.
 * Returns the earliest time this connection needs attention again (0 = none) and sets the
 * POLLOUT wishes in want_out[]. */
static uint64_t conn_pump(struct proxy_conn *c, uint64_t now, bool want_out[2])
{
    uint64_t wake = 0;
    want_out[0] = want_out[1] = false;
    if (c->connecting) {
        if (now - c->opened_ms >= PROXY_CONNECT_TIMEOUT_MS) {
            g_stats.connect_failed++;
            conn_finish(c, "connect-timeout", true);
            return 0;
        }
        wake = c->opened_ms + PROXY_CONNECT_TIMEOUT_MS;
    }
    for (int k = 0; k < 2 && !c->dead; k++) {
        struct proxy_dir *d = &c->d[k];
        int dst = c->fd[1 - k];
        if (k == 0 && c->connecting)
            continue;
        for (int guard = 0; guard < 64 && d->len > 0; guard++) {
            uint64_t w;
            size_t n = dir_sendable(d, now, &w);
            if (n == 0) {
                if (w && (!wake || w < wake))
                    wake = w;
                break;
            }
            ssize_t s = send(dst, d->buf + d->head, n, MSG_NOSIGNAL);
            if (s < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                    want_out[1 - k] = true;
                    break;
                }
                char why[64];
                snprintf(why, sizeof why, "%s-error(%s)", k == 0 ? "target" : "client",
                         strerror(errno));
                conn_finish(c, why, true);
                g_stats.aborted++;
                return 0;
            }
            d->head += (size_t)s;
            d->len -= (size_t)s;
            d->out_total += (uint64_t)s;
            if (g_faults.rate)
                d->tokens -= (double)s;
            if (k == 0)
                g_stats.bytes_up += (uint64_t)s;
            else
                g_stats.bytes_down += (uint64_t)s;
            if (d->len == 0)
                d->head = 0;
        }
        if (d->len == 0 && d->eof && !d->shut) {
            (void)shutdown(dst, SHUT_WR);
            d->shut = true;
        }
    }
    if (!c->dead && c->d[0].shut && c->d[1].shut) {
        conn_finish(c, "eof", false);
        g_stats.closed++;
    }
    return wake;
}

static void conn_connected(struct proxy_conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == EINPROGRESS || err == EALREADY)
        return;
    if (err != 0) {
        char why[80];
        snprintf(why, sizeof why, "connect-failed(%s)", strerror(err));
        g_stats.connect_failed++;
        conn_finish(c, why, true);
        return;
    }
    c->connecting = false;
}

static void conns_sweep(void)
{
    size_t j = 0;
    for (size_t i = 0; i < g_n_conns; i++) {
        if (g_conns[i]->dead)
            conn_free(g_conns[i]);
        else
            g_conns[j++] = g_conns[i];
    }
    g_n_conns = j;
}

static void set_partition(bool on)
{
    if (on == g_faults.partition)
        return;
    g_faults.partition = on;
    if (!on) {
        plog("fault: partition healed");
        return;
    }
    unsigned long n = 0;
    for (size_t i = 0; i < g_n_conns; i++) {
        if (!g_conns[i]->dead) {
            conn_finish(g_conns[i], "partition", true);
            n++;
        }
    }
    g_stats.partition_drops += n;
    conns_sweep();
    plog("fault: partition on, dropped %lu connections; new ones are closed at once", n);
}

/* ---- configuration -------------------------------------------------------------------------- */

static bool parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_prob(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0.0 && v <= 1.0))
        return false;
    *out = v;
    return true;
}

/* Accepts key=value lines: delay_ms, jitter_ms, rate, cut_prob, partition; '#' comments. */
static void control_reload(void)
{
    FILE *f = fopen(g_control_path, "r");
    if (!f) {
        plog("control file %s: %s", g_control_path, strerror(errno));
        return;
    }
    char line[256];
    bool part = g_faults.partition;
    for (int lineno = 1; lineno <= 1000 && fgets(line, sizeof line, f); lineno++) {
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        p[strcspn(p, "\r\n#")] = '\0';
        size_t l = strlen(p);
        while (l > 0 && (p[l - 1] == ' ' || p[l - 1] == '\t'))
            p[--l] = '\0';
        if (!*p)
            continue;
        char *eq = strchr(p, '=');
        unsigned long v;
        double prob;
        if (!eq) {
            plog("control %s:%d: expected key=value", g_control_path, lineno);
            continue;
        }
        *eq = '\0';
        const char *key = p, *val = eq + 1;
        if (!strcmp(key, "delay_ms") && parse_ulong(val, 3600000, &v))
            g_faults.delay_ms = (unsigned)v;
        else if (!strcmp(key, "jitter_ms") && parse_ulong(val, 3600000, &v))
            g_faults.jitter_ms = (unsigned)v;
        else if (!strcmp(key, "rate") && parse_ulong(val, RATE_MAX, &v))
            g_faults.rate = v;
        else if (!strcmp(key, "cut_prob") && parse_prob(val, &prob))
            g_faults.cut_prob = prob;
        else if (!strcmp(key, "partition") && parse_ulong(val, 1, &v))
            part = v == 1;
        else
            plog("control %s:%d: ignored '%s=%s'", g_control_path, lineno, key, val);
    }
    fclose(f);
    plog("fault: control reloaded delay_ms=%u jitter_ms=%u rate=%lu cut_prob=%g partition=%d",
         g_faults.delay_ms, g_faults.jitter_ms, g_faults.rate, g_faults.cut_prob, part ? 1 : 0);
    set_partition(part);
}

/* Only loopback and private / link-local addresses (network namespaces): never a public host. */
static bool target_allowed(const struct in_addr *a)
{
    uint32_t h = ntohl(a->s_addr);
    return (h >> 24) == 127 || (h >> 24) == 10 || (h >> 20) == 0xAC1 /* 172.16/12 */ ||
           (h >> 16) == 0xC0A8 /* 192.168/16 */ || (h >> 16) == 0xA9FE /* 169.254/16 */;
}

static bool parse_target(const char *s)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    unsigned long port;
    if (!colon || (size_t)(colon - s) >= sizeof host || !parse_ulong(colon + 1, 65535, &port) ||
        port == 0)
        return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(&g_target, 0, sizeof g_target);
    g_target.sin_family = AF_INET;
    g_target.sin_port = htons((uint16_t)port);
    if (!strcmp(host, "localhost"))
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &g_target.sin_addr) != 1 || !target_allowed(&g_target.sin_addr)) {
        fprintf(stderr, "fault-proxy: target host must be an IPv4 loopback or private address\n");
        return false;
    }
    return true;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: iot-fault-proxy --listen PORT --target HOST:PORT [--delay-ms N] [--jitter-ms N]\n"
            "         [--rate BYTES_PER_S] [--cut-prob P] [--seed S] [--control FILE] [--pidfile F]\n"
            "  Listens on 127.0.0.1:PORT (0 = any free port); prints 'port N' on stdout first.\n"
            "  SIGUSR1 = partition (drop all connections, close new ones at once), SIGUSR2 = heal,\n"
            "  SIGHUP = re-read FILE (delay_ms= jitter_ms= rate= cut_prob= partition=0|1).\n");
}

static int parse_args(int argc, char **argv, unsigned *listen_port, const char **pidfile)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},   {"target", required_argument, NULL, 't'},
        {"delay-ms", required_argument, NULL, 'd'}, {"jitter-ms", required_argument, NULL, 'j'},
        {"rate", required_argument, NULL, 'r'},     {"cut-prob", required_argument, NULL, 'c'},
        {"seed", required_argument, NULL, 's'},     {"control", required_argument, NULL, 'C'},
        {"pidfile", required_argument, NULL, 'p'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    bool have_listen = false, have_target = false;
    unsigned long v;
    int o;
    g_rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ull;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        bool ok = true;
        switch (o) {
        case 'l':
            ok = parse_ulong(optarg, 65535, &v);
            *listen_port = (unsigned)v;
            have_listen = ok;
            break;
        case 't':
            ok = have_target = parse_target(optarg);
            break;
        case 'd':
            ok = parse_ulong(optarg, 3600000, &v);
            g_faults.delay_ms = (unsigned)v;
            break;
        case 'j':
            ok = parse_ulong(optarg, 3600000, &v);
            g_faults.jitter_ms = (unsigned)v;
            break;
        case 'r':
            ok = parse_ulong(optarg, RATE_MAX, &g_faults.rate);
            break;
        case 'c':
            ok = parse_prob(optarg, &g_faults.cut_prob);
            break;
        case 's':
            ok = parse_ulong(optarg, ULONG_MAX - 1, &v);
            g_rng = (uint64_t)v * 0x9E3779B97F4A7C15ull + 1u;
            break;
        case 'C':
            g_control_path = optarg;
            break;
        case 'p':
            *pidfile = optarg;
            break;
        default:
            ok = false;
        }
        if (!ok) {
            if (o != 'h' && optind > 0 && optind <= argc)
                fprintf(stderr, "fault-proxy: bad option value near '%s'\n", argv[optind - 1]);
            usage();
            return -1;
        }
    }
    if (!have_listen || !have_target || optind != argc) {
        usage();
        return -1;
    }
    if (g_rng == 0)
        g_rng = 1;
    return 0;
}

/* ---- main loop ------------------------------------------------------------------------------ */

static int listen_on(unsigned port, unsigned *bound)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1024) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0 || set_nonblock(fd) != 0) {
        plog("listen on 127.0.0.1:%u: %s", port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *bound = ntohs(a.sin_port);
    return fd;
}

static void accept_some(int lfd, uint64_t now, uint64_t *pause_until)
{
    for (int i = 0; i < 128; i++) {
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        int cfd = accept(lfd, (struct sockaddr *)&from, &len);
        if (cfd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                plog("accept: %s; pausing accepts for 100 ms", strerror(errno));
                *pause_until = now + 100;
            }
            return;
        }
        if (set_nonblock(cfd) != 0) {
            close(cfd);
            continue;
        }
        conn_open(cfd, &from, now);
    }
}

static void handle_signals(void)
{
    char junk[64];
    while (read(g_sigpipe[0], junk, sizeof junk) > 0) {
    }
    if (g_sig_part) {
        g_sig_part = 0;
        plog("SIGUSR1: partition");
        set_partition(true);
    }
    if (g_sig_heal) {
        g_sig_heal = 0;
        plog("SIGUSR2: heal");
        set_partition(false);
    }
    if (g_sig_hup) {
        g_sig_hup = 0;
        if (g_control_path)
            control_reload();
        else
            plog("SIGHUP without --control: ignored");
    }
}

static int run(int lfd)
{
    struct pollfd *pfds = NULL;
    struct proxy_conn **owner = NULL;
    size_t cap = 0;
    uint64_t pause_until = 0;
    int rc = 0;
    while (!g_sig_stop) {
        handle_signals();
        uint64_t now = now_ms(), wake = 0;
        size_t need = 2 + 2 * g_n_conns;
        if (need > cap) {
            size_t ncap = need * 2;
            struct pollfd *np = realloc(pfds, ncap * sizeof *np);
            if (np)
                pfds = np;
            struct proxy_conn **no = realloc(owner, ncap * sizeof *no);
            if (no)
                owner = no;
            if (!np || !no) {
                plog("out of memory for %zu poll entries", ncap);
                rc = 1;
                break;
            }
            cap = ncap;
        }
        size_t n = 0;
        pfds[n++] = (struct pollfd){.fd = g_sigpipe[0], .events = POLLIN};
        pfds[n++] = (struct pollfd){.fd = now >= pause_until ? lfd : -1, .events = POLLIN};
        if (now < pause_until)
            wake = pause_until;
        for (size_t i = 0; i < g_n_conns; i++) {
            struct proxy_conn *c = g_conns[i];
            bool want_out[2];
            uint64_t w = conn_pump(c, now, want_out);
            if (c->dead)
                continue;
            if (w && (!wake || w < wake))
                wake = w;
            for (int k = 0; k < 2; k++) {
                short ev = 0;
                if (dir_can_read(&c->d[k]) && !(k == 1 && c->connecting))
                    ev |= POLLIN;
                if (want_out[k] || (k == 1 && c->connecting))
                    ev |= POLLOUT;
                /* fd -1 when nothing is wanted: no busy loop on POLLHUP under backpressure */
                pfds[n] = (struct pollfd){.fd = ev ? c->fd[k] : -1, .events = ev};
                owner[n++] = c;
            }
        }
        conns_sweep();
        int timeout = PROXY_POLL_MAX_MS;
        if (wake)
            timeout = wake <= now ? 0 : (wake - now < PROXY_POLL_MAX_MS ? (int)(wake - now)
                                                                        : PROXY_POLL_MAX_MS);
        int pr = poll(pfds, (nfds_t)n, timeout);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            plog("poll: %s", strerror(errno));
            rc = 1;
            break;
        }
        now = now_ms();
        /* connections first, then accept: new connections are pumped on the next turn */
        for (size_t i = 2; i < n && pr > 0; i++) {
            struct proxy_conn *c = owner[i];
            if (!pfds[i].revents || c->dead)
                continue;
            int k = pfds[i].fd == c->fd[0] ? 0 : 1;
            if (k == 1 && c->connecting)
                conn_connected(c);
            if (!c->dead && !(k == 1 && c->connecting) && (pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                (void)conn_read(c, k, now);
        }
        if (pfds[1].fd >= 0 && (pfds[1].revents & POLLIN))
            accept_some(lfd, now, &pause_until);
    }
    for (size_t i = 0; i < g_n_conns; i++) {
        conn_finish(g_conns[i], "proxy-exit", true);
        conn_free(g_conns[i]);
    }
    g_n_conns = 0;
    free(g_conns);
    g_conns = NULL;
    free(pfds);
    free(owner);
    return rc;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        plog("setrlimit(NOFILE): %s", strerror(errno));
    else if (rl.rlim_cur != RLIM_INFINITY)
        plog("fd limit %llu", (unsigned long long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
    unsigned listen_port = 0, bound = 0;
    const char *pidfile = NULL;
    if (parse_args(argc, argv, &listen_port, &pidfile) != 0)
        return 2;
    raise_nofile();
    if (pipe(g_sigpipe) != 0 || set_nonblock(g_sigpipe[0]) != 0 || set_nonblock(g_sigpipe[1]) != 0) {
        plog("pipe: %s", strerror(errno));
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    const int sigs[] = {SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = listen_on(listen_port, &bound);
    if (lfd < 0)
        return 1;
    if (g_control_path)
        control_reload();
    if (pidfile) {
        FILE *pf = fopen(pidfile, "w");
        if (!pf || fprintf(pf, "%ld\n", (long)getpid()) < 0 || fclose(pf) != 0) {
            plog("pidfile %s: %s", pidfile, strerror(errno));
            close(lfd);
            return 1;
        }
    }
    char tgt[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &g_target.sin_addr, tgt, sizeof tgt);
    printf("port %u\n", bound);
    fflush(stdout);
    plog("listening on 127.0.0.1:%u -> %s:%u delay_ms=%u jitter_ms=%u rate=%lu cut_prob=%g",
         bound, tgt, (unsigned)ntohs(g_target.sin_port), g_faults.delay_ms, g_faults.jitter_ms,
         g_faults.rate, g_faults.cut_prob);

    int rc = run(lfd);
    close(lfd);
    if (pidfile)
        unlink(pidfile);
    plog("exit: connections=%lu refused=%lu closed=%lu aborted=%lu connect_failed=%lu cuts=%lu "
         "partition_drops=%lu bytes_up=%llu bytes_down=%llu",
         g_stats.accepted, g_stats.refused, g_stats.closed, g_stats.aborted,
         g_stats.connect_failed, g_stats.cuts, g_stats.partition_drops,
         (unsigned long long)g_stats.bytes_up, (unsigned long long)g_stats.bytes_down);
    close(g_sigpipe[0]);
    close(g_sigpipe[1]);
    return rc;
}
