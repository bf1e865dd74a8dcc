/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers of fuzz_common.h. Test code only. */
#include "fuzz_common.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iot/log.h"

static char g_dir[256];

static void discard(void *ctx, enum iot_log_level lvl, const char *tag, const char *line)
{
    (void)ctx;
    (void)lvl;
    (void)tag;
    (void)line;
}

void fuzz_quiet_logs(void)
{
    const char *keep = getenv("IOT_FUZZ_LOG");
    iot_log_set_level(IOT_LOG_DEBUG); /* every IOT_LOG is formatted, with hostile strings in it */
    if (!keep || strcmp(keep, "1") != 0)
        iot_log_set_sink(discard, NULL);
}

int fuzz_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

void fuzz_clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            fuzz_clear_dir(path);
            rmdir(path);
        } else {
            unlink(path);
        }
    }
    closedir(d);
}

static void remove_scratch(void)
{
    if (g_dir[0]) {
        fuzz_clear_dir(g_dir);
        rmdir(g_dir);
    }
}

const char *fuzz_scratch_dir(const char *name)
{
    if (g_dir[0])
        return g_dir;
    struct stat st;
    const char *base = (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
                        access("/dev/shm", W_OK) == 0)
                           ? "/dev/shm"
                           : "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/iot-fuzz-%s-XXXXXX", base, name);
    if (!mkdtemp(g_dir)) {
        g_dir[0] = 0;
        return NULL;
    }
    atexit(remove_scratch);
    return g_dir;
}

int fuzz_write_file(const char *path, const uint8_t *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)n;
    }
    return close(fd);
}

const char *fuzz_init_scratch(int *argc, char ***argv, const char *name)
{
    fuzz_init(argc, argv);
    const char *dir = fuzz_scratch_dir(name);
    if (!dir)
        abort();
    return dir;
}
