/* SPDX-License-Identifier: Apache-2.0 */
/* Test support: print a free TCP port on 127.0.0.1 for a test server (Mosquitto has no "port 0").
 * Never linked into products.
 *
 * Why not just bind to port 0 and print what the kernel gave: that port is closed again before the
 * test's server binds it (seconds later: a PKI is made first), and in that window it is fair game
 * for everyone on the machine. It lies in the ephemeral range, so any outgoing connection (curl, an
 * agent, another engineer's build) may take it as its local port, and the kernel may hand the same
 * port to another test's bind(0) (or to this test's next call: MQTT and HTTP got the same port).
 * Under `ctest -j2` with other suites running, that showed up as a server that never came up.
 *
 * So the port comes from below the ephemeral range (net.ipv4.ip_local_port_range), which the
 * kernel never hands out by itself, and it is reserved among all test runs on this machine: a file
 * /tmp/iot-ports/PORT created with O_EXCL. A reservation lasts PORT_TTL_S (longer than any test's
 * CTest timeout); expired ones are taken over and swept. A port is printed only if a bind without
 * SO_REUSEADDR succeeds (nothing listens, no TIME_WAIT). Without a usable band or directory it
 * falls back to the kernel's choice. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PORT_DIR "/tmp/iot-ports"
#define PORT_TTL_S (20 * 60)
#define PORT_BAND_MIN 20000u  /* ports below are left to well-known services */
#define PORT_BAND_MIN_SIZE 1000u
#define PORT_TRIES 400u
#define PORT_SWEEP_MAX 64u    /* expired reservations removed per call */

/* Bind 127.0.0.1:port (0: the kernel chooses) without SO_REUSEADDR; the bound port in *out. */
static bool probe_bind(unsigned port, unsigned *out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    socklen_t len = sizeof a;
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &len) == 0;
    close(fd);
    if (ok)
        *out = ntohs(a.sin_port);
    return ok;
}

/* The band [*lo, *hi] outside the kernel's ephemeral range; false if there is none big enough. */
static bool port_band(unsigned *lo, unsigned *hi)
{
    unsigned elo = 32768, ehi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%u %u", &elo, &ehi) != 2)
            elo = 32768, ehi = 60999;
        fclose(f);
    }
    if (elo > PORT_BAND_MIN && elo - PORT_BAND_MIN >= PORT_BAND_MIN_SIZE) {
        *lo = PORT_BAND_MIN;
        *hi = elo - 1;
        return true;
    }
    if (ehi < 65535u && 65535u - ehi >= PORT_BAND_MIN_SIZE) {
        *lo = ehi + 1;
        *hi = 65535u;
        return true;
    }
    return false;
}

static bool expired(const char *path, time_t now)
{
    struct stat st;
    return stat(path, &st) == 0 && now - st.st_mtime > PORT_TTL_S;
}

/* Remove a few reservations older than the TTL, so the directory does not fill up. */
static void sweep(time_t now)
{
    DIR *d = opendir(PORT_DIR);
    if (!d)
        return;
    unsigned removed = 0;
    struct dirent *e;
    char path[sizeof PORT_DIR + 300];
    while (removed < PORT_SWEEP_MAX && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "%s/%s", PORT_DIR, e->d_name);
        if (expired(path, now) && unlink(path) == 0)
            removed++;
    }
    closedir(d);
}

/* Reserve port: create PORT_DIR/port exclusively (taking over an expired reservation). */
static bool reserve(unsigned port, time_t now)
{
    char path[sizeof PORT_DIR + 16];
    snprintf(path, sizeof path, "%s/%u", PORT_DIR, port);
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
        if (fd >= 0) {
            char note[64];
            int n = snprintf(note, sizeof note, "%ld %ld\n", (long)getppid(), (long)now);
            /* the reservation is the file itself; its content is only a note for a human */
            if (n > 0) {
                ssize_t w = write(fd, note, (size_t)n);
                (void)w;
            }
            close(fd);
            return true;
        }
        if (errno != EEXIST || !expired(path, now))
            return false;
        unlink(path); /* expired: whoever held it is long done; another caller may race us here */
    }
    return false;
}

static void release(unsigned port)
{
    char path[sizeof PORT_DIR + 16];
    snprintf(path, sizeof path, "%s/%u", PORT_DIR, port);
    unlink(path);
}

int main(void)
{
    unsigned lo, hi, port = 0;
    time_t now = time(NULL);
    bool dir_ok = true;
    if (mkdir(PORT_DIR, 01777) == 0)
        (void)chmod(PORT_DIR, 01777); /* shared by every user's test runs; umask narrowed it */
    else if (errno != EEXIST)
        dir_ok = false;
    if (dir_ok && port_band(&lo, &hi)) {
        sweep(now);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned span = hi - lo + 1;
        unsigned seed = (unsigned)getpid() * 2654435761u ^ (unsigned)ts.tv_nsec;
        unsigned start = seed % span;
        for (unsigned i = 0; i < PORT_TRIES; i++) {
            /* a prime stride: distinct ports unless the band size is a multiple of 7919 */
            unsigned p = lo + (start + i * 7919u) % span, bound = 0;
            if (!reserve(p, now))
                continue;
            if (probe_bind(p, &bound)) {
                port = bound;
                break;
            }
            release(p);
        }
    }
    if (port == 0 && !probe_bind(0, &port)) {
        perror("bind");
        return 1;
    }
    printf("%u\n", port);
    return 0;
}
