/* SPDX-License-Identifier: Apache-2.0 */
/* POSIX files for append-only logs: pread/pwrite, posix_fallocate, fdatasync, directory fsync. */
#define IOT_LOG_TAG "plat.logfile"
#include "iot/plat_logfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iot/log.h"
#include "iot/mem.h"

struct plat_lfile {
    int fd;
};

enum iot_err plat_lfile_open(const char *path, bool create, struct plat_lfile **out)
{
    if (!path || !out)
        return IOT_ERR_INVAL;
    int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    if (fd < 0) {
        if (errno == ENOENT && !create)
            return IOT_ERR_NOT_FOUND;
        IOT_LOG(IOT_LOG_ERROR, "open %s: %s", path, strerror(errno));
        return IOT_ERR_IO;
    }
    struct plat_lfile *f = iot_malloc(sizeof *f);
    if (!f) {
        close(fd);
        return IOT_ERR_NOMEM;
    }
    f->fd = fd;
    *out = f;
    return IOT_OK;
}

void plat_lfile_close(struct plat_lfile *f)
{
    if (!f)
        return;
    close(f->fd);
    iot_free(f);
}

enum iot_err plat_lfile_size(struct plat_lfile *f, uint64_t *size)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        IOT_LOG(IOT_LOG_ERROR, "fstat: %s", strerror(errno));
        return IOT_ERR_IO;
    }
    *size = (uint64_t)st.st_size;
    return IOT_OK;
}

enum iot_err plat_lfile_disk_bytes(struct plat_lfile *f, uint64_t *bytes)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0)
        return IOT_ERR_IO;
    *bytes = (uint64_t)st.st_blocks * 512u;
    return IOT_OK;
}

enum iot_err plat_lfile_pread(struct plat_lfile *f, uint64_t off, void *buf, size_t len, size_t *n)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(f->fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            IOT_LOG(IOT_LOG_ERROR, "pread %zu B at %llu: %s", len - got,
                    (unsigned long long)(off + got), strerror(errno));
            return IOT_ERR_IO;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    *n = got;
    return IOT_OK;
}

enum iot_err plat_lfile_pwrite(struct plat_lfile *f, uint64_t off, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = pwrite(f->fd, (const uint8_t *)buf + done, len - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            IOT_LOG(IOT_LOG_ERROR, "pwrite %zu B at %llu: %s", len - done,
                    (unsigned long long)(off + done), strerror(e));
            return e == ENOSPC || e == EDQUOT ? IOT_ERR_FULL : IOT_ERR_IO;
        }
        done += (size_t)r;
    }
    return IOT_OK;
}

enum iot_err plat_lfile_preallocate(struct plat_lfile *f, uint64_t len)
{
    int e = posix_fallocate(f->fd, 0, (off_t)len);
    if (e == 0)
        return IOT_OK;
    if (e == EOPNOTSUPP || e == EINVAL)
        return IOT_OK; /* a file system without it: appends still work, syncs cost more */
    IOT_LOG(IOT_LOG_ERROR, "posix_fallocate %llu B: %s", (unsigned long long)len, strerror(e));
    return e == ENOSPC || e == EDQUOT ? IOT_ERR_FULL : IOT_ERR_IO;
}

enum iot_err plat_lfile_sync(struct plat_lfile *f)
{
    if (fdatasync(f->fd) != 0) {
        IOT_LOG(IOT_LOG_ERROR, "fdatasync: %s", strerror(errno));
        return IOT_ERR_IO;
    }
    return IOT_OK;
}

enum iot_err plat_dir_sync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        IOT_LOG(IOT_LOG_ERROR, "open directory %s: %s", dir, strerror(errno));
        return IOT_ERR_IO;
    }
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL) {
        IOT_LOG(IOT_LOG_ERROR, "fsync directory %s: %s", dir, strerror(e));
        return IOT_ERR_IO;
    }
    return IOT_OK;
}

enum iot_err plat_file_remove(const char *path)
{
    if (unlink(path) == 0)
        return IOT_OK;
    if (errno == ENOENT)
        return IOT_ERR_NOT_FOUND;
    IOT_LOG(IOT_LOG_ERROR, "unlink %s: %s", path, strerror(errno));
    return IOT_ERR_IO;
}
