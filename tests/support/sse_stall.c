/* SPDX-License-Identifier: Apache-2.0 */
/* Test support: an event-stream client that stops reading. Never linked into products.
 *   iot-sse-stall --port P --token T [--path /v1/events] [--rcvbuf BYTES] [--max-s N] [--out FILE]
 * Connects to 127.0.0.1:P with a small receive buffer (set before connect, so the advertised window
 * stays small), sends GET PATH with the bearer token, reads the response head (must be 200), then
 * reads nothing more and waits (without consuming) until the server resets or closes the
 * connection, at most --max-s seconds. Then it drains what the kernel still holds (to FILE) and
 * prints one line: "closed <how> after <s> s, head+body <bytes> bytes" and exits 0; exits 1 when
 * the connection is still open at --max-s, 2 on usage or connection errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_to(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) != 0) {
        close(fd);
        return -1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Read until the end of the response head (at most cap - 1 bytes); 0 when the status is 200. */
static int read_head(int fd, char *buf, size_t cap, size_t *got)
{
    size_t n = 0;
    double deadline = now_s() + 10;
    while (n + 1 < cap && now_s() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 500) <= 0)
            continue;
        ssize_t r = recv(fd, buf + n, 1, 0); /* one byte at a time: stop right after the head */
        if (r <= 0)
            return -1;
        n++;
        buf[n] = 0;
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    *got = n;
    return strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *port_s = arg(argc, argv, "--port", NULL), *token = arg(argc, argv, "--token", NULL);
    const char *path = arg(argc, argv, "--path", "/v1/events");
    const char *out_path = arg(argc, argv, "--out", NULL);
    int rcvbuf = atoi(arg(argc, argv, "--rcvbuf", "4096"));
    int max_s = atoi(arg(argc, argv, "--max-s", "60"));
    if (!port_s || !token || strlen(token) > 256 || strlen(path) > 256 || max_s <= 0) {
        fprintf(stderr, "usage: iot-sse-stall --port P --token T [--path /v1/events] "
                        "[--rcvbuf BYTES] [--max-s N] [--out FILE]\n");
        return 2;
    }
    int fd = connect_to(atoi(port_s), rcvbuf);
    if (fd < 0) {
        perror("iot-sse-stall: connect");
        return 2;
    }
    char req[768];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                     "Authorization: Bearer %s\r\n\r\n",
                     path, token);
    if (n <= 0 || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        perror("iot-sse-stall: send");
        return 2;
    }
    char head[2048];
    size_t total = 0;
    if (read_head(fd, head, sizeof head, &total) != 0) {
        fprintf(stderr, "iot-sse-stall: no 200 response: %.200s\n", head);
        return 2;
    }
    printf("stalling\n");
    fflush(stdout);
    /* Wait without reading. A reset shows as POLLERR / POLLHUP at once; a FIN queued behind data
     * our full window refuses never arrives, so a server that only closes is seen at --max-s. */
    double t0 = now_s(), deadline = t0 + max_s;
    const char *how = NULL;
    while (!how && now_s() < deadline) {
        struct pollfd p = {.fd = fd, .events = 0};
        int r = poll(&p, 1, 200);
        if (r > 0 && (p.revents & POLLERR))
            how = "reset";
        else if (r > 0 && (p.revents & POLLHUP))
            how = "closed";
    }
    if (!how) {
        printf("still open after %d s\n", max_s);
        return 1;
    }
    double at = now_s() - t0;
    FILE *out = out_path ? fopen(out_path, "wb") : NULL;
    char buf[16384];
    for (int i = 0; i < 100000; i++) {
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r <= 0)
            break;
        total += (size_t)r;
        if (out)
            fwrite(buf, 1, (size_t)r, out);
    }
    if (out)
        fclose(out);
    close(fd);
    printf("closed %s after %.1f s, head+body %zu bytes\n", how, at, total);
    return 0;
}
