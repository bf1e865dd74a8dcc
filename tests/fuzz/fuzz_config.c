/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the INI config loaders of both programs on hostile text: the agent's
 * (device/src/config.c: agent_config_parse, with [store], [commands], [command.NAME], [state]) and
 * the cloud's (cloud/src/config.c: cloud_config_load, fed through a memfd). Invariant checked: a
 * refusal is IOT_ERR_INVAL with a message naming the file; nothing else, never a crash. */
#define _GNU_SOURCE /* memfd_create */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/config.h"
#include "fuzz_common.h"
#include "ingest/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return fuzz_init(argc, argv);
}

static void agent_side(const char *text)
{
    static struct agent_config cfg; /* large: not on the stack */
    char err[512];
    err[0] = 0;
    enum iot_err rc = agent_config_parse("fuzz.conf", text, &cfg, err, sizeof err);
    if (rc != IOT_OK && (rc != IOT_ERR_INVAL || strncmp(err, "fuzz.conf", 9) != 0))
        abort();
}

static void cloud_side(const uint8_t *data, size_t size)
{
    static struct cloud_config cfg;
    int fd = memfd_create("fuzz-cloud-conf", MFD_CLOEXEC);
    if (fd < 0)
        return;
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    char path[64], err[512];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    err[0] = 0;
    enum iot_err rc = cloud_config_load(path, &cfg, err, sizeof err);
    if (rc != IOT_OK && rc != IOT_ERR_NOMEM && (rc != IOT_ERR_INVAL || !strstr(err, path)))
        abort();
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0; /* config files are small; the loaders' line limits are what matters */
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    agent_side(text);
    free(text);
    cloud_side(data, size);
    return 0;
}
