/* SPDX-License-Identifier: Apache-2.0 */
/* plat_net.h: find our sockets by their peer address through /proc/self/fd. */
#include "iot/plat_net.h"

#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "iot/mem.h"

static bool same_peer(const struct sockaddr_storage *peer, const struct addrinfo *list)
{
    for (const struct addrinfo *a = list; a; a = a->ai_next) {
        if (a->ai_family != peer->ss_family)
            continue;
        if (a->ai_family == AF_INET) {
            const struct sockaddr_in *x = (const struct sockaddr_in *)(const void *)peer;
            const struct sockaddr_in *y = (const struct sockaddr_in *)(const void *)a->ai_addr;
            if (x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr)
                return true;
        } else if (a->ai_family == AF_INET6) {
            const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)(const void *)peer;
            const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)(const void *)a->ai_addr;
            if (x->sin6_port == y->sin6_port &&
                memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0)
                return true;
        }
    }
    return false;
}

static int cmp_desc(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x < y) - (x > y);
}

unsigned plat_tcp_nodelay_to(const char *host, unsigned port, unsigned limit)
{
    if (!host || !*host || port == 0 || port > 65535)
        return 0;
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    struct addrinfo *list = NULL;
    if (getaddrinfo(host, service, &hints, &list) != 0)
        return 0;
    /* The descriptor numbers first (getdents is cheap), then the sockets highest first. */
    int *fds = NULL;
    size_t n_fds = 0, cap = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name || fd < 0 || fd == dirfd(d))
            continue;
        if (n_fds == cap) {
            size_t nc = cap ? cap * 2 : 64;
            int *nf = iot_realloc(fds, nc * sizeof *nf);
            if (!nf)
                break;
            fds = nf;
            cap = nc;
        }
        fds[n_fds++] = (int)fd;
    }
    if (d)
        closedir(d);
    if (n_fds)
        qsort(fds, n_fds, sizeof *fds, cmp_desc);
    unsigned n = 0;
    for (size_t i = 0; i < n_fds && (limit == 0 || n < limit); i++) {
        int on = 0;
        socklen_t ol = sizeof on;
        struct sockaddr_storage peer;
        socklen_t pl = sizeof peer;
        /* not a TCP socket (the call fails), or already set: skip before any other syscall */
        if (getsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &on, &ol) != 0 || on ||
            getpeername(fds[i], (struct sockaddr *)&peer, &pl) != 0 || !same_peer(&peer, list))
            continue;
        int one = 1;
        if (setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0)
            n++;
    }
    iot_free(fds);
    freeaddrinfo(list);
    return n;
}
