/* SPDX-License-Identifier: Apache-2.0 */
/* iot-pki command line: init, device, broker-conf. Parses arguments and prints results; the work is
 * in pki.c and broker_conf.c. Exit codes: 0 ok, 1 error, 2 usage. */
#define IOT_LOG_TAG "iot-pki"
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iot/log.h"
#include "pki.h"

enum { EXIT_OK = 0, EXIT_ERR = 1, EXIT_USAGE = 2 };

static const char usage_main[] =
    "Usage: iot-pki COMMAND [ARGS]\n"
    "Make and manage the IoT stack's PKI (mbedTLS, ECDSA P-256) and its Mosquitto configuration.\n"
    "\n"
    "Commands:\n"
    "  init DIR [--port PORT] [--bind ADDR] [--force]\n"
    "                       create a CA, broker, cloud and command-signing keys, ACL, "
    "mosquitto.conf\n"
    "  device DIR ID [ID...] [--force] [--days N] [--not-before-days D]\n"
    "                       issue a client certificate per device id into DIR/devices/\n"
    "  broker-conf DIR --port PORT [--bind ADDR]\n"
    "                       rewrite DIR/mosquitto.conf only\n"
    "\n"
    "`iot-pki COMMAND --help` describes a command. Exit status: 0 ok, 1 error, 2 usage error.\n";

static const char usage_init[] =
    "Usage: iot-pki init DIR [--port PORT] [--bind ADDR] [--force]\n"
    "Create DIR (mode 0700) holding:\n"
    "  ca.crt ca.key             ECDSA P-256 CA, self-signed, 10 years\n"
    "  broker.crt broker.key     broker certificate: CN=localhost, SAN DNS:localhost "
    "IP:127.0.0.1,\n"
    "                            serverAuth, 2 years\n"
    "  cloud.crt cloud.key       cloud client certificate: CN=" PKI_CLOUD_CN
    ", clientAuth, 2 years\n"
    "  cmd-sign.key cmd-sign.pub command-signing key pair (P-256, PEM)\n"
    "  acl mosquitto.conf        Mosquitto ACL and configuration (mutual TLS, no-loss queues)\n"
    "  devices/                  device certificates (see `iot-pki device`)\n"
    "Private keys are written with mode 0600.\n"
    "\n"
    "Options:\n"
    "  --port PORT   listener port in mosquitto.conf (default 8883)\n"
    "  --bind ADDR   listener address in mosquitto.conf (default 127.0.0.1)\n"
    "  --force       replace an existing PKI in DIR (new CA: every old certificate stops working)\n"
    "  -h, --help    this help\n";

static const char usage_device[] =
    "Usage: iot-pki device DIR ID [ID...] [--force] [--days N] [--not-before-days D]\n"
    "Issue DIR/devices/ID.crt and DIR/devices/ID.key for each ID (CN=ID, clientAuth, 5 years), "
    "signed\n"
    "by DIR/ca.key. An ID is 1-64 characters of A-Z a-z 0-9 _ - and must not start with\n"
    "\"" PKI_CLOUD_CN "\" (reserved). A valid existing pair from this CA is kept as it is.\n"
    "\n"
    "Options:\n"
    "  --force       issue a new key and certificate even when a valid pair exists\n"
    "  --days N      validity of the new certificates: N days from their not-before time\n"
    "                (default 5 years); implies --force\n"
    "  --not-before-days D\n"
    "                not-before time D days from now, negative in the past (default: 1 hour\n"
    "                ago); implies --force. For tests: --not-before-days -10 --days 1 is\n"
    "                expired, --not-before-days 30 is not yet valid\n"
    "  -h, --help    this help\n";

static const char usage_broker_conf[] =
    "Usage: iot-pki broker-conf DIR --port PORT [--bind ADDR]\n"
    "Rewrite DIR/mosquitto.conf (only that file) with a listener on ADDR:PORT.\n"
    "\n"
    "Options:\n"
    "  --port PORT   listener port (required)\n"
    "  --bind ADDR   listener address (default 127.0.0.1)\n"
    "  -h, --help    this help\n";

/* Plain "iot-pki: error: ..." lines on stderr: this is a command a person runs. */
static void cli_sink(void *ctx, enum iot_log_level lvl, const char *tag, const char *line)
{
    (void)ctx;
    (void)tag;
    const char *what = lvl <= IOT_LOG_ERROR ? "error: " : lvl == IOT_LOG_WARN ? "warning: " : "";
    fprintf(stderr, "iot-pki: %s%s\n", what, line);
}

