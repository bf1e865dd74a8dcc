/* SPDX-License-Identifier: Apache-2.0 */
/* iot-agent: parse the command line, load the config, run the agent until a signal or max_samples. */
#define IOT_LOG_TAG "iot-agent"
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "iot/log.h"
#include "iot/plat_clock.h"
#include "iot/plat_event.h"

static void usage(FILE *to)
{
    fprintf(to,
            "usage: iot-agent -c agent.conf\n"
            "       iot-agent --help | --version\n"
            "\n"
            "The device agent: samples sensors, publishes telemetry and presence to an MQTT 5 broker\n"
            "over mutual TLS. SIGINT/SIGTERM stop it cleanly (offline presence, disconnect).\n"
            "Exit status: 0 stopped cleanly (or max_samples all acknowledged), 1 error,\n"
            "2 usage or configuration error, 3 max_samples drain timeout (samples unacknowledged).\n"
            "The restart command re-executes the agent with the same arguments.\n"
            "\n"
            "  -c, --config FILE   configuration file (required)\n"
            "  -h, --help          this text\n"
            "  -V, --version       print the version\n"
            "\n%s",
            agent_config_help());
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
            printf("iot-agent %s\n", AGENT_VERSION);
            return 0;
        }
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            path = argv[++i];
            continue;
        }
        if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
            continue;
        }
        fprintf(stderr, "iot-agent: unexpected argument '%s'\n", argv[i]);
        usage(stderr);
        return 2;
    }
    if (!path) {
        fprintf(stderr, "iot-agent: no configuration file (use -c agent.conf)\n");
        usage(stderr);
        return 2;
    }
    struct agent_config cfg;
    char err[800];
    if (agent_config_load(path, &cfg, err, sizeof err) != IOT_OK) {
        fprintf(stderr, "iot-agent: %s\n", err);
        return 2;
    }
    iot_log_set_level(cfg.log_level);
    /* TLS files that cannot work are a configuration error too (exit 2, like a bad option), not a
     * start-up failure that systemd should retry. */
    struct plat_cert_info cert;
    if (agent_config_check_files(&cfg, &cert, err, sizeof err) != IOT_OK) {
        fprintf(stderr, "iot-agent: %s\n", err);
        return 2;
    }
    agent_config_log_cert_dates(&cfg, &cert, plat_wall_ms());
    cfg.tls_files_checked = true; /* agent_create need not parse the certificate again */

    struct agent *agent = NULL;
    enum iot_err rc = agent_create(&cfg, NULL, &agent);
    if (rc != IOT_OK) {
        IOT_LOG(IOT_LOG_ERROR, "cannot start: %s", iot_err_str(rc));
        return 1;
    }
    agent_install_signals(agent);
    enum agent_exit status = agent_run(agent);
    agent_destroy(agent);
    if (status == AGENT_EXIT_RESTART) {
        /* The restart command: state saved and the connection closed cleanly; run afresh. */
        IOT_LOG(IOT_LOG_INFO, "re-executing %s", argv[0]);
        plat_reexec(argv);
        IOT_LOG(IOT_LOG_ERROR, "re-exec failed; exiting");
        return 1;
    }
    IOT_LOG(IOT_LOG_INFO, "exit %d", (int)status);
    return (int)status;
}
