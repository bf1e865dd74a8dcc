/* SPDX-License-Identifier: Apache-2.0 */
/* iot-cloud: command line, configuration, start-up checks and signals; the work is in iot_ingest. */
#define IOT_LOG_TAG "cloud"
#include <stdio.h>
#include <string.h>

#include "ingest/config.h"
#include "ingest/ingest.h"
#include "iot/log.h"
#include "iot/plat_event.h"

#ifndef IOT_VERSION
#define IOT_VERSION "0.0.0"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: iot-cloud [-c FILE]\n"
            "Ingest device telemetry and presence from MQTT (mutual TLS) into storage.\n\n"
            "  -c, --config FILE  INI configuration (without it, the defaults below apply)\n"
            "  -h, --help         this help\n"
            "  -V, --version      print the version\n\n"
            "Configuration keys [default]:\n%s\n"
            "Signals: SIGINT/SIGTERM stop taking messages, drain the queue into storage, exit 0.\n",
            cloud_config_help());
}

int main(int argc, char **argv)
{
    const char *conf = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
            printf("iot-cloud %s\n", IOT_VERSION);
            return 0;
        }
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            conf = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            conf = argv[i] + 9;
        } else {
            fprintf(stderr, "iot-cloud: unknown or incomplete argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }

    struct cloud_config cfg;
    char err[512];
    cloud_config_defaults(&cfg);
    if (conf && cloud_config_load(conf, &cfg, err, sizeof err) != IOT_OK) {
        fprintf(stderr, "iot-cloud: %s\n", err);
        return 1;
    }
    iot_log_set_level(cfg.log_level);
    if (cloud_config_check_files(&cfg, err, sizeof err) != IOT_OK) {
        IOT_LOG(IOT_LOG_ERROR, "%s%s%s", conf ? conf : "(defaults)", ": ", err);
        return 1;
    }
    IOT_LOG(IOT_LOG_INFO, "iot-cloud %s starting (config %s, instance %s)", IOT_VERSION,
            conf ? conf : "(defaults)", cfg.instance);

    struct plat_event *wake = NULL;
    if (plat_event_create(&wake) != IOT_OK) {
        IOT_LOG(IOT_LOG_ERROR, "cannot create the wake-up event");
        return 1;
    }
    static volatile int stop;
    plat_signals_install(wake, &stop);

    struct ingest_service *svc = NULL;
    enum iot_err rc = ingest_service_create(&cfg, &svc);
    if (rc != IOT_OK) {
        IOT_LOG(IOT_LOG_ERROR, "start-up failed: %s", iot_err_str(rc));
        plat_event_destroy(wake);
        return 1;
    }
    rc = ingest_service_run(svc, wake, &stop);
    ingest_service_destroy(svc);
    plat_event_destroy(wake);
    IOT_LOG(IOT_LOG_INFO, "stopped");
    return rc == IOT_OK ? 0 : 1;
}
