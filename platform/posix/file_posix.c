/* SPDX-License-Identifier: Apache-2.0 */
/* Whole-file reads, atomic replace (temp + fsync + rename + dir fsync), directory helpers. */
#define IOT_LOG_TAG "plat.file"
#include "iot/plat_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iot/log.h"
#include "iot/mem.h"

enum iot_err plat_file_read(const char *path, size_t max, uint8_t **out, size_t *out_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? IOT_ERR_NOT_FOUND : IOT_ERR_IO;
    enum iot_err rc = IOT_OK;
    size_t cap = 4096, len = 0;
    uint8_t *buf = iot_malloc(cap + 1);
    if (!buf) {
        rc = IOT_ERR_NOMEM;
        goto out;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= max + 1) {
                rc = IOT_ERR_FULL;
                goto out;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            uint8_t *nb = iot_realloc(buf, ncap + 1);
            if (!nb) {
                rc = IOT_ERR_NOMEM;
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = IOT_ERR_IO;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max) {
        rc = IOT_ERR_FULL;
        goto out;
    }
    buf[len] = 0;
    *out = buf;
    *out_len = len;
    buf = NULL;
out:
    iot_free(buf);
    close(fd);
    return rc;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

enum iot_err plat_file_write_atomic(const char *path, const void *buf, size_t len, bool durable)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return IOT_ERR_INVAL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        IOT_LOG(IOT_LOG_ERROR, "cannot create %s: %s", tmp, strerror(errno));
        return IOT_ERR_IO;
    }
    if (write_all(fd, buf, len) != 0 || (durable && fdatasync(fd) != 0)) {
        IOT_LOG(IOT_LOG_ERROR, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return IOT_ERR_IO;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        IOT_LOG(IOT_LOG_ERROR, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return IOT_ERR_IO;
    }
    if (durable) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash == dir)
            dir[1] = 0;
        else if (slash)
            *slash = 0;
        else
            strcpy(dir, ".");
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
    return IOT_OK;
}

enum iot_err plat_dir_ensure(const char *path, unsigned mode)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return IOT_ERR_INVAL;
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST) {
                IOT_LOG(IOT_LOG_ERROR, "cannot create directory %s: %s", buf, strerror(errno));
                return IOT_ERR_IO;
            }
            *p = c;
            if (c == 0)
                break;
        }
    }
    return IOT_OK;
}

bool plat_file_readable(const char *path) { return access(path, R_OK) == 0; }

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

enum iot_err plat_dir_list(const char *dir, char ***names, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? IOT_ERR_NOT_FOUND : IOT_ERR_IO;
    char **v = NULL;
    size_t len = 0, cap = 0;
    struct dirent *e;
    /* readdir() returns NULL at the end and on error (EOVERFLOW on a 32-bit build without 64-bit
     * off_t): only errno tells them apart, and a listing cut short must not pass for a whole one. */
    while (errno = 0, (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = iot_realloc(v, cap * sizeof *v);
            if (!nv)
                goto nomem;
            v = nv;
        }
        if (!(v[len] = iot_strdup(e->d_name)))
            goto nomem;
        len++;
    }
    if (errno != 0) {
        IOT_LOG(IOT_LOG_ERROR, "cannot list %s: %s", dir, strerror(errno));
        for (size_t i = 0; i < len; i++)
            iot_free(v[i]);
        iot_free(v);
        closedir(d);
        return IOT_ERR_IO;
    }
    closedir(d);
    if (len)
        qsort(v, len, sizeof *v, cmp_names);
    *names = v;
    *n = len;
    return IOT_OK;
nomem:
    for (size_t i = 0; i < len; i++)
        iot_free(v[i]);
    iot_free(v);
    closedir(d);
    return IOT_ERR_NOMEM;
}
