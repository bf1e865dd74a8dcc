/* SPDX-License-Identifier: Apache-2.0 */
/* Test support: an HTTP receiver for webhook tests (libmicrohttpd). Every request is recorded as
 * DIR/req-N.head (request line, then headers) and DIR/req-N.body, and answered with the next
 * status of a configurable sequence (the last one repeats), so retries can be provoked.
 * Never linked into products.
 *
 *   iot-webhook-sink --dir DIR --port-file FILE [--statuses 503,503,200]
 *
 * It listens on 127.0.0.1 on a free port, writes the port to FILE, and runs until SIGTERM. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_STATUSES 32
#define MAX_BODY (1024 * 1024)

static const char *dir;
static unsigned statuses[MAX_STATUSES];
static int n_statuses;
static int n_requests;
static volatile sig_atomic_t stop;

struct req {
    char *body;
    size_t len;
};

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static enum MHD_Result write_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    fprintf(cls, "%s: %s\n", key, value ? value : "");
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        *con_cls = r;
        return MHD_YES;
    }
    if (*size) {
        if (r->len + *size <= MAX_BODY) {
            r->body = realloc(r->body, r->len + *size + 1);
            memcpy(r->body + r->len, data, *size);
            r->len += *size;
        }
        *size = 0;
        return MHD_YES;
    }
    int n = ++n_requests; /* one polling thread: no race */
    unsigned status = statuses[n - 1 < n_statuses ? n - 1 : n_statuses - 1];
    char path[4096];
    snprintf(path, sizeof path, "%s/req-%d.head", dir, n);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "%s %s\n", method, url);
        MHD_get_connection_values(conn, MHD_HEADER_KIND, write_header, f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/req-%d.body", dir, n);
    f = fopen(path, "w");
    if (f) {
        if (r->len)
            fwrite(r->body, 1, r->len, f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/requests.log", dir);
    f = fopen(path, "a");
    if (f) {
        fprintf(f, "%d %u\n", n, status);
        fclose(f);
    }
    static char text[] = "recorded\n";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(sizeof text - 1, text, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct req *r = *con_cls;
    if (r) {
        free(r->body);
        free(r);
    }
    *con_cls = NULL;
}

int main(int argc, char **argv)
{
    const char *port_file = NULL, *seq = "200";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--dir") == 0)
            dir = argv[i + 1];
        else if (strcmp(argv[i], "--port-file") == 0)
            port_file = argv[i + 1];
        else if (strcmp(argv[i], "--statuses") == 0)
            seq = argv[i + 1];
    }
    if (!dir || !port_file) {
        fprintf(stderr, "usage: iot-webhook-sink --dir DIR --port-file FILE [--statuses LIST]\n");
        return 2;
    }
    for (const char *p = seq; *p && n_statuses < MAX_STATUSES;) {
        statuses[n_statuses++] = (unsigned)strtoul(p, NULL, 10);
        p += strcspn(p, ",");
        if (*p == ',')
            p++;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "iot-webhook-sink: cannot listen\n");
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    FILE *f = fopen(port_file, "w");
    if (!f || !info) {
        MHD_stop_daemon(d);
        return 1;
    }
    fprintf(f, "%u\n", (unsigned)info->port);
    fclose(f);
    while (!stop)
        usleep(50 * 1000);
    MHD_stop_daemon(d);
    return 0;
}