/* @p cmd is the subcommand ("" for the tool) whose --help the message points to. */
static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "iot-pki: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry `iot-pki%s%s --help`.\n", cmd[0] ? " " : "", cmd);
    return EXIT_USAGE;
}

static bool parse_port(const char *s, unsigned *out)
{
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (!s[0] || *end || s[0] == '-' || s[0] == '+' || v == 0 || v > 65535)
        return false;
    *out = (unsigned)v;
    return true;
}

struct cli {
    unsigned port;
    bool have_port;
    const char *bind;
    bool force;
    bool have_validity;        /* --days or --not-before-days given */
    long days;                 /* --days (default 5 years) */
    long not_before_days;      /* --not-before-days */
    int first_arg; /* index of the first positional argument in argv */
};

enum { OPT_PORT = 1000, OPT_BIND, OPT_FORCE, OPT_DAYS, OPT_NOT_BEFORE };

/* A decimal integer in [lo, hi]. */
static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (!s[0] || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Parses options anywhere among the positional arguments (GNU getopt permutes them to the end). */
static int parse_opts(int argc, char **argv, const char *usage, bool allow_net, bool allow_force,
                      struct cli *c)
{
    static const struct option opts[] = {{"port", required_argument, NULL, OPT_PORT},
                                         {"bind", required_argument, NULL, OPT_BIND},
                                         {"force", no_argument, NULL, OPT_FORCE},
                                         {"days", required_argument, NULL, OPT_DAYS},
                                         {"not-before-days", required_argument, NULL, OPT_NOT_BEFORE},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    c->port = PKI_DEFAULT_PORT;
    c->bind = PKI_DEFAULT_BIND;
    optind = 1;
    opterr = 0;
    for (int guard = 0; guard < argc + 1; guard++) {
        int o = getopt_long(argc, argv, ":h", opts, NULL);
        if (o == -1)
            break;
        switch (o) {
        case 'h':
            fputs(usage, stdout);
            return EXIT_OK;
        case OPT_PORT:
            if (!allow_net)
                return usage_error(argv[0], "unknown option %s", "--port");
            if (!parse_port(optarg, &c->port))
                return usage_error(argv[0], "bad --port \"%s\": want 1..65535", optarg);
            c->have_port = true;
            break;
        case OPT_BIND:
            if (!allow_net)
                return usage_error(argv[0], "unknown option %s", "--bind");
            c->bind = optarg;
            break;
        case OPT_FORCE:
            if (!allow_force)
                return usage_error(argv[0], "unknown option %s", "--force");
            c->force = true;
            break;
        case OPT_DAYS:
        case OPT_NOT_BEFORE:
            /* Only `device` takes these; it is the only command allowing --force without --port. */
            if (!allow_force || allow_net)
                return usage_error(argv[0], "unknown option %s",
                                   o == OPT_DAYS ? "--days" : "--not-before-days");
            if (o == OPT_DAYS && !parse_long(optarg, 1, 36500, &c->days))
                return usage_error(argv[0], "bad --days \"%s\": want 1..36500", optarg);
            if (o == OPT_NOT_BEFORE && !parse_long(optarg, -36500, 36500, &c->not_before_days))
                return usage_error(argv[0], "bad --not-before-days \"%s\": want -36500..36500",
                                   optarg);
            c->have_validity = true;
            c->force = true;
            break;
        case ':':
            return usage_error(argv[0], "option %s needs a value", argv[optind - 1]);
        default:
            return usage_error(argv[0], "unknown option %s", argv[optind - 1]);
        }
    }
    c->first_arg = optind;
    return -1;
}

static int cmd_init(int argc, char **argv)
{
    struct cli c = {0};
    int r = parse_opts(argc, argv, usage_init, true, true, &c);
    if (r >= 0)
        return r;
    if (argc - c.first_arg != 1)
        return usage_error("init", "%s", "init takes exactly one DIR");
    const char *dir = argv[c.first_arg];
    if (!pki__bind_valid(c.bind))
        return usage_error("init", "bad --bind \"%s\": want an IP address or host name", c.bind);
    struct pki *p = NULL;
    if (pki_create(&p) != IOT_OK)
        return EXIT_ERR;
    struct pki_init_opts o = {.dir = dir, .port = c.port, .bind = c.bind, .force = c.force};
    enum iot_err rc = pki_init_dir(p, &o);
    pki_destroy(p);
    if (rc != IOT_OK)
        return EXIT_ERR; /* the reason is logged where it was found */
    printf("PKI created in %s (broker listener %s:%u)\n"
           "  ca.crt ca.key broker.crt broker.key cloud.crt cloud.key cmd-sign.key cmd-sign.pub\n"
           "  acl mosquitto.conf devices/\n"
           "Next: iot-pki device %s ID...; mosquitto -c %s/" PKI_BROKER_CONF "\n",
           dir, c.bind, c.port, dir, dir);
    return EXIT_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmd_device(int argc, char **argv)
{
    struct cli c = {0};
    int r = parse_opts(argc, argv, usage_device, false, true, &c);
    if (r >= 0)
        return r;
    if (argc - c.first_arg < 2)
        return usage_error("device", "%s", "device needs DIR and at least one ID");
    const char *dir = argv[c.first_arg];
    /* Check every id before issuing any, so a typo in a bulk run changes nothing. */
    for (int i = c.first_arg + 1; i < argc; i++) {
        const char *why = NULL;
        if (pki_device_id_check(argv[i], &why) != IOT_OK) {
            fprintf(stderr, "iot-pki: invalid device id \"%s\": %s\n", argv[i], why);
            return EXIT_USAGE;
        }
    }
    struct pki *p = NULL;
    if (pki_create(&p) != IOT_OK)
        return EXIT_ERR;
    int status = EXIT_OK;
    unsigned issued = 0, kept = 0;
    double t0 = now_s();
    enum iot_err rc = pki_ca_load(p, dir);
    if (rc == IOT_OK && c.have_validity)
        rc = pki_set_validity(p, c.not_before_days ? c.not_before_days * 86400L : -3600L,
                              c.days ? (uint32_t)c.days : 5u * 365u);
    for (int i = c.first_arg + 1; rc == IOT_OK && i < argc; i++) {
        enum pki_issue_result res;
        rc = pki_issue_device(p, dir, argv[i], c.force, &res);
        if (rc == IOT_OK && res == PKI_ISSUED)
            issued++;
        else if (rc == IOT_OK)
            kept++;
    }
    if (issued > 0 && pki_devices_sync(dir) != IOT_OK && rc == IOT_OK)
        rc = IOT_ERR_IO;
    pki_destroy(p);
    if (rc != IOT_OK) {
        fprintf(stderr, "iot-pki: device: stopped after %u issued, %u kept\n", issued, kept);
        status = EXIT_ERR;
    } else {
        printf("%u device certificate(s) issued, %u kept, in %s/" PKI_DEVICES "/ (%.3f s)\n",
               issued, kept, dir, now_s() - t0);
    }
    return status;
}

static int cmd_broker_conf(int argc, char **argv)
{
    struct cli c = {0};
    int r = parse_opts(argc, argv, usage_broker_conf, true, false, &c);
    if (r >= 0)
        return r;
    if (argc - c.first_arg != 1)
        return usage_error("broker-conf", "%s", "broker-conf takes exactly one DIR");
    if (!c.have_port)
        return usage_error("broker-conf", "%s", "broker-conf needs --port PORT");
    const char *dir = argv[c.first_arg];
    if (!pki__bind_valid(c.bind))
        return usage_error("broker-conf", "bad --bind \"%s\": want an IP address or host name",
                           c.bind);
    enum iot_err rc = pki_broker_conf_write(dir, c.port, c.bind);
    if (rc != IOT_OK)
        return EXIT_ERR;
    printf("%s/" PKI_BROKER_CONF " written (listener %s:%u)\n", dir, c.bind, c.port);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    iot_log_set_sink(cli_sink, NULL);
    if (argc < 2) {
        fprintf(stderr, "iot-pki: missing command\n\n%s", usage_main);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_main, stdout);
        return EXIT_OK;
    }
    /* Subcommands see argv[0] = the command name, like a program of their own. */
    if (strcmp(cmd, "init") == 0)
        return cmd_init(argc - 1, argv + 1);
    if (strcmp(cmd, "device") == 0)
        return cmd_device(argc - 1, argv + 1);
    if (strcmp(cmd, "broker-conf") == 0)
        return cmd_broker_conf(argc - 1, argv + 1);
    return usage_error("", "unknown command \"%s\"", cmd);
}
